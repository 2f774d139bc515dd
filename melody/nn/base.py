"""The interface both model families share: train with `forward`, sample with `step`.

`forward(tokens)` scores a whole window at once (teacher forcing). `step(tokens, state)`
consumes new tokens given the state carried from earlier calls (the LSTM's (h, c), the
Transformer's key/value cache), so sampling pays for each new token once, not for the whole
context again.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn


class SequenceModel(nn.Module, ABC):
    """A next-token model over a fixed vocabulary."""

    family: ClassVar[str]
    vocab_size: int
    context_length: int | None  # the longest window forward() accepts; None: unbounded

    @abstractmethod
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, V] for the next token after each position of tokens [B, T]."""

    @abstractmethod
    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> Any:
        """The state before any token (BOS is fed through `step` like any other token)."""

    @abstractmethod
    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Logits [B, T, V] for T >= 1 new tokens after `state`, and the state after them.

        The state passed in is left untouched, so a caller may keep it and branch.
        """

    @abstractmethod
    def select_state(self, state: Any, index: torch.Tensor) -> Any:
        """The state of the batch rows `index` (a 1-D long tensor), for dropping or reordering rows."""

    def num_parameters(self) -> int:
        """The number of distinct parameters (a tied matrix counts once)."""
        return sum(p.numel() for p in self.parameters())


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """A config dataclass from a dict, ignoring keys it does not know; ValueError naming the
    sizes it needs and lacks."""
    fields = dataclasses.fields(cls)
    missing = [f.name for f in fields if f.name not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"no {', '.join(missing)} in the model's sizes")
    names = {f.name for f in fields}
    return cls(**{key: value for key, value in data.items() if key in names})
