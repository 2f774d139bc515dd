"""An LSTM language model: embedding, stacked LSTM with dropout, output tied to the embedding."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from melody.nn.base import SequenceModel

LSTMState = tuple[torch.Tensor, torch.Tensor]  # (h, c), each [layers, B, hidden]


@dataclass
class LSTMConfig:
    """Sizes of an LSTM model; `hidden=0` means the same as `d_model` (tied without a projection).

    The sizes have no defaults here: a new model takes them from melody.training.settings
    (ModelSettings, through `model_config`), a saved one from its config.json. Only what a
    saved config.json may lack has a default: `input_scale`.
    """

    vocab_size: int
    d_model: int  # embedding size
    hidden: int
    layers: int
    dropout: float
    # What the embedding is multiplied by on the way in (see LSTMModel.reset_parameters).
    # Saved in config.json so a model always loads with the scale it was trained with; a
    # config without it (models saved before it was recorded) gets sqrt(d_model) / 2, the
    # only scale melody has trained LSTMs with since they stopped sitting on a plateau.
    input_scale: float | None = None

    def __post_init__(self) -> None:
        if self.input_scale is None:
            self.input_scale = math.sqrt(self.d_model) / 2.0

    @property
    def hidden_size(self) -> int:
        return self.hidden or self.d_model

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LSTMModel(SequenceModel):
    """Embedding -> dropout -> LSTM x layers -> dropout -> (projection) -> tied output."""

    family = "lstm"

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = config.vocab_size
        self.context_length = None
        hidden = config.hidden_size
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(config.d_model, hidden, num_layers=config.layers, batch_first=True,
                            dropout=config.dropout if config.layers > 1 else 0.0)
        # Tying halves the parameters of a small model and regularises it (Press & Wolf 2017);
        # when the LSTM is wider than the embedding a projection brings it back to size.
        self.projection = nn.Linear(hidden, config.d_model, bias=False) if hidden != config.d_model else None
        self.output_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.input_scale = config.input_scale  # see reset_parameters
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The table is both the LSTM's input and (tied) its output layer, which want different
        # scales. A small table keeps the first logits near zero, so the first loss is
        # ~ln(vocab); but fed as it is, std 0.02 starved the gates: on remi tokens the LSTM sat
        # on the unigram plateau (~3.1 nats per token, 14.4 bits per note) for a whole 10-minute
        # run. So the table is N(0, 2/sqrt(d_model)) and the input is multiplied back by
        # sqrt(d_model)/2 (as Transformers scale embeddings): unit-size inputs, and first
        # logits small enough that the first loss is ln(vocab) + 0.02 to 0.06 (widths 64 to
        # 192). After 60 Adam steps on eight irish.abc tunes at width 192 this reached 0.68
        # nats; a 1/sqrt(d_model) table (first loss exact) 0.94; a unit table with the tied
        # logits divided by sqrt(d_model) (which caps the logits) 1.72; the old table 3.0.
        nn.init.normal_(self.embedding.weight, std=2.0 / math.sqrt(self.config.d_model))
        bound = 1.0 / math.sqrt(self.config.hidden_size)
        for name, parameter in self.lstm.named_parameters():
            if "weight" in name:
                nn.init.uniform_(parameter, -bound, bound)
            else:
                nn.init.zeros_(parameter)
                if name.startswith("bias_ih"):
                    # A forget-gate bias of 1 lets gradients flow through long tunes from the start.
                    hidden = self.config.hidden_size
                    parameter.data[hidden:2 * hidden] = 1.0
        if self.projection is not None:
            nn.init.normal_(self.projection.weight, std=1.0 / math.sqrt(self.config.hidden_size))

    def _inputs(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.embedding(tokens) * self.input_scale)

    def _logits(self, output: torch.Tensor) -> torch.Tensor:
        output = self.dropout(output)
        if self.projection is not None:
            output = self.projection(output)
        return nn.functional.linear(output, self.embedding.weight, self.output_bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        output, _ = self.lstm(self._inputs(tokens))
        return self._logits(output)

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> LSTMState:
        device = device if device is not None else self.embedding.weight.device
        shape = (self.config.layers, batch_size, self.config.hidden_size)
        dtype = self.embedding.weight.dtype
        return torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype)

    def step(self, tokens: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        if self.training or tokens.shape[1] != 1:
            output, new_state = self.lstm(self._inputs(tokens), state)
            return self._logits(output), new_state
        # One token in eval mode: a fused cell per layer. nn.LSTM on CPU goes through oneDNN,
        # whose per-call set-up made a one-token step of the default model cost 416 us
        # against 135 us this way (batch 1, one thread); the arithmetic is the same up to float
        # rounding (it is what nn.LSTM computes without oneDNN, to the bit).
        h, c = state
        x = self._inputs(tokens)[:, 0]
        hs, cs = [], []
        for layer, (w_ih, w_hh, b_ih, b_hh) in enumerate(self._cell_weights()):
            x, c_layer = torch.lstm_cell(x, (h[layer], c[layer]), w_ih, w_hh, b_ih, b_hh)
            hs.append(x)
            cs.append(c_layer)
        return self._logits(x[:, None]), (torch.stack(hs), torch.stack(cs))

    def _cell_weights(self) -> list[tuple[torch.Tensor, ...]]:
        lstm = self.lstm
        return [tuple(getattr(lstm, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                for layer in range(lstm.num_layers)]

    def select_state(self, state: LSTMState, index: torch.Tensor) -> LSTMState:
        h, c = state
        return h.index_select(1, index), c.index_select(1, index)
