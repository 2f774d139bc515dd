"""Training settings: typed defaults, a TOML file on top, `--set section.key=value` on top of that.

Every setting has a default, so `melody train my_folder/` alone works. A TOML file may set any
of them by section:

    [model]     family, d_model, hidden, layers, heads, context, dropout
    [training]  batch_size, window, optimizer, lr, ... (see TrainingSettings)
    [data]      tokenizer, validation_fraction

The dataclasses below are the one list of settings: a field's annotation is its type (a
`Literal` lists its choices) and, through `Annotated`, its range; its default is the default.
Checking is generic over the fields, so adding a setting is one line in its section (and its
name in `melody train --help`, melody/commands/train.py; a test compares the two). Folders
recorded before a setting existed resume with its default. An unknown key, a value of the
wrong type or out of range is a UsageError naming the setting.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Sequence

from melody.errors import UsageError


@dataclass(frozen=True)
class Range:
    """The values a number setting may take beyond its type; `validate` checks them."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is not allowed
    high_open: bool = False

    def contains(self, value: float) -> bool:
        # Each test says what passes, so NaN (which every comparison fails) never does.
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def wants(self) -> str:
        """What the error says a value must do: "be at least 1", "not be negative", ..."""
        if self.high is None:
            if self.low_open:
                return "be positive" if self.low == 0 else f"be above {self.low}"
            return "not be negative" if self.low == 0 else f"be at least {self.low}"
        if self.low_open and self.high_open:
            return f"be between {self.low} and {self.high}"
        return f"be within {self.low}..{self.high}"


def at_least(low: int) -> Range:
    """low or more."""
    return Range(low=low)


POSITIVE = Range(low=0, low_open=True)
FRACTION = Range(low=0, high=1)


@dataclass(frozen=True)
class ModelSettings:
    """[model]: the network's family and sizes."""

    family: Literal["lstm", "transformer"] = "lstm"
    d_model: Annotated[int, at_least(1)] = 256  # embedding width (and the Transformer's width)
    # LSTM units per layer; 0: the same as d_model (output tied without a projection)
    hidden: Annotated[int, at_least(0)] = 0
    layers: Annotated[int, at_least(1)] = 2
    heads: Annotated[int, at_least(1)] = 4  # Transformer only
    context: Annotated[int, at_least(1)] = 256  # Transformer only: the longest window it attends over
    dropout: Annotated[float, Range(low=0, high=1, high_open=True)] = 0.1


@dataclass(frozen=True)
class TrainingSettings:
    """[training]: the optimizer, its schedule, and when to evaluate, save and stop."""

    batch_size: Annotated[int, at_least(1)] = 32  # windows per step, per process
    window: Annotated[int, at_least(2)] = 256  # tokens per training window
    optimizer: Literal["adamw", "adam"] = "adamw"
    lr: Annotated[float, POSITIVE] = 1e-3  # peak learning rate
    min_lr_ratio: Annotated[float, FRACTION] = 0.1  # cosine decay ends at lr * min_lr_ratio
    # AdamW only, on matrices (not norms, biases or embeddings)
    weight_decay: Annotated[float, at_least(0)] = 0.01
    warmup_steps: Annotated[int, at_least(0)] = 100
    max_steps: Annotated[int, at_least(1)] = 3000
    # The time budget (melody.training.budget): the whole run after the corpus is read, with
    # what was not set sized to fit it. 0: the device's default (15 min on a CPU, 30 on a GPU),
    # or no limit when max_steps is set.
    max_minutes: Annotated[float, at_least(0)] = 0.0
    eval_every: Annotated[int, at_least(1)] = 100
    # validation windows = eval_batches * batch_size (at most)
    eval_batches: Annotated[int, at_least(1)] = 8
    # stop after this many evaluations without a better validation loss; 0: never
    patience: Annotated[int, at_least(0)] = 5
    clip: Annotated[float, at_least(0)] = 1.0  # gradient norm clipping; 0: off
    seed: Annotated[int, at_least(0)] = 0
    # random shifts up to +-N semitones on training windows; 0: off
    augment_transpose: Annotated[int, at_least(0)] = 5
    # share of windows written at half the note values (4/4 with eighths as 4/8 with sixteenths)
    augment_halve: Annotated[float, FRACTION] = 0.0
    # share of windows rearranged for infilling (prefix, suffix, then the middle); 0: off
    infill_rate: Annotated[float, FRACTION] = 0.5
    checkpoint_every: Annotated[int, at_least(1)] = 500
    log_every: Annotated[int, at_least(1)] = 10


@dataclass(frozen=True)
class DataSettings:
    """[data]: how the corpus becomes tokens and how much of it is held out."""

    tokenizer: str = "remi"  # a scheme of melody.tokenizers (resolve_settings checks the name)
    validation_fraction: Annotated[float, Range(low=0, high=1, low_open=True, high_open=True)] = 0.1


