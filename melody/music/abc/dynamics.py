"""ABC's eight dynamics marks as velocities, both ways: what the reader plays, what the writer marks.

abc2midi 4.84 plays each mark as a `%%MIDI beat` of three velocities (measured: !p! is 60 on
the bar's first note, 50 on a beat, 35 between beats) and, under `%%MIDI nobeataccents`, plays
every note at the middle one. melody reads every note after a mark at that middle velocity
(`LEVELS`), until the voice's next mark, in playing order; a note before any mark keeps the
reader's plain velocity (`expand.VELOCITY`, 80: mf's). The writer marks a voice wherever its
level changes, the level being the nearest of the eight to a note's velocity, and writes
`%%MIDI nobeataccents` in each voice it marks, so that abc2midi plays the velocities melody reads.
Marks in a voice overlay ('&') or inside a chord are not read.
"""

from __future__ import annotations

from bisect import bisect_right

# abc2midi's middle velocity for each mark, softest first (store.c: event_handle_instruction).
LEVELS = {"ppp": 20, "pp": 35, "p": 50, "mp": 65, "mf": 80, "f": 95, "ff": 110, "fff": 125}


def level_of(velocity: int) -> str:
    """The mark whose velocity is nearest `velocity` (the eight are 15 apart, so never a tie)."""
    return min(LEVELS, key=lambda name: abs(LEVELS[name] - velocity))


def velocities_at(onsets: list[int], changes: list[tuple[int, int]], default: int) -> list[int]:
    """The velocity in force at each onset: that of the last mark at or before it, `default`
    before the first. `changes` are (time, velocity) in playing order, so their times ascend."""
    times = [time for time, _ in changes]
    values = [default] + [velocity for _, velocity in changes]
    return [values[bisect_right(times, onset)] for onset in onsets]
