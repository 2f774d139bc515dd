"""Generate pieces from a model: the prime, the constraints, the batch sampled, the takes.

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
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from melody.corpus.openings import opening_priors, read_openings, restrict_openings
from melody.errors import UsageError
from melody.generation.infill import assemble, check_model, infill_prime
from melody.generation.prime import (Prime, check_expressible, first_bars, header_plan, load_prime_piece,
                                     parse_key, parse_meter, parse_tempo)
from melody.generation.settings import DEFAULT_MAX_BARS, GenerationSettings, pitch_range_of
from melody.generation.streaming import DoneEvent, NoteTracker, StreamEvent
from melody.generation.takes import Take
from melody.model_folder import resolve_model
from melody.music.notes import Key, Piece
from melody.tokenizers.base import EOS, Tokenizer

TOKENS_PER_BAR_CAP = 256  # a safety net only: the grammar ends a piece at its bar count
# Pieces sampled at once by generate(): past ~64 a bigger batch barely speeds a step up, and
# a run of thousands would hold them all and print nothing until the end
# (benchmarks/bench_generate_batches.py).
BATCH_SIZE = 64


def bar_opening(tokenizer: Tokenizer) -> np.ndarray:
    """The tokens that may follow a prime cut at a bar line: a Bar (or the countdown before
    one), so no note of the new material lands in the prime's last bar."""
    opens = tokenizer.kind_mask("countdown")
    opens[tokenizer.bar_token] = True
    return opens


def build_prime(tokenizer: Any, settings: GenerationSettings, prime: Piece | str | Path | None,
                prime_abc: str | None) -> tuple[Prime, Key | None]:
    """The run's Prime, and the key it is in (for the key lock)."""
    if settings.infill is not None and prime is None and prime_abc is None:
        raise UsageError("--infill needs the piece to fill in: give --prime FILE or --prime-abc TEXT")
    if prime is not None or prime_abc is not None:
        if settings.key is not None or settings.meter is not None:
            raise UsageError("a prime sets the key and meter: drop --key and --meter, or the prime")
        if isinstance(prime, Piece):
            piece, source, text = prime, "piece", None
            if not piece.notes:
                raise UsageError("the prime piece holds no notes")
        else:
            piece, source, text = load_prime_piece(prime, prime_abc)
        if settings.infill is not None:
            return infill_prime(tokenizer, piece, tuple(settings.infill), source, text)
        kept, end = first_bars(piece, settings.prime_bars)
        if settings.tempo is not None:
            kept = kept.replace(tempos=[parse_tempo(settings.tempo)])
        tokens = tokenizer.prime_tokens(kept, then=settings.bars)
        bars = settings.prime_bars if settings.prime_bars is not None else len(kept.bar_starts(until=end))
        schedule = [] if tokenizer.bar_token is None else [bar_opening(tokenizer)]
        return Prime(kept, tokens, end, source=source, text=text, bars=bars, schedule=schedule), kept.key
    key = parse_key(settings.key) if settings.key is not None else None
    meter = parse_meter(settings.meter) if settings.meter is not None else None
    tempo = parse_tempo(settings.tempo) if settings.tempo is not None else None
    check_expressible(tokenizer, key, meter, tempo)
    header = Piece(keys=[key] if key else [], time_signatures=[meter] if meter else [],
                   tempos=[tempo] if tempo else [], end=0)
    tokens, schedule = header_plan(tokenizer, key, meter, tempo)
    return Prime(header, tokens, 0, schedule=schedule), key


def exact_prime_tempos(piece: Piece, prime: Prime) -> Piece:
    """`piece` with the tempos of its prime (`--tempo`, or a prime file's) as given, not as
    the tokens binned them: a 90 qpm prime stays 90, though a tempo token may say 92."""
    if not prime.piece.tempos:
        return piece
    until = max(prime.end, 1)
    later = [tempo for tempo in piece.tempos if tempo.tick >= until]
    return piece.replace(tempos=[tempo for tempo in prime.piece.tempos if tempo.tick < until] + later)


