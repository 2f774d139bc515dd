"""A smoothed n-gram baseline on a model's own tokens: interpolated modified Kneser-Ney.

Chen and Goodman's (1998) interpolated Kneser-Ney with three discounts per order (for
n-grams seen once, twice, and three or more times), estimated from counts-of-counts. The
highest order uses raw counts; lower orders use continuation counts (how many distinct
tokens precede an n-gram), and the unigram level interpolates with the uniform
distribution over the whole vocabulary, so every token id gets a probability and the
distribution over the vocabulary sums to 1 for any context.

Each piece is padded with n - 2 extra BOS tokens in front, so every prediction (the first
token after BOS included) has a full-length context. Counts live in plain dicts keyed by
context tuples: fitting ~800 tunes x ~600 tokens takes seconds in pure Python.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence


from melody.evaluation.likelihood import LikelihoodResult, ScoredPiece, summarize
from melody.tokenizers.base import BOS

DEFAULT_ORDER = 5


@dataclass
class _Level:
    """Counts of one order: per context, the follower counts and the discount mass."""

    followers: dict[tuple[int, ...], dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    discounts: tuple[float, float, float] = (0.5, 0.75, 0.9)
    # per context: (total count, interpolation mass D1*N1 + D2*N2 + D3*N3+)
    totals: dict[tuple[int, ...], tuple[int, float]] = field(default_factory=dict)

    def finish(self) -> None:
        """Estimate the discounts from counts-of-counts and each context's backoff mass."""
        histogram = [0, 0, 0, 0, 0]
        for counts in self.followers.values():
            for c in counts.values():
                if c <= 4:
                    histogram[c] += 1
        n1, n2, n3, n4 = histogram[1:]
        if n1 and n2:
            y = n1 / (n1 + 2 * n2)
            d1 = 1 - 2 * y * n2 / n1
            d2 = 2 - 3 * y * n3 / n2
            d3 = 3 - 4 * y * n4 / n3 if n3 else d2
            # Tiny corpora can give odd estimates; keep each discount in (0, its count].
            self.discounts = (min(max(d1, 0.05), 1.0), min(max(d2, 0.05), 2.0), min(max(d3, 0.05), 3.0))
        d1, d2, d3 = self.discounts
        for context, counts in self.followers.items():
            total = sum(counts.values())
            mass = sum(d1 if c == 1 else d2 if c == 2 else d3 for c in counts.values())
            self.totals[context] = (total, mass)
        self.followers = dict(self.followers)

    def discount(self, count: int) -> float:
        d1, d2, d3 = self.discounts
        return 0.0 if count == 0 else d1 if count == 1 else d2 if count == 2 else d3


class NGramModel:
    """An interpolated modified Kneser-Ney n-gram model over token ids."""

    def __init__(self, vocab_size: int, order: int = DEFAULT_ORDER) -> None:
        if order < 1:
            raise ValueError("an n-gram model needs order >= 1")
        self.vocab_size = vocab_size
        self.order = order
        self.levels: list[_Level] = []  # levels[k] predicts from a context of k tokens

    @classmethod
    def fit(cls, sequences: Iterable[Sequence[int]], vocab_size: int, order: int = DEFAULT_ORDER) -> NGramModel:
        """Count every n-gram of the sequences (each `[BOS, ..., EOS]`) and smooth."""
        model = cls(vocab_size, order)
        n = order
        highest: dict[tuple[int, ...], int] = defaultdict(int)
        for sequence in sequences:
            padded = (BOS,) * max(0, n - 2) + tuple(int(t) for t in sequence)
            # Predict only the sequence's own tokens after BOS, never the padding.
            for i in range(max(1, n - 1), len(padded)):
                start = max(0, i - n + 1)
                highest[padded[start:i + 1]] += 1
        # Highest order: raw counts of full-length n-grams (shorter ones only exist when the
        # order exceeds a sequence's padding, i.e. order 1).
        levels = [_Level() for _ in range(n)]
        for gram, count in highest.items():
            levels[len(gram) - 1].followers[gram[:-1]][gram[-1]] = count
        # Lower orders: continuation counts, the number of distinct tokens before each gram.
        for k in range(n - 1, 0, -1):
            for context, counts in levels[k].followers.items():
                shorter = context[1:]
                target = levels[k - 1].followers[shorter]
                for token in counts:
                    target[token] = target.get(token, 0) + 1
        for level in levels:
            level.finish()
        model.levels = levels
        return model

    def probability(self, context: Sequence[int], token: int) -> float:
        """P(token | the last order - 1 tokens of context)."""
        history = tuple(int(t) for t in context[-(self.order - 1):]) if self.order > 1 else ()
        if len(history) < self.order - 1:
            history = (BOS,) * (self.order - 1 - len(history)) + history
        p = 1.0 / self.vocab_size
        for k, level in enumerate(self.levels):
            ctx = history[len(history) - k:] if k else ()
            stats = level.totals.get(ctx)
            if stats is None:
                continue  # an unseen context passes the lower order's estimate through
            total, mass = stats
            count = level.followers[ctx].get(token, 0)
            p = (max(count - level.discount(count), 0.0) + mass * p) / total
        return p

    def piece_nll(self, ids: Sequence[int]) -> float:
        """Total negative log-likelihood in nats of every token after the first (BOS)."""
        ids = [int(t) for t in ids]
        n = self.order
        padded = [BOS] * max(0, n - 2) + ids
        offset = len(padded) - len(ids)
        total = 0.0
        for i in range(offset + 1, len(padded)):
            context = padded[max(0, i - n + 1):i]
            total -= math.log(self.probability(context, padded[i]))
        return total


def evaluate_ngram(model: NGramModel, pieces: Sequence[ScoredPiece]) -> LikelihoodResult:
    """The same figures as `likelihood.evaluate_likelihood`, for the n-gram baseline."""
    return summarize([model.piece_nll(p.ids) for p in pieces], pieces,
                     f"{model.order}-gram, interpolated modified Kneser-Ney")
