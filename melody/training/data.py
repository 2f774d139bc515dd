"""What training feeds the model: a split by piece, random training windows, fixed validation windows.

- The split is by piece (a tune), never by window, so no tune is on both sides. A piece's side
  comes from a hash of (seed, file name, tune number): it does not depend on file order or on
  which other files are in the corpus, and survives moving the corpus folder.
- Training windows are drawn at random: a piece with probability proportional to its length
  (so every token is equally likely to be seen). A piece that fits the window is read whole,
  from its first token to its EOS, so the model sees how tunes open and how they end; a longer
  one is read from a random bar, with the meter, key and tempo in force there restated at the
  window's head (`Tokenizer.from_bar`), so no window loses the meter. (For a scheme without
  bars, a random offset.) Optionally a share of the windows is rearranged for infilling
  (prefix, suffix, then the middle: `Tokenizer.infill_prime`), transposed, or written at half
  the note values (`Tokenizer.halving_table`). The random stream of step `s` on process `r` is
  seeded by (seed, r, s), so a resumed run draws exactly the windows an uninterrupted one
  would have drawn.
- Validation windows are fixed: consecutive windows through the held-out pieces.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from melody.errors import UsageError
from melody.tokenizers.base import EOS, PAD, Tokenizer


class PieceLike(Protocol):
    source: str
    tune: str | None
    ids: np.ndarray


def piece_key(piece: PieceLike) -> str:
    """The identity a piece is split by: its file name and tune."""
    return f"{Path(piece.source).name}\x00{piece.tune}"


SHARE_TOLERANCE = 1.5  # a held-out token share within [fraction / 1.5, fraction * 1.5] is close enough


def _split_hash(seed: int, piece: PieceLike) -> int:
    digest = hashlib.sha256(f"{seed}\x00{piece_key(piece)}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def split_pieces(pieces: Sequence[PieceLike], validation_fraction: float,
                 seed: int = 0) -> tuple[list[PieceLike], list[PieceLike]]:
    """(training, validation) pieces; at least one on each side. Needs two pieces or more.

    `validation_fraction` is a share of the corpus's tokens, held out by whole pieces. Pieces
    are taken in the order of their hash (of seed, file name and tune), which does not depend on
    file order. First the pieces whose hash falls under the fraction are held out (the rule
    before shares of tokens, kept because on a corpus of many tunes of like lengths it already
    gives about the right share, and the default model's held-out figures rest on it). When
    their tokens are not within SHARE_TOLERANCE of the wanted share (a few long pieces: 4 MIDI
    files of 18 could hold 32% of the tokens), pieces are instead taken in hash order, each
    only if it keeps the held-out tokens within the tolerance, until the share is reached.
    """
    if len(pieces) < 2:
        raise UsageError(f"the corpus has {len(pieces)} piece{'s' if len(pieces) != 1 else ''}: "
                         f"training needs at least 2 (one to hold out for validation)")
    hashes = [_split_hash(seed, piece) for piece in pieces]
    lengths = [len(piece.ids) for piece in pieces]
    target = validation_fraction * sum(lengths)
    low, high = target / SHARE_TOLERANCE, target * SHARE_TOLERANCE
    threshold = validation_fraction * 2 ** 64
    held_out = [h < threshold for h in hashes]
    if not low <= sum(n for n, out in zip(lengths, held_out) if out) <= high:
        held_out = [False] * len(pieces)
        taken = 0
        for index in sorted(range(len(pieces)), key=hashes.__getitem__):
            if taken >= target:
                break
            if taken + lengths[index] <= high:
                held_out[index] = True
                taken += lengths[index]
    if not any(held_out):  # every piece is longer than the share: hold out the shortest
        held_out[min(range(len(pieces)), key=lambda i: (lengths[i], hashes[i]))] = True
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
    tokenizer: Tokenizer | None = None  # for bar-aligned windows, infilling and halving
    infill_rate: float = 0.0  # share of windows rearranged for infilling (where the scheme can)
    halve_rate: float = 0.0  # share of windows written at half the note values (where it can)

    def __post_init__(self) -> None:
        lengths = np.array([len(ids) for ids in self.pieces], dtype=np.int64)
        self.cumulative = np.cumsum(lengths)
        self.lengths = lengths
        # Legal shifts per piece, found once: a window's shift keeps the whole piece in range.
        if self.transposer is not None:
            self.shifts = np.array([self.transposer.legal_shifts(ids) for ids in self.pieces], dtype=np.int64)
        tokenizer = self.tokenizer
        self.bars = [tokenizer.bar_count(ids) if tokenizer is not None else None for ids in self.pieces]
        if tokenizer is None or not tokenizer.supports_infill:
            self.infill_rate = 0.0
        halving = tokenizer.halving_table() if tokenizer is not None and self.halve_rate > 0 else None
        self.halving = halving[0] if halving is not None else None
        self.halvable = (np.array([bool(halving[1][ids].all()) for ids in self.pieces])
                         if halving is not None else np.zeros(len(self.pieces), dtype=bool))

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
            ids = self._augmented(int(index), int(start), span, rng, int(shifts[row]) if self.transposer else 0)
            out[row, :len(ids)] = ids
            filled = len(ids)
            # Whole tunes leave room: pack more whole tunes behind it (each from its BOS), as
            # long as they fit, instead of padding (a tune is ~300 tokens, a window 1024).
            while self.bars[index] is not None and len(ids) and ids[-1] == EOS and filled < span:
                index = int(np.searchsorted(self.cumulative, rng.integers(0, self.cumulative[-1]), side="right"))
                shift = 0
                if self.transposer is not None:
                    low, high = self.shifts[index]
                    shift = int(low + rng.integers(0, high - low + 1))
                ids = self._augmented(index, 0, span, rng, shift)
                if filled + len(ids) > span:
                    break
                out[row, filled:filled + len(ids)] = ids
                filled += len(ids)
        return out

    def _augmented(self, index: int, start: int, span: int, rng: np.random.Generator, shift: int) -> np.ndarray:
        ids = self._window(index, start, span, rng)
        if shift:
            ids = self.transposer.apply(ids, shift)
        if self.halvable[index] and rng.random() < self.halve_rate:
            ids = self.halving[ids]
        return ids

    def _window(self, index: int, start: int, span: int, rng: np.random.Generator) -> np.ndarray:
        """The tokens of one window of piece `index`: whole, from a bar, or rearranged to infill."""
        ids, bars = self.pieces[index], self.bars[index]
        if bars is None:  # a scheme without bars: a random offset
            return ids[start:start + span]
        if self.infill_rate and bars >= 2 and len(ids) + 8 <= span and rng.random() < self.infill_rate:
            size = int(rng.integers(1, min(16, bars - 1) + 1))
            first = int(rng.integers(0, bars - size + 1))
            prime, middle = self.tokenizer.infill_prime(ids.tolist(), first, first + size - 1)
            return np.asarray([*prime, *middle, EOS][:span], dtype=np.int64)
        if len(ids) <= span:
            return ids
        bar = int(rng.integers(0, bars))
        return np.asarray(self.tokenizer.from_bar(ids.tolist(), bar)[:span], dtype=np.int64)


_SAMPLER: WindowSampler | None = None  # the sampler a forked worker draws from


def _draw(seed: int, rank: int, step: int) -> np.ndarray:
    return _SAMPLER.batch(rng_for_step(seed, rank, step))


class BatchPrefetcher:
    """Step `s`'s batch, drawn ahead in forked worker processes while the GPU trains.

    A batch depends only on (seed, rank, step), so drawing it in another process, early,
    gives the same windows as drawing it in the loop. With `workers == 0` (the CPU: its cores
    are busy with the model) it draws in the loop.
    """

    def __init__(self, sampler: WindowSampler, seed: int, rank: int, workers: int = 0, ahead: int = 8) -> None:
        self.sampler, self.seed, self.rank, self.ahead = sampler, seed, rank, ahead
        self.pending: dict[int, Any] = {}
        self.pool = None
        if workers > 0:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            global _SAMPLER
            _SAMPLER = sampler
            self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))

    def batch(self, step: int) -> np.ndarray:
        if self.pool is None:
            return self.sampler.batch(rng_for_step(self.seed, self.rank, step))
        for ahead in range(step, step + self.ahead):
            if ahead not in self.pending:
                self.pending[ahead] = self.pool.submit(_draw, self.seed, self.rank, ahead)
        for stale in [s for s in self.pending if s < step]:
            self.pending.pop(stale).cancel()
        return self.pending.pop(step).result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None


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
        "method": "validation_fraction of the tokens, by whole pieces in sha256(seed, file name, tune) order",
        "seed": seed,
        "validation_fraction": validation_fraction,
        "training_pieces": len(training),
        "validation_pieces": len(validation),
        "training_tokens": int(sum(len(p.ids) for p in training)),
        "validation_tokens": int(sum(len(p.ids) for p in validation)),
        "validation_share": round(sum(len(p.ids) for p in validation)
                                  / max(1, sum(len(p.ids) for p in (*training, *validation))), 4),
        "validation": [[Path(p.source).name, p.tune] for p in validation],
    }
