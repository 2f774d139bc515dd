"""What every tokenizer is: a vocabulary, encode, decode, a grammar, and a JSON file.

A scheme (`remi.py`, `performance.py`, `abc_char.py`) subclasses `Tokenizer` and fills in
its hooks. Every vocabulary starts with the same three special tokens so that models,
training and sampling can rely on their ids.

Contracts the rest of melody depends on:
- `encode(piece)` returns `[BOS, ..., EOS]` as token ids.
- `decode(ids)` never raises: tokens out of place are skipped, whatever the sequence.
- `grammar(constraints)` tells sampling which tokens may come next, so that every sampled
  sequence is grammatical and honours the musical constraints (key lock, pitch range, bars).
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np

from melody.files import write_atomic
from melody.music.notes import Piece

PAD, BOS, EOS = 0, 1, 2
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Constraints:
    """Hard musical constraints that sampling enforces through the grammar's masks."""

    scale: frozenset[int] | None = None  # allowed pitch classes (key lock); None: all
    pitch_range: tuple[int, int] | None = None  # inclusive MIDI pitch bounds
    bars: int | None = None  # exact number of bars to generate after the prime
    end_on_bar_line: bool = True  # stop only at a bar line
    max_bars: int | None = None  # without `bars`: at most this many bars after the prime


class Grammar(ABC):
    """An incremental grammar over one tokenizer's vocabulary.

    State is whatever object the scheme likes; `advance` returns a new one (states may be
    copied freely between sequences of a batch). `allowed(state)` is a boolean mask of
    length `vocab_size` and always has at least one True entry (EOS at worst).
    """

    @abstractmethod
    def start(self) -> Any:
        """The state before any token, BOS included (sampling feeds BOS first)."""

    @abstractmethod
    def allowed(self, state: Any) -> np.ndarray:
        """Which token ids may come next."""

    @abstractmethod
    def advance(self, state: Any, token: int) -> Any:
        """The state after `token`; a token `allowed` forbade may be ignored (prime text)."""

    def finished(self, state: Any) -> bool:
        """True once only EOS may follow (a bar quota met, or EOS seen)."""
        mask = self.allowed(state)
        return bool(mask[EOS]) and int(mask.sum()) == 1


def decode_incrementally(decoder: Any, ids: Sequence[int]) -> Piece:
    """Feed `ids` to an incremental decoder (`feed(id) -> True at EOS`, `piece()`); its piece."""
    for token in ids:
        if decoder.feed(token):
            break
    return decoder.piece()


