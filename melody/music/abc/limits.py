"""How much ABC melody reads, and the budget that stops a tune as soon as it passes it.

A file under the 64 MiB cap (`music.io.MAX_FILE_BYTES`) can still ask for tens of millions of
notes, or repeat one bar a million times. The caps below are applied while the text is read,
not after: the scanner counts what it writes into a tune's `TuneBudget` (shared by the tune's
voices) and stops at the first item past a cap, with the line and column where that happened.
So no file under the size cap costs more than a few hundred MB to read. Each cap is far past
any real tune (the shipped corpus's longest has 636 notes).
"""

from __future__ import annotations

from melody.errors import MusicError

MAX_NOTES = 1_000_000  # notes and rests in one tune, as written and again with repeats played
MAX_BARS = 100_000  # bar lines in one tune, as written and again with repeats played
MAX_MARKS = 100_000  # other marks in one tune: inline fields, endings, voice overlays
MAX_VOICES = 1_000  # voices (V:) in one tune
MAX_TUNES = 100_000  # tunes in one file
MAX_FILE_NOTES = 2_000_000  # notes of all the tunes of one file together
MAX_LINES = 4_000_000  # lines in one file: each line read costs ~60 bytes whatever it holds


class TuneBudget:
    """What one tune may still write; `spend_*` raises MusicError at the first item too many."""

    __slots__ = ("slots", "bars", "marks")

    def __init__(self) -> None:
        self.slots = MAX_NOTES
        self.bars = MAX_BARS
        self.marks = MAX_MARKS

    def spend_slot(self, line: int, column: int) -> None:
        """One note, chord or rest more (the scanner's fast path inlines this)."""
        self.slots -= 1
        if self.slots < 0:
            raise too_many_notes(line, column)

    def spend_bar(self, line: int, column: int) -> None:
        """One bar line more (inlined too, for the plain '|')."""
        self.bars -= 1
        if self.bars < 0:
            raise too_many_bars(line, column)

    def spend_mark(self, line: int, column: int) -> None:
        self.marks -= 1
        if self.marks < 0:
            raise MusicError(f"tune has more than {MAX_MARKS:,} inline fields, endings and overlays "
                             f"(melody reads at most that many)", line=line, column=column)


def too_many_notes(line: int, column: int) -> MusicError:
    return MusicError(f"tune has more than {MAX_NOTES:,} notes and rests (melody reads at most that many)",
                      line=line, column=column)


def too_many_bars(line: int, column: int) -> MusicError:
    return MusicError(f"tune has more than {MAX_BARS:,} bar lines (melody reads at most that many)",
                      line=line, column=column)
