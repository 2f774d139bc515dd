"""ABC 2.1 reader and writer: `parse_abc(text) -> [Piece]` and `piece_to_abc(piece) -> str`.

The reader plays a tune the way abc2midi does (with -NGRA -NGUI -NFER): repeats expanded in
playing order, grace notes, decorations and guitar chords dropped, the first voice kept, and a
pickup shifted to the end of bar 0. Modules: `fields` (K: M: L: Q:), `lexer` (the body),
`expand` (repeats, ties, ticks), `reader` (files and tunes), `writer` (Piece to ABC).
"""

from melody.music.abc.reader import parse_abc
from melody.music.abc.writer import piece_to_abc

__all__ = ["parse_abc", "piece_to_abc"]
