"""What a generated piece starts from: a prime piece, or key, meter and tempo given by name.

A prime (a file, ABC text, or a Piece from the terminal UI) sets the key, meter, tempo and
opening bars; without one, `--key`, `--meter` and `--tempo` become the tokenizer's own
header tokens, and whatever is not given is left for the model to choose.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from melody.errors import MusicError, UsageError
from melody.music.notes import PITCH_CLASS_NAMES, Key, Piece, Tempo, TimeSignature
from melody.tokenizers.base import EOS, Tokenizer

MAX_QPM = 1000.0


def parse_key(text: str) -> Key:
    """A key from "D", "Dmix", "Em", "F#m", "Bb", "G major", "A dorian" (ABC K: spellings)."""
    from melody.music.abc.fields import FieldError
    from melody.music.abc.fields import parse_key as parse_abc_key

    rest = re.sub(r"^\s*[A-G][#b]?", "", text or "").strip().lower()
    try:
        spec = parse_abc_key(text or "")
    except FieldError:
        spec = None
    # The ABC reader forgives trailing words (clefs, explicit accidentals); an option should not.
    if spec is None or spec.tonic is None or not (rest in ("", "m") or (
            rest[:3] in _MODE_PREFIXES and " " not in rest)):
        raise UsageError(f"cannot read key {text!r} (try D, Em, Ador, Bb major)")
    return Key(0, spec.tonic, spec.mode)


_MODE_PREFIXES = ("maj", "ion", "m", "min", "aeo", "dor", "phr", "lyd", "mix", "loc")


def parse_meter(text: str) -> TimeSignature:
    """A meter from "6/8", "4/4", "C" (4/4) or "C|" (2/2)."""
    from melody.music.abc.fields import FieldError
    from melody.music.abc.fields import parse_meter as parse_abc_meter

    try:
        meter, rest = parse_abc_meter(text or "")
    except FieldError:
        meter, rest = None, ""
    if meter is None or meter.free or rest.strip():
        raise UsageError(f"cannot read meter {text!r} (try 4/4, 6/8, 3/4, C)")
    if meter.denominator not in (1, 2, 4, 8, 16, 32) or meter.numerator > 64:
        raise UsageError(f"meter {text!r}: the denominator must be a power of two up to 32")
    return TimeSignature(0, meter.numerator, meter.denominator)


def parse_tempo(value: float | int | str) -> Tempo:
    """A tempo in quarter notes per minute, from a number."""
    try:
        qpm = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"cannot read tempo {value!r} (quarter notes per minute, e.g. 120)") from None
    if not 0 < qpm <= MAX_QPM:
        raise UsageError(f"tempo must be between 0 and {MAX_QPM:g} quarter notes per minute, not {value}")
    return Tempo(0, qpm)


def key_name(key: Key) -> str:
    """"D major", "E minor": how a key reads in messages and sidecars."""
    return f"{PITCH_CLASS_NAMES[key.tonic]} {key.mode}"


@dataclass
class Prime:
    """The opening of every piece of one run: its piece (possibly empty) and its tokens."""

    piece: Piece  # the music and header events the tokens hold
    tokens: list[int]  # BOS, ..., without EOS
    end: int  # the tick where new music starts
    source: str | None = None  # a path, "abc", "piece", or None for a header-only prime
    schedule: list[np.ndarray] = dataclasses.field(default_factory=list)  # masks for the next tokens
    text: str | None = None  # the ABC text of --prime-abc
    bars: int | None = None  # how many bars of the source were kept
    infill: tuple[int, int] | None = None  # bars (from 1, inclusive) sampled anew inside the piece
    infill_end: int | None = None  # the tick where the infilled bars end


def load_prime_piece(path: str | Path | None = None, abc: str | None = None) -> tuple[Piece, str, str | None]:
    """The first tune of a prime file or of ABC text; MusicError when it does not parse."""
    if path is not None and abc is not None:
        raise UsageError("give either --prime or --prime-abc, not both")
    if abc is not None:
        from melody.music.abc import parse_abc

        text = abc if re.search(r"^X:", abc, flags=re.MULTILINE) else f"X:1\n{abc}"
        if not re.search(r"^K:", text, flags=re.MULTILINE):
            raise UsageError("--prime-abc needs a K: line (e.g. \"K:D\\nABcd efge|\")")
        pieces = parse_abc(text, source="--prime-abc")
        if not pieces or not pieces[0].notes:
            raise UsageError("--prime-abc holds no notes")
        return pieces[0], "abc", abc
    from melody.music.io import read

    pieces = read(path)
    if not pieces or not pieces[0].notes:
        raise MusicError("holds no notes to prime with", file=str(path))
    return pieces[0], str(path), None


def first_bars(piece: Piece, bars: int | None) -> tuple[Piece, int]:
    """The piece cut at the bar line after its first `bars` bars (all of it for None), and that tick.

    A note tied over the cut is shortened to end on it; a last bar the piece leaves
    unfinished counts as a bar.
    """
    end = piece.end_tick
    starts = piece.bar_starts(until=end)
    if bars is None or bars >= len(starts):
        following = [t for t in piece.bar_starts(until=end + 4 * 96) if t >= end]
        cut = following[0] if following else end
    else:
        cut = starts[bars]
    notes = [dataclasses.replace(n, duration=min(n.duration, cut - n.onset)) for n in piece.notes if n.onset < cut]
    kept = piece.replace(
        notes=notes,
        tempos=[t for t in piece.tempos if t.tick < cut],
        time_signatures=[t for t in piece.time_signatures if t.tick < cut],
        keys=[k for k in piece.keys if k.tick < cut],
        end=cut,
    )
    return kept, cut


def _header(tokenizer: Tokenizer, key: Key | None, meter: TimeSignature | None,
            tempo: Tempo | None) -> list[int]:
    return tokenizer.prime_tokens(Piece(keys=[key] if key else [], time_signatures=[meter] if meter else [],
                                        tempos=[tempo] if tempo else [], end=0))


def _kind(tokenizer: Tokenizer, token: int) -> np.ndarray | None:
    """Every token of `token`'s kind (a key token: every key token), or None without one."""
    kind = tokenizer.kind_of(token)
    return None if kind is None else tokenizer.kind_mask(kind)


