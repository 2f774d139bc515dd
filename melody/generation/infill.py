"""Infilling: new music for bars `first`..`last` of a piece, keeping what comes before and after.

The tokenizer writes the piece as a fill-in-the-middle prime (prefix, suffix, then a sentinel
after which the model writes the middle: `Tokenizer.infill_prime`), the grammar counts exactly
the range's bars in the meter in force there, and the take is put together from the original
piece outside the range and the sampled notes inside it, so the kept bars are the original's
note for note, whatever the tokens can spell.

Bars are numbered from 1 as a musician counts them in the file (a pickup, when there is one,
is bar 1), `first` and `last` both included.
"""

from __future__ import annotations

from typing import Any

from melody.errors import ModelError, UsageError
from melody.generation.prime import Prime
from melody.music.notes import Key, Piece


def parse_range(text: str) -> tuple[int, int]:
    """"5-8" (or "5") as (5, 8); UsageError otherwise."""
    first, _, last = (text or "").strip().partition("-")
    try:
        bars = int(first), int(last or first)
    except ValueError:
        raise UsageError(f"--infill {text!r}: give bars as FIRST-LAST, e.g. 5-8") from None
    return bars


def check_model(model: Any) -> None:
    """ModelError unless the model was trained to fill a middle from its prefix and suffix."""
    tokenizer = model.tokenizer
    settings = ((model.config or {}).get("settings") or {}).get("training") or {}
    if not tokenizer.supports_infill or not settings.get("infill_rate", 0):
        raise ModelError(f"{model.folder}: this model was not trained for infilling (train one with "
                         f"the remi tokenizer and training.infill_rate above 0, as the default recipe is)")


def infill_prime(tokenizer: Any, piece: Piece, bars: tuple[int, int], source: str | None,
                 text: str | None) -> tuple[Prime, Key | None]:
    """The Prime that asks for bars `first`..`last` of `piece` anew, and the key in force there."""
    first, last = bars
    starts = piece.bar_starts()
    if not (isinstance(first, int) and isinstance(last, int)):
        raise UsageError(f"infill bars must be whole numbers, not {bars!r}")
    if first > last:
        raise UsageError(f"infill bars {first}-{last}: the first bar comes after the last")
    if first < 1 or last > len(starts):
        raise UsageError(f"infill bars {first}-{last} are outside the piece, which has bars 1-{len(starts)}")
    if first == 1 and last == len(starts):
        raise UsageError(f"infill bars {first}-{last} are the whole piece: nothing would be kept "
                         f"(generate without --infill for a new piece)")
    ids = tokenizer.encode(piece)
    if tokenizer.bar_count(ids) != len(starts):
        raise UsageError(f"the piece's bars do not line up with the {tokenizer.name} tokenizer's "
                         f"(a meter change inside a bar?): it cannot be infilled")
    tokens, _ = tokenizer.infill_prime(ids, first - 1, last - 1)
    start = starts[first - 1]
    end = starts[last] if last < len(starts) else piece.end_tick
    key = next((k for k in reversed(piece.keys) if k.tick <= start), None)
    prime = Prime(piece, tokens, start, source=source, text=text, bars=len(starts), infill=(first, last),
                  infill_end=end)
    return prime, key


def assemble(original: Piece, decoded: Piece, start: int, end: int) -> Piece:
    """The original outside ticks [start, end) and the decoded notes that begin inside it."""
    kept = [n for n in original.notes if n.onset < start or n.onset >= end]
    new = [n for n in decoded.notes if start <= n.onset < end]
    return original.replace(notes=kept + new)
