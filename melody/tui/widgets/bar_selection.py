"""A range of bars picked on a piece's bar grid: what the piano roll's keys and mouse select.

Bars are numbered from 1, as `melody.generation.infill` counts them (`Piece.bar_starts()`),
and a range holds both ends. The selection has an anchor (where it began) and a head (the
end that keys and drags move), so extending past the anchor turns the range around it.
"""

from __future__ import annotations

from bisect import bisect_right


class BarSelection:
    """Bars `first`..`last` (from 1, inclusive) of a piece whose bars start at `starts` and end at `end`."""

    def __init__(self, starts: list[int], end: int) -> None:
        self.starts = list(starts) or [0]
        self.end = max(end, self.starts[-1] + 1)
        self.anchor: int | None = None
        self.head: int | None = None

    @property
    def count(self) -> int:
        """Bars in the piece."""
        return len(self.starts)

    @property
    def bars(self) -> tuple[int, int] | None:
        """(first, last), or None when nothing is selected."""
        if self.anchor is None or self.head is None:
            return None
        return min(self.anchor, self.head), max(self.anchor, self.head)

    @property
    def whole(self) -> bool:
        """True when every bar of the piece is selected (nothing would be kept)."""
        return self.bars == (1, self.count)

    def span(self, bars: tuple[int, int] | None = None) -> tuple[int, int] | None:
        """The ticks [start, end) the selected bars (or `bars`) cover."""
        bars = bars or self.bars
        if bars is None:
            return None
        first, last = bars
        return self.starts[first - 1], self.starts[last] if last < self.count else self.end

    def bar_at(self, tick: int) -> int:
        """The bar (from 1) that holds `tick`, clamped to the piece."""
        return min(self.count, max(1, bisect_right(self.starts, tick)))

    def _clamp(self, bar: int) -> int:
        return min(self.count, max(1, bar))

    def pick(self, bar: int) -> None:
        """Select one bar, which becomes the anchor."""
        self.anchor = self.head = self._clamp(bar)

    def extend_to(self, bar: int) -> None:
        """Move the head to `bar`, keeping the anchor (a first pick when nothing is selected)."""
        if self.anchor is None:
            self.pick(bar)
        else:
            self.head = self._clamp(bar)

    def move(self, step: int, default: int = 1) -> None:
        """Shift the whole range by `step` bars, its length kept, stopping at either end of the
        piece; with nothing selected, select bar `default`."""
        if self.bars is None:
            self.pick(default)
            return
        first, last = self.bars
        step = max(1 - first, min(self.count - last, step))
        self.anchor += step
        self.head += step

    def extend(self, step: int, default: int = 1) -> None:
        """Move the head by `step` bars; with nothing selected, select bar `default`."""
        if self.head is None:
            self.pick(default)
        else:
            self.head = self._clamp(self.head + step)

    def select(self, first: int, last: int) -> None:
        """Select bars `first`..`last` (clamped to the piece)."""
        self.anchor, self.head = self._clamp(first), self._clamp(last)

    def clear(self) -> None:
        self.anchor = self.head = None
