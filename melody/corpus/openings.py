"""openings.json: what a model's training tunes open and end with, and which tokens they use.

Training writes it into the model folder; generation reads it:
- without --meter/--key the model chooses the opening meter and key, but only among those
  its training tunes opened with (trained on random windows, a model sees few tune openings,
  and left alone it chose meters like 14/32 for an Irish reel), and the key as often as the
  tunes were written in it (`opening_priors`: a model trained with transposition learnt
  every key about as often);
- a token the training data never held has an untrained embedding and a logit that is
  noise (a harp, a drum or a sudden pianissimo in a reel at temperature 1.5), so generation
  never samples one unless a constraint leaves nothing else;
- the scale degree each training tune ends on (its last note, in semitones above the key's
  tonic), with the tune's length in bars, is how generation closes a tune "as the corpus
  does" (melody.generation.cadence): three quarters of the shipped corpus's tunes end on the
  tonic, the rest mostly on the fifth, the second or the fourth (modal tunes written under a
  major key signature), and length matters: its tunes of 32 bars end on the tonic 85% of the
  time, those of 16 bars 49%.

The file:
    {"about": ..., "meters": {"6/8": 205, ...}, "keys": {"G_major": 483, ...},
     "keys_written_about": ..., "keys_written": {"G_major": 229, ...},
     "endings_about": ..., "endings": {"0": 556, "7": 45, ...},
     "endings_by_bars": {"33": {"0": 301, "7": 20, ...}, ...},
     "tokens_about": ..., "tokens": ["Bar", "Pitch_62", ...]}
Meters and keys are token names without their "TimeSig_"/"Key_" prefix, with counts; a
tokenizer without such tokens (abc-char) leaves them empty; a tune without a key counts no
ending. A folder without the file just gets no restriction; a
broken one is a ModelError (it was once ignored in silence).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from melody.errors import ModelError
from melody.music.cadence import final_degree
from melody.safe_read import MIB, describe, field, read_json
from melody.tokenizers.base import Tokenizer

OPENINGS_FILE = "openings.json"
OPENINGS_LIMIT = 16 * MIB  # a vocabulary of 100,000 token names is 2 MiB
HEADER_TOKENS = 64  # a piece's opening meter and key come within its first tokens
DEGREES = {str(degree) for degree in range(12)}


def openings_of(tokenizer: Tokenizer, sequences: Iterable[np.ndarray], transposer: Any = None) -> dict:
    """The openings of token id sequences (the training pieces), as openings.json holds them.

    With a `melody.training.data.Transposer` (transposition augmentation), each piece counts
    once in every key it is shifted to in training, and its shifted tokens count as used.
    """
    vocab = tokenizer.vocab
    meter_ids, key_ids = tokenizer.kind_mask("meter"), tokenizer.kind_mask("key")
    meters: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    written: Counter[str] = Counter()  # the keys as the tunes were written, before any shift
    endings: Counter[int] = Counter()
    by_bars: dict[int, Counter[int]] = {}
    used = np.zeros(len(vocab), dtype=bool)
    for ids in sequences:
        ids = np.asarray(ids, dtype=np.int64)
        piece = tokenizer.decode(ids.tolist())
        degree = final_degree(piece)
        if degree is not None:  # a shift moves the last note and the key together
            endings[degree] += 1
            by_bars.setdefault(len(piece.bar_starts()), Counter())[degree] += 1
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
                if variant is ids:
                    written[key] += 1
            if meter is not None and variant is ids:  # a shift leaves the meter as it was
                meters[meter] += 1
    return {
        "about": "the meters and keys the training tunes open with (counts); melody generate lets "
                 "the model choose an opening meter and key only among these",
        "meters": dict(meters.most_common()),
        "keys": dict(keys.most_common()),
        "keys_written_about": "the keys the training tunes open with as written, before transposition "
                              "(counts); melody generate draws an opening key as often as they do",
        "keys_written": dict(written.most_common()),
        "endings_about": "the scale degree each training tune ends on, in semitones above its key's "
                         "tonic (counts), in all and by the tune's length in bars; melody generate aims "
                         "a tune's close at one drawn from those of the tunes about as long as it",
        "endings": _degree_counts(endings),
        "endings_by_bars": {str(bars): _degree_counts(by_bars[bars]) for bars in sorted(by_bars)},
        "tokens_about": "every token the training tunes use; generation never samples any other",
        "tokens": [vocab[i] for i in np.flatnonzero(used)],
    }


def _degree_counts(counts: Counter[int]) -> dict[str, int]:
    return {str(degree): count for degree, count in counts.most_common()}


def _first_of(tokenizer: Tokenizer, ids: np.ndarray, kind: np.ndarray) -> str | None:
    """The label of the first token of `ids` in the `kind` mask ("6/8", "G_major"); None if none."""
    head = ids[:HEADER_TOKENS]
    found = np.flatnonzero(kind[head])
    return tokenizer.label_of(int(head[found[0]])) if len(found) else None


def read_openings(folder: str | Path) -> dict | None:
    """A model folder's openings.json, checked; None when the folder has none (no restriction).
    A file that is there but malformed is a ModelError naming the file and the field."""
    path = Path(folder) / OPENINGS_FILE
    try:
        data = read_json(path, limit=OPENINGS_LIMIT, within=folder)
    except FileNotFoundError:
        return None
    source = str(path)
    if not isinstance(data, dict):
        raise ModelError(f"{source}: must be a JSON object, not {describe(data)}")
    for name in ("meters", "keys", "keys_written"):
        counts = field(data, name, dict, source, required=False) or {}
        for label, count in counts.items():
            field(counts, label, int, source, where=name, low=0)
    _check_degree_counts(field(data, "endings", dict, source, required=False) or {}, source, "endings")
    by_bars = field(data, "endings_by_bars", dict, source, required=False) or {}
    for bars in by_bars:
        if not (bars.isascii() and bars.isdigit()):
            raise ModelError(f"{source}: field 'endings_by_bars' has {bars!r}, not a number of bars")
        _check_degree_counts(field(by_bars, bars, dict, source, where="endings_by_bars"), source,
                             f"endings_by_bars.{bars}")
    tokens = field(data, "tokens", list, source, required=False) or []
    if not all(isinstance(token, str) for token in tokens):
        wrong = next(token for token in tokens if not isinstance(token, str))
        raise ModelError(f"{source}: field 'tokens' must hold token names (strings), not {describe(wrong)}")
    return data


def _check_degree_counts(counts: dict, source: str, where: str) -> None:
    for label in counts:
        if label not in DEGREES:
            raise ModelError(f"{source}: field {where!r} has {label!r}, not a scale degree (0 to 11)")
        field(counts, label, int, source, where=where, low=0)


def opening_priors(tokenizer: Tokenizer, schedule: list[np.ndarray], openings: dict | None
                   ) -> list[np.ndarray | None]:
    """For each slot of `schedule`, None or log-weights to add to the model's logits there.

    A free key slot gets log(written / keys) for each key: trained with transposition, a model
    has learnt to open in every key about as often (as `keys` counts them, each tune once per
    shift), and would open an Irish reel in A-flat as readily as in G. Weighted so, it opens in
    each key as often as its training tunes were written in it (`keys_written`: G and D major
    in 6 of 10 of the shipped corpus's tunes); keys no tune was written in are left out. An
    openings.json without `keys_written` (older models), or a slot none of whose keys were
    written, gets no weights."""
    written = (openings or {}).get("keys_written") or {}
    learnt = (openings or {}).get("keys") or {}
    if not written:
        return [None] * len(schedule)
    of_kind = tokenizer.kind_mask("key")
    priors: list[np.ndarray | None] = []
    for slot in schedule:
        prior = None
        if slot.sum() > 1 and not (slot & ~of_kind).any():
            prior = np.full(len(slot), -np.inf)
            for index in np.flatnonzero(slot):
                label = tokenizer.label_of(int(index))
                if written.get(label, 0) > 0:
                    prior[index] = np.log(written[label]) - np.log(max(learnt.get(label, 0), written[label]))
            if not np.isfinite(prior).any():
                prior = None
        priors.append(prior)
    return priors


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
