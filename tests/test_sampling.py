"""Sampling: masks first, then temperature/top-k/top-p; cached steps; seeds; batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from melody.errors import UsageError
from melody.nn import build_model
from melody.generation.sampling import BatchSampler, SamplingOptions, choose, distributions, sample
from melody.tokenizers.base import BOS, EOS, PAD, Grammar

VOCAB = 24


class CountingGrammar(Grammar):
    """A test double: any token but PAD/BOS, exactly `length` tokens after BOS, then EOS.

    Real grammars come from the tokenizers; this one isolates the sampler's own behaviour.
    """

    def __init__(self, length: int, forbidden: tuple[int, ...] = ()) -> None:
        self.length = length
        self.forbidden = forbidden

    def start(self) -> int:
        return 0

    def allowed(self, state: int) -> np.ndarray:
        mask = np.zeros(VOCAB, dtype=bool)
        if state >= self.length:
            mask[EOS] = True
            return mask
        mask[3:] = True
        mask[list(self.forbidden)] = False
        return mask

    def advance(self, state: int, token: int) -> int:
        return state + 1


def tiny(family: str, seed: int = 0, context: int = 64, spread: bool = True) -> torch.nn.Module:
    torch.manual_seed(seed)
    config = {"vocab_size": VOCAB, "d_model": 32, "hidden": 0, "layers": 2, "heads": 4, "context": context,
              "dropout": 0.0}
    net = build_model(family, config).eval()
    if spread:
        with torch.no_grad():
            # Spread the initial logits apart so greedy choices are not float-rounding ties.
            net.embedding.weight.normal_(0, 1.0)
    return net


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_cached_and_uncached_greedy_decoding_give_identical_tokens(family):
    net = tiny(family)
    greedy = SamplingOptions(temperature=0)
    prime = [BOS, 5, 9, 7]
    grammar = CountingGrammar(50)
    cached = sample(net, grammar, prime, [0, 1], greedy, use_cache=True)
    uncached = sample(net, grammar, prime, [0, 1], greedy, use_cache=False)
    assert cached == uncached
    assert len(cached[0]) == 1 + 50 + 1  # BOS, 50 tokens (prime included), EOS


def test_transformer_samples_past_its_context_by_sliding_the_cache():
    net = tiny("transformer", context=16)
    tokens = sample(net, CountingGrammar(60), [BOS, 4], [3], SamplingOptions(temperature=1.0))[0]
    assert len(tokens) == 1 + 60 + 1 and tokens[-1] == EOS
    # Inside the context the sliding cache and a full forward agree exactly.
    short = sample(net, CountingGrammar(12), [BOS, 4], [0], SamplingOptions(temperature=0))
    assert short == sample(net, CountingGrammar(12), [BOS, 4], [0], SamplingOptions(temperature=0),
                           use_cache=False)


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_a_sequence_depends_on_its_seed_not_on_the_rest_of_its_batch(family):
    net = tiny(family, spread=False)  # near-uniform logits: every seed draws its own tune
    options = SamplingOptions(temperature=1.0)
    grammar = CountingGrammar(40)
    alone = sample(net, grammar, [BOS], [11], options)[0]
    again = sample(net, grammar, [BOS], [11], options)[0]
    in_batch = sample(net, grammar, [BOS], [5, 11, 12, 13], options)
    assert alone == again == in_batch[1]
    assert len({tuple(s) for s in in_batch}) == 4  # different seeds, different pieces


def test_masked_tokens_are_never_drawn_even_at_high_temperature():
    net = tiny("lstm")
    forbidden = tuple(range(3, 20))
    sequences = sample(net, CountingGrammar(30, forbidden), [BOS], list(range(16)),
                       SamplingOptions(temperature=5.0))
    drawn = {t for s in sequences for t in s[1:-1]}
    assert drawn <= set(range(20, VOCAB))
    assert all(s[-1] == EOS for s in sequences)


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_finished_sequences_leave_the_batch_and_the_rest_carry_on_unchanged(family):
    class Varying(CountingGrammar):
        def allowed(self, state):  # EOS may come at any time after 2 tokens
            mask = super().allowed(state)
            mask[EOS] = state >= 2
            return mask

    net = tiny(family, spread=False)
    options = SamplingOptions(temperature=3.0)
    sampler = BatchSampler(net, Varying(40), [BOS], list(range(8)), options)
    for _ in sampler.run():
        pass
    results = sampler.results()
    assert len({len(r) for r in results}) > 1  # they ended at different times
    for seed, result in zip(range(8), results):
        assert result[-1] == EOS and PAD not in result and result.count(EOS) == 1
        # Each one is what it would have been alone: the rows that left changed nothing.
        assert result == sample(net, Varying(40), [BOS], [seed], options)[0]


def kept(logits, allowed, options) -> tuple[list[int], np.ndarray]:
    """One row's drawable tokens and their probabilities."""
    tokens, probabilities = distributions(np.array([logits]), np.array([allowed]), options)
    drawable = probabilities[0] > 0
    return tokens[0][drawable].tolist(), probabilities[0][drawable]


