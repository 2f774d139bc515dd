"""The Kneser-Ney baseline: a proper distribution, and it learns the structure it is fitted on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from melody.evaluation.ngram import NGramModel
from melody.tokenizers.base import BOS, EOS

VOCAB = 40


def structured_sequences(count: int, seed: int = 0) -> list[list[int]]:
    """Token sequences with strong local structure: repeating motifs with small variations."""
    rng = np.random.default_rng(seed)
    motifs = [list(rng.integers(3, VOCAB, 6)) for _ in range(5)]
    out = []
    for _ in range(count):
        body: list[int] = []
        for _ in range(12):
            motif = list(motifs[rng.integers(len(motifs))])
            if rng.random() < 0.2:
                motif[rng.integers(len(motif))] = int(rng.integers(3, VOCAB))
            body.extend(int(t) for t in motif)
        out.append([BOS, *body, EOS])
    return out


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_probabilities_sum_to_one_over_the_vocabulary(order):
    model = NGramModel.fit(structured_sequences(30), VOCAB, order=order)
    sequence = structured_sequences(1, seed=5)[0]
    for cut in (1, 2, 7, 30, len(sequence) - 1):
        context = sequence[:cut]
        distribution = np.array([model.probability(context, token) for token in range(VOCAB)])
        assert distribution.sum() == pytest.approx(1.0, abs=1e-9)
        assert (distribution > 0).all()  # smoothing leaves no token impossible


def test_unseen_context_still_gives_a_distribution():
    model = NGramModel.fit(structured_sequences(10), VOCAB, order=4)
    context = [BOS, 39, 38, 37]
    assert sum(model.probability(context, token) for token in range(VOCAB)) == pytest.approx(1.0)


def test_bits_on_training_text_are_below_bits_on_shuffled_text():
    training = structured_sequences(40)
    model = NGramModel.fit(training, VOCAB, order=5)
    rng = np.random.default_rng(1)
    shuffled = [[s[0], *rng.permutation(s[1:-1]).tolist(), s[-1]] for s in training]
    tokens = sum(len(s) - 1 for s in training)

    def bits(sequences):
        return sum(model.piece_nll(s) for s in sequences) / tokens / math.log(2)

    assert bits(training) < 0.5 * bits(shuffled)
    held_out = structured_sequences(10, seed=7)  # same motifs, new arrangements
    assert bits(held_out) < bits(shuffled)
    assert bits(shuffled) < math.log2(VOCAB) + 3  # smoothed, never infinite


def test_piece_nll_of_an_untrained_unigram_is_uniform():
    model = NGramModel(VOCAB, order=1)
    model.levels = []  # nothing counted: the uniform base distribution alone
    assert model.piece_nll([BOS, 5, 6, EOS]) == pytest.approx(3 * math.log(VOCAB))
