"""A causal Transformer: pre-norm blocks, rotary positions, a key/value cache that slides.

Positions are rotary (RoPE, Su et al. 2021): each query and key is rotated by an angle
proportional to its absolute position, so attention scores depend only on the distance
between two tokens. Music repeats at fixed distances (a bar, a phrase) wherever it is in the
piece, which is what a relative scheme captures.

Sampling past the context: the key/value cache keeps at most `context` positions. When a new
token would exceed it, the oldest positions are dropped. Cached keys were rotated with their
absolute positions and a new query is rotated with its own, so the relative offsets stay
right and nothing has to be recomputed. (The cached values still carry what the dropped
tokens contributed to the layers below; that is the usual sliding-window approximation, and
only `step` does it: `forward` on a window longer than `context` is an error.)

The cache is written in place: each layer's keys and values live in a buffer with room for
half a context more than the window, a step writes its new positions after the live ones,
and only when the buffer is full is the live window copied to the front of a fresh one. A
step then copies one position per layer rather than the whole window (concatenating the
window every step was a third of a batch-32 step's time).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from melody.nn.base import SequenceModel


@dataclass
class TransformerConfig:
    """Sizes of a causal Transformer.

    The sizes have no defaults here: a new model takes them from melody.training.settings
    (ModelSettings, through `model_config`), a saved one from its config.json. `mlp_ratio` and
    `rope_base` are no settings, only fixed choices of this architecture; every config.json
    records them, and their defaults are what every melody Transformer has been built with.
    """

    vocab_size: int
    d_model: int
    layers: int
    heads: int
    context: int  # the longest window forward() accepts and the cache keeps
    dropout: float
    mlp_ratio: int = 4
    rope_base: float = 10000.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _KVBuffers:
    """Per-layer key and value buffers [B, heads, capacity, head_dim], shared by the states over them."""

    __slots__ = ("keys", "values", "written")

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], written: int) -> None:
        self.keys = keys
        self.values = values
        # The end of the newest state's positions. Only a state that ends here may write after
        # it: any other (an older state a caller kept to branch from) copies its window first,
        # so stepping never changes what an earlier state sees.
        self.written = written

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[2]


@dataclass
class KVCache:
    """Cached keys and values: positions start..end-1 of the buffers are the live window."""

    buffers: _KVBuffers | None
    start: int
    end: int
    position: int  # the absolute position of the next token

    @property
    def length(self) -> int:
        return self.end - self.start

    def window(self, layer: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Layer `layer`'s live keys and values [B, heads, length, head_dim]; None when empty."""
        if self.buffers is None:
            return None
        return (self.buffers.keys[layer][:, :, self.start:self.end],
                self.buffers.values[layer][:, :, self.start:self.end])


