"""Many voices in ABC (issue 14): every note, program and drum hit from MIDI to ABC and back,
and every voice of an ABC tune read as abc2midi plays it."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from melody.music.abc import parse_abc, piece_to_abc
from melody.music.io import read, write
from melody.music.midi import midi_bytes, parse_midi
from melody.music.notes import Note, Piece
from conftest import DATA, require_program
from abc_reference import _abc2midi_notes, _melody_notes

MIDI_FIXTURES = sorted(DATA.glob("*.mid"))


def _notes(piece: Piece, relative: bool = False) -> Counter:
    """The notes as (onset, pitch, duration, program, drum), counted (velocity aside: ABC has none)."""
    first = min(n.onset for n in piece.notes) if relative else 0
    return Counter((n.onset - first, n.pitch, n.duration, 0 if n.is_drum else n.program, n.is_drum)
                   for n in piece.notes)


def _counts(piece: Piece) -> tuple[int, int, set[int]]:
    """What `melody inspect` counts: notes, drum hits, programs."""
    return (len(piece.notes), sum(n.is_drum for n in piece.notes),
            {n.program for n in piece.notes if not n.is_drum})


@pytest.mark.parametrize("path", MIDI_FIXTURES, ids=lambda path: path.name)
def test_midi_to_abc_to_midi_keeps_every_note_program_and_drum_hit(path: Path, tmp_path: Path) -> None:
    source = read(path)[0]
    abc = tmp_path / "tune.abc"
    write(source, abc)
    back = read(abc)[0]
    assert _notes(back) == _notes(source)
    midi = tmp_path / "tune.mid"
    write(back, midi)
    again = read(midi)[0]
    assert _notes(again) == _notes(source)
    assert _counts(again) == _counts(source)


def test_the_round_trip_keeps_the_whole_multi_track_fixture_set() -> None:
    """The aim, counted: 100% of notes, programs and drum hits over every fixture."""
    kept = total = 0
    for path in MIDI_FIXTURES:
        source = read(path)[0]
        back = parse_midi(midi_bytes(parse_abc(piece_to_abc(source))[0]))
        total += len(source.notes)
        kept += sum((_notes(source) & _notes(back)).values())
    assert total > 1000 and kept == total


@pytest.mark.parametrize("path", MIDI_FIXTURES, ids=lambda path: path.name)
def test_abc2midi_plays_the_written_voices_with_their_programs_and_drums(path: Path, tmp_path: Path) -> None:
    abc2midi = require_program("abc2midi")
    source = read(path)[0]
    text = piece_to_abc(source)
    # Chord notes start together (abc2midi staggers them by default: a performance nicety).
    text = text.replace("\nK:", "\n%%MIDI chordattack 0\nK:", 1)
    (tmp_path / "t.abc").write_text(text)
    subprocess.run([abc2midi, str(tmp_path / "t.abc"), "-o", str(tmp_path / "t.mid"), "-NGRA", "-NGUI",
                    "-NFER", "-silent"], capture_output=True, timeout=60, check=False)
    played = read(tmp_path / "t.mid")[0]
    assert _notes(played, relative=True) == _notes(source, relative=True)


def test_a_single_line_of_music_is_written_without_voices() -> None:
    piece = Piece(notes=[Note(0, 60, 12), Note(12, 64, 12), Note(24, 60, 24), Note(24, 67, 24)])
    text = piece_to_abc(piece)
    assert "V:" not in text and "%%MIDI" not in text
    assert "[CG]2" in text


def test_overlapping_notes_of_one_instrument_get_voices_of_their_own() -> None:
    piece = Piece(notes=[Note(0, 60, 48, program=40), Note(12, 64, 12, program=40), Note(0, 60, 12, program=40),
                         Note(0, 36, 6, is_drum=True), Note(6, 38, 6, is_drum=True)])
    text = piece_to_abc(piece)
    assert text.count("%%MIDI program 40") == 2 and text.count("%%MIDI channel 10") == 1
    assert _notes(parse_abc(text)[0]) == _notes(piece)


DUET = """X:1
T:duet
M:2/4
L:1/8
K:G
V:1
%%MIDI program 73
dB AG|A4|]
V:2
%%MIDI program 42
G,2 D,2|[D,F,]4|]
V:3
%%MIDI channel 10
C,,C,, ^F,,^F,,|C,,4|]
"""


def test_every_voice_keeps_its_program_and_drums_their_channel() -> None:
    piece = parse_abc(DUET)[0]
    by_program = Counter((n.program, n.is_drum) for n in piece.notes)
    assert by_program == {(73, False): 5, (42, False): 4, (0, True): 5}
    assert [n.pitch for n in piece.notes if n.is_drum] == [36, 36, 42, 42, 36]


def test_voices_play_together_as_abc2midi_plays_them(tmp_path: Path) -> None:
    abc2midi = require_program("abc2midi")
    expected = _abc2midi_notes(abc2midi, DUET.replace("%%MIDI channel 10\n", ""), "1", tmp_path, "duet")
    assert _melody_notes(DUET) == expected


OVERLAY = "X:1\nT:overlay\nM:4/4\nL:1/4\nK:D\nA B c d & F G A B|e2 f2 & c4 & A,4|d4|]\n"


def test_voice_overlays_sound_beside_their_bar(tmp_path: Path) -> None:
    notes = parse_abc(OVERLAY)[0].notes
    assert [(n.onset, n.pitch) for n in notes if n.onset == 0] == [(0, 66), (0, 69)]
    assert len(notes) == 4 + 4 + 2 + 1 + 1 + 1
    expected = _abc2midi_notes(require_program("abc2midi"), OVERLAY, "1", tmp_path, "overlay")
    assert _melody_notes(OVERLAY) == expected


def test_a_declared_voice_without_notes_is_said() -> None:
    warnings = []
    piece = parse_abc("X:1\nM:4/4\nL:1/4\nV:1\nV:2\nK:C\nV:1\nCDEF|\n", on_warning=warnings.append)[0]
    assert len(piece.notes) == 4
    assert [(w.message, w.line) for w in warnings] == [("voice '2' is declared but has no notes", 5)]


@pytest.mark.parametrize("directive, message", [("%%MIDI program 200", "program 200 is out of range"),
                                                ("%%MIDI channel 17", "channel 17 is out of range")])
def test_a_midi_directive_out_of_range_is_a_warning(directive: str, message: str) -> None:
    warnings = []
    text = f"X:1\nM:4/4\nL:1/4\nK:C\nV:1\n{directive}\nCDEF|\nV:2\n%%MIDI program 5\nC,4|\n"
    piece = parse_abc(text, on_warning=warnings.append)[0]
    assert {n.program for n in piece.notes if n.pitch >= 60} == {0}
    assert {n.program for n in piece.notes if n.pitch < 60} == {5}
    assert [w.line for w in warnings if message in w.message] == [6]


def test_convert_and_inspect_show_the_same_counts_as_the_source(tmp_path: Path, capsys) -> None:
    from melody.cli import main

    source = DATA / "abc2midi_coleraine_chords.mid"
    abc, midi = tmp_path / "c.abc", tmp_path / "c.mid"
    assert main(["convert", str(source), str(abc)]) == 0
    assert main(["convert", str(abc), str(midi)]) == 0
    capsys.readouterr()
    rows = []
    for path in (source, abc, midi):
        assert main(["inspect", "--json", str(path)]) == 0
        rows.append(json.loads(capsys.readouterr().out))
    counts = [(row["notes"], row["programs"], row["drums"]) for row in rows]
    assert counts[0] == counts[1] == counts[2] == (823, 2, 378)
    assert _counts(read(midi)[0]) == _counts(read(source)[0])
