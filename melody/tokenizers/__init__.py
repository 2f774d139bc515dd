"""Tokenizer schemes by name: `remi` (the default), `performance`, `abc-char`."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from melody.errors import ModelError, UsageError
from melody.tokenizers.base import BOS, EOS, FORMAT_VERSION, PAD, Constraints, Grammar, Tokenizer

# name -> "module:Class"; modules import lazily so one scheme's cost never lands on another.
SCHEMES = {
    "remi": "melody.tokenizers.remi:REMI",
    "performance": "melody.tokenizers.performance:Performance",
    "abc-char": "melody.tokenizers.abc_char:ABCChar",
}
DEFAULT_TOKENIZER = "remi"


def scheme_class(name: str) -> type[Tokenizer]:
    """The Tokenizer subclass of a scheme name; UsageError for an unknown one."""
    if name not in SCHEMES:
        raise UsageError(f"unknown tokenizer {name!r} (choose from {', '.join(SCHEMES)})")
    module_name, class_name = SCHEMES[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_tokenizer(name: str = DEFAULT_TOKENIZER, **config: Any) -> Tokenizer:
    """A tokenizer by scheme name, with config overrides."""
    return scheme_class(name)(**config)


def tokenizer_from_dict(data: dict[str, Any], source: str = "tokenizer") -> Tokenizer:
    """Rebuild a tokenizer from `to_dict()` output; checks the vocabulary still matches."""
    if not isinstance(data, dict) or data.get("format") != "melody-tokenizer":
        raise ModelError(f"{source}: not a melody tokenizer file")
    if data.get("version") != FORMAT_VERSION:
        raise ModelError(f"{source}: tokenizer format version {data.get('version')} is not supported")
    try:
        saved = data.get("config") or {}
        if not isinstance(saved, dict):
            raise TypeError(f"config must be a mapping, not {type(saved).__name__}")
        scheme = scheme_class(data.get("name", ""))
        tokenizer = scheme(**(scheme.legacy_config() | saved))
    except (UsageError, TypeError) as error:  # an unknown scheme, a bad setting, a config not a mapping
        raise ModelError(f"{source}: {error}") from None
    if data.get("vocab") != tokenizer.vocab:
        raise ModelError(f"{source}: vocabulary does not match this version of melody's "
                         f"{tokenizer.name} tokenizer")
    return tokenizer


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Read a tokenizer JSON file written by `Tokenizer.save`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: cannot read tokenizer: {error}") from None
    return tokenizer_from_dict(data, str(path))


__all__ = ["BOS", "EOS", "PAD", "Constraints", "Grammar", "Tokenizer", "SCHEMES",
           "DEFAULT_TOKENIZER", "get_tokenizer", "scheme_class", "load_tokenizer", "tokenizer_from_dict"]
