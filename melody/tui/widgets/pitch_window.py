"""Which pitches the piano roll's rows show: fitted to a take's whole range, or zoomed in and panned.

Each row of the roll holds two slots, the upper and lower half of a character cell, and a slot
holds `step` semitones. Fitted, `step` is the smallest that puts every note on screen, so a
wide take on a short roll is drawn coarser rather than cut off; zoomed in, the window shows
fewer pitches and pans up and down by rows. Rows are labelled with the pitch at each edge and
with every C between.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
HIGHEST = 127  # MIDI's pitch range


def pitch_name(pitch: int) -> str:
    """C4 for MIDI 60, F#5 for 78 (scientific pitch notation, sharps)."""
    return f"{NAMES[pitch % 12]}{pitch // 12 - 1}"


def fit_step(low: int, high: int, rows: int) -> int:
    """The fewest semitones a slot must hold for `low`..`high` to fit in `rows` rows."""
    slots = 2 * max(1, rows)
    return max(1, -(-(high - low + 1) // slots))


@dataclass(frozen=True)
class PitchWindow:
    """`rows` rows from the pitch `top` down, `step` semitones to each half of a row."""

    top: int
    step: int
    rows: int

    @classmethod
    def centred(cls, low: int, high: int, rows: int, step: int | None = None) -> PitchWindow:
        """The notes `low`..`high` in the middle (at the top when they are wider than the window);
        `step` None fits them all."""
        step = step or fit_step(low, high, rows)
        span = 2 * max(1, rows) * step
        top = high + max(0, span - (high - low + 1)) // 2
        return cls(top, step, max(1, rows)).clamped()

    @property
    def span(self) -> int:
        """Semitones shown."""
        return 2 * self.rows * self.step

    @property
    def bottom(self) -> int:
        """The lowest pitch shown."""
        return self.top - self.span + 1

    def clamped(self) -> PitchWindow:
        """The same window moved back inside MIDI's pitches where it strays out."""
        top = max(min(self.top, HIGHEST), min(self.span - 1, HIGHEST))
        return PitchWindow(top, self.step, self.rows)

    def slot(self, y: int, half: int) -> tuple[int, int]:
        """The pitches (low, high) of row `y`'s upper (half 0) or lower (half 1) slot."""
        high = self.top - (2 * y + half) * self.step
        return high - self.step + 1, high

    def row_of(self, pitch: int) -> tuple[int, int] | None:
        """(row, half) where `pitch` is drawn, or None when it is outside the window."""
        if not self.bottom <= pitch <= self.top:
            return None
        index = (self.top - pitch) // self.step
        return index // 2, index % 2

    def label(self, y: int) -> str:
        """Row `y`'s label: its top pitch on the first row, its lowest on the last, else the C it holds."""
        low, high = self.slot(y, 1)[0], self.slot(y, 0)[1]
        if y == 0:
            return pitch_name(high)
        if y == self.rows - 1:
            return pitch_name(low)
        c = high - high % 12
        return pitch_name(c) if c >= max(low, 0) else ""

    def panned(self, rows: int) -> PitchWindow:
        """Moved up (positive) or down by whole rows."""
        return PitchWindow(self.top + 2 * rows * self.step, self.step, self.rows).clamped()

    def following(self, pitch: int) -> PitchWindow:
        """Moved by the fewest whole rows that bring `pitch` into view."""
        row_span = 2 * self.step
        if pitch > self.top:
            return self.panned(-(-(pitch - self.top) // row_span))
        if pitch < self.bottom:
            return self.panned(-(-(self.bottom - pitch) // row_span) * -1)
        return self
