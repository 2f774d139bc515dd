"""Form statistics of a piece: does it hold together as a tune, bar by bar and as a whole?

Surface statistics (`stats.py`) say whether the notes sound like the real ones; these say
whether the piece is shaped like a tune: a part that comes back, an ending on the key's
tonic, music from the first bar, bars that fill their meter rather than trail off into
silence. Each is a per-piece function on melody's tick grid; NaN marks a piece for which the
question has no answer (too short, no key), and such a piece is left out of a set's figure.

Bars are the piece's own bar lines (`Piece.bar_starts`); the last bar ends where the piece
does, so a tune that closes on a short final bar (the complement of its pickup) is not
charged for the silence after its end.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from melody.music.cadence import ends_on_tonic
from melody.music.notes import TICKS_PER_QUARTER, Note, Piece, TimeSignature

BLOCK_BARS = 4  # a "part" that returns: four bars, the shortest phrase folk tunes repeat


def bar_spans(piece: Piece) -> list[tuple[int, int]]:
    """(start, end) ticks of every bar; the last ends at the piece's end (at least one tick on)."""
    starts = piece.bar_starts()
    ends = [*starts[1:], max(piece.end_tick, starts[-1] + 1)]
    return [(s, e) for s, e in zip(starts, ends) if e > s]


def sounding(piece: Piece, end: int) -> np.ndarray:
    """How many notes sound at each tick 0..end-1 (a difference array, then a running sum)."""
    delta = np.zeros(end + 1, dtype=np.int64)
    for note in piece.notes:
        delta[min(note.onset, end)] += 1
        delta[min(note.end, end)] -= 1
    return np.cumsum(delta[:-1])


def _pitched(piece: Piece) -> list[Note]:
    return [n for n in piece.notes if not n.is_drum]


def _bar_contents(piece: Piece, spans: list[tuple[int, int]]) -> list[tuple[tuple[int, int, int], ...]]:
    """Per bar, its pitched notes as (onset from the bar line, pitch, duration), in order."""
    contents: list[list[tuple[int, int, int]]] = [[] for _ in spans]
    starts = [s for s, _ in spans]
    bar = 0
    for note in sorted(_pitched(piece)):
        while bar + 1 < len(starts) and note.onset >= starts[bar + 1]:
            bar += 1
        if note.onset >= starts[bar]:
            contents[bar].append((note.onset - starts[bar], note.pitch, note.duration))
    return [tuple(c) for c in contents]


def _block_keys(contents: list[tuple], transposed: bool) -> Iterable[tuple[int, tuple]]:
    """(first bar, identity) of every block of `BLOCK_BARS` bars that holds a note.

    Up to transposition the identity subtracts the block's first note's pitch from every
    pitch: a constant shift keeps the notes' order, so shifted copies get equal identities.
    """
    for first in range(len(contents) - BLOCK_BARS + 1):
        block = contents[first:first + BLOCK_BARS]
        notes = [note for bar in block for note in bar]
        if not notes:
            continue  # four silent bars are not a part
        if transposed:
            base = notes[0][1]
            block = [tuple((o, p - base, d) for o, p, d in bar) for bar in block]
        yield first, tuple(block)


def returning_part(piece: Piece, *, transposed: bool = False) -> float:
    """1.0 when a block of 4 consecutive bars recurs later note for note, else 0.0.

    Note for note: every pitched note of the block's bars, as (onset relative to its bar line,
    pitch, duration), is the same in the later block. The two blocks must not overlap (the
    later one starts 4 or more bars after the first), so a single bar played over and over
    (which makes overlapping blocks equal) counts only once it fills eight bars. With
    `transposed`, the later block may be the earlier one shifted by a constant interval (0
    included). A block must hold at least one note. NaN for a piece of fewer than 8 bars,
    which has no room for a part to return.
    """
    spans = bar_spans(piece)
    if len(spans) < 2 * BLOCK_BARS or not _pitched(piece):
        return math.nan
    earliest: dict[tuple, int] = {}
    for first, identity in _block_keys(_bar_contents(piece, spans), transposed):
        seen = earliest.setdefault(identity, first)
        if first - seen >= BLOCK_BARS:
            return 1.0
    return 0.0


