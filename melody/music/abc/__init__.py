"""ABC 2.1 reader and writer: `parse_abc(text) -> [Piece]` and `piece_to_abc(piece) -> str`.

The reader plays a tune the way abc2midi does (with -NGRA -NGUI -NFER): repeats expanded in
playing order, parts in the order the header's P: gives, grace notes, decorations, guitar
chords and %% directives other than `%%MIDI program` and `%%MIDI channel` dropped, and every
voice (V:) and voice overlay (&) played together, each voice with its own program (channel
10: drums). A pickup is shifted to the end of bar 0 so that bar lines fall on the time
signature's grid. A dynamics mark (!ppp! .. !fff!) sets the velocity of its voice's notes after
it, as abc2midi plays it (`dynamics`); before any mark a note has velocity 80 (`expand.VELOCITY`).
The writer writes every note: a V: per line of music when one line cannot hold them, and a
dynamics mark where a voice's loudness level changes.
`parse_abc(text, perform=True)` plays staccato, trills, rolls and hornpipe swing as abc2midi
does (`perform`); the literal score stays the default, and what models train on.

Modules: `fields` (K: M: L: Q: values), `lexer` (a tune body to items, pitches resolved),
`limits` (the caps on notes, bars, voices, tunes and lines, applied while scanning),
`expand` (repeats, ties, ticks, voices together), `reader` (files, tunes, headers, voices),
`perform` (ornaments played out), `dynamics` (marks <-> velocities), `voicing` (a piece's notes
as voice lines), `writer` (to ABC).
"""

from melody.music.abc.reader import parse_abc
from melody.music.abc.writer import piece_to_abc

__all__ = ["parse_abc", "piece_to_abc"]
