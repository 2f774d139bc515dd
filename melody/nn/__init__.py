"""The two model families behind one interface (`SequenceModel`), built by name from a config dict."""

from __future__ import annotations

from typing import Any

from melody.errors import UsageError
from melody.nn.base import SequenceModel, config_from_dict
from melody.nn.lstm import LSTMConfig, LSTMModel
from melody.nn.transformer import KVCache, TransformerConfig, TransformerModel

FAMILIES: dict[str, tuple[type, type]] = {
    "lstm": (LSTMModel, LSTMConfig),
    "transformer": (TransformerModel, TransformerConfig),
}


def build_model(family: str, config: dict[str, Any]) -> SequenceModel:
    """A freshly initialised model of `family` with sizes from `config` (every size its config
    dataclass has no default for: melody.training.settings.model_config gives them)."""
    if family not in FAMILIES:
        raise UsageError(f"unknown model {family!r} (choose from {', '.join(FAMILIES)})")
    model_class, config_class = FAMILIES[family]
    try:
        return model_class(config_from_dict(config_class, config))
    except (TypeError, ValueError) as error:
        raise UsageError(f"{family} model: {error}") from None


__all__ = ["FAMILIES", "KVCache", "LSTMConfig", "LSTMModel", "SequenceModel", "TransformerConfig",
           "TransformerModel", "build_model"]
