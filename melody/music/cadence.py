"""Where a tune ends: the key in force at a tick, the note it ends on, and whether that is home.

A listener hears a folk tune end on its last note, and on the key's tonic it sounds finished
(three quarters of the shipped corpus's tunes end there). Evaluation counts it
(`melody.evaluation.form.tonic_ending`); generation closes a tune on it
(`melody.generation.cadence`). Both ask the same questions, so they live here.
"""

from __future__ import annotations

from melody.music.notes import Key, Note, Piece


def key_at(piece: Piece, tick: int) -> Key | None:
    """The key in force at `tick` (the first key when the piece's first key comes later)."""
    if not piece.keys:
        return None
    current = piece.keys[0]
    for key in piece.keys:
        if key.tick <= tick:
            current = key
    return current


def final_note(piece: Piece) -> Note | None:
    """The note a tune ends on: the highest pitched note (drums aside) of the latest onset.

    melody's pieces are tunes, and where a closing chord sounds the tune is its top voice,
    so its highest note is what a listener hears the tune end on. None without a pitched note.
    """
    pitched = [n for n in piece.notes if not n.is_drum]
    if not pitched:
        return None
    latest = max(n.onset for n in pitched)
    return max((n for n in pitched if n.onset == latest), key=lambda n: n.pitch)


def final_degree(piece: Piece) -> int | None:
    """The final note's pitch class in semitones above the tonic of the key in force at it
    (0 the tonic, 7 the fifth; the mode's own tonic: A for A dorian); None without a key or
    a pitched note."""
    last = final_note(piece)
    key = key_at(piece, last.onset if last is not None else 0)
    if last is None or key is None:
        return None
    return (last.pitch - key.tonic) % 12


def ends_on_tonic(piece: Piece) -> bool | None:
    """Whether the final note has the pitch class of the key's tonic; None as `final_degree`."""
    degree = final_degree(piece)
    return None if degree is None else degree == 0


DEGREE_NAMES = ("tonic", "flat second", "second", "minor third", "major third", "fourth", "tritone",
                "fifth", "minor sixth", "major sixth", "minor seventh", "major seventh")


def degree_name(degree: int) -> str:
    """A scale degree as a musician says it: 7 is "fifth", 3 "minor third"."""
    return DEGREE_NAMES[degree % 12]
