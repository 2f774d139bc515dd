"""A piano roll: pitch up the screen, time across it, bar lines, the prime shaded apart.

Each character cell holds two pitches (upper and lower half blocks), so a 20-row widget
shows 40 semitones. One column is `ticks_per_column` ticks (a sixteenth note by default).
While notes stream in, the view follows the newest one; left/right pan, +/- zoom.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from melody.music.notes import TICKS_PER_QUARTER, Note, Piece, TimeSignature

GUTTER = 4  # columns for the octave labels on the left
NONE, PRIME, NEW = 0, 1, 2
ZOOMS = (1, 2, 3, 6, 12, 24, 48)  # ticks per column


def pitch_name(pitch: int) -> str:
    """C4 for MIDI 60 (scientific pitch notation)."""
    return f"C{pitch // 12 - 1}"


class PianoRoll(Widget, can_focus=True):
    """Notes as coloured blocks; the prime in one colour on a shaded ground, new notes in another."""

    COMPONENT_CLASSES = {"piano-roll--new", "piano-roll--prime", "piano-roll--prime-area",
                         "piano-roll--bar", "piano-roll--gutter"}
    BINDINGS = [
        Binding("left", "pan(-1)", "Earlier", show=False),
        Binding("right", "pan(1)", "Later", show=False),
        Binding("end", "follow", "Follow", show=False),
        Binding("plus,equals_sign", "zoom(-1)", "Zoom in", show=False),
        Binding("minus", "zoom(1)", "Zoom out", show=False),
    ]

    ticks_per_column: reactive[int] = reactive(TICKS_PER_QUARTER // 4)

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.notes: list[Note] = []
        self.prime_end = 0
        self.signatures: list[TimeSignature] = [TimeSignature(0, 4, 4)]
        self.follow = True
        self.first_column = 0
        self._grid: dict[int, bytearray] | None = None
        # Drawn lines, kept until something changes: a repaint while notes stream costs no drawing.
        self._strips: dict[tuple[int, int, int], Strip] = {}
        self._bar_columns: tuple[tuple[int, int, int], set[int]] | None = None

    # -- feeding it ------------------------------------------------------------------------
    def show(self, piece: Piece | None, prime_end: int = 0) -> None:
        """Show a whole piece from its start, zoomed to fit where it can (prime = before prime_end)."""
        self.notes = list(piece.notes) if piece else []
        self.prime_end = prime_end
        if piece is not None and piece.time_signatures:
            self.signatures = list(piece.time_signatures)
        self.follow = False
        self.first_column = 0
        self.fit()
        self._changed()

    def fit(self) -> None:
        """The finest zoom, from a sixteenth to a quarter note per column, that shows all the notes."""
        visible = self.size.width - GUTTER
        if visible <= 0:
            return
        for per in ZOOMS[ZOOMS.index(TICKS_PER_QUARTER // 4):ZOOMS.index(TICKS_PER_QUARTER) + 1]:
            self.ticks_per_column = per
            if -(-self.end_tick // per) <= visible:
                break

    def start(self, prime: Piece | None, signatures: list[TimeSignature] | None = None) -> None:
        """Begin a streamed take: a sixteenth note per column, following the newest note."""
        self.notes = list(prime.notes) if prime else []
        self.prime_end = prime.end_tick if prime else 0
        if signatures or (prime is not None and prime.time_signatures):
            self.signatures = list(signatures or prime.time_signatures)
        self.ticks_per_column = TICKS_PER_QUARTER // 4
        self.follow = True
        self._changed()

    def add_notes(self, notes: list[Note]) -> None:
        """Append streamed notes."""
        self.notes.extend(notes)
        self._changed()

    def set_opening(self, prime_end: int, signatures: list[TimeSignature]) -> None:
        """Where the prime ends and the meter, once the generation knows them."""
        self.prime_end = prime_end
        if signatures:
            self.signatures = list(signatures)
        self._changed()

    def _changed(self) -> None:
        self._grid = None
        self._bar_columns = None
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._grid = None  # a new theme: redraw with its colours

    def on_resize(self) -> None:
        self._grid = None

    # -- keys --------------------------------------------------------------------------------
    def action_pan(self, direction: int) -> None:
        self.follow = False
        step = max(1, (self.size.width - GUTTER) // 2)
        self.first_column = max(0, self._start_column() + direction * step)
        self._changed()

    def action_follow(self) -> None:
        self.follow = True
        self._changed()

    def action_zoom(self, direction: int) -> None:
        index = ZOOMS.index(self.ticks_per_column) if self.ticks_per_column in ZOOMS else 3
        self.ticks_per_column = ZOOMS[min(len(ZOOMS) - 1, max(0, index + direction))]

    def watch_ticks_per_column(self) -> None:
        self._changed()

    # -- drawing -----------------------------------------------------------------------------
    @property
    def end_tick(self) -> int:
        return max([n.end for n in self.notes] + [self.prime_end, 0])

    def _columns(self) -> int:
        return -(-self.end_tick // self.ticks_per_column)

    def _start_column(self) -> int:
        visible = max(1, self.size.width - GUTTER)
        if self.follow:
            return max(0, self._columns() - visible)
        return min(self.first_column, max(0, self._columns() - 1))

    def _build(self) -> dict[int, bytearray]:
        """pitch -> a byte per column: NONE, PRIME or NEW."""
        per = self.ticks_per_column
        columns = self._columns() + 1
        grid: dict[int, bytearray] = {}
        for note in self.notes:
            row = grid.setdefault(note.pitch, bytearray(columns))
            kind = PRIME if note.onset < self.prime_end else NEW
            first = note.onset // per
            last = max(first + 1, -(-note.end // per))
            row[first:last] = bytes([kind]) * (last - first)
        return grid

    def _top_pitch(self) -> int:
        """The pitch in the upper half of the top row: the notes centred vertically."""
        rows = max(1, self.size.height)
        pitches = [n.pitch for n in self.notes] or [60]
        low, high = min(pitches), max(pitches)
        middle = (low + high + 1) // 2
        top = middle + rows  # two pitches per row, half the rows above the middle
        if high > top:  # too wide: keep the top notes in view (melody lives there)
            top = high + 1
        return min(128, top)

    def render_line(self, y: int) -> Strip:
        if self._grid is None:
            self._grid = self._build()
            self._strips.clear()
        key = (y, self.size.width, self.size.height)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = self._draw_line(y)
        return strip

    def _bars_in_view(self, start: int, per: int, width: int) -> set[int]:
        """Columns holding a bar line, computed once per view."""
        view = (start, per, width)
        if self._bar_columns is None or self._bar_columns[0] != view:
            until = (start + width) * per
            starts = Piece(time_signatures=list(self.signatures)).bar_starts(until)
            self._bar_columns = (view, {tick // per for tick in starts})
        return self._bar_columns[1]

    def _draw_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        prime_color = self.get_component_rich_style("piano-roll--prime").color
        new_color = self.get_component_rich_style("piano-roll--new").color
        shade = self.get_component_rich_style("piano-roll--prime-area")
        bar_style = self.get_component_rich_style("piano-roll--bar")
        gutter_style = self.get_component_rich_style("piano-roll--gutter")
        colors = {PRIME: prime_color, NEW: new_color}

        upper = self._top_pitch() - 2 * y
        lower = upper - 1
        label = ""
        for pitch in (upper, lower):
            if 0 <= pitch <= 127 and pitch % 12 == 0:
                label = pitch_name(pitch)
        segments = [Segment(label.ljust(GUTTER - 1)[:GUTTER - 1] + "│", base + gutter_style)]

        per = self.ticks_per_column
        start = self._start_column()
        prime_column = -(-self.prime_end // per)
        bar_columns = self._bars_in_view(start, per, width)
        empty = bytearray()
        top_row = self._grid.get(upper, empty)
        bottom_row = self._grid.get(lower, empty)
        run_text: list[str] = []
        run_style: Style | None = None
        for column in range(start, start + max(0, width - GUTTER)):
            top = top_row[column] if column < len(top_row) else NONE
            bottom = bottom_row[column] if column < len(bottom_row) else NONE
            ground = base + shade if column < prime_column else base
            if top and bottom:
                char = "█" if top == bottom else "▀"
                style = ground + Style(color=colors[top], bgcolor=colors[bottom] if top != bottom else None)
            elif top:
                char, style = "▀", ground + Style(color=colors[top])
            elif bottom:
                char, style = "▄", ground + Style(color=colors[bottom])
            elif column in bar_columns:
                char, style = "│", ground + Style(color=bar_style.color)
            else:
                char, style = " ", ground
            if style != run_style and run_text:
                segments.append(Segment("".join(run_text), run_style))
                run_text = []
            run_style = style
            run_text.append(char)
        if run_text:
            segments.append(Segment("".join(run_text), run_style))
        return Strip(segments).adjust_cell_length(width, base)
