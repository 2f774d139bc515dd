"""Sampling token sequences from a model: grammar masks, temperature, top-k, top-p, batched.

One `BatchSampler` draws N sequences at once from a `SequenceModel`:

- every step masks the logits with each sequence's grammar state first, so whatever the
  temperature, every sequence is grammatical and honours the hard constraints (key lock,
  pitch range, bar count) the grammar was built with;
- temperature 0 is greedy (argmax); otherwise temperature, then top-k, then top-p (nucleus);
- with the cache on, each new token costs one `model.step` on one token (KV cache for the
  Transformer, carried (h, c) for the LSTM); with it off, every token recomputes
  `model.forward` over the whole context (the baseline the benchmark compares against);
- each sequence has its own seeded `torch.Generator` and draws exactly one uniform number per
  step, so a sequence's tokens depend on its own seed and not on what else is in the batch
  (up to float rounding of batched matrix products, which can in rare cases tip a draw
  that lands on a boundary between two tokens);
- a finished sequence leaves the batch (its rows of the model state are dropped), so the
  rest run as fast as a smaller batch;
- past the model's context the Transformer's step slides its cache (RoPE keeps relative
  positions right); the uncached path crops the input to the last `context_length` tokens;
- `run()` samples on one intra-op thread by default: a step's tensors are small, and
  OpenMP's thread team costs more than it saves (on this project's shared 2-core machine a
  batch-4 LSTM step took 30 ms with two threads and 1 ms with one; see
  benchmarks/bench_sampling.py).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from melody.errors import UsageError
from melody.tokenizers.base import BOS, EOS, Grammar


@dataclass(frozen=True)
class SamplingOptions:
    """How each next token is drawn from the masked logits."""

    temperature: float = 1.0  # 0: greedy
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1.0: off

    def validate(self) -> None:
        """UsageError for a value no sampler can use."""
        if not (isinstance(self.temperature, (int, float)) and self.temperature >= 0
                and np.isfinite(self.temperature)):
            raise UsageError(f"temperature must be a number >= 0 (0 is greedy), not {self.temperature}")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            raise UsageError(f"top-k must be a whole number >= 0 (0 turns it off), not {self.top_k}")
        if not (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1):
            raise UsageError(f"top-p must be in (0, 1] (1 turns it off), not {self.top_p}")


def filter_logits(logits: torch.Tensor, mask: torch.Tensor, options: SamplingOptions) -> torch.Tensor:
    """Logits [B, V] with forbidden tokens, and those top-k/top-p cut, set to -inf.

    The grammar mask comes first so that top-k and top-p choose among allowed tokens only.
    """
    logits = logits.float().masked_fill(~mask, float("-inf"))
    if options.temperature > 0:
        logits = logits / options.temperature
    if options.top_k > 0 and options.top_k < logits.shape[-1]:
        kth = torch.topk(logits, options.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if options.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a token when the tokens before it already reach top_p: the first always stays.
        drop_sorted = (cumulative - sorted_logits.softmax(-1)) >= options.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def choose(logits: torch.Tensor, uniforms: torch.Tensor, greedy: bool) -> torch.Tensor:
    """One token per row of filtered logits [B, V], by inverse CDF at `uniforms` [B] in [0, 1)."""
    if greedy:
        return logits.argmax(-1)
    probs = logits.double().softmax(-1)
    cdf = probs.cumsum(-1)
    target = uniforms.double().unsqueeze(-1) * cdf[:, -1:]
    # The first index whose CDF exceeds the target: a zero-probability token never wins.
    index = (cdf <= target).sum(-1)
    return index.clamp_(max=logits.shape[-1] - 1)


class BatchSampler:
    """Draws one batch of sequences that share a prime, one token per `step()` per sequence."""

    def __init__(
        self,
        net: Any,
        grammar: Grammar,
        prime: Sequence[int],
        seeds: Sequence[int],
        options: SamplingOptions = SamplingOptions(),
        *,
        max_new_tokens: int = 2048,
        use_cache: bool = True,
        device: str | torch.device = "cpu",
        banned: Sequence[int] = (),
        schedule: Sequence[np.ndarray] = (),
        redirect: dict[int, int] | None = None,
        threads: int | None = 1,
    ) -> None:
        options.validate()
        if not seeds:
            raise UsageError("the number of pieces must be at least 1")
        prime = list(prime)
        if not prime or prime[0] != BOS:
            prime = [BOS, *prime]
        self.net = net
        self.grammar = grammar
        self.options = options
        self.max_new_tokens = max_new_tokens
        self.use_cache = use_cache
        self.device = torch.device(device)
        self.prime_length = len(prime)
        self.seeds = [int(seed) for seed in seeds]
        self.generators = [torch.Generator().manual_seed(seed) for seed in self.seeds]
        size = len(self.seeds)
        self.sequences: list[list[int]] = [list(prime) for _ in range(size)]
        self.finished = [False] * size
        self.new_tokens = 0
        state = grammar.start()
        for token in prime[1:]:  # start() already stands after BOS
            state = grammar.advance(state, token)
        # Grammar states may be shared: advance returns a new object.
        self.states: list[Any] = [state] * size
        self._model_state: Any = None
        self._rows: list[int] = []  # which sequence each row of the model state belongs to
        self._vocab_size = len(grammar.allowed(state))
        # Tokens the caller rules out on top of the grammar (e.g. meter changes after the prime).
        self._banned = np.zeros(self._vocab_size, dtype=bool)
        self._banned[list(banned)] = True
        self._any_banned = bool(self._banned.any())
        # Masks for the first sampled tokens (e.g. "some meter, then some key" to open a piece).
        self.schedule = [np.asarray(mask, dtype=bool) for mask in schedule]
        # When the grammar forbids token a but allows b, a's probability goes to b: the model's
        # wish to start one bar too many becomes the end of the piece.
        self.redirect = dict(redirect or {})
        self.threads = threads

    @property
    def done(self) -> bool:
        return all(self.finished) or self.new_tokens >= self.max_new_tokens

    @torch.inference_mode()  # no autograd bookkeeping at all: cheaper per op than no_grad
    def _next_logits(self, active: list[int]) -> torch.Tensor:
        """Logits [A, V] for the next position of the `active` sequences (all of one length)."""
        context = getattr(self.net, "context_length", None)
        if not self.use_cache:
            window = torch.tensor([self.sequences[i] for i in active], dtype=torch.long, device=self.device)
            if context is not None and window.shape[1] > context:
                window = window[:, -context:]
            return self.net(window)[:, -1]
        if self._model_state is None:
            self._model_state = self.net.initial_state(len(active), self.device)
            self._rows = list(active)
            # A prime longer than the context slides through the cache like sampled tokens do.
            prime = torch.tensor([self.sequences[i] for i in active], dtype=torch.long, device=self.device)
            logits, self._model_state = self.net.step(prime, self._model_state)
            return logits[:, -1]
        if active != self._rows:
            # Finished sequences leave the batch: later steps cost only what is still running.
            keep = torch.tensor([self._rows.index(i) for i in active], dtype=torch.long, device=self.device)
            self._model_state = self.net.select_state(self._model_state, keep)
            self._rows = list(active)
        last = torch.tensor([[self.sequences[i][-1]] for i in active], dtype=torch.long, device=self.device)
        logits, self._model_state = self.net.step(last, self._model_state)
        return logits[:, -1]

    def _masks(self, active: list[int]) -> torch.Tensor:
        rows = []
        for index in active:
            row = self.grammar.allowed(self.states[index])
            sampled = len(self.sequences[index]) - self.prime_length
            if sampled < len(self.schedule):
                narrowed = row & self.schedule[sampled]
                row = narrowed if narrowed.any() else row
            elif self._any_banned:
                narrowed = row & ~self._banned
                # The grammar's own mask wins when a ban would leave nothing to draw.
                row = narrowed if narrowed.any() else row
            rows.append(row)
        return torch.from_numpy(np.stack(rows)).to(self.device)

    def step(self) -> list[int | None]:
        """Draw one token for every unfinished sequence; None for those already finished."""
        active = [i for i, finished in enumerate(self.finished) if not finished]
        logits = self._next_logits(active)
        masks = self._masks(active)
        for source, target in self.redirect.items():
            moved = ~masks[:, source] & masks[:, target]
            if moved.any():
                logits = logits.float().clone()
                logits[moved, target] = torch.logaddexp(logits[moved, target], logits[moved, source])
        filtered = filter_logits(logits, masks, self.options)
        # One uniform per running sequence from its own generator: its draws never depend on
        # which other sequences share the batch, or when they finish.
        uniforms = torch.stack([torch.rand((), generator=self.generators[i], dtype=torch.float64)
                                for i in active])
        tokens = choose(filtered.cpu(), uniforms, greedy=self.options.temperature == 0).tolist()
        self.new_tokens += 1
        drawn: list[int | None] = [None] * len(self.sequences)
        for index, token in zip(active, tokens):
            self.sequences[index].append(token)
            self.states[index] = self.grammar.advance(self.states[index], token)
            # A grammar that has finished allows only EOS, so the next step draws it: asking
            # `finished()` here would cost a second `allowed()` per token.
            if token == EOS:
                self.finished[index] = True
            drawn[index] = token
        return drawn

    def run(self, stop: threading.Event | None = None) -> Iterator[list[int | None]]:
        """Step until every sequence is finished, the token budget is spent, or `stop` is set."""
        with intra_op_threads(self.threads):
            while not self.done:
                if stop is not None and stop.is_set():
                    return
                yield self.step()

    def results(self) -> list[list[int]]:
        """Each sequence from BOS to its end: EOS appended where the grammar ended it."""
        out = []
        for sequence in self.sequences:
            tokens = list(sequence)
            if tokens[-1] != EOS:
                tokens.append(EOS)
            out.append(tokens)
        return out


@contextlib.contextmanager
def intra_op_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to `threads` inside the block (None: left alone)."""
    previous = torch.get_num_threads()
    if threads is None or threads == previous:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def sample(net: Any, grammar: Grammar, prime: Sequence[int], seeds: Sequence[int],
           options: SamplingOptions = SamplingOptions(), **sampler_options: Any) -> list[list[int]]:
    """Sample one sequence per seed, all sharing `prime`; each `[BOS, ..., EOS]`.

    `sampler_options` are BatchSampler's keywords (max_new_tokens, use_cache, schedule, ...).
    """
    sampler = BatchSampler(net, grammar, prime, seeds, options, **sampler_options)
    for _ in sampler.run():
        pass
    return sampler.results()
