"""How well a model predicts real pieces: nats and bits per token, and bits per note.

Bits per note is the currency that compares models with different tokenizers on the same
pieces: the total negative log-likelihood of a piece in bits, over ALL its tokens after BOS
(EOS included), divided by its number of notes. A set's figure is its total bits over its
total notes (so long pieces weigh by their length, as tokens do in bits per token).

An LSTM reads each piece whole, carrying its state. A Transformer reads a piece longer than
its context in sliding windows of `context_length` tokens moved by a stride of half the
context (`DEFAULT_STRIDE_FRACTION`): each window scores only the tokens no earlier window
scored, so every token is scored once, with at least half a context of history before it.

Here, beside the networks, because both training (the held-out score at the end of a run)
and evaluation (`melody eval`) score pieces this way; melody.evaluation.likelihood re-exports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol, Sequence

DEFAULT_STRIDE_FRACTION = 0.5
BATCH_TOKENS = 16384  # tokens per forward batch: bounds memory of the [B, T, V] logits


class ScoredPiece(Protocol):
    """Anything with token ids `[BOS, ..., EOS]` and a note count (corpus.TokenizedPiece)."""

    ids: Sequence[int]
    notes: int


@dataclass
class LikelihoodResult:
    """Likelihood of a set of pieces under one model."""

    pieces: int
    tokens: int  # scored tokens: every token after BOS, EOS included
    notes: int
    nll_nats: float  # total over the set
    method: str = ""  # how long pieces were read (whole, or windows and stride)
    per_piece: list[tuple[float, int, int]] = field(default_factory=list, repr=False)  # (nats, tokens, notes)

    @property
    def nats_per_token(self) -> float:
        return self.nll_nats / self.tokens if self.tokens else math.nan

    @property
    def bits_per_token(self) -> float:
        return self.nats_per_token / math.log(2)

    @property
    def bits_per_note(self) -> float:
        return self.nll_nats / math.log(2) / self.notes if self.notes else math.nan

    def to_dict(self) -> dict[str, Any]:
        """The figures as plain JSON numbers."""
        return {"pieces": self.pieces, "tokens": self.tokens, "notes": self.notes,
                "nll_nats": self.nll_nats, "nats_per_token": self.nats_per_token,
                "bits_per_token": self.bits_per_token, "bits_per_note": self.bits_per_note,
                "method": self.method}


def summarize(nlls: Iterable[float], pieces: Sequence[ScoredPiece], method: str = "") -> LikelihoodResult:
    """A LikelihoodResult from each piece's total NLL in nats."""
    per_piece = [(float(nll), len(piece.ids) - 1, int(piece.notes)) for nll, piece in zip(nlls, pieces)]
    return LikelihoodResult(pieces=len(per_piece), tokens=sum(p[1] for p in per_piece),
                            notes=sum(p[2] for p in per_piece), nll_nats=sum(p[0] for p in per_piece),
                            method=method, per_piece=per_piece)


def _network(model: Any) -> Any:
    """The SequenceModel of a loaded Model (or the network itself)."""
    return getattr(model, "net", model)


def windows(length: int, context: int | None, stride: int | None = None) -> list[tuple[int, int, int]]:
    """(start, end, first scored) windows over `length` predictions; each scored once.

    Without a context limit the whole piece is one window. Otherwise windows of `context`
    positions move by `stride`; the last one is pulled back to end at `length` so it keeps
    a full context.
    """
    if context is None or length <= context:
        return [(0, length, 0)]
    stride = stride or max(1, int(context * DEFAULT_STRIDE_FRACTION))
    out, start, scored = [], 0, 0
    while scored < length:
        end = min(start + context, length)
        start = max(0, end - context)
        out.append((start, end, scored))
        scored = end
        start += stride
    return out


def method_of(model: Any, stride: int | None = None) -> str:
    """A one-line description of how `evaluate_likelihood` reads pieces with this model."""
    context = getattr(_network(model), "context_length", None)
    if context is None:
        return "whole piece, state carried"
    stride = stride or max(1, int(context * DEFAULT_STRIDE_FRACTION))
    return f"sliding windows of {context} tokens, stride {stride}"


def evaluate_likelihood(model: Any, pieces: Sequence[ScoredPiece], *, stride: int | None = None,
                        batch_tokens: int = BATCH_TOKENS) -> LikelihoodResult:
    """Nats and bits per token and bits per note of `pieces` under `model` (a Model or SequenceModel)."""
    import torch

    net = _network(model)
    context = getattr(net, "context_length", None)
    try:
        device = next(net.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    # Every window of every piece is one row; rows of similar length batch together.
    rows = []
    for index, piece in enumerate(pieces):
        ids = [int(t) for t in piece.ids]
        for start, end, scored in windows(len(ids) - 1, context, stride):
            rows.append((end - start, index, ids[start:end], ids[start + 1:end + 1], scored - start))
    rows.sort(key=lambda row: row[0])
    batches: list[list[tuple]] = [[]]
    for row in rows:  # ascending lengths: the row being added is the batch's widest
        if batches[-1] and (len(batches[-1]) + 1) * row[0] > batch_tokens:
            batches.append([])
        batches[-1].append(row)
    totals = [0.0] * len(pieces)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                if not batch:
                    continue
                width = batch[-1][0]
                inputs = torch.zeros((len(batch), width), dtype=torch.long)
                targets = torch.zeros((len(batch), width), dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.bool)
                for r, (length, _, x, y, first) in enumerate(batch):
                    inputs[r, :length] = torch.tensor(x)
                    targets[r, :length] = torch.tensor(y)
                    mask[r, first:length] = True  # right padding: causal rows never see it
                logits = net(inputs.to(device)).float()
                logp = torch.log_softmax(logits, dim=-1).gather(-1, targets.to(device).unsqueeze(-1)).squeeze(-1)
                sums = (-(logp * mask.to(device))).sum(dim=1).double().cpu().tolist()
                for (_, index, _, _, _), value in zip(batch, sums):
                    totals[index] += value
    finally:
        net.train(was_training)
    return summarize(totals, pieces, method_of(model, stride))


def piece_nll(model: Any, ids: Sequence[int], *, stride: int | None = None) -> float:
    """Total negative log-likelihood in nats of every token of `ids` after the first (BOS)."""

    @dataclass
    class _One:
        ids: Sequence[int]
        notes: int = 0

    return evaluate_likelihood(model, [_One(ids)], stride=stride).nll_nats
