"""Where the data melody ships lives: the default model, irish.abc and the training configs.

In the repository they are the top-level `models/default/` and `assets/`, the places people
look. A built wheel (and so `pip install .` or `pipx install .`) carries copies of them as
package data under `melody/_shipped/` (setup.py's build step puts them there), so an
installed melody finds them from any folder. This module answers with whichever exists:
the package data first, then the source tree.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

_SOURCE_TREE = Path(__file__).resolve().parent.parent


def shipped_root() -> Path:
    """The folder holding `models/default/` and `assets/`."""
    packaged = Path(str(resources.files("melody").joinpath("_shipped")))
    if (packaged / "models" / "default").is_dir():
        return packaged
    return _SOURCE_TREE


def default_model_dir() -> Path:
    """$MELODY_MODEL if set, else the shipped `models/default`."""
    override = os.environ.get("MELODY_MODEL")
    return Path(override).expanduser() if override else shipped_root() / "models" / "default"


def shipped_corpus() -> Path:
    """`assets/irish.abc`: the 802 tunes the default model is trained on."""
    return shipped_root() / "assets" / "irish.abc"


def shipped_configs() -> Path:
    """`assets/configs/`: the training recipes (TOML) the terminal UI offers."""
    return shipped_root() / "assets" / "configs"
