"""Sampling token sequences from a model: grammar masks, temperature, top-k, top-p, batched.

One `BatchSampler` draws N sequences at once from a `SequenceModel`:

- every step masks the logits with each sequence's grammar state first, so whatever the
  temperature, every sequence is grammatical and honours the hard constraints (key lock,
  pitch range, bar count) the grammar was built with;
- temperature 0 is greedy (argmax); otherwise temperature, then top-k, then top-p (nucleus),
  worked out in numpy over each row's allowed tokens only (`distributions`);
- with the cache on, each new token costs one `model.step` on one token (KV cache for the
  Transformer, carried (h, c) for the LSTM); with it off, every token recomputes
  `model.forward` over the whole context (the baseline the benchmark compares against);
- each sequence has its own seeded `torch.Generator` and draws exactly one uniform number per
  step, so a sequence's tokens depend on its own seed and not on what else is in the batch
  (the sampling arithmetic is row by row; only the float rounding of the model's batched
  matrix products can, in rare cases, tip a draw that lands on a boundary between tokens);
- the prime all sequences share goes through the model once, and its state is copied to
  every row (batch 32 after a 448-token prime: the first token in 21 ms instead of 429);
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

import threading
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from melody.errors import UsageError
from melody.nn.threads import intra_op_threads
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


def distributions(logits: np.ndarray, allowed: np.ndarray, options: SamplingOptions
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The tokens each row's draw may give and their probabilities, from logits [A, V].

    The grammar's `allowed` mask [A, V] comes first, so that temperature, top-k and top-p
    choose among allowed tokens only; temperature 0 leaves each row's best token. Returns
    token ids and probabilities [A, K]: row r's candidates in vocabulary order, then padding
    with probability 0. Only allowed tokens are worked on (a grammar usually leaves a few
    dozen to a few hundred of the vocabulary), and for top-p only those that could be in the
    nucleus, so its sort is over a handful of tokens.

    A row's figures never depend on the other rows: everything is elementwise, a reduction
    within the row's own segment, a running sum (np.cumsum adds in order, so padding zeros
    at a row's end change nothing) or a sort within the row. A sequence draws the same
    tokens alone or in any batch.
    """
    size, vocab = allowed.shape
    flat = np.flatnonzero(allowed)  # row by row, each in vocabulary order
    counts = np.count_nonzero(allowed, axis=1)
    starts = np.cumsum(counts) - counts
    scores = logits.ravel()[flat].astype(np.float64)
    peaks = np.maximum.reduceat(scores, starts)
    if not np.isfinite(peaks).all():  # np.maximum carries a NaN into its row's peak
        scores, peaks = _finite(scores, peaks, starts, counts)
    if options.temperature == 0:
        # The first of equal bests, as torch.argmax.
        best = np.flatnonzero(scores == np.repeat(peaks, counts))
        best = best[np.searchsorted(best, starts)]
        return flat[best][:, None] - np.arange(size)[:, None] * vocab, np.ones((size, 1))
    scores -= np.repeat(peaks, counts)
    if options.temperature != 1:
        scores /= options.temperature
    probabilities = np.exp(scores, out=scores)
    probabilities /= np.repeat(np.add.reduceat(probabilities, starts), counts)
    if options.top_p < 1.0 and options.top_k == 0:
        # A token with less than (1 - top_p) / n of the mass, n the row's candidates, is never
        # in the nucleus: the tokens above it hold more than top_p between them.
        likely = probabilities >= np.repeat((1.0 - options.top_p) / counts, counts)
        flat, probabilities = flat[likely], probabilities[likely]
    tokens, probabilities = _pad(size, vocab, flat, probabilities)
    if 0 < options.top_k < probabilities.shape[1]:
        kth = -np.partition(-probabilities, options.top_k - 1, axis=1)[:, options.top_k - 1:options.top_k]
        cut = probabilities < kth  # ties with the k-th best stay
        # Only rows that lost a token are renormalised: a row with no more than top_k tokens
        # must come out as it would alone, where the batch is no wider than the row.
        rows = (cut & (probabilities > 0)).any(axis=1)
        probabilities[cut] = 0.0
        probabilities[rows] /= np.cumsum(probabilities[rows], axis=1)[:, -1:]
    if options.top_p < 1.0:
        ranked = -np.sort(-probabilities, axis=1)
        # Drop a token when the tokens above it already reach top_p (the first always stays):
        # the nucleus is every token at least as likely as its least likely member.
        kept = (np.cumsum(ranked, axis=1) - ranked < options.top_p).sum(axis=1)
        floor = ranked[np.arange(size), kept - 1]
        probabilities[probabilities < floor[:, None]] = 0.0
        probabilities /= np.cumsum(probabilities, axis=1)[:, -1:]
    return tokens, probabilities