def stream(model: Any, settings: GenerationSettings | None = None, *, prime: Piece | str | Path | None = None,
           prime_abc: str | None = None, stop: threading.Event | None = None, note_events: bool = True,
           **overrides: Any) -> Iterator[StreamEvent]:
    """Sample a batch, yielding NoteEvent/BarEvent as tokens arrive and DoneEvent at the end.

    With `stop` set the run ends within one step with a DoneEvent(cancelled=True) holding the
    pieces as far as they got. The DoneEvent's takes are the result: a piece closed by the
    cadence (settings.cadence) may have a last bar drawn again after its notes streamed.
    `note_events=False` skips the per-token decoding that note events need (generate() uses it).
    """
    settings = (settings or GenerationSettings()).replace(**overrides) if overrides else (settings or GenerationSettings())
    settings.validate()
    run = _Run(model, settings, prime, prime_abc)
    yield from run.events(stop, note_events)


def generate(model: Any = "default", settings: GenerationSettings | None = None, *,
             prime: Piece | str | Path | None = None, prime_abc: str | None = None,
             **overrides: Any) -> list[Take]:
    """Sample `settings.num` pieces; `overrides` change single options (e.g. num=4, seed=7)."""
    return [take for batch in batches(model, settings, prime=prime, prime_abc=prime_abc, **overrides)
            for take in batch]


def infill(model: Any = "default", piece: Piece | str | Path | None = None, bars: tuple[int, int] = (1, 1),
           settings: GenerationSettings | None = None, *, prime_abc: str | None = None,
           **overrides: Any) -> list[Take]:
    """New music for bars `first`..`last` (from 1, inclusive) of `piece` (a Piece, a file, or
    `prime_abc` text), `settings.num` takes; every bar outside the range is the original's.

        takes = infill("default", "tune.abc", bars=(5, 8), num=4, seed=7, key_lock=True)
    """
    settings = (settings or GenerationSettings()).replace(infill=tuple(bars), **overrides)
    return generate(model, settings, prime=piece, prime_abc=prime_abc)


def batches(model: Any = "default", settings: GenerationSettings | None = None, *,
            prime: Piece | str | Path | None = None, prime_abc: str | None = None,
            size: int = BATCH_SIZE, **overrides: Any) -> Iterator[list[Take]]:
    """`settings.num` pieces, `size` at a time: each batch's takes as soon as it is sampled.

    Piece i is seeded run_seed + i whatever the batch, so batches give the pieces one big
    batch would, while the first files can be written after seconds and memory stays bounded.
    """
    settings = (settings or GenerationSettings()).replace(**overrides) if overrides else (settings or GenerationSettings())
    settings.validate()
    if not isinstance(size, int) or size < 1:
        raise UsageError(f"batch size must be a whole number of at least 1, not {size!r}")
    run = _Run(model, settings, prime, prime_abc)
    for start in range(0, settings.num, size):
        numbers = list(range(start, min(settings.num, start + size)))
        for event in run.events(None, False, seeds=[run.run_seed + i for i in numbers], indices=numbers):
            if isinstance(event, DoneEvent):
                yield event.takes