def header_plan(tokenizer: Tokenizer, key: Key | None, meter: TimeSignature | None,
                tempo: Tempo | None) -> tuple[list[int], list[np.ndarray]]:
    """The prime and the masks for the tokens after it that open a piece with a meter and a key.

    What is given is written as it is; what is not is left for the model to choose, but
    among tokens of the right kind, so every piece states its meter and key (the model alone,
    trained on random windows, often skips them). Found by encoding header-only pieces and
    seeing which tokens change with the key and with the meter; a scheme whose header tokens
    have no kind ("Kind_value") gets the given tokens as a plain prime instead.
    """
    probe_key, probe_meter = Key(0, 2, "major"), TimeSignature(0, 6, 8)
    real = _header(tokenizer, key or probe_key, meter or probe_meter, tempo)
    key_alt = _header(tokenizer, Key(0, 4, "minor") if key is None else key, meter or probe_meter, tempo)
    meter_alt = _header(tokenizer, key or probe_key, TimeSignature(0, 3, 4) if meter is None else meter, tempo)
    if len({len(real), len(key_alt), len(meter_alt)}) != 1:
        return tokenizer.encode_header(key, meter, tempo), []
    slots: list[np.ndarray] = []
    for index, token in enumerate(real):
        free = (key is None and key_alt[index] != token) or (meter is None and meter_alt[index] != token)
        if free:
            kind = _kind(tokenizer, token)
            if kind is None:
                return tokenizer.encode_header(key, meter, tempo), []
            slots.append(kind)
        else:
            slots.append(np.eye(tokenizer.vocab_size, dtype=bool)[token])
    fixed = next((i for i, slot in enumerate(slots) if slot.sum() != 1), len(slots))
    return real[:fixed], slots[fixed:]


def check_expressible(tokenizer: Tokenizer, key: Key | None, meter: TimeSignature | None,
                      tempo: Tempo | None) -> None:
    """UsageError when the tokenizer has no token for the key or meter asked for."""
    decoded = tokenizer.decode(tokenizer.encode_header(key, meter, tempo) + [EOS])
    if key is not None and (decoded.key is None or (decoded.key.tonic, decoded.key.mode) != (key.tonic, key.mode)):
        raise UsageError(f"key {key_name(key)} cannot be written with the {tokenizer.name} tokenizer")
    if meter is not None and not decoded.time_signatures or meter is not None and (
            decoded.time_signature.numerator, decoded.time_signature.denominator) != (meter.numerator, meter.denominator):
        raise UsageError(f"meter {meter.numerator}/{meter.denominator} cannot be written with "
                         f"the {tokenizer.name} tokenizer")
