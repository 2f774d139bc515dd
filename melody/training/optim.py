"""The optimizer and the learning-rate schedule training uses."""

from __future__ import annotations

import math
from typing import Any

import torch

from melody.nn import SequenceModel
from melody.training.settings import TrainingSettings


def learning_rate(step: float, peak: float, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to `peak`, then cosine decay to peak * min_ratio at `total` steps (`step`
    may be fractional: a time budget moves the schedule by the share of it spent)."""
    if warmup and step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(net: SequenceModel, training: TrainingSettings) -> torch.optim.Optimizer:
    """AdamW with decay on weight matrices only (not embeddings, norms, biases), or plain Adam."""
    if training.optimizer == "adam":
        return _fused(torch.optim.Adam, net.parameters(), lr=training.lr)
    decay, no_decay = [], []
    for name, parameter in net.named_parameters():
        (decay if parameter.dim() >= 2 and "embedding" not in name else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": training.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return _fused(torch.optim.AdamW, groups, lr=training.lr, betas=(0.9, 0.98))


def _fused(optimizer: type, parameters: Any, **settings: Any) -> torch.optim.Optimizer:
    # The fused kernel updates every tensor in one pass: several times faster than the default
    # per-tensor loop on a CPU. Older torch builds and some devices lack it.
    parameters = list(parameters)
    try:
        return optimizer(parameters, fused=True, **settings)
    except (RuntimeError, TypeError, ValueError):
        return optimizer(parameters, **settings)
