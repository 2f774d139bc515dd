"""Near-copies of training pieces: the longest shared run of notes and the share of shared 8-grams.

A piece is compared by its melody (the top line: the highest note starting at each onset),
written as one symbol per note after the first: (interval from the previous note in
semitones, the note's duration in ticks). Intervals make the check transposition-invariant;
a run of k symbols shared with a training piece is a run of k + 1 notes.

The longest shared run comes from a suffix automaton over every training melody (each one
ends in its own separator so no match crosses two pieces); the n-gram share from a set of
hashed 8-note windows. `NoveltyIndex.build(pieces)` once, then `index.check(piece)` per piece:
`melody eval` and `melody generate --reject-copies` use the same check.

Default thresholds, from assets/irish.abc itself: the 66 tunes the default split holds out,
checked against the other 736 (melody lines, repeats expanded; median 213 notes a tune).
Folk tunes share stock phrases: the longest run a held-out tune shares with some training
tune has median 12 notes, 90th percentile 21; the share of its 8-note windows found in
training has median 0.28, 90th percentile 0.57, and no tune but a duplicate exceeds 0.73.
Four held-out tunes are the same tune entered twice in the collection (run = whole tune,
share 1.0) and one shares a run of 56 notes. So a piece is flagged when it shares a run of
at least `DEFAULT_MAX_RUN` = 32 notes (four bars of eighths: a whole phrase, half again the
90th percentile of real tunes) or more than `DEFAULT_MAX_SHARE` = 0.8 of its 8-note windows.
`melody eval` prints the same figures for whatever model and data it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from melody.music.notes import Piece

NGRAM_NOTES = 8
DEFAULT_MAX_RUN = 32
DEFAULT_MAX_SHARE = 0.8


def melody_line(piece: Piece) -> list[tuple[int, int]]:
    """(pitch, duration) of the top line: the highest pitched note at each onset, in order."""
    top: dict[int, tuple[int, int]] = {}
    for note in piece.notes:
        if note.is_drum:
            continue
        best = top.get(note.onset)
        if best is None or note.pitch > best[0]:
            top[note.onset] = (note.pitch, note.duration)
    return [top[onset] for onset in sorted(top)]


def melody_symbols(piece: Piece) -> list[tuple[int, int]]:
    """One (interval, duration) symbol per note after the first: transposition-invariant."""
    line = melody_line(piece)
    return [(pitch - previous[0], duration) for previous, (pitch, duration) in zip(line, line[1:])]


@dataclass(frozen=True)
class NoveltyResult:
    """How much of a piece a training piece already holds."""

    longest_run: int  # notes in the longest run shared with one training piece
    ngram_share: float  # share of the piece's 8-note windows found in the training set
    is_copy: bool  # above either threshold
    notes: int = 0  # notes in the piece's melody line

    def to_dict(self) -> dict:
        return {"longest_run": self.longest_run, "ngram_share": self.ngram_share,
                "is_copy": self.is_copy, "notes": self.notes}


class _SuffixAutomaton:
    """The smallest automaton accepting every substring of a sequence (Blumer et al. 1985).

    Built online in linear time; `longest_common` walks a query through it and returns the
    length of the longest substring of the query that occurs in the indexed sequence.
    """

    def __init__(self) -> None:
        self.next: list[dict[int, int]] = [{}]
        self.link: list[int] = [-1]
        self.length: list[int] = [0]
        self.last = 0

    def extend(self, symbol: int) -> None:
        nxt, link, length = self.next, self.link, self.length
        current = len(length)
        nxt.append({})
        length.append(length[self.last] + 1)
        link.append(0)
        state = self.last
        while state != -1 and symbol not in nxt[state]:
            nxt[state][symbol] = current
            state = link[state]
        if state != -1:
            target = nxt[state][symbol]
            if length[state] + 1 == length[target]:
                link[current] = target
            else:
                clone = len(length)
                nxt.append(dict(nxt[target]))
                length.append(length[state] + 1)
                link.append(link[target])
                while state != -1 and nxt[state].get(symbol) == target:
                    nxt[state][symbol] = clone
                    state = link[state]
                link[target] = clone
                link[current] = clone
        self.last = current

    def longest_common(self, query: Sequence[int]) -> int:
        nxt, link, length = self.next, self.link, self.length
        state, run, best = 0, 0, 0
        for symbol in query:
            while state and symbol not in nxt[state]:
                state = link[state]
                run = length[state]
            if symbol in nxt[state]:
                state = nxt[state][symbol]
                run += 1
                best = max(best, run)
            else:
                state, run = 0, 0
        return best


class NoveltyIndex:
    """Every training melody, indexed for the longest shared run and the 8-gram share."""

    def __init__(self, max_run: int = DEFAULT_MAX_RUN, max_share: float = DEFAULT_MAX_SHARE) -> None:
        self.max_run = max_run
        self.max_share = max_share
        self._codes: dict[tuple[int, int], int] = {}
        self._automaton = _SuffixAutomaton()
        self._ngrams: set[tuple[int, ...]] = set()
        self.pieces = 0

    @classmethod
    def build(cls, training_pieces: Iterable[Piece], *, max_run: int = DEFAULT_MAX_RUN,
              max_share: float = DEFAULT_MAX_SHARE) -> NoveltyIndex:
        """An index of `training_pieces`' melodies."""
        index = cls(max_run=max_run, max_share=max_share)
        for piece in training_pieces:
            index.add(piece)
        return index

    def _encode(self, symbols: Sequence[tuple[int, int]], grow: bool) -> list[int]:
        codes = self._codes
        if grow:
            return [codes.setdefault(s, len(codes)) for s in symbols]
        return [codes.get(s, -1) for s in symbols]  # -1: a symbol no training piece has

    def add(self, piece: Piece) -> None:
        """Index one more training piece."""
        codes = self._encode(melody_symbols(piece), grow=True)
        for code in codes:
            self._automaton.extend(code)
        # A separator of its own (a negative code below -1) so no run spans two pieces.
        self.pieces += 1
        self._automaton.extend(-1 - self.pieces)
        width = NGRAM_NOTES - 1
        self._ngrams.update(tuple(codes[i:i + width]) for i in range(len(codes) - width + 1))

    def check(self, piece: Piece) -> NoveltyResult:
        """The longest run and 8-gram share of `piece` against the training pieces."""
        codes = self._encode(melody_symbols(piece), grow=False)
        notes = len(codes) + 1 if codes else len(melody_line(piece))
        shared = self._automaton.longest_common(codes)
        longest = shared + 1 if shared else min(notes, 1)
        width = NGRAM_NOTES - 1
        windows = [tuple(codes[i:i + width]) for i in range(len(codes) - width + 1)]
        share = sum(w in self._ngrams for w in windows) / len(windows) if windows else 0.0
        is_copy = longest >= self.max_run or share > self.max_share
        return NoveltyResult(longest_run=longest, ngram_share=share, is_copy=is_copy, notes=notes)


def index_for_model(model: Any, *, workers: int | None = None) -> NoveltyIndex | None:
    """The index of a loaded model's training pieces, or None when its training data is gone.

    For `melody generate --reject-copies`: the training side of the model's own split (as
    `melody eval` rebuilds it), decoded with the model's tokenizer.
    """
    from melody.evaluation.data import held_out_and_training

    split = held_out_and_training(model, workers=workers)
    if split is None:
        return None
    decode = model.tokenizer.decode
    return NoveltyIndex.build(decode([int(t) for t in piece.ids]) for piece in split.training)
