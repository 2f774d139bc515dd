"""Generate pieces from a model: settings, prime, constraints, streaming events, takes, files.

The CLI (`melody generate`) and the terminal UI both come through here:

    for event in stream("default", GenerationSettings(num=2, bars=8, seed=7)):
        ...  # NoteEvent(index, note) as notes complete, BarEvent(index, bar), DoneEvent(takes)
    takes = generate("default", num=2, seed=7)  # the same thing, drained
    write_take(takes[0], "melody-out")           # .mid, .abc and a .json sidecar

Reproducibility: piece i of a run with seed S is sampled from its own generator seeded with
S + i, so `--seed S --num 1` gives the first piece of `--seed S --num 4` again, and the same
command with the same seed writes byte-identical MIDI (the sidecar's timestamp is the only
thing that changes, and it stays out of the music files).
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterator

from melody.errors import MelodyError, UsageError
from melody.music.notes import Key, Note, Piece
from melody.openings import read_openings, restrict_openings
from melody.prime import (Prime, check_expressible, first_bars, header_plan, load_prime_piece,
                          parse_key, parse_meter, parse_tempo)
from melody.takes import FORMATS, Take, write_take
from melody.tokenizers.base import EOS

DEFAULT_BARS = 16
MAX_NUM = 1024
TOKENS_PER_BAR_CAP = 256  # a safety net only: the grammar ends a piece at its bar count


@dataclass
class GenerationSettings:
    """Every option of one generation run; `validate()` is the one place they are checked."""

    num: int = 1
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.95
    seed: int | None = None  # None: drawn at random and recorded in each take
    prime_bars: int | None = None  # bars of the prime to keep; None: all of it
    bars: int | None = DEFAULT_BARS  # new bars after the prime; None with max_tokens
    max_tokens: int | None = None  # new tokens instead of bars
    key: str | None = None  # "D", "Em", "Ador", "G major"; from the prime when there is one
    meter: str | None = None  # "6/8", "C"
    tempo: float | None = None  # quarter notes per minute
    key_lock: bool = False  # every pitch in the key's scale
    pitch_range: tuple[int, int] | None = None  # inclusive MIDI pitches

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pitch_range"] = list(self.pitch_range) if self.pitch_range else None
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
        from melody.sampling import SamplingOptions

        _whole("num", self.num, low=1, high=MAX_NUM)
        if self.seed is not None:
            _whole("seed", self.seed, low=0, high=2**63 - MAX_NUM - 1)
        if self.prime_bars is not None:
            _whole("prime-bars", self.prime_bars, low=1)
        if self.bars is not None and self.max_tokens is not None:
            raise UsageError("give either --bars or --max-tokens, not both")
        if self.bars is None and self.max_tokens is None:
            raise UsageError("give --bars or --max-tokens")
        if self.bars is not None:
            _whole("bars", self.bars, low=1, high=4096)
        if self.max_tokens is not None:
            _whole("max-tokens", self.max_tokens, low=1, high=1_000_000)
        SamplingOptions(float(self.temperature) if _number(self.temperature) else self.temperature,
                        self.top_k, self.top_p).validate()
        if self.key is not None:
            parse_key(self.key)
        if self.meter is not None:
            parse_meter(self.meter)
        if self.tempo is not None:
            parse_tempo(self.tempo)
        if self.pitch_range is not None:
            low, high = _pitch_range(self.pitch_range)
            if not 0 <= low <= high <= 127:
                raise UsageError(f"pitch range {low}-{high} must lie within 0-127, low first")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(name: str, value: Any, *, low: int, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        limit = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise UsageError(f"{name} must be a whole number {limit}, not {value!r}")


def _pitch_range(value: Any) -> tuple[int, int]:
    try:
        low, high = value
        return int(low), int(high)
    except (TypeError, ValueError):
        raise UsageError(f"pitch range must be two MIDI pitches (low, high), not {value!r}") from None


@dataclass(frozen=True)
class NoteEvent:
    """A note of piece `index` is complete (prime notes come first)."""

    index: int
    note: Note


@dataclass(frozen=True)
class BarEvent:
    """Piece `index` has reached bar `bar` (0-based, counted from the start of the piece)."""

    index: int
    bar: int


@dataclass(frozen=True)
class DoneEvent:
    """The run is over: every take, complete or (when stopped) as far as it got."""

    takes: list[Take]
    cancelled: bool = False


StreamEvent = NoteEvent | BarEvent | DoneEvent


def resolve_model(model: Any) -> Any:
    """A loaded Model from "default", a folder path, or a Model itself."""
    if not isinstance(model, (str, Path)):
        return model
    from melody.models import DEFAULT_MODEL_DIR, load_model

    folder = DEFAULT_MODEL_DIR if str(model) == "default" else Path(model)
    if not Path(folder).is_dir():
        if str(model) == "default":
            raise MelodyError(f"the default model is missing ({folder}); pass --model FOLDER")
        raise UsageError(f"{folder}: no such model folder")
    return load_model(folder)


def build_prime(tokenizer: Any, settings: GenerationSettings, prime: Piece | str | Path | None,
                prime_abc: str | None) -> tuple[Prime, Key | None]:
    """The run's Prime, and the key it is in (for the key lock)."""
    if prime is not None or prime_abc is not None:
        if settings.key is not None or settings.meter is not None:
            raise UsageError("a prime sets the key and meter: drop --key and --meter, or the prime")
        if isinstance(prime, Piece):
            piece, source, text = prime, "piece", None
            if not piece.notes:
                raise UsageError("the prime piece holds no notes")
        else:
            piece, source, text = load_prime_piece(prime, prime_abc)
        kept, end = first_bars(piece, settings.prime_bars)
        if settings.tempo is not None:
            kept = kept.replace(tempos=[parse_tempo(settings.tempo)])
        tokens = tokenizer.encode(kept)
        if tokens and tokens[-1] == EOS:
            tokens = tokens[:-1]
        bars = settings.prime_bars if settings.prime_bars is not None else len(kept.bar_starts(until=end))
        return Prime(kept, tokens, end, source=source, text=text, bars=bars), kept.key
    key = parse_key(settings.key) if settings.key is not None else None
    meter = parse_meter(settings.meter) if settings.meter is not None else None
    tempo = parse_tempo(settings.tempo) if settings.tempo is not None else None
    check_expressible(tokenizer, key, meter, tempo)
    header = Piece(keys=[key] if key else [], time_signatures=[meter] if meter else [],
                   tempos=[tempo] if tempo else [], end=0)
    tokens, schedule = header_plan(tokenizer, key, meter, tempo)
    return Prime(header, tokens, 0, schedule=schedule), key


