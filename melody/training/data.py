"""What training feeds the model: a split by piece, random training windows, fixed validation windows.

- The split is by piece (a tune), never by window, so no tune is on both sides. A piece's side
  comes from a hash of (seed, file name, tune number): it does not depend on file order or on
  which other files are in the corpus, and survives moving the corpus folder.
- Training windows are drawn at random: a piece with probability proportional to its length
  (so every token is equally likely to be seen), an offset uniform within it, optionally a
  transposition. The random stream of step `s` on process `r` is seeded by (seed, r, s), so a
  resumed run draws exactly the windows an uninterrupted one would have drawn.
- Validation windows are fixed: consecutive windows through the held-out pieces.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from melody.errors import UsageError
from melody.tokenizers.base import PAD, Tokenizer


class PieceLike(Protocol):
    source: str
    tune: str | None
    ids: np.ndarray


def piece_key(piece: PieceLike) -> str:
    """The identity a piece is split by: its file name and tune."""
    return f"{Path(piece.source).name}\x00{piece.tune}"


def _split_hash(seed: int, piece: PieceLike) -> int:
    digest = hashlib.sha256(f"{seed}\x00{piece_key(piece)}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def split_pieces(pieces: Sequence[PieceLike], validation_fraction: float,
                 seed: int = 0) -> tuple[list[PieceLike], list[PieceLike]]:
    """(training, validation) pieces; at least one on each side. Needs two pieces or more."""
    if len(pieces) < 2:
        raise UsageError(f"the corpus has {len(pieces)} piece{'s' if len(pieces) != 1 else ''}: "
                         f"training needs at least 2 (one to hold out for validation)")
    hashes = [_split_hash(seed, piece) for piece in pieces]
    threshold = validation_fraction * 2 ** 64
    held_out = [h < threshold for h in hashes]
    if not any(held_out):  # a tiny corpus: hold out the piece nearest the threshold
        held_out[min(range(len(pieces)), key=hashes.__getitem__)] = True
    if all(held_out):
        held_out[max(range(len(pieces)), key=hashes.__getitem__)] = False
    training = [p for p, out in zip(pieces, held_out) if not out]
    validation = [p for p, out in zip(pieces, held_out) if out]
    return training, validation


class Transposer:
    """Shifts the pitch tokens of id arrays by table lookup, keeping pitches in the tokenizer's range."""

    def __init__(self, pitch_of: np.ndarray, tables: dict[int, np.ndarray],
                 pitch_range: tuple[int, int], max_shift: int) -> None:
        self.pitch_of = pitch_of  # the MIDI pitch each token id names, -1 for none
        self.tables = tables  # shift -> the id each id becomes
        self.pitch_range = pitch_range
        self.max_shift = max_shift

    def legal_shifts(self, ids: np.ndarray) -> tuple[int, int]:
        """The lowest and highest shift (within +-max_shift) that keeps every pitch of `ids` in range."""
        pitches = self.pitch_of[ids]
        pitches = pitches[pitches >= 0]
        if not len(pitches):
            return 0, 0
        low = max(-self.max_shift, self.pitch_range[0] - int(pitches.min()))
        high = min(self.max_shift, self.pitch_range[1] - int(pitches.max()))
        return (low, high) if low <= high else (0, 0)

    def apply(self, ids: np.ndarray, shift: int) -> np.ndarray:
        return ids if shift == 0 else self.tables[shift][ids]


def transposer_for(tokenizer: Tokenizer, max_shift: int) -> Transposer | None:
    """A Transposer when the tokenizer can shift pitches token by token; None otherwise.

    A tokenizer opts in with `pitch_of_ids() -> array` (the MIDI pitch each token id names,
    -1 for none), `transposition_table(semitones) -> array` (the id each id becomes; ids of
    tokens without a pitch map to themselves, key tokens to the shifted key) and `pitch_range`.
    """
    if max_shift <= 0 or not all(hasattr(tokenizer, name) for name in
                                 ("pitch_of_ids", "transposition_table", "pitch_range")):
        return None
    pitch_of = np.asarray(tokenizer.pitch_of_ids(), dtype=np.int64)
    tables = {shift: np.asarray(tokenizer.transposition_table(shift), dtype=np.int64)
              for shift in range(-max_shift, max_shift + 1) if shift}
    low, high = tokenizer.pitch_range
    return Transposer(pitch_of, tables, (int(low), int(high)), max_shift)


@dataclass
class WindowSampler:
    """Random training windows [B, window + 1] (inputs are [:, :-1], targets [:, 1:])."""

    pieces: list[np.ndarray]
    window: int
    batch_size: int
    transposer: Transposer | None = None

    def __post_init__(self) -> None:
        lengths = np.array([len(ids) for ids in self.pieces], dtype=np.int64)
        self.cumulative = np.cumsum(lengths)
        self.lengths = lengths
        # Legal shifts per piece, found once: a window's shift keeps the whole piece in range.
        if self.transposer is not None:
            self.shifts = np.array([self.transposer.legal_shifts(ids) for ids in self.pieces], dtype=np.int64)

    def batch(self, rng: np.random.Generator) -> np.ndarray:
        """One batch of windows drawn with `rng`, padded with PAD past a short piece's end."""
        span = self.window + 1
        choice = np.searchsorted(self.cumulative, rng.integers(0, self.cumulative[-1], self.batch_size),
                                 side="right")
        starts = rng.integers(0, np.maximum(self.lengths[choice] - span, 0) + 1)
        out = np.full((self.batch_size, span), PAD, dtype=np.int64)
        if self.transposer is not None:
            low, high = self.shifts[choice, 0], self.shifts[choice, 1]
            shifts = low + (rng.random(self.batch_size) * (high - low + 1)).astype(np.int64)
        for row, (index, start) in enumerate(zip(choice, starts)):
            ids = self.pieces[index][start:start + span]
            if self.transposer is not None:
                ids = self.transposer.apply(ids, int(shifts[row]))
            out[row, :len(ids)] = ids
        return out


def validation_windows(pieces: Sequence[np.ndarray], window: int, limit: int) -> np.ndarray:
    """Fixed windows [N, window + 1] through the held-out pieces; at most `limit`, evenly spread."""
    span = window + 1
    rows = []
    for ids in pieces:
        # Consecutive windows share one token so every target after BOS is scored exactly once.
        for start in range(0, max(len(ids) - 1, 1), window):
            chunk = ids[start:start + span]
            row = np.full(span, PAD, dtype=np.int64)
            row[:len(chunk)] = chunk
            rows.append(row)
    if len(rows) > limit:
        keep = np.linspace(0, len(rows) - 1, limit).round().astype(int)
        rows = [rows[i] for i in keep]
    return np.stack(rows) if rows else np.zeros((0, span), dtype=np.int64)


def rng_for_step(seed: int, rank: int, step: int) -> np.random.Generator:
    """The random stream of one training step on one process."""
    return np.random.default_rng([seed, rank, step])


def split_summary(training: Sequence[Any], validation: Sequence[Any], seed: int,
                  validation_fraction: float) -> dict[str, Any]:
    """What config.json records about the split, enough to recompute it (`split_pieces`)."""
    return {
        "method": "sha256(seed, file name, tune) < validation_fraction",
        "seed": seed,
        "validation_fraction": validation_fraction,
        "training_pieces": len(training),
        "validation_pieces": len(validation),
        "training_tokens": int(sum(len(p.ids) for p in training)),
        "validation_tokens": int(sum(len(p.ids) for p in validation)),
        "validation": [[Path(p.source).name, p.tune] for p in validation],
    }
