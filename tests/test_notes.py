"""The shared note representation: keys, bar lines, transposition."""

import pytest

from melody.music.notes import Key, Note, Piece, TimeSignature


def test_key_signature_sharps_for_modes():
    assert Key(0, 2, "major").sharps == 2  # D major
    assert Key(0, 9, "minor").sharps == 0  # A minor
    assert Key(0, 2, "dorian").sharps == 0  # D dorian = C major
    assert Key(0, 7, "mixolydian").sharps == 0
    assert Key(0, 5, "major").sharps == -1  # F major
    assert Key(0, 4, "minor").sharps == 1  # E minor


def test_key_scale_is_the_modes_pitch_classes():
    assert Key(0, 2, "dorian").scale == frozenset({0, 2, 4, 5, 7, 9, 11})
    assert Key(0, 9, "minor").scale == Key(0, 0, "major").scale
    assert Key(0, 7, "major").scale == frozenset({7, 9, 11, 0, 2, 4, 6})


def test_bar_starts_follow_time_signature_changes():
    piece = Piece(notes=[Note(0, 60, 24 * 14)],
                  time_signatures=[TimeSignature(0, 4, 4), TimeSignature(96 * 2, 3, 4)])
    assert piece.bar_starts() == [0, 96, 192, 264]


def test_transposition_keeps_drums_and_checks_range():
    piece = Piece(notes=[Note(0, 120, 24), Note(0, 36, 24, is_drum=True)], keys=[Key(0, 0)])
    up = piece.transposed(7)
    assert sorted(n.pitch for n in up.notes) == [36, 127]
    assert up.keys[0].tonic == 7
    with pytest.raises(ValueError):
        piece.transposed(8)
