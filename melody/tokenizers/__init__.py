"""Tokenizer schemes by name: `remi` (the default), `performance`, `abc-char`."""

from __future__ import annotations

import importlib
import os
from typing import Any

from melody.errors import ModelError, UsageError
from melody.safe_read import MIB, field, read_json
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


TOKENIZER_LIMIT = 16 * MIB  # the shipped tokenizer.json is 30 KiB
SETTING_INT_LIMIT = 65_536  # a tokenizer's vocabulary grows with its numeric settings
SETTING_LIST_LIMIT = 1_024


def tokenizer_from_dict(data: dict[str, Any], source: str = "tokenizer") -> Tokenizer:
    """Rebuild a tokenizer from `to_dict()` output; checks the vocabulary still matches."""
    if not isinstance(data, dict) or data.get("format") != "melody-tokenizer":
        raise ModelError(f"{source}: not a melody tokenizer file")
    if data.get("version") != FORMAT_VERSION:
        raise ModelError(f"{source}: tokenizer format version {data.get('version')} is not supported")
    name = field(data, "name", str, source)
    saved = {} if "config" not in data else field(data, "config", dict, source)
    field(data, "vocab", list, source)
    try:
        scheme = scheme_class(name)
    except UsageError as error:  # an unknown scheme
        raise ModelError(f"{source}: {error}") from None
    settings = scheme.legacy_config() | saved
    check_settings(scheme, settings, source)
    try:
        tokenizer = scheme(**settings)
    except (UsageError, TypeError, ValueError) as error:  # a setting the scheme itself refuses
        raise ModelError(f"{source}: field 'config': {error}") from None
    if data.get("vocab") != tokenizer.vocab:
        raise ModelError(f"{source}: vocabulary does not match this version of melody's "
                         f"{tokenizer.name} tokenizer")
    return tokenizer


def check_settings(scheme: type[Tokenizer], settings: dict[str, Any], source: str) -> None:
    """Each known setting of `scheme` of the type (and within the bounds) its default has."""
    for key, default in scheme.default_config().items():
        if key not in settings:
            continue
        if isinstance(default, list):
            items = field(settings, key, list, source, where="config")
            if len(items) > SETTING_LIST_LIMIT:
                raise ModelError(f"{source}: field 'config.{key}' has {len(items)} items "
                                 f"(at most {SETTING_LIST_LIMIT})")
            kind = type(default[0]) if default else object
            bounds = {"low": 0, "high": SETTING_INT_LIMIT} if kind is int else {}
            for item in items:  # an error names the list ('config.velocities'), as the file does
                field({key: item}, key, kind, source, where="config", **bounds)
        elif isinstance(default, int) and not isinstance(default, bool):
            field(settings, key, int, source, where="config", low=0, high=SETTING_INT_LIMIT)
        else:
            field(settings, key, type(default), source, where="config")


def load_tokenizer(path: str | os.PathLike, within: str | os.PathLike | None = None) -> Tokenizer:
    """Read a tokenizer JSON file written by `Tokenizer.save` (with `within`: a file inside that
    folder, links included); ModelError naming the file and field for anything wrong."""
    try:
        data = read_json(path, limit=TOKENIZER_LIMIT, within=within)
    except FileNotFoundError:
        raise ModelError(f"{path}: cannot read tokenizer: no such file") from None
    return tokenizer_from_dict(data, str(path))


__all__ = ["BOS", "EOS", "PAD", "Constraints", "Grammar", "Tokenizer", "SCHEMES",
           "DEFAULT_TOKENIZER", "get_tokenizer", "scheme_class", "load_tokenizer", "tokenizer_from_dict"]
