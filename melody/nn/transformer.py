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
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from melody.nn.base import SequenceModel


@dataclass
class TransformerConfig:
    """Sizes of a causal Transformer."""

    vocab_size: int
    d_model: int = 256
    layers: int = 4
    heads: int = 4
    context: int = 256  # the longest window forward() accepts and the cache keeps
    dropout: float = 0.1
    mlp_ratio: int = 4
    rope_base: float = 10000.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class KVCache:
    """Per-layer keys and values [B, heads, S, head_dim] and the absolute position of the next token."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    position: int

    @property
    def length(self) -> int:
        return self.keys[0].shape[2] if self.keys else 0


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
        earlier = k.shape[2] - length
        dropout = self.dropout if self.training else 0.0
        if earlier == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=length > 1, dropout_p=dropout)
        elif length == 1:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)  # sees every cached key
        else:
            # New token i may see every cached key and new tokens 0..i.
            allowed = torch.ones(length, k.shape[2], dtype=torch.bool, device=x.device).tril(earlier)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout)
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


def _past(state: KVCache, index: int, keep: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Layer `index`'s cached keys and values that new tokens may still see (the last `keep`)."""
    if not state.keys:
        return None
    keys, values = state.keys[index], state.values[index]
    if keys.shape[2] <= keep:
        return keys, values
    return (keys[:, :, -keep:], values[:, :, -keep:]) if keep else (keys[:, :, :0], values[:, :, :0])


def _block_step(block: Block, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                past: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Block.forward in eval mode as plain functions: the new x, and the layer's keys and values."""
    attention, norm1, norm2 = block.attention, block.norm1, block.norm2
    batch, length, width = x.shape
    h = F.layer_norm(x, norm1.normalized_shape, norm1.weight, norm1.bias, norm1.eps)
    qkv = F.linear(h, attention.qkv.weight).view(batch, length, 3, attention.heads, attention.head_dim)
    qkv = qkv.permute(2, 0, 3, 1, 4)
    q, k = apply_rotary(qkv[:2], cos, sin).unbind(0)  # queries and keys rotated in one go
    v = qkv[2]
    if past is not None and past[0].shape[2]:
        k = torch.cat((past[0], k), dim=2)
        v = torch.cat((past[1], v), dim=2)
    earlier = k.shape[2] - length
    if earlier == 0:
        y = F.scaled_dot_product_attention(q, k, v, is_causal=length > 1)
    elif length == 1:
        y = F.scaled_dot_product_attention(q, k, v)
    else:
        allowed = torch.ones(length, k.shape[2], dtype=torch.bool, device=x.device).tril(earlier)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    y = y.transpose(1, 2).reshape(batch, length, width)
    x = x + F.linear(y, attention.out.weight)
    up, down = block.mlp[0], block.mlp[2]
    h = F.layer_norm(x, norm2.normalized_shape, norm2.weight, norm2.bias, norm2.eps)
    x = x + F.linear(F.gelu(F.linear(h, up.weight), approximate=block.mlp[1].approximate), down.weight)
    return x, k, v


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
        return KVCache(keys=[], values=[], position=0)

    def step(self, tokens: torch.Tensor, state: KVCache) -> tuple[torch.Tensor, KVCache]:
        # A chunk longer than the context goes through in context-sized pieces.
        if tokens.shape[1] > self.context_length:
            pieces = []
            for start in range(0, tokens.shape[1], self.context_length):
                logits, state = self.step(tokens[:, start:start + self.context_length], state)
                pieces.append(logits)
            return torch.cat(pieces, dim=1), state
        length = tokens.shape[1]
        keep = self.context_length - length  # cached positions the new tokens may still see
        cos, sin = self._angles(state.position, length, tokens.device)
        if self.training:  # dropout on: through the modules, as forward() goes
            x = self.dropout(self.embedding(tokens))
            keys, values = [], []
            for index, block in enumerate(self.blocks):
                x, (k, v) = block(x, cos, sin, _past(state, index, keep))
                keys.append(k)
                values.append(v)
            return self._logits(x), KVCache(keys, values, state.position + length)
        # Sampling: the same arithmetic in the same order as the modules (so the same bits),
        # without their per-call overhead, which is most of a one-token step's cost.
        x = F.embedding(tokens, self.embedding.weight)
        keys, values = [], []
        for index, block in enumerate(self.blocks):
            x, k, v = _block_step(block, x, cos, sin, _past(state, index, keep))
            keys.append(k)
            values.append(v)
        norm = self.norm
        x = F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        return F.linear(x, self.embedding.weight), KVCache(keys, values, state.position + length)

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
        return KVCache([k.index_select(0, index) for k in state.keys],
                       [v.index_select(0, index) for v in state.values], state.position)
