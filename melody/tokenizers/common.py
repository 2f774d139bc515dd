"""Pieces the token schemes share: value grids (velocity, tempo, meter, key) and mask helpers."""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Sequence

import numpy as np

from melody.errors import UsageError

from melody.music.notes import MODES, PITCH_CLASS_NAMES, TICKS_PER_QUARTER, Key

# The eight dynamics marks as MIDI velocities (ppp .. fff): ABC's !p!..!fff! land on them,
# and the Note default (80, mf) is one of them, so unaccented music keeps its velocity exactly.
DYNAMICS = (16, 33, 49, 64, 80, 96, 112, 127)
DEFAULT_VELOCITY = 80
# Maelzel metronome marks, extended at both ends: the tempos music is written in.
METRONOME = (30, 32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 63, 66, 69, 72, 76,
             80, 84, 88, 92, 96, 100, 104, 108, 112, 116, 120, 126, 132, 138, 144, 152, 160, 168,
             176, 184, 192, 200, 208, 216, 224, 232, 240, 252, 264, 276, 288, 300)
METER_DENOMINATORS = (1, 2, 4, 8, 16, 32)  # those whose bar is a whole number of grid ticks
MAX_NUMERATOR = 16
WHOLE = TICKS_PER_QUARTER * 4


def nearest(grid: Sequence[float], value: float) -> int:
    """Index of the grid value nearest to `value` (grid ascending); ties go to the lower."""
    index = bisect_left(grid, value)
    if index == 0:
        return 0
    if index == len(grid):
        return len(grid) - 1
    return index if grid[index] - value < value - grid[index - 1] else index - 1


def nearest_log(grid: Sequence[float], value: float) -> int:
    """Index of the grid value nearest to `value` in ratio (for tempos)."""
    if value <= 0 or not math.isfinite(value):
        return nearest(grid, 120)
    index = bisect_left(grid, value)
    if index == 0:
        return 0
    if index == len(grid):
        return len(grid) - 1
    return index if grid[index] / value < value / grid[index - 1] else index - 1


def even_levels(count: int) -> list[int]:
    """`count` velocities spread evenly over 1..127, each the middle of its bin."""
    return [min(127, max(1, round((index + 0.5) * 127 / count))) for index in range(count)]


def meters(max_bar_ticks: int) -> list[tuple[int, int]]:
    """Every numerator/denominator meter with a bar of at most `max_bar_ticks` grid ticks."""
    return [(n, d) for d in METER_DENOMINATORS for n in range(1, MAX_NUMERATOR + 1)
            if n * WHOLE // d <= max_bar_ticks]


def key_tokens() -> list[str]:
    """Every tonic in every mode: 'Key_D_major', 'Key_A_dorian', ..."""
    return [f"Key_{PITCH_CLASS_NAMES[tonic]}_{mode}" for tonic in range(12) for mode in MODES]


def key_of_token(index: int) -> tuple[int, str]:
    """(tonic, mode) of the `index`-th key token."""
    return index // len(MODES), MODES[index % len(MODES)]


def key_index(key: Key) -> int:
    return key.tonic % 12 * len(MODES) + MODES.index(key.mode)


def pitch_mask(scale: frozenset[int] | None, pitch_range: tuple[int, int] | None) -> np.ndarray:
    """For MIDI pitches 0..127: which the constraints allow."""
    allowed = np.ones(128, dtype=bool)
    if scale is not None:
        allowed &= np.isin(np.arange(128) % 12, sorted(scale))
    if pitch_range is not None:
        low, high = pitch_range
        allowed &= (np.arange(128) >= low) & (np.arange(128) <= high)
    return allowed


def index_groups(groups: Sequence[tuple[int, list[str]]], counts_from_one: Sequence[int] = ()
                 ) -> tuple[list[str], list[int], list[int], dict[int, int]]:
    """A scheme's vocabulary from (kind, tokens) groups, after the three special ids.

    Returns the tokens, the kind of every id, the number every id stands for (its index in
    its group; from 1 for kinds in `counts_from_one`), and the first id of each non-empty group.
    """
    vocab: list[str] = []
    kinds, values = [0] * 3, [0] * 3  # ids 0..2 are the special tokens (kind 0)
    first: dict[int, int] = {}
    for kind, tokens in groups:
        if tokens:  # a group switched off by the config has no first id
            first[kind] = 3 + len(vocab)
        vocab += tokens
        kinds += [kind] * len(tokens)
        start = 1 if kind in counts_from_one else 0
        values += range(start, start + len(tokens))
    return vocab, kinds, values, first


class SlotState:
    """Base of the grammars' state objects: plain slots, and a cheap copy for `advance`."""

    __slots__ = ()

    def copy(self):
        state = self.__class__.__new__(self.__class__)
        for name in self.__slots__:
            setattr(state, name, getattr(self, name))
        return state


def config_keys(scheme: str, config: dict, known: dict) -> None:
    """UsageError for a setting the scheme does not have (a typo would otherwise pass unseen)."""
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise UsageError(f"{scheme} tokenizer has no setting {', '.join(map(repr, unknown))} "
                         f"(its settings: {', '.join(known) or 'none'})")


def config_int(scheme: str, config: dict, key: str, low: int, high: int) -> int:
    """A whole-number setting of a tokenizer config, checked; UsageError otherwise."""
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(f"{scheme} tokenizer: {key} must be a whole number from {low} to {high}, "
                         f"not {value!r}")
    return value


def config_levels(scheme: str, config: dict, key: str, allow_empty: bool) -> list[int]:
    """A list of distinct MIDI velocities 1..127 from a tokenizer config, sorted; UsageError otherwise."""
    value = config.get(key)
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                              and 1 <= v <= 127 for v in value) \
            or len(set(value)) != len(value) or (not value and not allow_empty):
        raise UsageError(f"{scheme} tokenizer: {key} must be a list of distinct velocities 1..127"
                         f"{'' if allow_empty else ' (at least one)'}, not {value!r}")
    return sorted(value)


def config_flag(scheme: str, config: dict, key: str) -> bool:
    value = config.get(key)
    if not isinstance(value, bool):
        raise UsageError(f"{scheme} tokenizer: {key} must be true or false, not {value!r}")
    return value
