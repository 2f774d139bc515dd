"""The session's takes as a table: marked (●), name, seed, temperature, bars, exported (✓)."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable

from melody.tui.session import SessionTake


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

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self.add_columns("", "name", "seed", "temp", "bars", "out")

    def show_takes(self, takes: list[SessionTake], select: SessionTake | None = None) -> None:
        """Redraw from the session's list, keeping the cursor on `select` (or where it was)."""
        current = self.selected_number()
        self.clear()
        for item in takes:
            temperature = "-" if item.temperature is None else f"{item.temperature:g}"
            self.add_row("●" if item.marked else " ", item.name, "-" if item.seed is None else str(item.seed),
                         temperature, str(item.bars), "✓" if item.exported else "", key=str(item.number))
        wanted = select.number if select is not None else current
        for row, item in enumerate(takes):
            if item.number == wanted:
                self.move_cursor(row=row)

    def selected_number(self) -> int | None:
        """The session number of the take under the cursor, if any."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - an out-of-range cursor means nothing selected
            return None
        return int(key.value) if key.value is not None else None
