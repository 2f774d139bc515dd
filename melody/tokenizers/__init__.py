"""Tokenizer schemes by name: `remi` (the default), `performance`, `abc-char`."""

from __future__ import annotations

import importlib
from typing import Any

from melody.errors import UsageError
from melody.tokenizers.base import (BOS, EOS, PAD, Constraints, Grammar, Tokenizer,
                                    load_tokenizer, tokenizer_from_dict)

# name -> "module:Class"; modules import lazily so one scheme's cost never lands on another.
SCHEMES = {
    "remi": "melody.tokenizers.remi:REMI",
    "performance": "melody.tokenizers.performance:Performance",
    "abc-char": "melody.tokenizers.abc_char:ABCChar",
}
DEFAULT_TOKENIZER = "remi"


def get_tokenizer(name: str = DEFAULT_TOKENIZER, **config: Any) -> Tokenizer:
    """A tokenizer by scheme name, with config overrides."""
    if name not in SCHEMES:
        raise UsageError(f"unknown tokenizer {name!r} (choose from {', '.join(SCHEMES)})")
    module_name, class_name = SCHEMES[name].split(":")
    scheme = getattr(importlib.import_module(module_name), class_name)
    return scheme(**config)


__all__ = ["BOS", "EOS", "PAD", "Constraints", "Grammar", "Tokenizer", "SCHEMES",
           "DEFAULT_TOKENIZER", "get_tokenizer", "load_tokenizer", "tokenizer_from_dict"]
