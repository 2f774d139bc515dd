"""The performed reading's ornaments, played as abc2midi plays them (`parse_abc(perform=True)`).

The literal reading drops decorations; the performed one plays these (measured against
abc2midi 4.84, the reference this project's tests use):
- staccato ('.', !staccato!): the note sounds for half its length;
- trill ('T', !trill!): the note's upper neighbour (as the key signature spells it) and the
  note alternate, upper first, in equal steps: the note's length as a fraction p/q of a whole
  note is p steps of 1/q, each halved (and their count doubled) until a step lasts at most
  100 ms at the tempo in force;
- roll ('~', !roll!; abc2midi's "ornament"): on a note three units long, the note for a unit,
  then the upper and the lower neighbour, each a quarter unit, each followed by the note for the
  rest of its unit; on any other note longer than a quarter unit, the upper neighbour for a
  quarter unit first;
- five-note roll ('R', abc2midi's "roll"): the note, its upper neighbour, the note, its lower
  neighbour and the note, each a fifth of its length.
A note with several of these plays the strongest (trill, '~', 'R', staccato: the lexer ranks
them), whatever order they are written in, as abc2midi does ('uR~M.c2' is a '~' roll).
Hornpipe swing (R:hornpipe in 2/4 or 4/4) changes lengths as the body is scanned (`lexer`).
Turns and mordents abc2midi plays as written, and so does this reading.
"""

from __future__ import annotations

from math import gcd

from melody.music.abc.fields import WHOLE
from melody.music.abc.lexer import TEMPO

_MAX_STEP_MICROSECONDS = 100_000
_DEFAULT_MICROSECONDS = 500_000  # 120 quarter notes a minute


def perform_ornaments(notes: list[list], events: list) -> list[list[int]]:
    """Notes ([onset, end, pitch] in units, some with an ornament as a fourth item) with each
    ornament played out into plain notes."""
    tempos = sorted((time, value) for time, kind, value in events if kind == TEMPO)
    played: list[list[int]] = []
    for note in notes:
        if len(note) == 3:
            played.append(note)
            continue
        onset, end, pitch, (kind, up, down, unit) = note
        if kind == "staccato":
            played.append([onset, onset + (end - onset) // 2, pitch])
        elif kind == "trill":
            played.extend(_trill(onset, end, pitch, up, _microseconds_at(tempos, onset)))
        elif kind == "five_note_roll":
            played.extend(_five_note_roll(onset, end, pitch, up, down))
        else:
            played.extend(_roll(onset, end, pitch, up, down, unit))
    return played


def _microseconds_at(tempos: list[tuple[int, float]], time: int) -> int:
    """Microseconds per quarter note at `time`, as abc2midi keeps the tempo (an integer)."""
    qpm = None
    for start, value in tempos:
        if start > time:
            break
        qpm = value
    return int(60_000_000 / qpm) if qpm else _DEFAULT_MICROSECONDS


def _trill(onset: int, end: int, pitch: int, up: int, microseconds: int) -> list[list[int]]:
    length = end - onset
    common = gcd(length, WHOLE)
    count, steps_per_whole = length // common, WHOLE // common
    while microseconds * 4 // steps_per_whole > _MAX_STEP_MICROSECONDS and WHOLE % (steps_per_whole * 2) == 0:
        count, steps_per_whole = count * 2, steps_per_whole * 2
    step = WHOLE // steps_per_whole
    return [[onset + index * step, onset + (index + 1) * step, up if index % 2 == 0 else pitch]
            for index in range(count)]


def _roll(onset: int, end: int, pitch: int, up: int, down: int, unit: int) -> list[list[int]]:
    cut = unit // 4
    if end - onset == 3 * unit:
        first, second = onset + unit, onset + 2 * unit
        return [[onset, first, pitch], [first, first + cut, up], [first + cut, second, pitch],
                [second, second + cut, down], [second + cut, end, pitch]]
    if end - onset > cut:
        return [[onset, onset + cut, up], [onset + cut, end, pitch]]
    return [[onset, end, pitch]]


def _five_note_roll(onset: int, end: int, pitch: int, up: int, down: int) -> list[list[int]]:
    times = [onset + (end - onset) * index // 5 for index in range(6)]
    return [[times[index], times[index + 1], sounding] for index, sounding in enumerate((pitch, up, pitch, down, pitch))]
