"""A piano roll: pitch up the screen, time across it, bar lines, the kept music shaded apart.

Each character cell holds two slots of pitch (upper and lower half blocks) under a row of bar
numbers. The rows fit the take's whole pitch range (`PitchWindow`): a slot holds one semitone
where the roll is tall enough, more where it is not, so no note is ever off screen unless the
view was zoomed in (shift+up) and panned (up/down, shift+wheel); then ▲ or ▼ in the gutter
says notes lie beyond. One column is `ticks_per_column` ticks (a sixteenth note by default);
left/right and the mouse wheel pan by bars, +/- zoom time. While notes stream in, the view
follows the newest one; end goes back to that (and to the fitted rows). A shown take opens at
its new music when that is out of view from bar 1 (a continued, varied or infilled take).

The new music of a take lies between `prime_end` and `new_end` (the end of the piece, or of
the infilled bars): it is drawn in one colour on a plain ground, the kept music around it in
another on a shaded ground. On a shown take, a range of bars can be selected, by keys ([ and ]
move it, shift+left/right or { and } stretch it) or the mouse (click, shift+click, drag); it
is drawn on its own shade, and the roll posts `SelectionChanged`.
"""

from __future__ import annotations

from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from melody.music.notes import TICKS_PER_QUARTER, Note, Piece, TimeSignature
from melody.tui.widgets.bar_selection import BarSelection
from melody.tui.widgets.pitch_window import PitchWindow, fit_step
from melody.tui.widgets.roll_grid import NEW, NONE, PRIME, join_cells, note_grid, slot_row

GUTTER = 4  # columns for the pitch labels on the left
RULER = 1  # rows for the bar numbers on top
ZOOMS = (1, 2, 3, 6, 12, 24, 48)  # ticks per column
# Footer groups: "[ ] Select bar", "{ } Stretch" (each key's own description is in the F1 help).
SELECT = Binding.Group("Select bar", compact=True)
STRETCH = Binding.Group("Stretch", compact=True)
MORE_ABOVE, MORE_BELOW = "▲", "▼"  # in the gutter's rule: notes beyond a zoomed-in window