def stream(model: Any, settings: GenerationSettings | None = None, *, prime: Piece | str | Path | None = None,
           prime_abc: str | None = None, stop: threading.Event | None = None, note_events: bool = True,
           **overrides: Any) -> Iterator[StreamEvent]:
    """Sample a batch, yielding NoteEvent/BarEvent as tokens arrive and DoneEvent at the end.

    With `stop` set the run ends within one step with a DoneEvent(cancelled=True) holding the
    pieces as far as they got. `note_events=False` skips the per-token decoding that note
    events need (generate() uses it).
    """
    settings = (settings or GenerationSettings()).replace(**overrides) if overrides else (settings or GenerationSettings())
    settings.validate()
    run = _Run(model, settings, prime, prime_abc)
    yield from run.events(stop, note_events)


def generate(model: Any = "default", settings: GenerationSettings | None = None, *,
             prime: Piece | str | Path | None = None, prime_abc: str | None = None,
             **overrides: Any) -> list[Take]:
    """Sample `settings.num` pieces; `overrides` change single options (e.g. num=4, seed=7)."""
    for event in stream(model, settings, prime=prime, prime_abc=prime_abc, note_events=False, **overrides):
        if isinstance(event, DoneEvent):
            return event.takes
    raise AssertionError("stream ended without a DoneEvent")  # pragma: no cover


