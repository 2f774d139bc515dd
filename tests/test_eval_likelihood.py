"""Likelihood: bits per token and per note arithmetic, batching, and sliding windows."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from melody.evaluation.likelihood import evaluate_likelihood, piece_nll, windows
from melody.evaluation.ngram import NGramModel, evaluate_ngram
from melody.nn import build_model

V = 37


@dataclass
class Tune:
    ids: list[int]
    notes: int


class Uniform(torch.nn.Module):
    """Equal logits for every token: each prediction costs exactly log(V) nats."""

    context_length = None

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.zeros(()))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*tokens.shape, V) + self.scale


def tunes(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [Tune([1, *torch.randint(3, V, (n - 2,), generator=g).tolist(), 2], notes=max(1, n // 4))
            for n in lengths]


def test_uniform_logits_give_log2_vocab_bits_per_token():
    pieces = tunes([10, 50, 7])
    result = evaluate_likelihood(Uniform(), pieces)
    assert result.tokens == 9 + 49 + 6
    assert result.bits_per_token == pytest.approx(math.log2(V))
    assert result.nats_per_token == pytest.approx(math.log(V))


def test_bits_per_note_is_total_bits_over_total_notes():
    pieces = [Tune([1, 5, 6, 7, 8, 2], notes=2), Tune([1, 5, 2], notes=1)]
    result = evaluate_likelihood(Uniform(), pieces)
    # 5 + 2 scored tokens (after BOS, EOS included), log2(V) bits each, over 3 notes.
    assert result.bits_per_note == pytest.approx(7 * math.log2(V) / 3)
    assert piece_nll(Uniform(), pieces[0].ids) == pytest.approx(5 * math.log(V))


def manual_nll(net, ids):
    with torch.no_grad():
        logits = net(torch.tensor([ids[:-1]]))
        logp = torch.log_softmax(logits.float(), -1)[0]
        return -float(logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].sum())


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_batched_padded_evaluation_equals_one_piece_at_a_time(family):
    torch.manual_seed(0)
    net = build_model(family, {"vocab_size": V, "d_model": 32, "hidden": 0, "layers": 2, "heads": 2,
                               "context": 128, "dropout": 0.0}).eval()
    pieces = tunes([12, 40, 90, 41, 5])
    result = evaluate_likelihood(net, pieces, batch_tokens=200)  # forces several batches
    for (nll, tokens, _), piece in zip(result.per_piece, pieces):
        assert nll == pytest.approx(manual_nll(net, piece.ids), rel=1e-4)
        assert tokens == len(piece.ids) - 1


def test_sliding_windows_score_every_token_once_with_half_a_context_behind_it():
    for length in (1, 8, 9, 31, 100):
        spans = windows(length, context=8, stride=4)
        scored = [t for start, end, first in spans for t in range(first, end)]
        assert scored == list(range(length))
        for start, end, first in spans:
            assert end - start <= 8
            assert first == 0 or first - start >= 4


def test_transformer_longer_than_its_context_is_read_in_windows():
    torch.manual_seed(0)
    net = build_model("transformer", {"vocab_size": V, "d_model": 32, "layers": 1, "heads": 2,
                                      "context": 16, "dropout": 0.0}).eval()
    piece = tunes([70])[0]
    total = piece_nll(net, piece.ids)
    expected = 0.0
    for start, end, first in windows(len(piece.ids) - 1, 16):
        with torch.no_grad():
            logp = torch.log_softmax(net(torch.tensor([piece.ids[start:end]])), -1)[0]
        for t in range(first, end):
            expected -= float(logp[t - start, piece.ids[t + 1]])
    assert total == pytest.approx(expected, rel=1e-5)
    assert "stride 8" in evaluate_likelihood(net, [piece]).method


def test_ngram_and_network_report_the_same_units():
    pieces = tunes([30, 30, 30])
    ngram = NGramModel.fit([p.ids for p in pieces], V, order=3)
    result = evaluate_ngram(ngram, pieces)
    assert result.tokens == 87 and result.notes == sum(p.notes for p in pieces)
    assert result.bits_per_note == pytest.approx(result.bits_per_token * result.tokens / result.notes)
