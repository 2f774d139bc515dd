"""melody: generate music with neural sequence models, from a terminal.

The public API (the CLI and the terminal UI call exactly these):

    read(path) -> list[Piece]              music.io: any .abc/.mid file to pieces
    write(piece, path)                      music.io: a piece to .abc or .mid, atomically
    load_model(folder) -> Model             model_folder: a trained model folder
    train(...) -> TrainResult               training: corpus in, model folder out
    generate(...) -> list[Take]             generation: sample new pieces (take.piece)
    infill(model, piece, bars=(5, 8)) -> list[Take]   generation: new bars inside a piece

Attributes import lazily so that `import melody` (and `melody --help`) never pulls in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Piece": "melody.music.notes",
    "Note": "melody.music.notes",
    "read": "melody.music.io",
    "write": "melody.music.io",
    "load_model": "melody.model_folder",
    "train": "melody.training",
    "generate": "melody.generation",
    "infill": "melody.generation",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'melody' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
