"""The two model families behind one interface (`SequenceModel`), built by name from a config dict."""

from __future__ import annotations

from typing import Any

from melody.errors import UsageError
from melody.nn.base import SequenceModel, config_from_dict
from melody.nn.lstm import LSTMConfig, LSTMModel
from melody.nn.sizes import check_fits, parameter_count
from melody.nn.transformer import KVCache, TransformerConfig, TransformerModel

FAMILIES: dict[str, tuple[type, type]] = {
    "lstm": (LSTMModel, LSTMConfig),
    "transformer": (TransformerModel, TransformerConfig),
}


def network_sizes(family: str, config: dict[str, Any]) -> dict[str, Any]:
    """Every size a network of `family` is built with (defaults filled in), from `config`;
    UsageError for an unknown family or a missing or bad size. Allocates nothing."""
    if family not in FAMILIES:
        raise UsageError(f"unknown model {family!r} (choose from {', '.join(FAMILIES)})")
    try:
        return config_from_dict(FAMILIES[family][1], config).to_dict()
    except (TypeError, ValueError) as error:
        raise UsageError(f"{family} model: {error}") from None


def build_model(family: str, config: dict[str, Any]) -> SequenceModel:
    """A freshly initialised model of `family` with sizes from `config` (every size its config
    dataclass has no default for: melody.training.settings.model_config gives them); UsageError
    for an unknown family, a missing or bad size, or a network this machine cannot hold."""
    sizes = network_sizes(family, config)
    check_fits(family, sizes)  # a size the machine cannot hold fails here, before allocating
    model_class, config_class = FAMILIES[family]
    try:
        return model_class(config_from_dict(config_class, sizes))
    except (TypeError, ValueError) as error:
        raise UsageError(f"{family} model: {error}") from None


__all__ = ["FAMILIES", "KVCache", "LSTMConfig", "LSTMModel", "SequenceModel", "TransformerConfig",
           "TransformerModel", "build_model", "check_fits", "network_sizes",
           "parameter_count"]
