"""ABC 2.1 reader and writer: `parse_abc(text) -> [Piece]` and `piece_to_abc(piece) -> str`.

The reader plays a tune the way abc2midi does (with -NGRA -NGUI -NFER): repeats expanded in
playing order, parts in the order the header's P: gives, grace notes, decorations, guitar
chords and %% directives dropped, and of several voices the one that plays first kept. A
pickup is shifted to the end of bar 0 so that bar lines fall on the time signature's grid.
Every note has the fixed velocity 80 (`expand.VELOCITY`): ABC dynamics are not read.

Modules: `fields` (K: M: L: Q: values), `lexer` (a tune body to items, pitches resolved),
`expand` (repeats, ties, ticks), `reader` (files, tunes, headers, voices), `writer` (to ABC).
"""

from melody.music.abc.reader import parse_abc
from melody.music.abc.writer import piece_to_abc

__all__ = ["parse_abc", "piece_to_abc"]