class _Run:
    """One generation run: the model, its prime and constraints, and the batch being sampled."""

    def __init__(self, model: Any, settings: GenerationSettings, prime: Any, prime_abc: str | None) -> None:
        from melody.tokenizers.base import Constraints

        self.model = resolve_model(model)
        self.settings = settings
        self.tokenizer = self.model.tokenizer
        self.prime, key = build_prime(self.tokenizer, settings, prime, prime_abc)
        if settings.key_lock and key is None:
            raise UsageError("--key-lock needs a key: give --key, or a prime that has one")
        constraints = Constraints(
            scale=key.scale if settings.key_lock and key is not None else None,
            pitch_range=_pitch_range(settings.pitch_range) if settings.pitch_range else None,
            bars=settings.bars,
            end_on_bar_line=settings.bars is not None,
        )
        self.grammar = self.tokenizer.grammar(constraints)
        self.openings = read_openings(self.model.folder)
        self.prime.schedule = restrict_openings(self.tokenizer, self.prime.schedule, self.openings)
        self.run_seed = settings.seed if settings.seed is not None else secrets.randbelow(2**31)
        self.name = Path(str(self.model.folder)).name or "model"

    def _max_new_tokens(self) -> int:
        if self.settings.max_tokens is not None:
            return self.settings.max_tokens
        return self.settings.bars * TOKENS_PER_BAR_CAP + 16

    def _sampler(self, seeds: list[int]) -> Any:
        from melody.sampling import BatchSampler, SamplingOptions

        net = self.model.net.eval()
        device = next(net.parameters()).device
        options = SamplingOptions(float(self.settings.temperature), self.settings.top_k, float(self.settings.top_p))
        vocab = self.tokenizer.vocab
        # The meter a piece opens with (given, primed or chosen by the model) holds throughout.
        banned = [i for i, token in enumerate(vocab) if token.startswith("TimeSig")]
        used = (self.openings or {}).get("tokens")
        if used:
            # A token the training data never held has an untrained embedding: its logit is
            # noise (a harp, a drum or a sudden pianissimo in an Irish reel at temperature 1.5).
            seen = set(used) | {"<eos>"}
            banned += [i for i, token in enumerate(vocab) if token not in seen]
        redirect = {}
        if self.settings.bars is not None and "Bar" in self.tokenizer.token_to_id:
            redirect = {self.tokenizer.token_to_id["Bar"]: EOS}
        return BatchSampler(net, self.grammar, self.prime.tokens, seeds, options,
                            max_new_tokens=self._max_new_tokens(), device=device, banned=banned,
                            schedule=self.prime.schedule, redirect=redirect)

    def take(self, index: int, seed: int, tokens: list[int], complete: bool) -> Take:
        piece = self.tokenizer.decode(tokens)
        piece = piece.replace(title=f"{self.name} {self.run_seed}-{index + 1}", tune=str(index + 1),
                              source="")
        prime = None
        if self.prime.source is not None:
            prime = {"source": self.prime.source, "text": self.prime.text, "bars": self.prime.bars}
        return Take(piece=piece, prime_end=self.prime.end, tokens=tokens, seed=seed,
                    settings=self.settings.replace(seed=self.run_seed), model_name=self.name,
                    model_sha256=str(getattr(self.model, "weights_sha256", "")), index=index,
                    run_seed=self.run_seed, model_folder=str(self.model.folder),
                    tokenizer={"name": self.tokenizer.name, "config": self.tokenizer.config},
                    prime=prime, complete=complete)

    def events(self, stop: threading.Event | None, note_events: bool, seeds: list[int] | None = None,
               indices: list[int] | None = None) -> Iterator[StreamEvent]:
        """The run's events; `seeds` and `indices` draw chosen pieces again (--reject-copies)."""
        seeds = seeds if seeds is not None else [self.run_seed + i for i in range(self.settings.num)]
        indices = indices if indices is not None else list(range(len(seeds)))
        size = len(seeds)
        sampler = self._sampler(seeds)
        tracker = _NoteTracker(self.tokenizer, size) if note_events else None
        if tracker is not None:
            for index in range(size):
                yield from tracker.update(index, sampler.sequences[index])
        cancelled = False
        for drawn in sampler.run(stop):
            if tracker is not None:
                for index, token in enumerate(drawn):
                    if token is not None and token != EOS:
                        yield from tracker.update(index, sampler.sequences[index])
            if stop is not None and stop.is_set():
                cancelled = True
                break
        if stop is not None and stop.is_set() and not sampler.done:
            cancelled = True
        if tracker is not None:  # the last note of each piece (also when stopped)
            for index in range(size):
                yield from tracker.finish(index, sampler.sequences[index])
        results = sampler.results()
        takes = [self.take(indices[i], seeds[i], results[i], complete=sampler.finished[i]) for i in range(size)]
        yield DoneEvent(takes, cancelled=cancelled)


def new_music(take: Take) -> Piece:
    """The part of a take after its prime: what a near-copy check should look at."""
    return take.piece.replace(notes=[n for n in take.piece.notes if n.onset >= take.prime_end])