def returning_part_transposed(piece: Piece) -> float:
    """`returning_part` up to transposition: the returning block may be shifted in pitch."""
    return returning_part(piece, transposed=True)


def tonic_ending(piece: Piece) -> float:
    """1.0 when the last note has the pitch class of the key's tonic, else 0.0.

    The last note is the highest pitched note (drums excluded) among those with the latest
    onset (`melody.music.cadence.final_note`: in the shipped corpus every tune ends on a
    single note); the key is the one in force at its onset, and its tonic is the mode's own
    (A for A dorian). NaN without a key or a note.
    """
    ends = ends_on_tonic(piece)
    return math.nan if ends is None else float(ends)


def empty_first_bar(piece: Piece) -> float:
    """1.0 when no note starts in the first bar, else 0.0 (NaN for a piece without notes).

    A pickup is not an empty first bar: readers put the first full bar on a bar line, so the
    pickup's notes start late in bar one.
    """
    if not piece.notes:
        return math.nan
    start, end = bar_spans(piece)[0]
    return 0.0 if any(start <= n.onset < end for n in piece.notes) else 1.0


def padded_bar_rate(piece: Piece) -> float:
    """Share of bars, the last left out, that end in a silence longer than a quarter of the bar.

    Longer than: no note sounds during the bar's last quarter and the tick before it. That is
    the trailing rest a model leaves when it runs out of music before the bar line; a bar that
    merely closes on a rest as long as one of its four quarters (a quarter rest in 4/4) is
    left to `meter_fill` to judge. The last bar is left out because a tune may end before its
    bar does. NaN for a piece of one bar or no notes.
    """
    spans = bar_spans(piece)[:-1]
    if not spans or not piece.notes:
        return math.nan
    sound = sounding(piece, spans[-1][1])
    padded = [not sound[max(start, end - (end - start) // 4 - 1):end].any() for start, end in spans]
    return float(np.mean(padded))


def _meter_at(piece: Piece, tick: int) -> TimeSignature:
    current = TimeSignature(0, 4, 4)
    for signature in piece.time_signatures:
        if signature.tick <= tick:
            current = signature
    return current


def beat_ticks(signature: TimeSignature) -> int:
    """The meter's beat in ticks: a dotted note in compound meters (6/8, 9/8, 12/8...), else 1/denominator."""
    unit = TICKS_PER_QUARTER * 4 // signature.denominator
    compound = signature.denominator >= 8 and signature.numerator % 3 == 0 and signature.numerator > 3
    return max(1, 3 * unit if compound else unit)


def _longest_silence(sound: np.ndarray) -> int:
    silent = np.concatenate([[0], (sound == 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(silent))  # starts and ends of silent runs, alternating
    return int((edges[1::2] - edges[::2]).max(initial=0))


def meter_fill(piece: Piece) -> float:
    """Share of inner bars that their notes fill: no silence inside the bar lasts a beat.

    A bar is filled when at every tick some note sounds, rests shorter than one beat of the
    meter (`beat_ticks`: a quarter in 4/4, a half in 2/2, a dotted quarter in 6/8) allowed:
    folk tunes breathe with short rests, but a beat of silence in a dance tune is a hole. The
    first and last bars are left out, since a pickup and the closing note legitimately leave
    them part empty. NaN for a piece of fewer than three bars or no notes.
    """
    spans = bar_spans(piece)[1:-1]
    if not spans or not piece.notes:
        return math.nan
    sound = sounding(piece, spans[-1][1])
    filled = [_longest_silence(sound[start:end]) < beat_ticks(_meter_at(piece, start)) for start, end in spans]
    return float(np.mean(filled))


def length_in_bars(piece: Piece) -> float:
    """Number of bars (NaN for a piece without notes): telling only where the model ends a tune itself."""
    return float(len(bar_spans(piece))) if piece.notes else math.nan
