"""melody.training.settings: one typed source of defaults, checked by the fields' types, in TOML and --set."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from melody.errors import ModelError, UsageError
from melody.shipped import default_model_dir, shipped_configs
from melody.training import resolve_settings
from melody.training.settings import (Settings, apply_overrides, load_toml, merge, model_config, setting_names,
                                      validate)

# config.json's "settings" as every model folder so far recorded it: its shape must not change,
# or old folders would no longer resume.
RECORDED_DEFAULTS = {
    "model": {"family": "lstm", "d_model": 256, "hidden": 0, "layers": 2, "heads": 4, "context": 256,
              "dropout": 0.1},
    "training": {"batch_size": 32, "window": 256, "optimizer": "adamw", "lr": 1e-3, "min_lr_ratio": 0.1,
                 "weight_decay": 0.01, "warmup_steps": 100, "max_steps": 3000, "max_minutes": 0.0,
                 "eval_every": 100, "eval_batches": 8, "patience": 5, "clip": 1.0, "seed": 0,
                 "augment_transpose": 5, "checkpoint_every": 500, "log_every": 10},
    "data": {"tokenizer": "remi", "validation_fraction": 0.1},
}


def test_the_defaults_give_the_dict_config_json_has_always_recorded() -> None:
    recorded = Settings().to_dict()
    assert list(recorded) == list(RECORDED_DEFAULTS)
    for section, values in RECORDED_DEFAULTS.items():
        # Settings added later join these; the old ones keep their names, values and types (1.0, not 1).
        kept = {key: recorded[section][key] for key in values if key in recorded[section]}
        assert json.dumps(kept, sort_keys=True) == json.dumps(values, sort_keys=True)
    assert validate(Settings()) == Settings()


def test_every_default_passes_its_own_check() -> None:
    for section, values in Settings().to_dict().items():
        assert merge(Settings(), {section: values}, "defaults") == Settings()


def test_settings_are_read_by_attribute_and_cannot_be_changed_in_place() -> None:
    settings = apply_overrides(Settings(), ["training.lr=3e-4", "model.family=transformer"])
    assert settings.training.lr == 3e-4 and settings.model.family == "transformer"
    assert settings.get("training.lr") == 3e-4 and Settings().training.lr == 1e-3
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.training.lr = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("tables, message", [
    ({"training": {"lr": "x"}}, "setting training.lr must be a number, not 'x'"),
    ({"training": {"max_steps": 2.5}}, "setting training.max_steps must be an integer, not 2.5"),
    ({"training": {"max_steps": True}}, "setting training.max_steps must be an integer, not True"),
    ({"training": {"clip": False}}, "setting training.clip must be a number, not False"),
    ({"data": {"tokenizer": 3}}, "setting data.tokenizer must be a string, not 3"),
    ({"model": {"family": "gru"}}, "setting model.family must be one of lstm, transformer, not 'gru'"),
    ({"model": {"family": 1}}, "setting model.family must be a string, not 1"),
    ({"training": {"optimizer": "sgd"}}, "setting training.optimizer must be one of adamw, adam, not 'sgd'"),
    ({"training": {"x": 1}}, "unknown setting training.x (known in [training]: batch_size, window, optimizer, "
                             "lr, min_lr_ratio, weight_decay, warmup_steps, max_steps, max_minutes,"),
    ({"optimizer": {"lr": 1}}, "unknown section [optimizer] (known: model, training, data)"),
    ({"model": 3}, "[model] must be a table of settings"),
])
def test_a_wrong_type_or_unknown_key_is_refused_by_name(tables, message) -> None:
    with pytest.raises(UsageError) as caught:
        merge(Settings(), tables, "my.toml")
    assert str(caught.value).startswith(f"my.toml: {message}")


def test_an_integer_passes_for_a_number_and_becomes_one() -> None:
    settings = merge(Settings(), {"training": {"lr": 1, "max_minutes": 2}}, "t")
    assert settings.training.lr == 1.0 and type(settings.training.lr) is float
    assert type(settings.training.max_minutes) is float
    assert json.dumps(settings.to_dict()["training"]["lr"]) == "1.0"  # config.json keeps the type


@pytest.mark.parametrize("override, message", [
    ("training.lr=fast", "setting training.lr must be a number, not 'fast'"),
    ("training.max_steps=2.5", "setting training.max_steps must be an integer, not '2.5'"),
    ("training.learning_rate=1", "unknown setting training.learning_rate (known in [training]: batch_size,"),
    ("lr=1", "setting 'lr' needs a section, like training.lr"),
    ("training.lr", "--set 'training.lr': expected section.key=value"),
    ("model.family=gru", "setting model.family must be one of lstm, transformer, not 'gru'"),
    ("nothing.lr=1", "unknown setting section [nothing] (known: model, training, data)"),
])
def test_set_strings_are_parsed_by_the_settings_type(override, message) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        apply_overrides(Settings(), [override])


def test_set_strings_and_values_apply_in_order() -> None:
    settings = apply_overrides(Settings(), ["training.max_steps=7", "training.lr = 2e-3", "data.tokenizer=abc-char",
                                            "training.max_steps=9"])
    assert (settings.training.max_steps, settings.training.lr, settings.data.tokenizer) == (9, 2e-3, "abc-char")
    assert apply_overrides(settings, {"training.lr": 5}).training.lr == 5.0
    assert apply_overrides(settings, None) is settings


@pytest.mark.parametrize("override, message", [
    ("model.d_model=0", "setting model.d_model must be at least 1, not 0"),
    ("training.batch_size=0", "setting training.batch_size must be at least 1, not 0"),
    ("model.hidden=-1", "setting model.hidden must not be negative, not -1"),
    ("training.clip=-0.5", "setting training.clip must not be negative, not -0.5"),
    ("training.seed=-1", "setting training.seed must not be negative, not -1"),
    ("training.window=1", "setting training.window must be at least 2, not 1"),
    ("training.lr=0", "setting training.lr must be positive, not 0.0"),
    ("training.lr=nan", "setting training.lr must be positive, not nan"),
    ("training.clip=nan", "setting training.clip must not be negative, not nan"),
    ("training.min_lr_ratio=1.5", "setting training.min_lr_ratio must be within 0..1, not 1.5"),
    ("model.dropout=1", "setting model.dropout must be within 0..1, not 1.0"),
    ("data.validation_fraction=0", "setting data.validation_fraction must be between 0 and 1, not 0.0"),
    ("data.validation_fraction=1", "setting data.validation_fraction must be between 0 and 1, not 1.0"),
])
def test_values_out_of_range_are_refused_by_validate(override, message) -> None:
    settings = apply_overrides(Settings(), [override])  # the type is right
    with pytest.raises(UsageError) as caught:
        validate(settings)
    assert str(caught.value) == message


def test_the_edges_of_each_range_are_allowed() -> None:
    validate(apply_overrides(Settings(), ["model.dropout=0", "training.min_lr_ratio=1", "training.window=2",
                                          "training.clip=0", "data.validation_fraction=0.99"]))


def test_the_transformer_shape_is_checked_across_settings() -> None:
    transformer = apply_overrides(Settings(), ["model.family=transformer"])
    validate(transformer)
    with pytest.raises(UsageError, match=r"model.d_model \(30\) must be a multiple of model.heads \(4\)"):
        validate(apply_overrides(transformer, ["model.d_model=30"]))
    with pytest.raises(UsageError, match=r"model.d_model \(12\) must be .* with an even quotient"):
        validate(apply_overrides(transformer, ["model.d_model=12"]))
    with pytest.raises(UsageError, match="longer than the Transformer's model.context"):
        validate(apply_overrides(transformer, ["model.context=128"]))
    validate(apply_overrides(Settings(), ["model.context=128"]))  # an LSTM has no context


def test_sources_apply_in_order_defaults_recorded_config_flags_set() -> None:
    previous = {"settings": {"training": {"lr": 0.5, "max_steps": 10, "seed": 3}}}
    config = {"training": {"max_steps": 20, "window": 64}}
    settings = resolve_settings(previous=previous, config=config, overrides=["training.window=32"])
    training = settings.training
    assert (training.lr, training.seed, training.max_steps, training.window) == (0.5, 3, 20, 32)
    flagged = resolve_settings(model="transformer", tokenizer="abc-char",
                               config={"model": {"family": "lstm"}, "data": {"tokenizer": "remi"}},
                               overrides=["training.window=64", "model.context=64"])
    assert (flagged.model.family, flagged.data.tokenizer) == ("transformer", "abc-char")
    assert resolve_settings(model="transformer", overrides=["model.family=lstm"]).model.family == "lstm"


def test_a_resumed_folder_keeps_its_shape() -> None:
    previous = {"settings": {"model": {"d_model": 16}}}
    assert resolve_settings(previous=previous, overrides=["training.lr=0.01"]).model.d_model == 16
    with pytest.raises(ModelError, match="trained with model.d_model = 16, not 32"):
        resolve_settings(previous=previous, overrides=["model.d_model=32"])
    with pytest.raises(UsageError, match="config.json of the resumed model: unknown setting training.x"):
        resolve_settings(previous={"settings": {"training": {"x": 1}}})


def test_the_shipped_models_recorded_settings_resume_unchanged_and_rebuild_its_network() -> None:
    config = json.loads((default_model_dir() / "config.json").read_text())
    settings = resolve_settings(previous=config)
    resumed = settings.to_dict()  # settings added since keep their defaults
    assert {section: {key: resumed[section][key] for key in values}
            for section, values in config["settings"].items()} == config["settings"]
    # One source for sizes: the network training would build from these settings is the one saved.
    from melody.nn import build_model

    built = build_model(settings.model.family, model_config(settings, config["model"]["vocab_size"]))
    assert built.config.to_dict() == config["model"]


SHIPPED = sorted(shipped_configs().glob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[path.name for path in SHIPPED])
def test_every_shipped_config_loads_with_its_values_and_builds_a_network(path) -> None:
    from melody.nn import build_model

    tables = load_toml(path)
    settings = resolve_settings(config=path)
    recorded = settings.to_dict()
    for section, values in tables.items():
        for key, value in values.items():
            assert recorded[section][key] == value, f"{path.name}: {section}.{key}"
    network = build_model(settings.model.family, model_config(settings, 100))
    assert network.config.d_model == settings.model.d_model and network.config.layers == settings.model.layers


def test_there_are_shipped_configs() -> None:
    assert {"default.toml", "default-transformer.toml", "tiny.toml"} <= {path.name for path in SHIPPED}


def test_model_config_takes_only_the_familys_sizes() -> None:
    assert model_config(Settings(), 50) == {"vocab_size": 50, "d_model": 256, "hidden": 0, "layers": 2,
                                            "dropout": 0.1}
    transformer = apply_overrides(Settings(), ["model.family=transformer"])
    assert model_config(transformer, 50) == {"vocab_size": 50, "d_model": 256, "layers": 2, "heads": 4,
                                             "context": 256, "dropout": 0.1}


def test_train_help_lists_every_setting() -> None:
    from melody.commands.train import EPILOG

    listed = EPILOG.split("settings (--set", 1)[1]
    sections = {}
    for line in listed.splitlines()[1:]:
        if ":" in line:
            section, _, line = line.partition(":")
            current = sections.setdefault(section.strip(), [])
        current.extend(key.strip() for key in line.split(",") if key.strip())
    assert sections == setting_names(), "list the settings in melody/commands/train.py's EPILOG"
