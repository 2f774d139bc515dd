"""Velocities through ABC (issue 14): the reader plays !ppp!..!fff! at abc2midi's velocities, the
writer marks each voice where its loudness level changes, and MIDI -> ABC -> MIDI keeps every
note's level; what the eight levels cannot hold exactly is counted in the writer's one warning."""

from __future__ import annotations

import subprocess
from pathlib import Path

import mido
import pytest

from melody.cli import main
from melody.music.abc import parse_abc, piece_to_abc
from melody.music.abc.dynamics import LEVELS, level_of
from melody.music.io import read
from melody.music.notes import Note, Piece
from conftest import DATA, require_program

MULTI_TRACK = ["format0_mixed.mid", "format1_four_tracks.mid", "abc2midi_coleraine_chords.mid"]


def _abc2midi_velocities(text: str, folder: Path) -> list[tuple[int, int, int]]:
    """(onset on the 24-tick grid from the first note, pitch, velocity) of every note abc2midi
    plays for `text`, every track. Chord notes start together (no humanising delay: a setting
    abc2midi takes inside the tune, so right after the X: line)."""
    source, target = folder / "tune.abc", folder / "tune.mid"
    x_line, _, rest = text.partition("\n")
    source.write_text(f"{x_line}\n%%MIDI chordattack 0\n{rest}", encoding="utf-8")
    subprocess.run([require_program("abc2midi"), str(source), "-o", str(target), "-silent"],
                   capture_output=True, timeout=60, check=True)
    midi = mido.MidiFile(str(target))
    scale = midi.ticks_per_beat / 24
    notes = []
    for track in midi.tracks:
        now = 0
        for message in track:
            now += message.time
            if message.type == "note_on" and message.velocity > 0:
                notes.append((round(now / scale), message.note, message.velocity))
    first = min(onset for onset, _, _ in notes)
    return sorted((onset - first, pitch, velocity) for onset, pitch, velocity in notes)


def _melody_velocities(piece: Piece) -> list[tuple[int, int, int]]:
    first = min(note.onset for note in piece.notes)
    return sorted((note.onset - first, note.pitch, note.velocity) for note in piece.notes)


def _tune(body: str, header: str = "M:4/4\nL:1/8\nK:G") -> str:
    return f"X:1\nT:t\n{header}\n%%MIDI nobeataccents\n{body}|\n"


def test_each_mark_reads_as_abc2midis_velocity_until_the_next() -> None:
    body = "GA !ppp!B !pp!c !p!d !mp!e !mf!f !f!g | !ff!a !fff!b +p+c' d'"
    assert [n.velocity for n in parse_abc(_tune(body))[0].notes] == [80, 80, 20, 35, 50, 65, 80, 95, 110, 125, 50, 50]


def test_marks_follow_the_playing_order_and_stay_in_their_voice() -> None:
    text = ("X:1\nT:t\nM:4/4\nL:1/4\nK:C\nV:1\n|: C !p!D E F :|\nV:2\n%%MIDI program 40\nc d !ff!e f|\n")
    notes = parse_abc(text)[0].notes
    first = [n.velocity for n in notes if n.program == 0]
    second = [n.velocity for n in notes if n.program == 40]
    # The repeat starts again at the p of the first pass: C is played p the second time.
    assert first == [80, 50, 50, 50, 50, 50, 50, 50]
    assert second == [80, 80, 110, 110]


def test_both_readings_read_the_marks() -> None:
    text = _tune("!p!TG2 .A !f!~B3")
    assert {n.velocity for n in parse_abc(text)[0].notes} == {50, 95}
    performed = parse_abc(text, perform=True)[0].notes
    assert {n.velocity for n in performed if n.onset < 36} == {50} and performed[-1].velocity == 95


@pytest.mark.parametrize("body, header", [
    # Notes before any mark differ (abc2midi 95 under nobeataccents, melody 80): the writer marks
    # every voice's first note.
    ("!mf!GA !ppp!B !pp!c !p!d !mp!e !mf!f !f!g | !ff!a !fff!b +p+c' d'", "M:4/4\nL:1/8\nK:G"),
    ("|: !p!G2 A B :|[1 !f!c4 :|[2 !pp![ce]2 d2-|d4", "M:4/4\nL:1/8\nK:C"),
    ("!mp!(3GAB !ff!c>d e/f/g/a/ !p!z2 b2", "M:4/4\nL:1/8\nK:D"),
])
def test_abc2midi_plays_the_marks_at_the_velocities_melody_reads(body: str, header: str, tmp_path: Path) -> None:
    text = _tune(body, header)
    assert _melody_velocities(parse_abc(text)[0]) == _abc2midi_velocities(text, tmp_path)


@pytest.mark.parametrize("name", MULTI_TRACK)
def test_midi_to_abc_to_midi_keeps_every_notes_velocity_level(name: str, tmp_path: Path, capsys) -> None:
    source = DATA / name
    assert main(["convert", str(source), str(tmp_path / "tune.abc")]) == 0
    assert main(["convert", str(tmp_path / "tune.abc"), str(tmp_path / "back.mid")]) == 0
    original, back = read(source)[0], read(tmp_path / "back.mid")[0]

    def played(piece: Piece) -> list[tuple]:
        return sorted((n.onset, n.pitch, n.duration, n.program, n.is_drum, level_of(n.velocity)) for n in piece.notes)

    assert played(back) == played(original)
    assert {n.velocity for n in back.notes} <= set(LEVELS.values())
    assert len({level_of(n.velocity) for n in original.notes}) > 1  # a fixture with more than one level
    rounded = sum(n.velocity not in LEVELS.values() for n in original.notes)
    warning = [line for line in capsys.readouterr().err.splitlines() if "velocities" in line]
    assert warning and f"{rounded} note velocities rounded to the nearest of ABC's 8 dynamics marks" in warning[0]


@pytest.mark.parametrize("name", MULTI_TRACK)
def test_abc2midi_plays_the_written_abc_at_the_velocities_melody_reads(name: str, tmp_path: Path) -> None:
    text = piece_to_abc(read(DATA / name)[0])
    assert "!" in text
    assert _abc2midi_velocities(text, tmp_path) == _melody_velocities(parse_abc(text)[0])


def test_a_piece_at_the_plain_velocity_is_written_without_marks() -> None:
    warnings: list[str] = []
    piece = Piece(notes=[Note(0, 60, 12), Note(12, 62, 12)])
    text = piece_to_abc(piece, warnings.append)
    assert "!" not in text and "nobeataccents" not in text and warnings == []


def test_a_mark_is_written_where_the_level_changes_and_the_rest_is_counted() -> None:
    warnings: list[str] = []
    notes = [Note(0, 60, 12, 50), Note(12, 62, 12, 52), Note(24, 64, 12, 127), Note(36, 65, 12, 120),
             Note(48, 67, 72, 80)]  # crosses the bar line: tied, marked once
    text = piece_to_abc(Piece(notes=notes), warnings.append)
    assert text.split("\n")[6] == "%%MIDI nobeataccents"
    assert text.count("!") == 6 and "!p!CD!fff!EF!mf!G4- | G2" in text
    assert warnings == ["3 note velocities rounded to the nearest of ABC's 8 dynamics marks (ppp 20 to fff 125)"]


def test_notes_of_two_levels_at_one_time_are_not_one_chord() -> None:
    piece = Piece(notes=[Note(0, 60, 24, 40), Note(0, 64, 24, 100), Note(0, 67, 24, 100)])
    back = parse_abc(piece_to_abc(piece))[0]
    assert sorted((n.pitch, n.velocity) for n in back.notes) == [(60, 35), (64, 95), (67, 95)]
