"""A network's size from its config alone, and whether this machine can hold it: checked
before a tensor is allocated (a config.json asking for d_model 10^6 once took 4.5 GB to fail).

The counts are exact: `parameter_count(family, config)` equals the elements of the network's
saved weights (tests/test_model_files.py compares them with real networks), so a model
folder's config.json can be checked against its weights' safetensors header before building.
"""

from __future__ import annotations

import os
from typing import Any

from melody.errors import UsageError

BYTES_PER_PARAMETER = 4  # float32
# Training holds each parameter four times: the weights, their gradients and Adam's two moments.
TRAINING_COPIES = 4
MEMORY_SHARE = 0.5  # of the machine's physical memory: the rest is for activations, data and the OS


def parameter_count(family: str, config: dict[str, Any]) -> int:
    """The number of weights (tied ones once) a network of `family` with sizes `config` has."""
    vocab, width, layers = int(config["vocab_size"]), int(config["d_model"]), int(config["layers"])
    if family == "lstm":
        hidden = int(config.get("hidden") or 0) or width
        first = 4 * hidden * (width + hidden) + 8 * hidden  # input and recurrent matrices, two biases
        later = 4 * hidden * (2 * hidden) + 8 * hidden
        projection = hidden * width if hidden != width else 0
        return vocab * width + first + (layers - 1) * later + projection + vocab  # + output bias
    if family == "transformer":
        ratio = int(config.get("mlp_ratio", 4))
        block = 4 * width + 4 * width * width + 2 * ratio * width * width  # norms, attention, MLP
        return vocab * width + layers * block + 2 * width  # + the final norm
    raise UsageError(f"unknown model {family!r}")


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(family: str, config: dict[str, Any], *, copies: int = 1, purpose: str = "to hold") -> int:
    """The parameter count of the network; UsageError when `copies` float32 copies of it would
    need more than MEMORY_SHARE of this machine's memory (the bound the message states)."""
    count = parameter_count(family, config)
    memory = memory_bytes()
    needed = count * BYTES_PER_PARAMETER * copies
    if memory is not None and needed > MEMORY_SHARE * memory:
        raise UsageError(f"a {family} model of {count:,} parameters needs {needed / 2**30:,.1f} GiB {purpose} "
                         f"it; this machine allows {MEMORY_SHARE * memory / 2**30:,.1f} GiB (half of its "
                         f"{memory / 2**30:,.1f} GiB memory): lower model.d_model, model.hidden or model.layers")
    return count