class _Run:
    """One generation run: the model, its prime and constraints, and the batch being sampled."""

    def __init__(self, model: Any, settings: GenerationSettings, prime: Any, prime_abc: str | None) -> None:
        from melody.tokenizers.base import Constraints

        self.model = resolve_model(model)
        self.settings = settings
        self.tokenizer = self.model.tokenizer
        if settings.infill is not None:
            check_model(self.model)
        self.prime, key = build_prime(self.tokenizer, settings, prime, prime_abc)
        if settings.key_lock and key is None:
            raise UsageError("--key-lock needs a key: give --key, or a prime that has one")
        self.constraints = constraints = Constraints(
            scale=key.scale if settings.key_lock and key is not None else None,
            pitch_range=pitch_range_of(settings.pitch_range) if settings.pitch_range else None,
            bars=settings.bars if settings.infill is None else settings.infill[1] - settings.infill[0] + 1,
            # Without a bar count the model ends the piece, at a bar line, by max_bars; a token
            # count (max_tokens) stops wherever it runs out.
            max_bars=(settings.max_bars or DEFAULT_MAX_BARS) if settings.max_tokens is None else None,
            end_on_bar_line=settings.max_tokens is None,
        )
        self.grammar = self.tokenizer.grammar(constraints)
        self.openings = read_openings(self.model.folder)
        self.prime.schedule = restrict_openings(self.tokenizer, self.prime.schedule, self.openings)
        self.opening_priors = opening_priors(self.tokenizer, self.prime.schedule, self.openings)
        self.run_seed = settings.seed if settings.seed is not None else secrets.randbelow(2**31)
        self.name = Path(str(self.model.folder)).name or "model"
        self.banned: list[int] | None = None  # tokens never sampled (built with the first sampler)
        self.closing_grammar: Any = None  # one bar, under the run's constraints (built when needed)

    def _max_new_tokens(self) -> int:
        if self.settings.max_tokens is not None:
            return self.settings.max_tokens
        bars = self.settings.bars or self.settings.max_bars or DEFAULT_MAX_BARS
        if self.settings.infill is not None:
            bars = self.settings.infill[1] - self.settings.infill[0] + 1
        return bars * TOKENS_PER_BAR_CAP + 16

    def _sampler(self, seeds: list[int], *, prime: list[int] | None = None, grammar: Any = None,
                 bars: int | None = None) -> Any:
        """A BatchSampler for `seeds`: the run's own prime and grammar, or (closing a piece)
        another prime sampled for exactly `bars` bars under `grammar`."""
        from melody.generation.sampling import BatchSampler, SamplingOptions

        net = self.model.net.eval()
        device = next(net.parameters()).device
        options = SamplingOptions(float(self.settings.temperature), self.settings.top_k, float(self.settings.top_p))
        tokenizer = self.tokenizer
        if self.banned is None:
            # The meter a piece opens with (given, primed or chosen by the model) holds throughout.
            banned = np.flatnonzero(tokenizer.kind_mask("meter")).tolist()
            used = (self.openings or {}).get("tokens")
            if used:
                # A token the training data never held has an untrained embedding: its logit is
                # noise (a harp, a drum or a sudden pianissimo in an Irish reel at temperature 1.5).
                # The countdown is the grammar's to choose, like EOS: never banned.
                seen = {tokenizer.token_to_id[name] for name in used if name in tokenizer.token_to_id} | {EOS}
                seen |= {int(i) for i in np.flatnonzero(tokenizer.kind_mask("countdown"))}
                banned += [i for i in range(tokenizer.vocab_size) if i not in seen]
            self.banned = banned
        redirect = {}
        exact = bars is not None or self.settings.bars is not None or self.settings.infill is not None
        if exact and tokenizer.bar_token is not None:
            redirect = {tokenizer.bar_token: EOS}
        if prime is not None:
            return BatchSampler(net, grammar, prime, seeds, options, device=device, banned=self.banned,
                                max_new_tokens=bars * TOKENS_PER_BAR_CAP + 16, redirect=redirect,
                                schedule=[bar_opening(tokenizer)])
        return BatchSampler(net, self.grammar, self.prime.tokens, seeds, options,
                            max_new_tokens=self._max_new_tokens(), device=device, banned=self.banned,
                            schedule=self.prime.schedule, priors=self.opening_priors, redirect=redirect)

    def closes(self) -> bool:
        """Whether this run's finished pieces are closed (generation/cadence.py): not with
        cadence "off", for infilling (the bars after the range are the piece's own), a token
        count (no bar line to end on) or a tokenizer without bars."""
        return (self.settings.cadence != "off" and self.settings.infill is None
                and self.settings.max_tokens is None and self.tokenizer.bar_token is not None)

    def close(self, seed: int, tokens: list[int], stop: threading.Event | None = None
              ) -> tuple[list[int], dict[str, Any] | None]:
        """`tokens` with a last bar that ends on the piece's aimed degree where one of the
        candidates does, and what was done (for the sidecar)."""
        from melody.generation.cadence import (aimed_degree, candidate_seeds, closable, first_closing, head_tokens,
                                               needs_closing, scale_degrees)
        from melody.music.cadence import degree_name
        from melody.tokenizers.base import Constraints

        piece = self.tokenizer.decode(tokens)
        if not closable(piece):  # no key to end at home in, or a single bar
            return tokens, None
        aim, pool = aimed_degree(seed, self.settings.cadence, self.openings, len(piece.bar_starts()),
                                 scale_degrees(piece))
        if aim is None:
            return tokens, None
        record: dict[str, Any] = {"aim": degree_name(aim), "drawn_from": pool}
        if not needs_closing(piece, aim):
            return tokens, record | {"last_bar": "the model's own"}
        if self.closing_grammar is None:
            self.closing_grammar = self.tokenizer.grammar(Constraints(
                scale=self.constraints.scale, pitch_range=self.constraints.pitch_range, bars=1,
                end_on_bar_line=True))
        seeds = candidate_seeds(seed)
        sampler = self._sampler(seeds, prime=head_tokens(self.tokenizer, piece), grammar=self.closing_grammar,
                                bars=1)
        for _ in sampler.run(stop):
            pass
        if stop is not None and stop.is_set():
            return tokens, None
        candidates = sampler.results()
        chosen = first_closing(self.tokenizer, candidates, sampler.finished, aim)
        record |= {"last_bar": "drawn again" if chosen is not None else f"kept: no candidate ended on the {degree_name(aim)}",
                   "candidates": len(seeds), "chosen": chosen}
        return (candidates[chosen] if chosen is not None else tokens), record

    def take(self, index: int, seed: int, tokens: list[int], complete: bool,
             ending: dict[str, Any] | None = None) -> Take:
        piece = exact_prime_tempos(self.tokenizer.decode(tokens), self.prime)
        if self.prime.infill is not None:
            piece = assemble(self.prime.piece, piece, self.prime.end, self.prime.infill_end)
        piece = piece.replace(title=f"{self.name} {self.run_seed}-{index + 1}", tune=str(index + 1),
                              source="")
        prime = None
        if self.prime.source is not None:
            prime = {"source": self.prime.source, "text": self.prime.text, "bars": self.prime.bars}
            if self.prime.infill is not None:
                prime["infill"] = {"bars": list(self.prime.infill), "start_tick": self.prime.end,
                                   "end_tick": self.prime.infill_end}
        return Take(piece=piece, prime_end=self.prime.end, tokens=tokens, seed=seed,
                    settings=self.settings.replace(seed=self.run_seed), model_name=self.name,
                    model_sha256=str(getattr(self.model, "weights_sha256", "")), index=index,
                    run_seed=self.run_seed, model_folder=str(self.model.folder),
                    tokenizer={"name": self.tokenizer.name, "config": self.tokenizer.config},
                    prime=prime, complete=complete, ending=ending)

    def events(self, stop: threading.Event | None, note_events: bool, seeds: list[int] | None = None,
               indices: list[int] | None = None) -> Iterator[StreamEvent]:
        """The run's events; `seeds` and `indices` draw chosen pieces again (--reject-copies)."""
        seeds = seeds if seeds is not None else [self.run_seed + i for i in range(self.settings.num)]
        indices = indices if indices is not None else list(range(len(seeds)))
        size = len(seeds)
        sampler = self._sampler(seeds)
        tracker = NoteTracker(self.tokenizer, size) if note_events else None
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
        endings: list[dict[str, Any] | None] = [None] * size
        if self.closes() and not cancelled:
            for i in range(size):
                if stop is not None and stop.is_set():
                    break
                if sampler.finished[i]:
                    results[i], endings[i] = self.close(seeds[i], results[i], stop)
            # A stop while closing cancels the run as one during sampling does (a long piece's
            # candidates take a while): the pieces as far as they got, none of them kept.
            cancelled = stop is not None and stop.is_set()
        takes = [self.take(indices[i], seeds[i], results[i], complete=sampler.finished[i], ending=endings[i])
                 for i in range(size)]
        yield DoneEvent(takes, cancelled=cancelled)


def new_music(take: Take) -> Piece:
    """The part of a take after its prime: what a near-copy check should look at."""
    return take.piece.replace(notes=[n for n in take.piece.notes if n.onset >= take.prime_end])


def reject_copies(model: Any, settings: GenerationSettings, takes: list[Take], *, index: Any,
                  prime: Piece | str | Path | None = None, prime_abc: str | None = None,
                  attempts: int = 8, on_retry: Callable[[str], None] | None = None) -> list[Take]:
    """`takes` with every near-copy of a training piece drawn again, up to `attempts` draws each.

    `index` checks a piece against the model's training pieces (`.check(piece)` with an
    `is_copy` answer: melody.evaluation.novelty's NoveltyIndex, which the caller builds, since
    evaluation sits above generation). Redraws are seeded `run_seed + attempt * num + index`,
    so the same command gives the same pieces; a piece still flagged after the last draw is
    kept, with its novelty result in the sidecar.
    """
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
