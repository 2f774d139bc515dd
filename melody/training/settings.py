"""Training settings: defaults, a TOML file on top, `--set section.key=value` on top of that.

Every setting has a default, so `melody train my_folder/` alone works. A TOML file may set any
of them by section:

    [model]     family, d_model, hidden, layers, heads, context, dropout
    [training]  batch_size, window, optimizer, lr, ... (see DEFAULTS)
    [data]      tokenizer, validation_fraction

Types are checked against the defaults: an unknown key or a value of the wrong type is a
UsageError naming the key and the type it wants.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from melody.errors import UsageError

Settings = dict[str, dict[str, Any]]

DEFAULTS: Settings = {
    "model": {
        "family": "lstm",  # lstm | transformer
        "d_model": 256,  # embedding width (and the Transformer's width)
        "hidden": 0,  # LSTM units per layer; 0: the same as d_model (output tied without a projection)
        "layers": 2,
        "heads": 4,  # Transformer only
        "context": 256,  # Transformer only: the longest window it attends over
        "dropout": 0.1,
    },
    "training": {
        "batch_size": 32,  # windows per step, per process
        "window": 256,  # tokens per training window
        "optimizer": "adamw",  # adamw | adam
        "lr": 1e-3,  # peak learning rate
        "min_lr_ratio": 0.1,  # cosine decay ends at lr * min_lr_ratio
        "weight_decay": 0.01,  # AdamW only, on matrices (not norms, biases or embeddings)
        "warmup_steps": 100,
        "max_steps": 3000,
        "max_minutes": 0.0,  # stop after this much training time; 0: no limit
        "eval_every": 100,
        "eval_batches": 8,  # validation windows = eval_batches * batch_size (at most)
        "patience": 5,  # stop after this many evaluations without a better validation loss; 0: never
        "clip": 1.0,  # gradient norm clipping; 0: off
        "seed": 0,
        "augment_transpose": 5,  # random shifts up to +-N semitones on training windows; 0: off
        "augment_halve": 0.0,  # share of windows written at half the note values (4/4 eighths as 4/8 sixteenths)
        "infill_rate": 0.5,  # share of windows rearranged for infilling (prefix, suffix, middle); 0: off
        "checkpoint_every": 500,
        "log_every": 10,
    },
    "data": {
        "tokenizer": "remi",
        "validation_fraction": 0.1,
    },
}

CHOICES = {
    ("model", "family"): ("lstm", "transformer"),
    ("training", "optimizer"): ("adamw", "adam"),
}
# Settings that change the network's shape or its tokens: a resumed run must keep them.
SHAPE_KEYS = (("model", "family"), ("model", "d_model"), ("model", "hidden"), ("model", "layers"),
              ("model", "heads"), ("model", "context"), ("data", "tokenizer"))

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def default_settings() -> Settings:
    """A fresh copy of DEFAULTS."""
    return copy.deepcopy(DEFAULTS)


def _expected(section: str, key: str) -> Any:
    if section not in DEFAULTS:
        raise UsageError(f"unknown setting section [{section}] (known: {', '.join(DEFAULTS)})")
    if key not in DEFAULTS[section]:
        raise UsageError(f"unknown setting {section}.{key} (known in [{section}]: "
                         f"{', '.join(DEFAULTS[section])})")
    return DEFAULTS[section][key]


def check_value(section: str, key: str, value: Any) -> Any:
    """`value` for `section.key` if it has the default's type (an int passes for a float)."""
    default = _expected(section, key)
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:
        raise UsageError(f"setting {section}.{key} must be {_TYPE_NAMES[kind]}, not {value!r}")
    choices = CHOICES.get((section, key))
    if choices and value not in choices:
        raise UsageError(f"setting {section}.{key} must be one of {', '.join(choices)}, not {value!r}")
    return value


def parse_value(section: str, key: str, text: str) -> Any:
    """A `--set` value from text, by the type of the default."""
    kind = type(_expected(section, key))
    try:
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            value: Any = text.lower() == "true"
        else:
            value = kind(text)
    except ValueError:
        raise UsageError(f"setting {section}.{key} must be {_TYPE_NAMES[kind]}, not {text!r}") from None
    return check_value(section, key, value)