def _finite(scores: np.ndarray, peaks: np.ndarray, starts: np.ndarray, counts: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Scores a broken model's NaN and infinite logits cannot derail (a row at a time).

    NaN counts as -inf; a row with +inf draws among its +inf tokens alone; a row with nothing
    above -inf draws evenly among its allowed tokens. A draw is then always an allowed token.
    """
    scores = np.where(np.isnan(scores), -np.inf, scores)
    peaks = np.maximum.reduceat(scores, starts)
    row_peaks = np.repeat(peaks, counts)
    infinite = np.isposinf(row_peaks)
    scores = np.where(infinite, np.where(np.isposinf(scores), 0.0, -np.inf), scores)
    scores = np.where(np.isneginf(row_peaks), 0.0, scores)
    return scores, np.maximum.reduceat(scores, starts)


def _pad(size: int, vocab: int, flat: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values at flat indices (ascending) of a [size, vocab] matrix, packed to the left of each
    row: [size, K] token ids and values, zeros after each row's own."""
    rows = flat // vocab
    counts = np.bincount(rows, minlength=size)
    slots = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    tokens = np.zeros((size, int(counts.max())), dtype=np.int64)
    padded = np.zeros((size, int(counts.max())))
    tokens[rows, slots] = flat - rows * vocab
    padded[rows, slots] = values
    return tokens, padded


def choose(tokens: np.ndarray, probabilities: np.ndarray, uniforms: np.ndarray) -> list[int]:
    """Each row's token at its uniform in [0, 1) of the CDF (tokens in vocabulary order)."""
    cdf = np.cumsum(probabilities, axis=1)
    # The first slot whose CDF exceeds the target. A token of probability 0 never wins: its
    # CDF equals the one before it. Rounding can put the target at the very top, hence the
    # cap at each row's last token that can be drawn.
    slot = (cdf <= uniforms[:, None] * cdf[:, -1:]).sum(axis=1)
    last = probabilities.shape[1] - 1 - np.argmax(probabilities[:, ::-1] > 0, axis=1)
    return np.take_along_axis(tokens, np.minimum(slot, last)[:, None], axis=1)[:, 0].tolist()


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
        priors: Sequence[np.ndarray | None] = (),
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
        self._uniform_queues: list[list[float]] = [[] for _ in self.seeds]
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
        # Log-weights added to the logits at the same first tokens (None: none), applied at the
        # sampling temperature so that they weigh the same whatever it is; -inf rules a token
        # out (the opening key as the training tunes were written: corpus.openings.opening_priors).
        self.priors = [None if prior is None else np.asarray(prior, dtype=np.float64) for prior in priors]
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
            # Every sequence starts with the same prime: it goes through once, and its state is
            # copied to each row (32 pieces continuing a 448-token prime: one pass, not 32). A
            # prime longer than the context slides through the cache like sampled tokens do.
            prime = torch.tensor([self.sequences[active[0]]], dtype=torch.long, device=self.device)
            logits, state = self.net.step(prime, self.net.initial_state(1, self.device))
            rows = torch.zeros(len(active), dtype=torch.long, device=self.device)
            self._model_state = self.net.select_state(state, rows) if len(active) > 1 else state
            self._rows = list(active)
            return logits[:, -1].repeat(len(active), 1)
        if active != self._rows:
            # Finished sequences leave the batch: later steps cost only what is still running.
            keep = torch.tensor([self._rows.index(i) for i in active], dtype=torch.long, device=self.device)
            self._model_state = self.net.select_state(self._model_state, keep)
            self._rows = list(active)
        last = torch.tensor([[self.sequences[i][-1]] for i in active], dtype=torch.long, device=self.device)
        logits, self._model_state = self.net.step(last, self._model_state)
        return logits[:, -1]

    def _allowed(self, index: int) -> np.ndarray:
        """Sequence `index`'s mask for its next token: the grammar's, narrowed by schedule or bans."""
        row = self.grammar.allowed(self.states[index])
        sampled = len(self.sequences[index]) - self.prime_length
        if sampled < len(self.schedule):
            narrowed = row & self.schedule[sampled]
            return narrowed if narrowed.any() else row
        if self._any_banned:
            narrowed = row & ~self._banned
            # The grammar's own mask wins when a ban would leave nothing to draw.
            return narrowed if narrowed.any() else row
        return row

    def step(self) -> list[int | None]:
        """Draw one token for every unfinished sequence; None for those already finished."""
        active = [i for i, finished in enumerate(self.finished) if not finished]
        logits = self._next_logits(active).float().cpu().numpy()
        allowed = np.stack([self._allowed(index) for index in active])
        if self.priors:
            self._weigh(active, logits, allowed)
        for source, target in self.redirect.items():
            moved = allowed[:, target] & ~allowed[:, source]
            if moved.any():
                logits[moved, target] = np.logaddexp(logits[moved, target], logits[moved, source])
        tokens = choose(*distributions(logits, allowed, self.options), self._uniforms(active))
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

    def _weigh(self, active: list[int], logits: np.ndarray, allowed: np.ndarray) -> None:
        """Add the prior for the next position to every row's logits, in place. Every active
        sequence has drawn as many tokens as the others (one each per step), so one look at the
        first tells whether the position has a prior: past the header nothing is done."""
        sampled = len(self.sequences[active[0]]) - self.prime_length
        prior = self.priors[sampled] if sampled < len(self.priors) else None
        if prior is None:
            return
        scale = self.options.temperature if self.options.temperature > 0 else 1.0
        possible = np.isfinite(prior)
        for row in range(len(active)):
            if (allowed[row] & possible).any():  # a prior never leaves a row nothing to draw
                allowed[row] &= possible
                logits[row, possible] += prior[possible] * scale

    def _uniforms(self, active: list[int]) -> np.ndarray:
        """The next uniform of each active sequence's own generator: its draws never depend on
        which other sequences share the batch, or when they finish."""
        uniforms = np.empty(len(active))
        for row, index in enumerate(active):
            if not self._uniform_queues[index]:
                # Drawn 64 at a time (one call instead of 64): torch's CPU generator gives the
                # same numbers in the same order as one draw per call.
                chunk = torch.rand(64, generator=self.generators[index], dtype=torch.float64)
                self._uniform_queues[index] = chunk.tolist()[::-1]
            uniforms[row] = self._uniform_queues[index].pop()
        return uniforms

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


def sample(net: Any, grammar: Grammar, prime: Sequence[int], seeds: Sequence[int],
           options: SamplingOptions = SamplingOptions(), **sampler_options: Any) -> list[list[int]]:
    """Sample one sequence per seed, all sharing `prime`; each `[BOS, ..., EOS]`.

    `sampler_options` are BatchSampler's keywords (max_new_tokens, use_cache, schedule, ...).
    """
    sampler = BatchSampler(net, grammar, prime, seeds, options, **sampler_options)
    for _ in sampler.run():
        pass
    return sampler.results()
