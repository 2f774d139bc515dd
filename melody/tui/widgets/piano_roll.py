"""A piano roll: pitch up the screen, time across it, bar lines, the kept music shaded apart.

Each character cell holds two pitches (upper and lower half blocks), so a 20-row widget
shows 40 semitones under a row of bar numbers. One column is `ticks_per_column` ticks (a
sixteenth note by default). While notes stream in, the view follows the newest one;
left/right pan, +/- zoom.

The new music of a take lies between `prime_end` and `new_end` (the end of the piece, or of
the infilled bars): it is drawn in one colour on a plain ground, the kept music around it in
another on a shaded ground. On a shown take, a range of bars can be selected, by keys ([ and ]
move it, shift+left/right or { and } stretch it) or the mouse (click, shift+click, drag); it
is drawn on its own shade, and the roll posts `SelectionChanged`.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from melody.music.notes import TICKS_PER_QUARTER, Note, Piece, TimeSignature
from melody.tui.widgets.bar_selection import BarSelection

GUTTER = 4  # columns for the octave labels on the left
RULER = 1  # rows for the bar numbers on top
NONE, PRIME, NEW = 0, 1, 2
ZOOMS = (1, 2, 3, 6, 12, 24, 48)  # ticks per column
# Footer groups: "[ ] Select bar", "{ } Stretch" (each key's own description is in the F1 help).
SELECT = Binding.Group("Select bar", compact=True)
STRETCH = Binding.Group("Stretch", compact=True)


def pitch_name(pitch: int) -> str:
    """C4 for MIDI 60 (scientific pitch notation)."""
    return f"C{pitch // 12 - 1}"


class PianoRoll(Widget, can_focus=True):
    """Notes as coloured blocks: the kept music in one colour on a shaded ground, new notes in another."""

    COMPONENT_CLASSES = {"piano-roll--new", "piano-roll--prime", "piano-roll--prime-area",
                         "piano-roll--bar", "piano-roll--gutter", "piano-roll--ruler",
                         "piano-roll--selection"}
    BINDINGS = [
        Binding("left", "pan(-1)", "Earlier", show=False),
        Binding("right", "pan(1)", "Later", show=False),
        Binding("end", "follow", "Follow", show=False),
        Binding("plus,equals_sign", "zoom(-1)", "Zoom in", show=False),
        Binding("minus", "zoom(1)", "Zoom out", show=False),
        Binding("left_square_bracket", "move_selection(-1)", "Select the bar before", group=SELECT),
        Binding("right_square_bracket", "move_selection(1)", "Select the bar after", group=SELECT),
        Binding("left_curly_bracket,shift+left", "extend_selection(-1)", "Move the selection's end a bar back",
                group=STRETCH),
        Binding("right_curly_bracket,shift+right", "extend_selection(1)", "Move the selection's end a bar on",
                group=STRETCH),
        Binding("backspace", "clear_selection", "Clear the selection", show=False),
        Binding("i", "screen.infill_take", "Infill"),
    ]

    class SelectionChanged(Message):
        """The selected bars changed: (first, last) from 1, or None."""

        def __init__(self, roll: PianoRoll, bars: tuple[int, int] | None) -> None:
            super().__init__()
            self.roll, self.bars = roll, bars

        @property
        def control(self) -> PianoRoll:
            return self.roll

    ticks_per_column: reactive[int] = reactive(TICKS_PER_QUARTER // 4)

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.notes: list[Note] = []
        self.prime_end = 0
        self.new_end: int | None = None  # None: the new music runs to the end
        self.selection: BarSelection | None = None  # only on a shown take, not while streaming
        self._dragging = False
        self.signatures: list[TimeSignature] = [TimeSignature(0, 4, 4)]
        self.follow = True
        self.first_column = 0
        self._grid: dict[int, bytearray] | None = None
        # Drawn lines, kept until something changes: a repaint while notes stream costs no drawing.
        self._strips: dict[tuple[int, int, int], Strip] = {}
        self._bar_columns: tuple[tuple[int, int, int], dict[int, int]] | None = None

    # -- feeding it ------------------------------------------------------------------------
    def show(self, piece: Piece | None, prime_end: int = 0, new_end: int | None = None) -> None:
        """Show a whole piece from its start, zoomed to fit where it can; its new music lies in
        [prime_end, new_end) (new_end None: to the end). Any selection is cleared."""
        self.notes = list(piece.notes) if piece else []
        self.prime_end = prime_end
        self.new_end = new_end
        if piece is not None:
            self.signatures = list(piece.time_signatures) or [TimeSignature(0, 4, 4)]
        self.follow = False
        self.first_column = 0
        self._drop_selection()
        if piece is not None and piece.notes:
            self.selection = BarSelection(piece.bar_starts(), piece.end_tick)
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
        self.new_end = None
        self._drop_selection()
        if signatures or (prime is not None and prime.time_signatures):
            self.signatures = list(signatures or prime.time_signatures)
        self.ticks_per_column = TICKS_PER_QUARTER // 4
        self.follow = True
        self._changed()

    def add_notes(self, notes: list[Note]) -> None:
        """Append streamed notes."""
        self.notes.extend(notes)
        self._changed()

    def set_opening(self, prime_end: int, signatures: list[TimeSignature], new_end: int | None = None) -> None:
        """Where the new music starts (and, infilling, ends) and the meter, once the generation knows them."""
        self.prime_end = prime_end
        self.new_end = new_end
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

    # -- the selection ---------------------------------------------------------------------------
    @property
    def selected_bars(self) -> tuple[int, int] | None:
        """The selected bars (first, last), from 1, inclusive; None when nothing is selected."""
        return self.selection.bars if self.selection is not None else None

    def select_bars(self, first: int, last: int) -> None:
        """Select bars `first`..`last` of the shown take and bring them into view."""
        if self.selection is not None:
            self.selection.select(first, last)
            self._selection_changed()

    def _drop_selection(self) -> None:
        """No bars to select (another piece, or one streaming in)."""
        if self.selected_bars is not None:
            self.post_message(self.SelectionChanged(self, None))
        self.selection = None

    def _selection_changed(self) -> None:
        if self.selection is not None and self.selection.head is not None:
            self._reveal(self.selection.span((self.selection.head, self.selection.head)))
        self._strips.clear()
        self.refresh()
        self.post_message(self.SelectionChanged(self, self.selected_bars))

    def _reveal(self, span: tuple[int, int] | None) -> None:
        """Pan so that the ticks of `span` are in view (its start, when it is wider than the view)."""
        if span is None:
            return
        per, visible, start = self.ticks_per_column, max(1, self.size.width - GUTTER), self._start_column()
        first, last = span[0] // per, -(-span[1] // per)
        if first < start or last - first > visible:
            self.first_column, self.follow = first, False
        elif last > start + visible:
            self.first_column, self.follow = last - visible, False

    def _first_bar_in_view(self) -> int:
        return self.selection.bar_at(self._start_column() * self.ticks_per_column) if self.selection else 1

    def action_move_selection(self, step: int) -> None:
        if self.selection is not None:
            self.selection.move(step, default=self._first_bar_in_view())
            self._selection_changed()

    def action_extend_selection(self, step: int) -> None:
        if self.selection is not None:
            self.selection.extend(step, default=self._first_bar_in_view())
            self._selection_changed()

    def action_clear_selection(self) -> None:
        if self.selected_bars is not None:
            self.selection.clear()
            self._selection_changed()

    # -- the mouse: click a bar, shift+click or drag to stretch the selection ---------------------
    def _bar_under(self, event: events.MouseEvent) -> int | None:
        if self.selection is None:
            return None
        offset = event.get_content_offset_capture(self)
        column = self._start_column() + max(0, offset.x - GUTTER)
        return self.selection.bar_at(column * self.ticks_per_column)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        bar = self._bar_under(event)
        if bar is None or event.button != 1:
            return
        if event.shift:
            self.selection.extend_to(bar)
        else:
            self.selection.pick(bar)
        self._dragging = True
        self.capture_mouse()
        self._selection_changed()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if not self._dragging:
            return
        bar = self._bar_under(event)
        if bar is not None and bar != self.selection.head:
            self.selection.extend_to(bar)
            self._selection_changed()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._dragging:
            self._dragging = False
            self.release_mouse()

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

    def _is_new(self, tick: int) -> bool:
        return self.prime_end <= tick and (self.new_end is None or tick < self.new_end)

    def _build(self) -> dict[int, bytearray]:
        """pitch -> a byte per column: NONE, PRIME (kept) or NEW."""
        per = self.ticks_per_column
        columns = self._columns() + 1
        grid: dict[int, bytearray] = {}
        for note in self.notes:
            row = grid.setdefault(note.pitch, bytearray(columns))
            kind = NEW if self._is_new(note.onset) else PRIME
            first = note.onset // per
            last = max(first + 1, -(-note.end // per))
            row[first:last] = bytes([kind]) * (last - first)
        return grid

    def _top_pitch(self) -> int:
        """The pitch in the upper half of the first row under the ruler: the notes centred vertically."""
        rows = max(1, self.size.height - RULER)
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

    def _bars_in_view(self, start: int, per: int, width: int) -> dict[int, int]:
        """Column -> the number (from 1) of the bar whose line it holds, computed once per view."""
        view = (start, per, width)
        if self._bar_columns is None or self._bar_columns[0] != view:
            until = (start + width) * per
            starts = Piece(time_signatures=list(self.signatures)).bar_starts(until)
            self._bar_columns = (view, {tick // per: number for number, tick in enumerate(starts, 1)})
        return self._bar_columns[1]

    def _ruler(self, start: int, width: int, bar_columns: dict[int, int]) -> dict[int, str]:
        """Column -> digit: each bar's number from its bar line on, where it fits before the next."""
        music_end = self.selection.end if self.selection is not None else self.end_tick
        per = self.ticks_per_column
        labels: dict[int, str] = {}
        free_from = start
        for column in sorted(bar_columns):
            text = str(bar_columns[column])
            if column < free_from or column * per >= max(music_end, 1) or column + len(text) > start + width:
                continue
            labels.update((column + i, char) for i, char in enumerate(text))
            free_from = column + len(text) + 1
        return labels

    def _draw_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        prime_color = self.get_component_rich_style("piano-roll--prime").color
        new_color = self.get_component_rich_style("piano-roll--new").color
        shade = self.get_component_rich_style("piano-roll--prime-area")
        chosen = self.get_component_rich_style("piano-roll--selection")
        bar_style = self.get_component_rich_style("piano-roll--bar")
        gutter_style = self.get_component_rich_style("piano-roll--gutter")
        colors = {PRIME: prime_color, NEW: new_color}

        per = self.ticks_per_column
        start = self._start_column()
        visible = max(0, width - GUTTER)
        # The ground of a column: the selection on its own shade, the kept music on another.
        new_first = -(-self.prime_end // per)
        new_last = -(-self.new_end // per) if self.new_end is not None else None
        span = self.selection.span() if self.selection is not None else None
        chosen_first, chosen_last = (span[0] // per, -(-span[1] // per)) if span else (0, 0)

        def ground(column: int) -> Style:
            if chosen_first <= column < chosen_last:
                return base + chosen
            kept = column < new_first or (new_last is not None and column >= new_last)
            return base + shade if kept else base

        bar_columns = self._bars_in_view(start, per, width)
        if y < RULER:
            labels = self._ruler(start, visible, bar_columns)
            ruler = Style(color=self.get_component_rich_style("piano-roll--ruler").color)
            cells = [(labels.get(c, " "), ground(c) + ruler) for c in range(start, start + visible)]
            return self._strip([("bar│", base + gutter_style), *cells], width, base)

        upper = self._top_pitch() - 2 * (y - RULER)
        lower = upper - 1
        label = ""
        for pitch in (upper, lower):
            if 0 <= pitch <= 127 and pitch % 12 == 0:
                label = pitch_name(pitch)
        cells = [(label.ljust(GUTTER - 1)[:GUTTER - 1] + "│", base + gutter_style)]
        empty = bytearray()
        top_row = self._grid.get(upper, empty)
        bottom_row = self._grid.get(lower, empty)
        for column in range(start, start + visible):
            top = top_row[column] if column < len(top_row) else NONE
            bottom = bottom_row[column] if column < len(bottom_row) else NONE
            under = ground(column)
            if top and bottom:
                char = "█" if top == bottom else "▀"
                style = under + Style(color=colors[top], bgcolor=colors[bottom] if top != bottom else None)
            elif top:
                char, style = "▀", under + Style(color=colors[top])
            elif bottom:
                char, style = "▄", under + Style(color=colors[bottom])
            elif column in bar_columns:
                char, style = "│", under + Style(color=bar_style.color)
            else:
                char, style = " ", under
            cells.append((char, style))
        return self._strip(cells, width, base)

    @staticmethod
    def _strip(cells: list[tuple[str, Style]], width: int, base: Style) -> Strip:
        """One line from (text, style) cells, neighbours of one style joined into one segment."""
        segments: list[Segment] = []
        run_text: list[str] = []
        run_style: Style | None = None
        for text, style in cells:
            if style != run_style and run_text:
                segments.append(Segment("".join(run_text), run_style))
                run_text = []
            run_style = style
            run_text.append(text)
        if run_text:
            segments.append(Segment("".join(run_text), run_style))
        return Strip(segments).adjust_cell_length(width, base)