def rotary_angles(positions: torch.Tensor, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [T, head_dim/2] for absolute `positions` [T]."""
    inverse = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64, device=positions.device) / head_dim)
    # float64 and a reduction mod 2*pi keep long sampled pieces (positions in the 10^5s) exact enough.
    angles = torch.remainder(positions.to(torch.float64)[:, None] * inverse[None, :], 2 * math.pi)
    return angles.cos().float(), angles.sin().float()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x[..., :d/2], x[..., d/2:]) of x [B, H, T, d] by the given angles."""
    half = x.shape[-1] // 2
    first, second = x[..., :half], x[..., half:]
    if cos.dtype != x.dtype:
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((first * cos - second * sin, first * sin + second * cos), dim=-1)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention through scaled_dot_product_attention."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        if config.d_model % config.heads:
            raise ValueError(f"d_model {config.d_model} is not a multiple of heads {config.heads}")
        self.heads = config.heads
        self.head_dim = config.d_model // config.heads
        if self.head_dim % 2:
            raise ValueError(f"d_model / heads = {self.head_dim} must be even for rotary positions")
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.out = nn.Linear(config.d_model, config.d_model, bias=False)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                past: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        batch, length, width = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if past is not None and past[0].shape[2]:
            k = torch.cat((past[0], k), dim=2)
            v = torch.cat((past[1], v), dim=2)
        y = _attend(q, k, v, self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(batch, length, width)
        return self.out(y), (k, v)


class Block(nn.Module):
    """Pre-norm: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.d_model)
        self.attention = CausalSelfAttention(config)
        self.norm2 = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, config.mlp_ratio * config.d_model, bias=False),
            nn.GELU(),
            nn.Linear(config.mlp_ratio * config.d_model, config.d_model, bias=False),
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                past: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        attended, present = self.attention(self.norm1(x), cos, sin, past)
        x = x + self.dropout(attended)
        x = x + self.dropout(self.mlp(self.norm2(x)))
        return x, present


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
    """Causal attention of the newest q.shape[2] positions over k and v, which end with them."""
    length, earlier = q.shape[2], k.shape[2] - q.shape[2]
    if earlier == 0:
        return F.scaled_dot_product_attention(q, k, v, is_causal=length > 1, dropout_p=dropout)
    if length == 1:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)  # sees every cached key
    # New token i may see every cached key and new tokens 0..i.
    allowed = torch.ones(length, k.shape[2], dtype=torch.bool, device=q.device).tril(earlier)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout)


class _BlockWeights(NamedTuple):
    """What a block's sampling step reads, gathered once: module attribute lookups cost more
    than a one-token step's arithmetic."""

    norm1: tuple[torch.Tensor, torch.Tensor, float]
    qkv: torch.Tensor
    heads: int
    head_dim: int
    out: torch.Tensor
    norm2: tuple[torch.Tensor, torch.Tensor, float]
    up: torch.Tensor
    down: torch.Tensor
    gelu: str

    @classmethod
    def of(cls, block: Block) -> "_BlockWeights":
        attention, norm1, norm2 = block.attention, block.norm1, block.norm2
        return cls((norm1.weight, norm1.bias, norm1.eps), attention.qkv.weight, attention.heads,
                   attention.head_dim, attention.out.weight, (norm2.weight, norm2.bias, norm2.eps),
                   block.mlp[0].weight, block.mlp[2].weight, block.mlp[1].approximate)


def _block_step(weights: _BlockWeights, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                keys: torch.Tensor, values: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """Block.forward in eval mode as plain functions, writing the new keys and values into
    `keys`/`values` at end..end+T and attending over start..end+T. Returns the new x."""
    batch, length, width = x.shape
    weight, bias, eps = weights.norm1
    h = F.layer_norm(x, (width,), weight, bias, eps)
    qkv = F.linear(h, weights.qkv).view(batch, length, 3, weights.heads, weights.head_dim)
    qkv = qkv.permute(2, 0, 3, 1, 4)
    q, k = apply_rotary(qkv[:2], cos, sin).unbind(0)  # queries and keys rotated in one go
    keys[:, :, end:end + length] = k
    values[:, :, end:end + length] = qkv[2]
    y = _attend(q, keys[:, :, start:end + length], values[:, :, start:end + length])
    x = x + F.linear(y.transpose(1, 2).reshape(batch, length, width), weights.out)
    weight, bias, eps = weights.norm2
    h = F.layer_norm(x, (width,), weight, bias, eps)
    return x + F.linear(F.gelu(F.linear(h, weights.up), approximate=weights.gelu), weights.down)


class TransformerModel(SequenceModel):
    """Token embedding -> pre-norm blocks with rotary attention -> norm -> tied output."""

    family = "transformer"

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = config.vocab_size
        self.context_length = config.context
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.d_model)
        head_dim = config.d_model // config.heads
        cos, sin = rotary_angles(torch.arange(config.context), head_dim, config.rope_base)
        # Not saved with the weights: they follow from the config.
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self._far_angles: tuple[int, torch.Tensor, torch.Tensor] | None = None  # see _angles
        self._weights_cache: list[_BlockWeights] | None = None  # see _step_weights
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for name, parameter in self.named_parameters():
            if parameter.dim() == 2:
                std = 0.02
                if name.endswith("attention.out.weight") or name.endswith("mlp.2.weight"):
                    # Residual branches scaled down with depth keep the stream's variance flat (GPT-2).
                    std = 0.02 / math.sqrt(2 * self.config.layers)
                nn.init.normal_(parameter, std=std)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.norm(x), self.embedding.weight)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        if length > self.context_length:
            raise ValueError(f"a window of {length} tokens is longer than the context ({self.context_length})")
        x = self.dropout(self.embedding(tokens))
        cos, sin = self.cos[:length], self.sin[:length]
        for block in self.blocks:
            x, _ = block(x, cos, sin)
        return self._logits(x)

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> KVCache:
        return KVCache(buffers=None, start=0, end=0, position=0)

    def step(self, tokens: torch.Tensor, state: KVCache) -> tuple[torch.Tensor, KVCache]:
        # A chunk longer than the context goes through in context-sized pieces.
        if tokens.shape[1] > self.context_length:
            pieces = []
            for start in range(0, tokens.shape[1], self.context_length):
                logits, state = self.step(tokens[:, start:start + self.context_length], state)
                pieces.append(logits)
            return torch.cat(pieces, dim=1), state
        batch, length = tokens.shape
        # The new tokens may still see the last `context - length` cached positions.
        start = max(state.start, state.end - (self.context_length - length))
        cos, sin = self._angles(state.position, length, tokens.device)
        if self.training or torch.is_grad_enabled():
            # Through the modules, as forward() goes, and nothing written in place: dropout
            # when training, and logits that autograd can follow.
            x = self.dropout(self.embedding(tokens))
            keys, values = [], []
            for index, block in enumerate(self.blocks):
                window = KVCache(state.buffers, start, state.end, state.position).window(index)
                x, (k, v) = block(x, cos, sin, window)
                keys.append(k)
                values.append(v)
            buffers = _KVBuffers(keys, values, keys[0].shape[2])
            return self._logits(x), KVCache(buffers, 0, buffers.written, state.position + length)
        # Sampling (no autograd): the same arithmetic in the same order as the modules, without
        # their per-call overhead, which is most of a one-token step's cost; keys and values
        # are written in place.
        buffers, end = state.buffers, state.end
        if (buffers is None or buffers.written != end or end + length > buffers.capacity
                # buffers made under torch.inference_mode() cannot be written outside it
                or (buffers.keys[0].is_inference() and not torch.is_inference_mode_enabled())):
            buffers = self._fresh_buffers(state, start, batch, tokens.device)
            start, end = 0, end - start
        x = F.embedding(tokens, self.embedding.weight)
        for weights, keys, values in zip(self._step_weights(), buffers.keys, buffers.values):
            x = _block_step(weights, x, cos, sin, keys, values, start, end)
        buffers.written = end + length
        weight, bias, eps = self._norm_weights
        x = F.layer_norm(x, (x.shape[-1],), weight, bias, eps)
        return F.linear(x, self.embedding.weight), KVCache(buffers, start, end + length, state.position + length)

    def _fresh_buffers(self, state: KVCache, start: int, batch: int, device: torch.device,
                       rows: torch.Tensor | None = None) -> _KVBuffers:
        """New buffers holding `state`'s positions start..end-1 (of batch `rows`) at their front."""
        config = self.config
        head_dim = config.d_model // config.heads
        # Room for half a context past a full window: the window is copied once per half context.
        capacity = self.context_length + max(1, self.context_length // 2)
        dtype = self.embedding.weight.dtype
        keys, values = [], []
        for layer in range(config.layers):
            pair = []
            for old in (state.window(layer) if state.buffers is not None else (None, None)):
                buffer = torch.empty(batch, config.heads, capacity, head_dim, dtype=dtype, device=device)
                if old is not None:
                    old = old[:, :, start - state.start:]
                    buffer[:, :, :old.shape[2]] = old if rows is None else old.index_select(0, rows)
                pair.append(buffer)
            keys.append(pair[0])
            values.append(pair[1])
        return _KVBuffers(keys, values, state.end - start)

    def _step_weights(self) -> list[_BlockWeights]:
        if self._weights_cache is None:
            self._weights_cache = [_BlockWeights.of(block) for block in self.blocks]
        return self._weights_cache

    @property
    def _norm_weights(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        return self.norm.weight, self.norm.bias, self.norm.eps

    def _apply(self, fn: Any, recurse: bool = True) -> "TransformerModel":
        self._weights_cache = None  # .to(), .half() and the like may put new tensors in place
        return super()._apply(fn, recurse)

    def _angles(self, position: int, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin for positions position..position+length-1: from the tables, or computed."""
        if position + length <= self.context_length:
            return self.cos[position:position + length], self.sin[position:position + length]
        # Past the context: a table per `context` positions, computed once rather than per token
        # (rotary_angles is elementwise, so a row of it equals the angles of its position alone).
        start = position - position % self.context_length
        far = self._far_angles
        if far is None or far[0] != start or far[1].device != device:
            positions = torch.arange(start, start + 2 * self.context_length, device=device)
            cos, sin = rotary_angles(positions, self.config.d_model // self.config.heads, self.config.rope_base)
            far = self._far_angles = (start, cos, sin)
        offset = position - start
        return far[1][offset:offset + length], far[2][offset:offset + length]

    def select_state(self, state: KVCache, index: torch.Tensor) -> KVCache:
        if state.buffers is None:
            return state
        buffers = self._fresh_buffers(state, state.start, len(index), index.device, rows=index)
        return KVCache(buffers, 0, buffers.written, state.position)