@dataclass(frozen=True)
class Settings:
    """Every training setting, by section; `to_dict()` is what config.json records."""

    model: ModelSettings = field(default_factory=ModelSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    data: DataSettings = field(default_factory=DataSettings)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """{"model": {...}, "training": {...}, "data": {...}}, as config.json's "settings"."""
        return dataclasses.asdict(self)

    def get(self, name: str) -> Any:
        """The value of "section.key"."""
        section, key = name.split(".", 1)
        return getattr(getattr(self, section), key)

    def with_values(self, section: str, values: Mapping[str, Any]) -> Settings:
        """A copy with some keys of one section replaced (values already checked)."""
        return dataclasses.replace(self, **{section: dataclasses.replace(getattr(self, section), **values)})


# Settings that change the network's shape or its tokens: a resumed run must keep them.
SHAPE_KEYS = ("model.family", "model.d_model", "model.hidden", "model.layers", "model.heads",
              "model.context", "data.tokenizer")
# The [model] settings each family's network is built from (melody.nn's config dataclasses).
FAMILY_SIZES = {"lstm": ("d_model", "hidden", "layers", "dropout"),
                "transformer": ("d_model", "layers", "heads", "context", "dropout")}

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


@dataclass(frozen=True)
class _Kind:
    """What one setting accepts, read from its field's annotation."""

    type: type
    choices: tuple[Any, ...] | None
    range: Range | None


@functools.cache
def _sections() -> dict[str, dict[str, _Kind]]:
    """section -> key -> _Kind, in the dataclasses' order."""
    sections = {}
    for section, section_type in typing.get_type_hints(Settings).items():
        kinds = {}
        for key, hint in typing.get_type_hints(section_type, include_extras=True).items():
            extras: tuple[Any, ...] = ()
            if typing.get_origin(hint) is Annotated:
                hint, *rest = typing.get_args(hint)
                extras = tuple(rest)
            choices = typing.get_args(hint) if typing.get_origin(hint) is Literal else None
            kind = type(choices[0]) if choices else hint
            if kind not in _TYPE_NAMES:
                raise TypeError(f"setting {section}.{key}: unsupported type {hint!r}")
            ranges = [extra for extra in extras if isinstance(extra, Range)]
            kinds[key] = _Kind(kind, choices, ranges[0] if ranges else None)
        sections[section] = kinds
    return sections


def _kind(section: str, key: str) -> _Kind:
    sections = _sections()
    if section not in sections:
        raise UsageError(f"unknown setting section [{section}] (known: {', '.join(sections)})")
    if key not in sections[section]:
        raise UsageError(f"unknown setting {section}.{key} (known in [{section}]: "
                         f"{', '.join(sections[section])})")
    return sections[section][key]


def setting_names() -> dict[str, list[str]]:
    """section -> its keys, in order (for help texts)."""
    return {section: list(keys) for section, keys in _sections().items()}


def check_value(section: str, key: str, value: Any) -> Any:
    """`value` for `section.key` if it has the setting's type (an int passes for a float)."""
    kind = _kind(section, key)
    if kind.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind.type:
        raise UsageError(f"setting {section}.{key} must be {_TYPE_NAMES[kind.type]}, not {value!r}")
    if kind.choices and value not in kind.choices:
        raise UsageError(f"setting {section}.{key} must be one of {', '.join(kind.choices)}, not {value!r}")
    return value


def parse_value(section: str, key: str, text: str) -> Any:
    """A `--set` value from text, by the setting's type."""
    kind = _kind(section, key).type
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


def merge(settings: Settings, changes: Mapping[str, Any], source: str) -> Settings:
    """`settings` with the sections of `changes` (as read from TOML or JSON) checked and applied."""
    sections = _sections()
    for section, values in changes.items():
        if section not in sections:
            raise UsageError(f"{source}: unknown section [{section}] (known: {', '.join(sections)})")
        if not isinstance(values, dict):
            raise UsageError(f"{source}: [{section}] must be a table of settings")
        try:
            checked = {key: check_value(section, key, value) for key, value in values.items()}
        except UsageError as error:
            raise UsageError(f"{source}: {error}") from None
        settings = settings.with_values(section, checked)
    return settings


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


def apply_overrides(settings: Settings, overrides: Sequence[str] | Mapping[str, Any] | None) -> Settings:
    """`settings` with `section.key=value` strings (or a {"section.key": value} dict) applied."""
    if not overrides:
        return settings
    items = overrides.items() if isinstance(overrides, Mapping) else (_split(text) for text in overrides)
    for name, value in items:
        if "." not in name:
            raise UsageError(f"setting {name!r} needs a section, like training.{name}")
        section, key = name.split(".", 1)
        checked = (parse_value(section, key, value) if isinstance(value, str)
                   and _kind(section, key).type is not str else check_value(section, key, value))
        settings = settings.with_values(section, {key: checked})
    return settings


def _split(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise UsageError(f"--set {text!r}: expected section.key=value")
    name, value = text.split("=", 1)
    return name.strip(), value.strip()


def validate(settings: Settings) -> Settings:
    """Check values that have the right type but make no sense; returns `settings`."""
    for section, kinds in _sections().items():
        for key, kind in kinds.items():
            value = getattr(getattr(settings, section), key)
            if kind.range is not None and not kind.range.contains(value):
                raise UsageError(f"setting {section}.{key} must {kind.range.wants()}, not {value}")
    model, training = settings.model, settings.training
    if model.family == "transformer":
        if model.d_model % model.heads or (model.d_model // model.heads) % 2:
            raise UsageError(f"model.d_model ({model.d_model}) must be a multiple of model.heads "
                             f"({model.heads}) with an even quotient")
        if training.window > model.context:
            raise UsageError(f"training.window ({training.window}) is longer than the Transformer's "
                             f"model.context ({model.context}): lower the window or raise the context")
    return settings


def model_config(settings: Settings, vocab_size: int) -> dict[str, Any]:
    """The [model] settings the chosen family's network is built from, with the vocabulary size."""
    model = settings.model
    return {"vocab_size": vocab_size, **{key: getattr(model, key) for key in FAMILY_SIZES[model.family]}}