class PianoRoll(Widget, can_focus=True):
    """Notes as coloured blocks: the kept music in one colour on a shaded ground, new notes in another."""

    COMPONENT_CLASSES = {"piano-roll--new", "piano-roll--prime", "piano-roll--prime-area",
                         "piano-roll--bar", "piano-roll--gutter", "piano-roll--ruler",
                         "piano-roll--selection"}
    BINDINGS = [
        Binding("left", "pan(-1)", "A bar earlier", show=False),
        Binding("right", "pan(1)", "A bar later", show=False),
        Binding("up", "pan_pitch(1)", "Higher", show=False),
        Binding("down", "pan_pitch(-1)", "Lower", show=False),
        Binding("shift+up", "zoom_pitch(-1)", "Fewer pitches, in detail", show=False),
        Binding("shift+down", "zoom_pitch(1)", "More pitches", show=False),
        Binding("end", "follow", "Follow the newest note, every pitch in view", show=False),
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
        self.pitch_step: int | None = None  # semitones a half row; None: fit the notes' range
        self.pitch_top: int | None = None  # the top pitch panned to; None: placed automatically
        self._window: PitchWindow | None = None
        self._view = PitchWindow(60, 1, 1)  # the window the drawn lines use, placed with the grid
        self._range = (60, 60)
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
        self._fit_pitches()
        self._drop_selection()
        if piece is not None and piece.notes:
            self.selection = BarSelection(piece.bar_starts(), piece.end_tick)
        self.fit()
        self._reveal_new_music()
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
        self._fit_pitches()
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

    def _fit_pitches(self) -> None:
        self.pitch_step = self.pitch_top = None
        self._window = None

    def _changed(self) -> None:
        self._grid = None
        self._bar_columns = None
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._grid = None  # a new theme: redraw with its colours

    def on_resize(self) -> None:
        self._grid = None
        self._window = None  # another height: fit the rows again

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

    def _reveal_new_music(self) -> None:
        """Open a take at its first new bar, after the bar before it for context, when the view
        from bar 1 does not reach the end of that bar (a take continued, varied or infilled)."""
        if self.prime_end <= 0 or self.selection is None or self.size.width <= GUTTER:
            return  # nothing kept before the new music, or not laid out yet
        per, visible = self.ticks_per_column, max(1, self.size.width - GUTTER)
        bar = self.selection.bar_at(self.prime_end)
        first_new = self.selection.span((bar, bar))
        if -(-first_new[1] // per) <= visible:
            return  # in view from the start
        before = self.selection.span((max(1, bar - 1), bar))
        start = before[0] if -(-before[1] // per) - before[0] // per <= visible else first_new[0]
        self.first_column = min(start // per, max(0, self._columns() - visible))

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
        """Move the view by `direction` bars (its left edge to a bar line)."""
        per, start = self.ticks_per_column, self._start_column()
        visible = max(1, self.size.width - GUTTER)
        last = max(0, self._columns() - visible)
        columns = sorted({tick // per for tick in self._bar_starts((start + visible + 1) * per + 1)})
        if direction > 0:
            target = next((c for c in columns if c > start), start + visible)
        else:
            target = next((c for c in reversed(columns) if c < start), 0)
        self.follow = False
        self.first_column = max(0, min(target, last))
        self._changed()

    def action_pan_pitch(self, rows: int) -> None:
        """Move the rows up (positive) or down, while some note stays in view."""
        window = self.pitch_window()
        low, high = self._pitch_range()
        moved = window.panned(rows)
        if moved.bottom <= high and moved.top >= low:
            self.pitch_top = moved.top
            self._changed()

    def action_zoom_pitch(self, direction: int) -> None:
        """More semitones a row (positive) or fewer, around the middle of the rows; the fitted
        step (every note in view) is the widest."""
        window = self.pitch_window()
        low, high = self._pitch_range()
        widest = fit_step(low, high, window.rows)
        step = min(widest, max(1, window.step + direction))
        if step == window.step:
            return
        middle = (window.top + window.bottom) // 2
        self.pitch_step = None if step == widest else step
        self.pitch_top = None
        self._window = PitchWindow(middle + window.rows * step, step, window.rows).clamped()
        self._changed()

    def action_follow(self) -> None:
        self.follow = True
        self._fit_pitches()
        self._changed()

    # -- the mouse wheel: bars; with shift or ctrl, pitch ----------------------------------------
    def _wheel(self, event: events.MouseEvent, direction: int) -> None:
        event.stop()
        if event.shift or event.ctrl:
            self.action_pan_pitch(-direction)
        else:
            self.action_pan(direction)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._wheel(event, 1)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._wheel(event, -1)

    def on_mouse_scroll_right(self, event: events.MouseScrollRight) -> None:
        event.stop()
        self.action_pan(1)

    def on_mouse_scroll_left(self, event: events.MouseScrollLeft) -> None:
        event.stop()
        self.action_pan(-1)

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

    def _pitch_range(self) -> tuple[int, int]:
        pitches = [n.pitch for n in self.notes]
        return (min(pitches), max(pitches)) if pitches else (60, 60)

    def pitch_window(self) -> PitchWindow:
        """The pitches the rows show now: fitted to every note unless zoomed in or panned; a
        fitted window stays put until a note falls outside it, a zoomed one follows the newest."""
        rows = max(1, self.size.height - RULER)
        low, high = self._pitch_range()
        fitting = fit_step(low, high, rows)
        step = min(self.pitch_step or fitting, fitting)
        if self.pitch_top is not None:
            window = PitchWindow(self.pitch_top, step, rows).clamped()
        else:
            window = self._window
            if window is None or (window.step, window.rows) != (step, rows):
                window = PitchWindow.centred(low, high, rows, step)
            if window.bottom > low or window.top < high:
                if step == fitting:
                    window = PitchWindow.centred(low, high, rows, step)
                elif self.follow and self.notes:
                    window = window.following(self.notes[-1].pitch)
        self._window = window
        return window

    def cell_of(self, note: Note) -> tuple[int, int, int] | None:
        """(x, y, half) of the cell that draws `note`'s onset, or None when it is out of view."""
        place = self.pitch_window().row_of(note.pitch)
        column = note.onset // self.ticks_per_column - self._start_column()
        if place is None or not 0 <= column < self.size.width - GUTTER:
            return None
        return GUTTER + column, RULER + place[0], place[1]

    def render_line(self, y: int) -> Strip:
        if self._grid is None:
            self._grid = note_grid(self.notes, self.ticks_per_column, self._columns() + 1, self._is_new)
            self._view, self._range = self.pitch_window(), self._pitch_range()
            self._strips.clear()
        key = (y, self.size.width, self.size.height)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = self._draw_line(y)
        return strip

    def _bar_starts(self, until: int) -> list[int]:
        """The ticks where bars start, up to `until`, on the roll's meters."""
        return Piece(time_signatures=list(self.signatures)).bar_starts(until)

    def _bars_in_view(self, start: int, per: int, width: int) -> dict[int, int]:
        """Column -> the number (from 1) of the bar whose line it holds, computed once per view."""
        view = (start, per, width)
        if self._bar_columns is None or self._bar_columns[0] != view:
            starts = self._bar_starts((start + width) * per)
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
            return join_cells([("bar│", base + gutter_style), *cells], width, base)

        window, row = self._view, y - RULER
        rule = "│"
        low, high = self._range
        if row == 0 and high > window.top:
            rule = MORE_ABOVE
        elif row == window.rows - 1 and low < window.bottom:
            rule = MORE_BELOW
        cells = [(window.label(row).ljust(GUTTER - 1)[:GUTTER - 1] + rule, base + gutter_style)]
        top_row = slot_row(self._grid, *window.slot(row, 0))
        bottom_row = slot_row(self._grid, *window.slot(row, 1))
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
        return join_cells(cells, width, base)
