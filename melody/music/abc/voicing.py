"""A piece's notes as ABC voices: one per instrument, more where an instrument's notes overlap.

An ABC voice is one line of music: notes and chords one after another, a chord's notes all as
long as each other. So each instrument (program, or the drums) is laid out as few such lines as
hold every note: notes that start together with the same length form a chord, and each chord
goes on the first line that is silent by its onset (greedy interval colouring, which uses as
many lines as the most chords that ever sound at once). A pitch repeated at one onset and
length goes on a second line, so no note is lost. Each chord keeps its notes' velocities, in the order of its
pitches; notes of different dynamics levels (`dynamics.level_of`) do not share a chord, since ABC
marks a chord's loudness once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from melody.music.abc.dynamics import level_of
from melody.music.notes import Piece

Event = tuple[int, int, tuple[int, ...], tuple[int, ...]]  # onset, duration, pitches, their velocities


@dataclass
class VoiceLine:
    """One ABC voice: the instrument it plays and its (onset, duration, pitches, velocities) in order."""

    program: int
    drum: bool
    events: list[Event] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.events[-1][0] + self.events[-1][1] if self.events else 0


def voice_lines(piece: Piece) -> list[VoiceLine]:
    """Every note of `piece` on voice lines: instruments by program (drums last), each split
    into as few monophonic-or-chordal lines as its overlaps need."""
    by_instrument: dict[tuple[bool, int], dict[tuple[int, int, int], list[tuple[int, int]]]] = {}
    for note in piece.notes:
        instrument = (note.is_drum, 0 if note.is_drum else note.program)
        chord = (note.onset, note.duration, level_of(note.velocity))
        by_instrument.setdefault(instrument, {}).setdefault(chord, []).append((note.pitch, note.velocity))
    lines: list[VoiceLine] = []
    for (drum, program), chords in sorted(by_instrument.items()):
        own: list[VoiceLine] = []
        for (onset, duration, _), notes in sorted(chords.items()):
            for chord, velocities in _unique_chords(notes):
                line = next((line for line in own if line.end <= onset), None)
                if line is None:
                    line = VoiceLine(program, drum)
                    own.append(line)
                line.events.append((onset, duration, chord, velocities))
        lines.extend(own)
    return lines


def _unique_chords(notes: list[tuple[int, int]]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(pitch, velocity) pairs as chords of distinct pitches, each (pitches, velocities):
    [(60, 80), (64, 90), (60, 70)] -> ((60, 64), (70, 90)), ((60,), (80,))."""
    chords: list[dict[int, int]] = []
    for pitch, velocity in sorted(notes):
        target = next((chord for chord in chords if pitch not in chord), None)
        if target is None:
            chords.append({pitch: velocity})
        else:
            target[pitch] = velocity
    return [(tuple(chord), tuple(chord.values())) for chord in chords]