def reject_copies(model: Any, settings: GenerationSettings, takes: list[Take], *,
                  prime: Piece | str | Path | None = None, prime_abc: str | None = None,
                  attempts: int = 8, index: Any = None,
                  on_retry: Callable[[str], None] | None = None) -> list[Take]:
    """`takes` with every near-copy of a training piece drawn again, up to `attempts` draws each.

    Uses melody.evaluation.novelty's check against the model's own training pieces (rebuilt
    from the files config.json names). Redraws are seeded `run_seed + attempt * num + index`,
    so the same command gives the same pieces; a piece still flagged after the last draw is
    kept, with its novelty result in the sidecar.
    """
    if index is None:
        from melody.evaluation.novelty import index_for_model

        model = resolve_model(model)
        index = index_for_model(model)
        if index is None:
            raise MelodyError("--reject-copies: the files this model was trained on are not available "
                              "(config.json names them), so copies cannot be checked")
    say = on_retry or (lambda line: None)
    if not takes:
        return takes
    run_seed = takes[0].run_seed if takes[0].run_seed is not None else takes[0].seed
    run = _Run(model, settings.replace(seed=run_seed), prime, prime_abc)
    kept = list(takes)
    draws = {take.index: 1 for take in kept}
    for attempt in range(1, attempts + 1):
        results = {take.index: index.check(new_music(take)) for take in kept}
        for take in kept:
            take.novelty = results[take.index].to_dict()
            take.attempts = draws[take.index]
        flagged = [take.index for take in kept if results[take.index].is_copy]
        if not flagged or attempt == attempts:
            for number in flagged:
                say(f"piece {number + 1}: still a near-copy after {attempts} draws; kept (see its sidecar)")
            return kept
        for number in flagged:
            result = results[number]
            say(f"piece {number + 1}: near-copy of a training tune (shares a run of {result.longest_run} "
                f"notes, {result.ngram_share:.0%} of its 8-note phrases); drawing again")
        seeds = [run_seed + attempt * settings.num + number for number in flagged]
        for event in run.events(None, False, seeds=seeds, indices=flagged):
            if isinstance(event, DoneEvent):
                for take in event.takes:
                    kept[take.index] = take
                    draws[take.index] += 1
    return kept


class _NoteTracker:
    """Turns growing token sequences into NoteEvents and BarEvents, each note once, finished.

    With a tokenizer that has an incremental `decoder()` (remi, performance) every token is
    read once and a note is reported when it is finished, so a piece costs O(tokens).
    Otherwise (abc-char) the whole sequence is decoded again on each token (O(tokens^2)),
    and a note is reported once a later bar has begun: until then more text can still change
    it (a duration digit, a tie or a broken rhythm lengthens a note; the first bar line
    shifts a pickup into place).
    """

    def __init__(self, tokenizer: Any, size: int) -> None:
        self.tokenizer = tokenizer
        self.bar: list[int] = [-1] * size
        make = getattr(tokenizer, "decoder", None)
        self.decoders: list[Any] | None = [make() for _ in range(size)] if make is not None else None
        self.fed = [0] * size  # tokens each decoder has read
        self.reported = [0] * size  # notes of each decoder already reported
        self.seen: list[set[Note]] = [set() for _ in range(size)]

    def update(self, index: int, tokens: list[int]) -> Iterator[StreamEvent]:
        """Events for the notes `tokens` (the whole sequence so far) finish."""
        if self.decoders is None:
            yield from self._redecode(index, tokens)
            return
        decoder = self.decoders[index]
        for token in tokens[self.fed[index]:]:
            self.fed[index] += 1
            if decoder.feed(token):
                break  # EOS: the sampler adds nothing after it
        fresh = decoder.notes[self.reported[index]:]
        self.reported[index] = len(decoder.notes)
        yield from self._report(index, fresh, decoder.meters.values())

    def finish(self, index: int, tokens: list[int]) -> Iterator[StreamEvent]:
        """Events for the notes still open when the sequence ends."""
        if self.decoders is None:
            yield from self._redecode(index, tokens, final=True)
            return
        decoder = self.decoders[index]
        piece = decoder.piece()  # the finished notes and the open ones, closed (sorted: a Piece sorts)
        still_open = Counter(piece.notes) - Counter(decoder.notes)
        yield from self._report(index, sorted(still_open.elements()), piece.time_signatures)

    def _report(self, index: int, fresh: list[Note], meters: Any) -> Iterator[StreamEvent]:
        if not fresh:
            return
        header = Piece(time_signatures=list(meters))
        for note in fresh:
            bar = len(header.bar_starts(until=note.onset + 1)) - 1
            if bar > self.bar[index]:
                self.bar[index] = bar
                yield BarEvent(index, bar)
            yield NoteEvent(index, note)

    def _redecode(self, index: int, tokens: list[int], final: bool = False) -> Iterator[StreamEvent]:
        piece = self.tokenizer.decode([*tokens, EOS])
        latest = max((note.onset for note in piece.notes), default=0)
        settled = piece.bar_starts(until=latest + 1)[-1]  # where the latest note's bar starts
        fresh = [note for note in piece.notes if note not in self.seen[index] and (final or note.onset < settled)]
        if not fresh:
            return
        starts = piece.bar_starts(until=max(n.onset for n in fresh) + 1)
        for note in fresh:
            self.seen[index].add(note)
            bar = sum(1 for tick in starts if tick <= note.onset) - 1
            if bar > self.bar[index]:
                self.bar[index] = bar
                yield BarEvent(index, bar)
            yield NoteEvent(index, note)


__all__ = ["BarEvent", "DoneEvent", "FORMATS", "GenerationSettings", "NoteEvent", "StreamEvent", "Take",
           "generate", "reject_copies", "resolve_model", "stream", "write_take"]