class Tokenizer(ABC):
    """Base of every tokenizer scheme."""

    name: ClassVar[str]

    def __init__(self, **config: Any) -> None:
        self.config = self.default_config() | config
        self.vocab: list[str] = list(SPECIAL_TOKENS) + self.build_vocab()
        self.token_to_id = {token: index for index, token in enumerate(self.vocab)}

    # -- hooks a scheme fills in ---------------------------------------------------------
    @classmethod
    def default_config(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def legacy_config(cls) -> dict[str, Any]:
        """Settings a tokenizer.json written by an older melody lacks, as that melody had them
        (a new option's default may differ: it must not change an old model's vocabulary)."""
        return {}

    @abstractmethod
    def build_vocab(self) -> list[str]:
        """The scheme's tokens, after the special ones."""

    @abstractmethod
    def encode(self, piece: Piece) -> list[int]:
        """`[BOS, ..., EOS]` for `piece`."""

    def prime_tokens(self, piece: Piece, then: int | None = None) -> list[int]:
        """`piece` as a prime to go on from: its ids without EOS, and without anything that
        says the piece ends where it does. Where `then` bars are known to follow, remi's
        countdown is written as the whole piece will have it (its last bars may be among the
        prime's); without, it is left out."""
        ids = self.encode(piece)
        return ids[:-1] if ids and ids[-1] == EOS else ids

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> Piece:
        """A valid piece from any id sequence; never raises."""

    @abstractmethod
    def grammar(self, constraints: Constraints | None = None) -> Grammar:
        """The grammar that constrained sampling follows."""

    # -- what generation and openings.json need to know of tokens ------------------------------
    # Token names follow "Kind_value" ("TimeSig_6/8", "Key_G_major", "Bar"); these methods are
    # the one place that reads them, so no module outside melody.tokenizers parses a name.
    _KINDS = {"TimeSig": "meter", "Key": "key", "Bar": "bar", "Tempo": "tempo", "BarsLeft": "countdown"}

    def kind_of(self, token: int) -> str | None:
        """The kind of a token: "meter", "key", "bar", "tempo", or the scheme's own
        ("position", "pitch", ...); None for the special tokens and for one-of-a-kind ones."""
        if not 3 <= token < self.vocab_size:
            return None
        name = self.vocab[token]
        prefix = name.split("_", 1)[0]
        if prefix == name and prefix not in self._KINDS:
            return None
        return self._KINDS.get(prefix, prefix.lower())

    def kind_mask(self, kind: str | None) -> np.ndarray:
        """Which ids are tokens of `kind` (none for None)."""
        kinds = self._kind_names()
        return np.array([k == kind and kind is not None for k in kinds], dtype=bool)

    def _kind_names(self) -> list[str | None]:
        cached = getattr(self, "_kinds_cache", None)
        if cached is None:
            cached = self._kinds_cache = [self.kind_of(token) for token in range(self.vocab_size)]
        return cached

    def label_of(self, token: int) -> str:
        """A meter or key token's value as openings.json records it: "6/8", "G_major"."""
        return self.vocab[token].split("_", 1)[1] if "_" in self.vocab[token] else self.vocab[token]

    def labelled(self, kind: str, labels: Any) -> np.ndarray:
        """Which ids are tokens of `kind` with one of `labels` ("G major" and "G_major" alike)."""
        wanted = {str(label).replace(" ", "_") for label in labels}
        mask = self.kind_mask(kind)
        for token in np.flatnonzero(mask):
            mask[token] = self.label_of(int(token)) in wanted
        return mask

    @property
    def bar_token(self) -> int | None:
        """The id that starts a bar, for schemes that have one."""
        return self.token_to_id.get("Bar")

    def decoder(self) -> Any | None:
        """An incremental decoder (`feed(id) -> True at EOS`, `notes`, `meters`, `piece()`) for
        streaming notes as they are sampled, or None: streaming then decodes again each step."""
        return None

    def encode_header(self, key: Any = None, meter: Any = None, tempo: Any = None) -> list[int]:
        """BOS and the scheme's own tokens for the given key, meter and tempo, nothing else.

        Encoding an empty piece that holds only these events gives the tokens in the order the
        scheme writes them; the tokens of a header-less empty piece are taken away, so what
        the caller did not give stays for the model to sample.
        """
        wanted = self.encode(Piece(keys=[key] if key else [], time_signatures=[meter] if meter else [],
                                   tempos=[tempo] if tempo else [], end=0))
        bare = self.encode(Piece(end=0))
        header = [wanted[0]]
        for token in wanted[1:]:
            if token == EOS:
                break
            if token not in bare:
                header.append(token)
        return header

    # -- form: what windows, infilling and augmentation need (a scheme without bars: None) ---
    def bar_count(self, ids: Sequence[int]) -> int | None:
        """How many bars the sequence spans, or None for a scheme without bar tokens."""
        return None

    def from_bar(self, ids: Sequence[int], bar: int) -> list[int] | None:
        """`[BOS, ...]` holding bars `bar`.. of `ids` alone, with the meter, key and tempo in
        force there restated at its head (a training window that knows its meter); None when
        the scheme cannot cut at bars."""
        return None

    @property
    def supports_infill(self) -> bool:
        """True when the vocabulary has the fill-in-the-middle sentinels."""
        return False

    def infill_prime(self, ids: Sequence[int], first: int, last: int) -> tuple[list[int], list[int]]:
        """(the prime that asks for bars `first`..`last` of `ids` anew: prefix, suffix and the
        sentinels, the original middle's tokens); only where `supports_infill`."""
        raise NotImplementedError(f"the {self.name} tokenizer has no infilling")

    def halving_table(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(the id each id becomes at half note values, which ids can be halved), or None.

        A sequence whose every id can be halved is the same music written at half the note
        values (a reel in 4/4 with eighths as 4/8 with sixteenths): the augmentation that
        teaches a model the music rather than one collection's notation."""
        return None

    # -- shared ----------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def tokens(self, ids: Sequence[int]) -> list[str]:
        """Readable token strings for ids (unknown ids show as '<?>')."""
        return [self.vocab[i] if 0 <= i < len(self.vocab) else "<?>" for i in ids]

    def to_dict(self) -> dict[str, Any]:
        return {"format": "melody-tokenizer", "version": FORMAT_VERSION, "name": self.name,
                "config": self.config, "vocab": self.vocab}

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer as JSON, atomically."""
        write_atomic(path, json.dumps(self.to_dict(), indent=1) + "\n", overwrite=True)
