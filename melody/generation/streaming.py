"""What a generation run reports as it samples: notes as they complete, bars, and the end.

`NoteTracker` turns the growing token sequences of a batch into these events through the
tokenizer's incremental decoder, so the terminal UI's piano roll can draw notes as they come.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator

from melody.generation.takes import Take
from melody.music.notes import Note, Piece
from melody.tokenizers.base import EOS


@dataclass(frozen=True)
class NoteEvent:
    """A note of piece `index` is complete (prime notes come first)."""

    index: int
    note: Note


@dataclass(frozen=True)
class BarEvent:
    """Piece `index` has reached bar `bar` (0-based, counted from the start of the piece)."""

    index: int
    bar: int


@dataclass(frozen=True)
class DoneEvent:
    """The run is over: every take, complete or (when stopped) as far as it got."""

    takes: list[Take]
    cancelled: bool = False


StreamEvent = NoteEvent | BarEvent | DoneEvent


class NoteTracker:
    """Turns growing token sequences into NoteEvents and BarEvents, each note once, finished.

    With a tokenizer that has an incremental `decoder()` (remi, performance) every token is
    read once and a note is reported when it is finished, so a piece costs O(tokens).
    Otherwise (abc-char) the whole sequence is decoded again on each token (O(tokens^2)),
    and a note is reported once a later bar has begun: until then more text can still change
    it (a duration digit, a tie or a broken rhythm lengthens a note; the first bar line
    shifts a pickup into place).
    """

    def __init__(self, tokenizer: Any, size: int) -> None:
        self.tokenizer = tokenizer
        self.bar: list[int] = [-1] * size
        decoders = [tokenizer.decoder() for _ in range(size)]
        self.decoders: list[Any] | None = decoders if all(d is not None for d in decoders) else None
        self.fed = [0] * size  # tokens each decoder has read
        self.reported = [0] * size  # notes of each decoder already reported
        self.seen: list[set[Note]] = [set() for _ in range(size)]

    def update(self, index: int, tokens: list[int]) -> Iterator[StreamEvent]:
        """Events for the notes `tokens` (the whole sequence so far) finish."""
        if self.decoders is None:
            yield from self._redecode(index, tokens)
            return
        decoder = self.decoders[index]
        for token in tokens[self.fed[index]:]:
            self.fed[index] += 1
            if decoder.feed(token):
                break  # EOS: the sampler adds nothing after it
        fresh = decoder.notes[self.reported[index]:]
        self.reported[index] = len(decoder.notes)
        yield from self._report(index, fresh, decoder.meters.values())

    def finish(self, index: int, tokens: list[int]) -> Iterator[StreamEvent]:
        """Events for the notes still open when the sequence ends."""
        if self.decoders is None:
            yield from self._redecode(index, tokens, final=True)
            return
        decoder = self.decoders[index]
        piece = decoder.piece()  # the finished notes and the open ones, closed (sorted: a Piece sorts)
        still_open = Counter(piece.notes) - Counter(decoder.notes)
        yield from self._report(index, sorted(still_open.elements()), piece.time_signatures)

    def _report(self, index: int, fresh: list[Note], meters: Any) -> Iterator[StreamEvent]:
        if not fresh:
            return
        header = Piece(time_signatures=list(meters))
        for note in fresh:
            bar = len(header.bar_starts(until=note.onset + 1)) - 1
            if bar > self.bar[index]:
                self.bar[index] = bar
                yield BarEvent(index, bar)
            yield NoteEvent(index, note)

    def _redecode(self, index: int, tokens: list[int], final: bool = False) -> Iterator[StreamEvent]:
        piece = self.tokenizer.decode([*tokens, EOS])
        latest = max((note.onset for note in piece.notes), default=0)
        settled = piece.bar_starts(until=latest + 1)[-1]  # where the latest note's bar starts
        fresh = [note for note in piece.notes if note not in self.seen[index] and (final or note.onset < settled)]
        if not fresh:
            return
        starts = piece.bar_starts(until=max(n.onset for n in fresh) + 1)
        for note in fresh:
            self.seen[index].add(note)
            bar = sum(1 for tick in starts if tick <= note.onset) - 1
            if bar > self.bar[index]:
                self.bar[index] = bar
                yield BarEvent(index, bar)
            yield NoteEvent(index, note)
