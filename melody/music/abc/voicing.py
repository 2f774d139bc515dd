"""A piece's notes as ABC voices: one per instrument, more where an instrument's notes overlap.

An ABC voice is one line of music: notes and chords one after another, a chord's notes all as
long as each other. So each instrument (program, or the drums) is laid out as few such lines as
hold every note: notes that start together with the same length form a chord, and each chord
goes on the first line that is silent by its onset (greedy interval colouring, which uses as
many lines as the most chords that ever sound at once). A pitch repeated at one onset and
length goes on a second line, so no note is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from melody.music.notes import Piece

Event = tuple[int, int, tuple[int, ...]]  # onset, duration, pitches


@dataclass
class VoiceLine:
    """One ABC voice: the instrument it plays and its (onset, duration, pitches) in order."""

    program: int
    drum: bool
    events: list[Event] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.events[-1][0] + self.events[-1][1] if self.events else 0


def voice_lines(piece: Piece) -> list[VoiceLine]:
    """Every note of `piece` on voice lines: instruments by program (drums last), each split
    into as few monophonic-or-chordal lines as its overlaps need."""
    by_instrument: dict[tuple[bool, int], dict[tuple[int, int], list[int]]] = {}
    for note in piece.notes:
        instrument = (note.is_drum, 0 if note.is_drum else note.program)
        by_instrument.setdefault(instrument, {}).setdefault((note.onset, note.duration), []).append(note.pitch)
    lines: list[VoiceLine] = []
    for (drum, program), chords in sorted(by_instrument.items()):
        own: list[VoiceLine] = []
        for (onset, duration), pitches in sorted(chords.items()):
            for chord in _unique_chords(pitches):
                line = next((line for line in own if line.end <= onset), None)
                if line is None:
                    line = VoiceLine(program, drum)
                    own.append(line)
                line.events.append((onset, duration, chord))
        lines.extend(own)
    return lines


def _unique_chords(pitches: list[int]) -> list[tuple[int, ...]]:
    """Pitches as chords of distinct pitches: [60, 64, 60] -> (60, 64), (60,)."""
    chords: list[list[int]] = []
    for pitch in sorted(pitches):
        target = next((chord for chord in chords if pitch not in chord), None)
        if target is None:
            chords.append([pitch])
        else:
            target.append(pitch)
    return [tuple(sorted(chord)) for chord in chords]
