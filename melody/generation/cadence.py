"""Closing a tune on its home note: its last bar drawn again until it ends on the tonic.

Why: three quarters of real folk tunes end on the key's tonic, and a tune that stops on the
second or the fifth sounds cut off. The shipped default model ended 16-18% of its tunes
there (benchmarks/REPORT.md), though 99% of its notes keep to the key: nothing tells it where
a tune will end. `--bars` cuts the piece at a bar it wrote as any other, and its own
end-of-tune token mostly follows a part it copied (CopyBars), whose last bar was written
before the model knew it would close the tune.

How: when a finished piece's final note (`melody.music.cadence.final_note`) is not the
tonic of the key in force there, the piece is cut before its last bar, and `CANDIDATES`
continuations of exactly one bar are sampled from the same model, in one batch, under the
same constraints; the first, in seed order, that ends on the tonic becomes the last bar.
That is rejection sampling: a draw from the model's own last bars given the tune so far
and "ends at home", so the close is still the model's music (written as a second-time
ending is, where the tune's last part returned). If none of them ends there the piece keeps
the last bar it had, and its sidecar says so. Same seed, same candidates, same bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from melody.generation.prime import first_bars
from melody.music.cadence import ends_on_tonic
from melody.music.notes import Piece
from melody.tokenizers.base import EOS

CANDIDATES = 32  # at the default model's 18%, 32 draws all miss the tonic 0.2% of the time
CADENCE_STREAM = 0x6361_6465  # keeps these seeds apart from the pieces' own (seed + index)


def candidate_seeds(seed: int, count: int = CANDIDATES) -> list[int]:
    """The seeds of a piece's candidate last bars: a function of its own seed only."""
    return [int(s) for s in np.random.SeedSequence([seed, CADENCE_STREAM]).generate_state(count)]


def needs_closing(piece: Piece) -> bool:
    """A piece of at least two bars whose final note is not its key's tonic."""
    return ends_on_tonic(piece) is False and len(piece.bar_starts()) >= 2


def head_tokens(tokenizer: Any, piece: Piece) -> list[int]:
    """The token ids of `piece` up to its last bar line (no EOS): the prime of its last bar."""
    head, _ = first_bars(piece, len(piece.bar_starts()) - 1)
    tokens = tokenizer.encode(head)
    return tokens[:-1] if tokens and tokens[-1] == EOS else tokens


def first_closing(tokenizer: Any, candidates: list[list[int]], finished: list[bool]) -> int | None:
    """The index of the first finished candidate that ends on its key's tonic; None if none does."""
    for index, tokens in enumerate(candidates):
        if finished[index] and ends_on_tonic(tokenizer.decode(tokens)):
            return index
    return None
