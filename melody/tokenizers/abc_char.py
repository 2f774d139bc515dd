"""abc-char: the characters of a tune's ABC text, as the MIT 6.S191 music-generation lab models it.

The vocabulary is fixed (newline and printable ASCII, 96 characters), so it is the same for
every corpus. `encode(piece)` writes the piece with melody's ABC writer (a sustain pedal
played into the note lengths first, as ABC has none) and spells it out;
`encode_text(text)` spells raw ABC text (characters outside the vocabulary are transliterated
to ASCII where they can be, else dropped; tabs become spaces). `decode` joins the characters
and reads them with melody's ABC reader: the first tune, or an empty piece when none reads.

Grammar: a character-level grammar of ABC is out of reach, so it masks the special tokens,
allows EOS only at the start of a line, and counts bars approximately: a bar line is a run
of the characters `|:[]` that holds a `|`, in a music line (not a field line such as `K:`,
not inside a "quoted" chord or annotation, not in a % comment), counted from the first
`allowed` call (after the prime). With `bars` set, once that many bar lines are written only
a newline and then EOS may follow; EOS never comes before. A key lock or pitch range cannot
be enforced on characters: asking for one is a UsageError.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Sequence

import numpy as np

from melody.errors import MelodyError, UsageError
from melody.music.notes import Piece, apply_sustain
from melody.tokenizers.base import BOS, EOS, Constraints, Grammar, Tokenizer
from melody.tokenizers.common import SlotState, config_keys

CHARACTERS = "\n" + "".join(chr(code) for code in range(32, 127))
_BAR_CHARACTERS = frozenset("|:[]")


class ABCChar(Tokenizer):
    """One token per character of ABC text."""

    name = "abc-char"

    def build_vocab(self) -> list[str]:
        config_keys("abc-char", self.config, {})
        self.char_to_id = {char: 3 + index for index, char in enumerate(CHARACTERS)}
        return list(CHARACTERS)

    def encode(self, piece: Piece) -> list[int]:
        from melody.music.abc import piece_to_abc

        return self.encode_text(piece_to_abc(apply_sustain(piece)))  # ABC has no pedal: played into lengths

    def encode_header(self, key: Any = None, meter: Any = None, tempo: Any = None) -> list[int]:
        """BOS and the header lines up to K: (each written only when given): taking away the
        characters a bare piece shares, as the base class does, would leave scraps ("6D")."""
        wanted = self.encode(Piece(keys=[key] if key else [], time_signatures=[meter] if meter else [],
                                   tempos=[tempo] if tempo else [], end=0))
        text = "".join(self.tokens([t for t in wanted if t not in (BOS, EOS)]))
        dropped = {"M:": meter is None, "Q:": tempo is None}
        lines: list[str] = []
        for line in text.split("\n"):
            if line.startswith("K:"):
                if key is not None:
                    lines.append(line)
                break
            if not dropped.get(line[:2], False):
                lines.append(line)
        ids = self.encode_text("\n".join(lines) + "\n")
        return ids[:-1] if ids and ids[-1] == EOS else ids

    def encode_text(self, text: str) -> list[int]:
        """`[BOS, ..., EOS]` for raw ABC text."""
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
        lookup = self.char_to_id
        ids = [BOS]
        for char in text:
            token = lookup.get(char)
            if token is None:  # é -> e; characters with no ASCII form are dropped
                ascii_form = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
                ids += [lookup[c] for c in ascii_form if c in lookup]
            else:
                ids.append(token)
        ids.append(EOS)
        return ids

    def text(self, ids: Sequence[int]) -> str:
        """The characters of `ids` up to the first EOS (special and unknown ids skipped)."""
        chars = []
        for token in ids:
            if token == EOS:
                break
            if 3 <= token < 3 + len(CHARACTERS):
                chars.append(CHARACTERS[token - 3])
        return "".join(chars)

    def decode(self, ids: Sequence[int]) -> Piece:
        """The first tune the characters spell; an empty piece when none reads."""
        from melody.music.abc import parse_abc

        try:
            pieces = parse_abc(self.text(ids), source="<tokens>", on_warning=lambda warning: None)
        except MelodyError:
            return Piece()
        return pieces[0] if pieces else Piece()

    def grammar(self, constraints: Constraints | None = None) -> Grammar:
        constraints = constraints or Constraints()
        if constraints.scale is not None or constraints.pitch_range is not None:
            raise UsageError("the abc-char tokenizer cannot enforce a key lock or pitch range "
                             "(its tokens are characters); use a remi model")
        return ABCCharGrammar(self, constraints)


class ABCCharState(SlotState):
    """Line and bar-line bookkeeping for one character sequence."""

    __slots__ = ("line_start", "field_line", "quoted", "comment", "in_bar", "bars", "target", "ended",
                 "first")

    def __init__(self) -> None:
        self.line_start = True
        self.first = ""  # the first character of this line
        self.field_line = False  # "K:..." and the like: no bar lines there
        self.quoted = False
        self.comment = False
        self.in_bar = False  # inside a run of bar-line characters that already counted
        self.bars = 0
        self.target: int | None = None
        self.ended = False


class ABCCharGrammar(Grammar):
    """Characters only, EOS at a line start, and an approximate bar count."""

    def __init__(self, tokenizer: ABCChar, constraints: Constraints) -> None:
        self.size = tokenizer.vocab_size
        self.bars = constraints.bars
        self.newline = tokenizer.char_to_id["\n"]
        self.characters = np.zeros(self.size, dtype=bool)
        self.characters[3:] = True
        self.bar_run = [tokenizer.char_to_id[c] for c in "|:]"]

    def start(self) -> ABCCharState:
        return ABCCharState()

    def allowed(self, state: ABCCharState) -> np.ndarray:
        if state.target is None and self.bars is not None:
            state.target = state.bars + self.bars
        mask = np.zeros(self.size, dtype=bool)
        if state.ended:
            mask[EOS] = True
            return mask
        if state.target is not None and state.bars >= state.target:
            # The last bar line is written: finish its run (|], :|), then the line, then end.
            if state.line_start:
                mask[EOS] = True
            else:
                mask[self.newline] = True
                if state.in_bar:
                    mask[self.bar_run] = True
            return mask
        mask |= self.characters
        if state.line_start and state.target is None:
            mask[EOS] = True
        return mask

    def advance(self, state: ABCCharState, token: int) -> ABCCharState:
        state = state.copy()
        if token == EOS:
            state.ended = True
            return state
        if not 3 <= token < self.size or state.ended:
            return state
        char = CHARACTERS[token - 3]
        if char == "\n":
            state.line_start, state.first = True, ""
            state.field_line = state.quoted = state.comment = state.in_bar = False
            return state
        if state.line_start:
            state.first = char
            state.line_start = False
        elif len(state.first) == 1:
            state.field_line = char == ":" and state.first.isalpha()
            state.first += char
        if state.comment or state.field_line:
            return state
        if char == "%":
            state.comment = True
        elif char == '"':
            state.quoted = not state.quoted
        elif not state.quoted and char in _BAR_CHARACTERS:
            if char == "|" and not state.in_bar:
                state.bars += 1
                state.in_bar = True
            return state
        state.in_bar = False
        return state
