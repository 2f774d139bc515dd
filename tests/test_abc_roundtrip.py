"""ABC -> notes -> ABC -> notes gives the same notes, and abc2midi accepts what melody writes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from melody.music.abc import parse_abc, piece_to_abc
from melody.music.notes import Key, Note, Piece, Tempo, TimeSignature
from conftest import IRISH, require_program


def _notes(piece: Piece) -> list[tuple[int, int, int]]:
    return [(n.onset, n.pitch, n.duration) for n in piece.notes]


@pytest.fixture(scope="module")
def irish_pieces() -> list[Piece]:
    return parse_abc(IRISH.read_text(encoding="utf-8"), source=str(IRISH))


@pytest.mark.slow
def test_every_irish_tune_survives_abc_round_trip(irish_pieces: list[Piece]) -> None:
    changed = []
    for piece in irish_pieces:
        again = parse_abc(piece_to_abc(piece))
        assert len(again) == 1
        if _notes(again[0]) != _notes(piece):
            changed.append(piece.tune)
    assert not changed, f"tunes whose notes change through piece_to_abc: {changed}"


def test_round_trip_keeps_meter_key_and_title(irish_pieces: list[Piece]) -> None:
    piece = irish_pieces[0]
    again = parse_abc(piece_to_abc(piece))[0]
    assert again.title == piece.title
    assert again.time_signature == piece.time_signature
    assert (again.key.tonic, again.key.mode) == (piece.key.tonic, piece.key.mode)


@pytest.mark.slow
def test_abc2midi_reads_what_melody_writes_without_errors(irish_pieces: list[Piece], tmp_path: Path) -> None:
    program = require_program("abc2midi")
    text = "\n".join(piece_to_abc(p.replace(tune=str(i))) for i, p in enumerate(irish_pieces, 1))
    (tmp_path / "all.abc").write_text(text, encoding="utf-8")
    result = subprocess.run([program, "all.abc"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "error" in line.lower()]
    assert not errors, errors[:5]
    assert len(list(tmp_path.glob("all*.mid"))) == len(irish_pieces)


def test_polyphony_keeps_every_note_in_chords_and_voices() -> None:
    piece = Piece(notes=[Note(0, 60, 24), Note(0, 64, 24), Note(24, 67, 48), Note(24, 48, 12)],
                  time_signatures=[TimeSignature(0, 4, 4)], keys=[Key(0, 0)])
    text = piece_to_abc(piece)
    again = parse_abc(text)[0]
    assert _notes(again) == [(0, 60, 24), (0, 64, 24), (24, 48, 12), (24, 67, 48)]
    assert text.count("V:") == 2 and "[CE]2" in text


def test_awkward_lengths_accidentals_and_bar_crossings_round_trip() -> None:
    notes = [Note(0, 61, 5), Note(5, 61, 7), Note(12, 63, 40), Note(52, 70, 1), Note(60, 59, 100),
             Note(200, 108, 8), Note(208, 21, 16)]
    piece = Piece(notes=notes, time_signatures=[TimeSignature(0, 3, 4)], keys=[Key(0, 2, "minor")])
    again = parse_abc(piece_to_abc(piece))[0]
    assert _notes(again) == [(n.onset, n.pitch, n.duration) for n in notes]


def test_pickup_round_trips_to_the_same_place() -> None:
    piece = Piece(notes=[Note(84, 62, 12), Note(96, 67, 24)], time_signatures=[TimeSignature(0, 4, 4)])
    text = piece_to_abc(piece)
    assert text.splitlines()[-1].startswith("D ")  # no leading rest: written as a pickup
    assert _notes(parse_abc(text)[0]) == [(84, 62, 12), (96, 67, 24)]


def test_meter_changes_are_written_inline() -> None:
    piece = Piece(notes=[Note(0, 60, 72), Note(72, 62, 96)],
                  time_signatures=[TimeSignature(0, 3, 4), TimeSignature(72, 4, 4)])
    again = parse_abc(piece_to_abc(piece))[0]
    assert [(s.tick, s.numerator) for s in again.time_signatures] == [(0, 3), (72, 4)]
    assert _notes(again) == [(0, 60, 72), (72, 62, 96)]


def test_empty_piece_writes_a_readable_tune() -> None:
    text = piece_to_abc(Piece())
    assert text.startswith("X:1\nT:Untitled\n")


@st.composite
def melodies(draw: st.DrawFn) -> Piece:
    """Monophonic pieces with any onsets and lengths on the tick grid, in a random meter and key."""
    numerator, denominator = draw(st.sampled_from([(4, 4), (3, 4), (6, 8), (2, 2), (5, 8), (7, 4)]))
    notes, time = [], draw(st.integers(0, 200))
    for _ in range(draw(st.integers(1, 25))):
        duration = draw(st.integers(1, 150))
        notes.append(Note(time, draw(st.integers(21, 108)), duration))
        time += duration + draw(st.sampled_from([0, 0, 0, 1, 5, 12, 40]))
    key = Key(0, draw(st.integers(0, 11)), draw(st.sampled_from(["major", "minor", "dorian", "lydian"])))
    return Piece(notes=notes, time_signatures=[TimeSignature(0, numerator, denominator)], keys=[key])


@settings(max_examples=150, deadline=None)
@given(melodies())
def test_any_melody_round_trips_through_abc(piece: Piece) -> None:
    again = parse_abc(piece_to_abc(piece))[0]
    assert _notes(again) == _notes(piece)


def test_silence_before_the_only_bar_line_is_not_taken_for_a_pickup() -> None:
    piece = Piece(notes=[Note(10, 60, 5), Note(20, 62, 76)], time_signatures=[TimeSignature(0, 4, 4)])
    assert _notes(parse_abc(piece_to_abc(piece))[0]) == [(10, 60, 5), (20, 62, 76)]


@st.composite
def melodies_with_changes(draw: st.DrawFn) -> Piece:
    """A melody whose key and tempo change at random ticks inside it (mid-bar and mid-note too)."""
    piece = draw(melodies())
    start, end = piece.notes[0].onset, piece.notes[-1].end
    keys = [piece.keys[0]]
    for tick in sorted(draw(st.sets(st.integers(start + 1, max(start + 1, end - 1)), max_size=3))):
        key = Key(tick, draw(st.integers(0, 11)), draw(st.sampled_from(["major", "minor", "mixolydian"])))
        if (key.tonic, key.mode) != (keys[-1].tonic, keys[-1].mode):  # a change changes something
            keys.append(key)
    tempos = [Tempo(0, 120.0)]
    for tick in sorted(draw(st.sets(st.integers(start + 1, max(start + 1, end - 1)), max_size=2))):
        qpm = float(draw(st.integers(40, 200)))
        if qpm != tempos[-1].qpm:
            tempos.append(Tempo(tick, qpm))
    return piece.replace(keys=keys, tempos=tempos)


@settings(max_examples=150, deadline=None)
@given(melodies_with_changes())
def test_key_and_tempo_changes_are_written_inline_and_read_back(piece: Piece) -> None:
    again = parse_abc(piece_to_abc(piece))[0]
    assert _notes(again) == _notes(piece)
    assert [(k.tick, k.tonic, k.mode) for k in again.keys] == [(k.tick, k.tonic, k.mode) for k in piece.keys]
    assert [(t.tick, t.qpm) for t in again.tempos] == [(t.tick, t.qpm) for t in piece.tempos]


def test_abc2midi_plays_a_mid_bar_key_change_as_melody_reads_it(tmp_path: Path) -> None:
    # C# in G major, then a change to F major in the same bar and a C natural: the standard
    # does not say whether the bar's sharp outlives the change, so the writer spells "=c".
    import mido

    program = require_program("abc2midi")
    notes = [Note(0, 73, 24), Note(24, 78, 24), Note(48, 72, 24), Note(72, 70, 24), Note(96, 72, 48)]
    piece = Piece(notes=notes, time_signatures=[TimeSignature(0, 4, 4)],
                  keys=[Key(0, 7, "major"), Key(48, 5, "major")], tempos=[Tempo(0, 120.0), Tempo(96, 80.0)])
    text = piece_to_abc(piece)
    assert "[K:F]=c" in text.replace(" ", "") and "[Q:1/4=80]" in text
    assert _notes(parse_abc(text)[0]) == _notes(piece)
    (tmp_path / "t.abc").write_text(text, encoding="utf-8")
    result = subprocess.run([program, "t.abc", "-o", "t.mid"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert "error" not in (result.stdout + result.stderr).lower()
    played = [m.note for track in mido.MidiFile(tmp_path / "t.mid").tracks for m in track
              if m.type == "note_on" and m.velocity > 0]
    assert played == [n.pitch for n in notes]


def test_a_mid_bar_key_change_ends_the_bars_accidentals_as_abc2midi_plays_it(tmp_path: Path) -> None:
    import mido

    program = require_program("abc2midi")
    text = "X:1\nT:t\nM:4/4\nL:1/8\nK:G\n^c2 f2 [K:F] c2 f2 | c8 |]\n"
    (tmp_path / "k.abc").write_text(text, encoding="utf-8")
    subprocess.run([program, "k.abc", "-o", "k.mid"], cwd=tmp_path, capture_output=True, timeout=60, check=True)
    played = [m.note for track in mido.MidiFile(tmp_path / "k.mid").tracks for m in track
              if m.type == "note_on" and m.velocity > 0]
    assert [n.pitch for n in parse_abc(text)[0].notes] == played == [73, 78, 72, 77, 72]  # f#, then f
