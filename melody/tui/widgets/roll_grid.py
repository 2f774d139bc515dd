"""The piano roll's cells: which columns each pitch sounds in, pitches merged into a row's slot,
and a line of cells joined into a Textual strip. Plain functions, so the widget keeps to what
is in view and how the keys move it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from melody.music.notes import Note

NONE, PRIME, NEW = 0, 1, 2  # what a column of a pitch holds: nothing, kept music, new music


def note_grid(notes: Iterable[Note], ticks_per_column: int, columns: int,
              is_new: Callable[[int], bool]) -> dict[int, bytearray]:
    """pitch -> a byte per column: NONE, PRIME (kept) or NEW (`is_new(onset)`)."""
    grid: dict[int, bytearray] = {}
    for note in notes:
        row = grid.setdefault(note.pitch, bytearray(columns))
        kind = NEW if is_new(note.onset) else PRIME
        first = note.onset // ticks_per_column
        last = max(first + 1, -(-note.end // ticks_per_column))
        row[first:last] = bytes([kind]) * (last - first)
    return grid


def slot_row(grid: dict[int, bytearray], low: int, high: int) -> bytearray:
    """A byte per column for the pitches low..high together: NEW where any is new, else PRIME."""
    rows = [grid[p] for p in range(low, high + 1) if p in grid]
    if len(rows) <= 1:
        return rows[0] if rows else bytearray()
    merged = bytearray(max(len(r) for r in rows))
    for part in rows:
        for column, kind in enumerate(part):
            if kind > merged[column]:
                merged[column] = kind
    return merged


def join_cells(cells: list[tuple[str, Style]], width: int, base: Style) -> Strip:
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
