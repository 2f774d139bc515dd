"""Tokenizer schemes by name: `remi` (the default), `performance`, `abc-char`."""

from __future__ import annotations

from melody.tokenizers.base import BOS, EOS, PAD, Constraints, Grammar, Tokenizer
from melody.tokenizers.registry import (DEFAULT_TOKENIZER, SCHEMES, get_tokenizer, load_tokenizer,
                                        tokenizer_from_dict)

__all__ = ["BOS", "EOS", "PAD", "Constraints", "Grammar", "Tokenizer", "SCHEMES",
           "DEFAULT_TOKENIZER", "get_tokenizer", "load_tokenizer", "tokenizer_from_dict"]
