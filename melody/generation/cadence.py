"""Closing a tune where tunes end: its last bar drawn again until it ends on the aimed degree.

Why: a listener hears a folk tune end on its last note. Three quarters of the shipped corpus's
tunes end on the key's tonic, and most of the rest on the fifth, the second or the fourth
(modal tunes under a major key signature); a tune that stops anywhere else sounds cut off.
The shipped default model ended 16-18% of its tunes on the tonic (benchmarks/REPORT.md),
though 99% of its notes keep to the key: nothing tells it where a tune will end. `--bars`
cuts the piece at a bar it wrote as any other, and its own end-of-tune token mostly follows
a part it copied (CopyBars), whose last bar was written before the model knew it would close
the tune.

Three modes (`GenerationSettings.cadence`):
- "corpus" (the default): each piece aims at a degree drawn from the degrees its model's
  training tunes of about its length end on (openings.json's `endings_by_bars`, the tunes
  within an eighth of its bar count; all of them when fewer than `POOL_MIN` are), so the
  generated endings are spread as the corpus's are: in the shipped corpus, tunes of 32 bars
  close on the tonic 85% of the time and on the fifth or the second now and then, tunes of
  16 bars on the tonic half the time. Only the degrees of the piece's own scale are drawn (the
  corpus's endings mix major and minor tunes). A model folder without that record aims at
  the tonic.
- "tonic": every piece aims at the tonic.
- "off": the model's own last bar, wherever it ends.

How: when a finished piece's final note (`melody.music.cadence.final_degree`) is not on the
aimed degree of the key in force there, the piece is cut before its last bar, and
`CANDIDATES` continuations of exactly one bar are sampled from the same model, in one batch,
under the same constraints; the first, in seed order, that ends on the aim becomes the last
bar. That is rejection sampling: a draw from the model's own last bars given the tune so far
and "ends there", so the close is still the model's music (written as a second-time ending
is, where the tune's last part returned). If none of them ends there the piece keeps the last
bar it had, and its sidecar says so. The aim and the candidates are functions of the piece's
seed: same seed, same bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from melody.generation.prime import first_bars
from melody.music.cadence import final_degree, final_note, key_at
from melody.music.notes import Piece

CADENCES = ("corpus", "tonic", "off")
CANDIDATES = 32  # at the default model's 18%, 32 draws all miss the tonic 0.2% of the time
CADENCE_STREAM = 0x6361_6465  # keeps these seeds apart from the pieces' own (seed + index)
AIM_STREAM = 0x6169_6d00  # the draw of a piece's aimed degree, apart from its candidates
POOL_MIN = 40  # training tunes of about a piece's length needed to draw its ending from theirs


def candidate_seeds(seed: int, count: int = CANDIDATES) -> list[int]:
    """The seeds of a piece's candidate last bars: a function of its own seed only."""
    return [int(s) for s in np.random.SeedSequence([seed, CADENCE_STREAM]).generate_state(count)]


def aimed_degree(seed: int, cadence: str, openings: dict | None, bars: int,
                 scale: frozenset[int] | None = None) -> tuple[int | None, str]:
    """The degree (semitones above the tonic) a piece of `bars` bars seeded `seed` should end
    on, and where it was drawn from: 0 for "tonic", a draw from the endings of the model's
    training tunes of about `bars` bars for "corpus", None for "off". With `scale` (the degrees
    of the piece's key) only the endings inside it are drawn: the corpus's endings mix major
    and minor tunes, and a major tune aimed at the minor seventh would end outside its key."""
    if cadence == "off":
        return None, ""
    counts, pool = ending_counts(openings or {}, bars)
    if scale is not None:
        counts = {degree: count for degree, count in counts.items() if degree in scale}
    if cadence == "tonic" or not counts:
        return 0, "the key's tonic"
    degrees = sorted(counts)
    weights = np.array([counts[d] for d in degrees], dtype=np.float64)
    draw = np.random.default_rng(np.random.SeedSequence([seed, AIM_STREAM])).random()
    return degrees[int(np.searchsorted(np.cumsum(weights) / weights.sum(), draw, side="right"))], pool


def cadence_of(value: Any) -> Any:
    """A cadence as settings hold it: sidecars and saved forms of 2026-11-30 said true (the
    tonic) or false (off); anything else is left for validation."""
    return ("tonic" if value else "off") if isinstance(value, bool) else value


def length_window(bars: int) -> tuple[int, int]:
    """The lengths in bars of the tunes "about as long" as a piece of `bars` bars: within an
    eighth either way (the pool a close is drawn from; benchmarks/bench_form.py compares with it)."""
    return bars - bars // 8, bars + bars // 8


def ending_counts(openings: dict, bars: int) -> tuple[dict[int, int], str]:
    """How often each degree ends the training tunes within an eighth of `bars` bars (all the
    tunes when fewer than POOL_MIN are), and which tunes those were, in words."""
    low, high = length_window(bars)
    near: dict[int, int] = {}
    for length, counts in (openings.get("endings_by_bars") or {}).items():
        if low <= int(length) <= high:
            for degree, count in counts.items():
                near[int(degree)] = near.get(int(degree), 0) + count
    if sum(near.values()) >= POOL_MIN:
        return {d: c for d, c in near.items() if c > 0}, f"{sum(near.values())} training tunes of {low}..{high} bars"
    every = {int(d): c for d, c in (openings.get("endings") or {}).items() if c > 0}
    return every, f"all {sum(every.values())} training tunes"


def closable(piece: Piece) -> bool:
    """A piece of at least two bars whose final note has a key to be measured against."""
    return final_degree(piece) is not None and len(piece.bar_starts()) >= 2


def needs_closing(piece: Piece, aim: int = 0) -> bool:
    """A closable piece whose final note is not on `aim` (0, the tonic)."""
    return closable(piece) and final_degree(piece) != aim


def scale_degrees(piece: Piece) -> frozenset[int] | None:
    """The degrees (semitones above the tonic) of the scale of the key in force at the end."""
    last = final_note(piece)
    key = key_at(piece, last.onset if last is not None else 0)
    return None if key is None else frozenset((pitch_class - key.tonic) % 12 for pitch_class in key.scale)


def head_tokens(tokenizer: Any, piece: Piece) -> list[int]:
    """The token ids of `piece` up to its last bar line (no EOS): the prime of its last bar."""
    head, _ = first_bars(piece, len(piece.bar_starts()) - 1)
    return tokenizer.prime_tokens(head, then=1)


def first_closing(tokenizer: Any, candidates: list[list[int]], finished: list[bool], aim: int = 0) -> int | None:
    """The index of the first finished candidate that ends on `aim`; None if none does."""
    for index, tokens in enumerate(candidates):
        if finished[index] and final_degree(tokenizer.decode(tokens)) == aim:
            return index
    return None


def ending_summary(ending: dict[str, Any] | None) -> str:
    """A take's `ending` record in a few words ("ends on the fifth (last bar drawn again)",
    "missed the second"); "" when the cadence did not look at it."""
    if not ending or not ending.get("aim"):
        return ""
    fate = ending.get("last_bar")
    if fate == "drawn again":
        return f"ends on the {ending['aim']} (last bar drawn again)"
    if fate == "the model's own":
        return f"ends on the {ending['aim']}"
    return f"missed the {ending['aim']}"
