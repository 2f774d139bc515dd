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
HEADER_TOKENS = 64  # a piece's opening meter and key come within its first tokens


def openings_of(tokenizer: Tokenizer, sequences: Iterable[np.ndarray], transposer: Any = None) -> dict:
    """The openings of token id sequences (the training pieces), as openings.json holds them.

    With a `melody.training.data.Transposer` (transposition augmentation), each piece counts
    once in every key it is shifted to in training, and its shifted tokens count as used.
    """
    vocab = tokenizer.vocab
    meter_ids, key_ids = tokenizer.kind_mask("meter"), tokenizer.kind_mask("key")
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
            meter = _first_of(tokenizer, variant, meter_ids)
            key = _first_of(tokenizer, variant, key_ids)
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


def _first_of(tokenizer: Tokenizer, ids: np.ndarray, kind: np.ndarray) -> str | None:
    """The label of the first token of `ids` in the `kind` mask ("6/8", "G_major"); None if none."""
    head = ids[:HEADER_TOKENS]
    found = np.flatnonzero(kind[head])
    return tokenizer.label_of(int(head[found[0]])) if len(found) else None


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
    allowed = [(tokenizer.kind_mask(kind), tokenizer.labelled(kind, openings.get(field) or []))
               for kind, field in (("meter", "meters"), ("key", "keys"))]
    narrowed = []
    for slot in schedule:
        for of_kind, wanted in allowed:
            # A slot open to several tokens, all of this kind: keep those the tunes opened with.
            if slot.sum() > 1 and wanted.any() and not (slot & ~of_kind).any() and (slot & wanted).any():
                slot = slot & wanted
        narrowed.append(slot)
    return narrowed
