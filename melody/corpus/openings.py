"""openings.json: what a model's training tunes open with, and which tokens they use at all.

Training writes it into the model folder; generation reads it:
- without --meter/--key the model chooses the opening meter and key, but only among those
  its training tunes opened with. Trained on random windows, a model sees few tune openings,
  and left alone it chose meters like 14/32 for an Irish reel;
- a token the training data never held has an untrained embedding and a logit that is
  noise (a harp, a drum or a sudden pianissimo in a reel at temperature 1.5), so generation
  never samples one unless a constraint leaves nothing else.

The file:
    {"about": ..., "meters": {"6/8": 205, ...}, "keys": {"G_major": 229, ...},
     "tokens_about": ..., "tokens": ["Bar", "Pitch_62", ...]}
Meters and keys are token names without their "TimeSig_"/"Key_" prefix, with counts; a
tokenizer without such tokens (abc-char) leaves them empty. A folder without the file (or
with a broken one) just gets no restriction.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from melody.tokenizers.base import Tokenizer

OPENINGS_FILE = "openings.json"
METER_PREFIX, KEY_PREFIX = "TimeSig_", "Key_"


def openings_of(tokenizer: Tokenizer, sequences: Iterable[np.ndarray], transposer: Any = None) -> dict:
    """The openings of token id sequences (the training pieces), as openings.json holds them.

    With a `melody.training.data.Transposer` (transposition augmentation), each piece counts
    once in every key it is shifted to in training, and its shifted tokens count as used.
    """
    vocab = tokenizer.vocab
    meters: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    used = np.zeros(len(vocab), dtype=bool)
    for ids in sequences:
        ids = np.asarray(ids, dtype=np.int64)
        variants = [ids]
        if transposer is not None:
            low, high = transposer.legal_shifts(ids)
            variants += [transposer.tables[shift][ids] for shift in range(low, high + 1) if shift]
        for variant in variants:
            used[variant] = True
            meter = _first_with(vocab, variant, METER_PREFIX)
            key = _first_with(vocab, variant, KEY_PREFIX)
            if key is not None:
                keys[key] += 1
            if meter is not None and variant is ids:  # a shift leaves the meter as it was
                meters[meter] += 1
    return {
        "about": "the meters and keys the training tunes open with (counts); melody generate lets "
                 "the model choose an opening meter and key only among these",
        "meters": dict(meters.most_common()),
        "keys": dict(keys.most_common()),
        "tokens_about": "every token the training tunes use; generation never samples any other",
        "tokens": [vocab[i] for i in np.flatnonzero(used)],
    }


def _first_with(vocab: list[str], ids: np.ndarray, prefix: str) -> str | None:
    """The first token of `ids` whose name starts with `prefix`, without it; None if none does."""
    for token in ids[:64].tolist():  # the header is at the start
        if vocab[token].startswith(prefix):
            return vocab[token][len(prefix):]
    return None


def read_openings(folder: str | Path) -> dict | None:
    """A model folder's openings.json, if it has a readable one."""
    path = Path(folder) / OPENINGS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def restrict_openings(tokenizer: Tokenizer, schedule: list[np.ndarray], openings: dict | None) -> list[np.ndarray]:
    """`schedule` with free meter and key slots narrowed to those the model's training tunes used."""
    if not openings:
        return schedule
    allowed = {METER_PREFIX: {f"{METER_PREFIX}{m}" for m in openings.get("meters", [])},
               KEY_PREFIX: {f"{KEY_PREFIX}{k.replace(' ', '_')}" for k in openings.get("keys", [])}}
    narrowed = []
    for slot in schedule:
        for prefix, names in allowed.items():
            if slot.sum() > 1 and names and all(tokenizer.vocab[i].startswith(prefix) for i in np.flatnonzero(slot)):
                wanted = np.array([name in names for name in tokenizer.vocab], dtype=bool)
                if (slot & wanted).any():
                    slot = slot & wanted
        narrowed.append(slot)
    return narrowed
