"""Every option of one generation run, checked in one place.

`GenerationSettings` is what the CLI's flags, the terminal UI's form and the Python API all
fill in; `validate()` raises a UsageError naming the first bad option.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from melody.errors import UsageError
from melody.generation.cadence import CADENCES, cadence_of
from melody.generation.prime import parse_key, parse_meter, parse_tempo

DEFAULT_MAX_BARS = 64  # a piece the model is left to end ends by here at the latest
SEED_LIMIT = 2**63  # piece i is seeded seed + i, which must stay a 64-bit signed integer


@dataclass
class GenerationSettings:
    """Every option of one generation run; `validate()` is the one place they are checked."""

    num: int = 1
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.95
    seed: int | None = None  # None: drawn at random and recorded in each take
    prime_bars: int | None = None  # bars of the prime to keep; None: all of it
    bars: int | None = None  # new bars after the prime, exactly; None: the model ends the piece
    max_bars: int | None = None  # without bars: the most new bars before it must end (None: 64)
    max_tokens: int | None = None  # new tokens instead of bars
    infill: tuple[int, int] | None = None  # bars (from 1, inclusive) of the prime to sample anew
    key: str | None = None  # "D", "Em", "Ador", "G major"; from the prime when there is one
    meter: str | None = None  # "6/8", "C"
    tempo: float | None = None  # quarter notes per minute
    key_lock: bool = False  # every pitch in the key's scale
    pitch_range: tuple[int, int] | None = None  # inclusive MIDI pitches
    cadence: str = "corpus"  # where a tune ends: "corpus", "tonic" or "off" (generation/cadence.py)

    def __post_init__(self) -> None:
        self.cadence = cadence_of(self.cadence)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pitch_range"] = list(self.pitch_range) if self.pitch_range else None
        data["infill"] = list(self.infill) if self.infill else None
        return data

    def replace(self, **changes: Any) -> GenerationSettings:
        """A copy with some options changed: unknown names are a UsageError."""
        names = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise UsageError(f"unknown generation option(s): {', '.join(unknown)}")
        data = {f.name: getattr(self, f.name) for f in fields(self)} | changes
        # Asking for a token count means no bar count, unless both were asked for (an error).
        if "max_tokens" in changes and changes["max_tokens"] is not None and "bars" not in changes:
            data["bars"] = None
        return GenerationSettings(**data)

    def validate(self) -> None:
        """UsageError naming the first bad option."""
        from melody.generation.sampling import SamplingOptions

        _whole("num", self.num, low=1, high=SEED_LIMIT // 2)
        if self.seed is not None:
            _whole("seed", self.seed, low=0, high=SEED_LIMIT - self.num)
        if self.prime_bars is not None:
            _whole("prime-bars", self.prime_bars, low=1)
        if self.infill is not None:
            if self.bars is not None or self.max_tokens is not None or self.prime_bars is not None:
                raise UsageError("--infill sets the bars to sample: drop --bars, --max-tokens and --prime-bars")
            try:
                first, last = self.infill
            except (TypeError, ValueError):
                raise UsageError(f"infill must be two bar numbers (first, last), not {self.infill!r}") from None
            _whole("infill's first bar", first, low=1)
            _whole("infill's last bar", last, low=1)
            if first > last:
                raise UsageError(f"infill bars {first}-{last}: the first bar comes after the last")
        if self.bars is not None and self.max_tokens is not None:
            raise UsageError("give either --bars or --max-tokens, not both")
        if self.max_bars is not None:
            _whole("max-bars", self.max_bars, low=1, high=4096)
        if self.bars is not None:
            _whole("bars", self.bars, low=1, high=4096)
            if self.max_bars is not None and self.max_bars < self.bars:
                raise UsageError(f"--max-bars {self.max_bars} is below --bars {self.bars}: a piece of "
                                 f"exactly {self.bars} bars cannot stop by bar {self.max_bars}")
        if self.max_tokens is not None:
            _whole("max-tokens", self.max_tokens, low=1, high=1_000_000)
        if self.cadence not in CADENCES:
            raise UsageError(f"cadence must be one of {', '.join(CADENCES)}, not {self.cadence!r}")
        SamplingOptions(float(self.temperature) if _number(self.temperature) else self.temperature,
                        self.top_k, self.top_p).validate()
        if self.key is not None:
            parse_key(self.key)
        if self.meter is not None:
            parse_meter(self.meter)
        if self.tempo is not None:
            parse_tempo(self.tempo)
        if self.pitch_range is not None:
            low, high = pitch_range_of(self.pitch_range)
            if not 0 <= low <= high <= 127:
                raise UsageError(f"pitch range {low}-{high} must lie within 0-127, low first")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(name: str, value: Any, *, low: int, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        limit = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise UsageError(f"{name} must be a whole number {limit}, not {value!r}")


def pitch_range_of(value: Any) -> tuple[int, int]:
    try:
        low, high = value
        return int(low), int(high)
    except (TypeError, ValueError):
        raise UsageError(f"pitch range must be two MIDI pitches (low, high), not {value!r}") from None
