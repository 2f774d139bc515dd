"""The pieces an evaluation scores: DATA files, or a model's own held-out split and training side.

The split is the training engineer's (`melody.training.data.split_pieces`, by piece hash);
config.json records its seed, fraction and the held-out (file name, tune) list, so the
evaluation recomputes it from the training corpus rather than trusting a copy of the tokens.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from melody.errors import UsageError
from melody.model_folder import locate_source

@dataclass
class Split:
    """A model's training pieces and its held-out (validation) pieces, tokenized."""

    training: list[Any]
    held_out: list[Any]
    paths: list[str]


def _token_cache_tokenizer(path: Path) -> str | None:
    """The tokenizer of a `melody tokenize` cache folder at `path`, or None if it is not one."""
    if not path.is_dir():
        return None
    candidates = [path / "identity.json", *path.glob("*/identity.json")]
    for about in candidates:
        try:
            return str(json.loads(about.read_text(encoding="utf-8")).get("tokenizer", "?"))
        except (OSError, ValueError, AttributeError):
            continue
    return None


def check_data_paths(paths: Sequence[str | os.PathLike]) -> None:
    """UsageError for DATA that holds no music: a token cache folder, or no music files at all."""
    from melody.corpus import find_music_files

    for path in paths:
        cached = _token_cache_tokenizer(Path(path))
        if cached is not None:
            raise UsageError(f"{path}: a token cache of the {cached} tokenizer, not music; eval reads "
                             f"music files and tokenizes them with the model's own tokenizer")
    if not find_music_files(paths):
        raise UsageError(f"no .abc, .mid or .midi files in {', '.join(map(str, paths))}")


def load_data(paths: Sequence[str | os.PathLike], tokenizer: Any, *, workers: int | None = None) -> list[Any]:
    """The tokenized pieces of music files and folders; UsageError when there are none."""
    from melody.corpus import build_corpus

    check_data_paths(paths)
    corpus = build_corpus(paths, tokenizer, workers=workers)
    if not corpus.pieces:
        reasons = "; ".join(f"{reason} ({count})" for reason, count in corpus.skip_reasons()[:2])
        raise UsageError(f"no usable pieces in {', '.join(map(str, paths))}"
                         + (f": {reasons}" if reasons else ""))
    return corpus.pieces


def training_sources(config: dict[str, Any]) -> list[str]:
    """The training data paths a model's config.json records (where training put them)."""
    for section in ("data", "corpus", "training", "split"):
        value = config.get(section)
        if isinstance(value, dict):
            for key in ("sources", "paths", "files"):
                found = value.get(key)
                if isinstance(found, list) and all(isinstance(p, str) for p in found):
                    return list(found)
    found = config.get("data_paths") or config.get("paths")
    return list(found) if isinstance(found, list) else []


def split_settings(config: dict[str, Any]) -> dict[str, Any]:
    for section in ("split", "data", "corpus"):
        value = config.get(section)
        if isinstance(value, dict) and ("validation" in value or "validation_fraction" in value):
            return value
        if isinstance(value, dict):
            inner = value.get("split")
            if isinstance(inner, dict):
                return inner
    return {}


def held_out_and_training(model: Any, *, workers: int | None = None) -> Split | None:
    """The model's training and held-out pieces, or None when its training data is gone."""
    from melody.corpus import build_corpus
    from melody.training.data import piece_key, split_pieces
    from melody.training.settings import DataSettings, TrainingSettings

    recorded = training_sources(model.config)
    located = [locate_source(p, Path(model.folder)) for p in recorded]
    if not recorded or any(p is None for p in located):
        return None
    corpus = build_corpus([str(p) for p in located], model.tokenizer, workers=workers)
    if len(corpus.pieces) < 2:
        return None
    settings = split_settings(model.config)
    listed = settings.get("validation")
    if isinstance(listed, list) and listed:
        # The recorded held-out list is the ground truth: a piece is held out exactly when
        # its (file name, tune) is on it, whatever split code version made the model.
        keys = {f"{name}\x00{tune}" for name, tune in listed}
        held = [p for p in corpus.pieces if piece_key(p) in keys]
        training = [p for p in corpus.pieces if piece_key(p) not in keys]
    else:
        # A split record without its fraction or seed was made with the defaults.
        fraction = float(settings.get("validation_fraction", DataSettings().validation_fraction))
        seed = int(settings.get("seed", TrainingSettings().seed))
        training, held = split_pieces(corpus.pieces, fraction, seed)
    if not held:
        return None
    return Split(training=list(training), held_out=list(held), paths=[str(p) for p in located])