def merge(settings: Settings, changes: dict[str, Any], source: str) -> Settings:
    """`settings` with the sections of `changes` (as read from TOML or JSON) checked and applied."""
    merged = copy.deepcopy(settings)
    for section, values in changes.items():
        if section not in DEFAULTS:
            raise UsageError(f"{source}: unknown section [{section}] (known: {', '.join(DEFAULTS)})")
        if not isinstance(values, dict):
            raise UsageError(f"{source}: [{section}] must be a table of settings")
        for key, value in values.items():
            try:
                merged[section][key] = check_value(section, key, value)
            except UsageError as error:
                raise UsageError(f"{source}: {error}") from None
    return merged


def load_toml(path: str | os.PathLike) -> dict[str, Any]:
    """A settings file's tables (not yet checked)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise UsageError("reading a TOML config needs Python 3.11+ or `pip install tomli`") from None
    path = Path(path)
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a config file") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot read: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: not valid TOML: {error}") from None


def apply_overrides(settings: Settings, overrides: list[str] | dict[str, Any] | None) -> Settings:
    """`settings` with `section.key=value` strings (or a {"section.key": value} dict) applied."""
    merged = copy.deepcopy(settings)
    if not overrides:
        return merged
    items = overrides.items() if isinstance(overrides, dict) else (_split(text) for text in overrides)
    for name, value in items:
        if "." not in name:
            raise UsageError(f"setting {name!r} needs a section, like training.{name}")
        section, key = name.split(".", 1)
        merged[section][key] = (parse_value(section, key, value) if isinstance(value, str)
                                and not isinstance(_expected(section, key), str)
                                else check_value(section, key, value))
    return merged


def _split(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise UsageError(f"--set {text!r}: expected section.key=value")
    name, value = text.split("=", 1)
    return name.strip(), value.strip()


def validate(settings: Settings) -> Settings:
    """Check values that have the right type but make no sense; returns `settings`."""
    model, training, data = settings["model"], settings["training"], settings["data"]
    positive = [("model", "d_model"), ("model", "layers"), ("model", "heads"), ("model", "context"),
                ("training", "batch_size"), ("training", "max_steps"), ("training", "eval_every"),
                ("training", "eval_batches"), ("training", "checkpoint_every"), ("training", "log_every")]
    for section, key in positive:
        if settings[section][key] < 1:
            raise UsageError(f"setting {section}.{key} must be at least 1, not {settings[section][key]}")
    for section, key in [("model", "hidden"), ("training", "warmup_steps"), ("training", "patience"),
                         ("training", "augment_transpose"), ("training", "clip"),
                         ("training", "weight_decay"), ("training", "max_minutes"), ("training", "seed")]:
        if settings[section][key] < 0:
            raise UsageError(f"setting {section}.{key} must not be negative, not {settings[section][key]}")
    if training["window"] < 2:
        raise UsageError(f"setting training.window must be at least 2, not {training['window']}")
    if not training["lr"] > 0:
        raise UsageError(f"setting training.lr must be positive, not {training['lr']}")
    if not 0 <= training["min_lr_ratio"] <= 1:
        raise UsageError(f"setting training.min_lr_ratio must be within 0..1, not {training['min_lr_ratio']}")
    for key in ("augment_halve", "infill_rate"):
        if not 0 <= training[key] <= 1:
            raise UsageError(f"setting training.{key} must be within 0..1, not {training[key]}")
    if not 0 <= model["dropout"] < 1:
        raise UsageError(f"setting model.dropout must be within 0..1, not {model['dropout']}")
    if not 0 < data["validation_fraction"] < 1:
        raise UsageError(f"setting data.validation_fraction must be between 0 and 1, "
                         f"not {data['validation_fraction']}")
    if model["family"] == "transformer":
        if model["d_model"] % model["heads"] or (model["d_model"] // model["heads"]) % 2:
            raise UsageError(f"model.d_model ({model['d_model']}) must be a multiple of model.heads "
                             f"({model['heads']}) with an even quotient")
        if training["window"] > model["context"]:
            raise UsageError(f"training.window ({training['window']}) is longer than the Transformer's "
                             f"model.context ({model['context']}): lower the window or raise the context")
    return settings


def model_config(settings: Settings, vocab_size: int) -> dict[str, Any]:
    """The [model] settings the chosen family uses, with the vocabulary size."""
    model = settings["model"]
    keys = ("d_model", "hidden", "layers", "dropout") if model["family"] == "lstm" else \
        ("d_model", "layers", "heads", "context", "dropout")
    return {"vocab_size": vocab_size, **{key: model[key] for key in keys}}
