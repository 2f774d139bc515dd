"""Tokenizers by scheme name, and a saved tokenizer (its JSON) turned back into one.

Apart from `base.py` so that the contract every scheme subclasses imports no scheme: the
schemes import `base`, and only this module knows their names.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from melody.errors import ModelError, UsageError
from melody.tokenizers.base import FORMAT_VERSION, Tokenizer

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


def tokenizer_from_dict(data: dict[str, Any], source: str = "tokenizer") -> Tokenizer:
    """Rebuild a tokenizer from `to_dict()` output; checks the vocabulary still matches."""
    if not isinstance(data, dict) or data.get("format") != "melody-tokenizer":
        raise ModelError(f"{source}: not a melody tokenizer file")
    if data.get("version") != FORMAT_VERSION:
        raise ModelError(f"{source}: tokenizer format version {data.get('version')} is not supported")
    try:
        tokenizer = get_tokenizer(data.get("name", ""), **(data.get("config") or {}))
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
