"""The session's takes as a table: marks (● marked, ✓ exported), name, model, seed, temperature, bars.

The columns fit the table's width (80 columns included): the fixed ones keep their width and
the name and model share what is left, cut with "…" when they must be.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.events import Resize
from textual.widgets import DataTable

from melody.tui.session import SessionTake

COLUMNS = ("", "name", "model", "seed", "temp", "bars")
FIXED = 2 + 11 + 5 + 5  # marks, seed (up to ten digits), temp, bars: each after a one-space gap
SCROLLBAR = 1  # app.tcss gives the table a one-column vertical scrollbar


def fit(text: str, width: int) -> str:
    """`text` cut to `width` characters, the last one an ellipsis when it was cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


class TakesTable(DataTable):
    """One row per take; keys act on the take under the cursor (the screen does the work)."""

    BINDINGS = [
        Binding("space", "screen.mark_take", "Mark"),
        Binding("r", "screen.rename_take", "Rename"),
        Binding("delete,d", "screen.delete_take", "Delete"),
        Binding("c", "screen.continue_take", "Continue"),
        Binding("v", "screen.vary_take", "Vary"),
        Binding("i", "screen.infill_take", "Infill"),
        Binding("p", "screen.listen", "Listen"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        # No cell padding: one space before each column instead of two, so six columns fit 48.
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, cell_padding=0)
        self._takes: list[SessionTake] = []
        self._drawn_width = 0

    def on_mount(self) -> None:
        self.add_columns(*(f" {label}" if label else label for label in COLUMNS))

    def widths(self) -> tuple[int, int]:
        """Characters for a name and a model name at the table's present width."""
        free = max(16, self.size.width - SCROLLBAR - FIXED - 2)  # 2: the gaps before name and model
        model = min(12, max(5, free * 2 // 5))
        return free - model, model

    def show_takes(self, takes: list[SessionTake], select: SessionTake | None = None) -> None:
        """Redraw from the session's list, keeping the cursor on `select` (or where it was)."""
        current = self.selected_number()
        self._takes = list(takes)
        self._drawn_width = self.size.width
        name_width, model_width = self.widths()
        self.clear()
        for item in takes:
            temperature = "-" if item.temperature is None else f"{item.temperature:g}"
            marks = ("●" if item.marked else " ") + ("✓" if item.exported else " ")
            self.add_row(marks, f" {fit(item.name, name_width)}", f" {fit(item.model or '-', model_width)}",
                         f" {'-' if item.seed is None else item.seed}", f" {temperature}", f" {item.bars}",
                         key=str(item.number))
        wanted = select.number if select is not None else current
        for row, item in enumerate(takes):
            if item.number == wanted:
                self.move_cursor(row=row)

    def on_resize(self, event: Resize) -> None:
        if self._takes and self.size.width != self._drawn_width:
            self.show_takes(self._takes)

    def selected_number(self) -> int | None:
        """The session number of the take under the cursor, if any."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - an out-of-range cursor means nothing selected
            return None
        return int(key.value) if key.value is not None else None