def test_temperature_zero_is_argmax_and_top_k_keeps_the_k_best():
    logits = [0.0, 3.0, 1.0, 2.0, -1.0]
    everything = [True] * 5
    greedy = distributions(np.array([logits]), np.array([everything]), SamplingOptions(temperature=0))
    assert choose(*greedy, np.array([0.9])) == [1]
    tokens, probabilities = kept(logits, everything, SamplingOptions(temperature=1.0, top_k=2))
    assert tokens == [1, 3]
    assert np.allclose(probabilities, [np.e / (np.e + 1), 1 / (np.e + 1)])


def test_top_p_keeps_the_smallest_set_that_reaches_p_and_the_mask_comes_first():
    logits = np.log([0.5, 0.3, 0.15, 0.05])
    assert kept(logits, [True] * 4, SamplingOptions(top_p=0.75))[0] == [0, 1]
    # With the best token forbidden, the nucleus is taken over the renormalised rest (0.6, 0.3, 0.1).
    tokens, probabilities = kept(logits, [False, True, True, True], SamplingOptions(top_p=0.7))
    assert tokens == [1, 2]
    assert np.allclose(probabilities, [2 / 3, 1 / 3])


def test_inverse_cdf_never_lands_on_a_zero_probability_token():
    # Token 2 underflows to probability 0 and the second row's padding has probability 0 too.
    logits = np.array([[0.0, 0.0, -1e6, 0.0, 5.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    allowed = np.array([[False, True, True, True, False], [False, False, False, True, False]])
    options = SamplingOptions()
    for u in (0.0, 0.25, 0.4999, 0.5, 0.75, 0.999999, 1.0 - 2 ** -53, 1.0):
        assert choose(*distributions(logits, allowed, options), np.array([u, u])) in ([1, 3], [3, 3])


@pytest.mark.parametrize("options, word", [
    (SamplingOptions(temperature=-0.5), "temperature"),
    (SamplingOptions(top_k=-1), "top-k"),
    (SamplingOptions(top_p=0.0), "top-p"),
    (SamplingOptions(top_p=1.5), "top-p"),
])
def test_bad_sampling_options_are_usage_errors(options, word):
    with pytest.raises(UsageError, match=word):
        options.validate()


def test_a_schedule_narrows_the_first_draws_and_then_lets_go():
    net = tiny("lstm", spread=False)
    first, second = np.zeros(VOCAB, dtype=bool), np.zeros(VOCAB, dtype=bool)
    first[5] = True
    second[[6, 7]] = True
    sequences = sample(net, CountingGrammar(12), [BOS], list(range(10)), SamplingOptions(temperature=2.0),
                       schedule=[first, second])
    assert all(s[1] == 5 and s[2] in (6, 7) for s in sequences)
    assert len({t for s in sequences for t in s[3:-1]}) > 5  # free after the schedule


def test_a_redirect_gives_a_forbidden_tokens_probability_to_its_target():
    class EndsOrGoesOn(CountingGrammar):
        def allowed(self, state):  # after `length` tokens: EOS or more tokens, but never token 3
            mask = super().allowed(state)
            if state >= self.length:
                mask[3:] = True
                mask[3] = False
            return mask

    net = tiny("lstm", spread=False)
    with torch.no_grad():
        net.output_bias[3] = 30.0  # the model only ever wants token 3 (think: "Bar")
    options = SamplingOptions(temperature=1.0)
    plain = sample(net, EndsOrGoesOn(6), [BOS], [0], options, max_new_tokens=20)[0]
    ended = sample(net, EndsOrGoesOn(6), [BOS], [0], options, redirect={3: EOS})[0]
    assert len(plain) == 22  # without the redirect it wanders on to the token budget
    assert ended == [BOS] + [3] * 6 + [EOS]  # with it, the wish for token 3 ends the sequence


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_the_shared_prime_goes_through_the_model_once_for_the_whole_batch(family):
    net = tiny(family, spread=False)
    shapes = []
    step = net.step

    def recording(tokens, state):
        shapes.append(tuple(tokens.shape))
        return step(tokens, state)

    net.step = recording
    prime = [BOS, 5, 9, 7, 4, 8]
    batch = sample(net, CountingGrammar(20), prime, [3, 4, 5, 6], SamplingOptions(temperature=1.0))
    assert shapes[0] == (1, len(prime)) and all(shape == (4, 1) for shape in shapes[1:3])
    net.step = step
    # Each piece is still the one its seed gives alone.
    assert batch == [sample(net, CountingGrammar(20), prime, [seed], SamplingOptions(temperature=1.0))[0]
                     for seed in (3, 4, 5, 6)]


def test_a_rows_distribution_is_the_same_bits_alone_or_beside_wider_rows():
    # Rows of 3 and 6 allowed tokens: with top-k 3 the narrow row loses nothing and must not be
    # renormalised just because the batch is wider (a 1-ulp change can tip a draw).
    rng = np.random.default_rng(0)
    options = [SamplingOptions(1.0, 3, 1.0), SamplingOptions(0.7, 3, 0.9), SamplingOptions(1.3, 0, 0.8),
               SamplingOptions(1.0, 0, 1.0), SamplingOptions(0.0, 0, 1.0)]
    for _ in range(200):
        logits = rng.normal(size=(2, 8))
        allowed = np.zeros((2, 8), dtype=bool)
        allowed[0, rng.choice(8, 3, replace=False)] = True
        allowed[1, rng.choice(8, 6, replace=False)] = True
        for option in options:
            alone = distributions(logits[:1], allowed[:1], option)
            batched = distributions(logits, allowed, option)
            width = alone[0].shape[1]
            assert np.array_equal(alone[0][0], batched[0][0, :width])
            assert np.array_equal(alone[1][0], batched[1][0, :width]) and not batched[1][0, width:].any()


@pytest.mark.parametrize("row", [[np.nan, 0.0, 1.0], [np.inf, 0.0, np.inf], [-np.inf, -np.inf, -np.inf],
                                 [np.nan, np.nan, np.nan]])
def test_a_broken_models_nan_or_infinite_logits_still_give_an_allowed_token(row):
    logits = np.array([[5.0, *row, 9.0]])  # tokens 0 and 4 are forbidden and look best
    allowed = np.array([[False, True, True, True, False]])
    for options in (SamplingOptions(), SamplingOptions(temperature=0), SamplingOptions(top_k=2, top_p=0.5)):
        for u in (0.0, 0.5, 0.99):
            [token] = choose(*distributions(logits, allowed, options), np.array([u]))
            assert token in (1, 2, 3)
            if np.isposinf(row).any():
                assert np.isposinf(row[token - 1])  # only the infinitely likely tokens
