"""MIDI channels and control changes (issue 14): programs never share a channel while they
sound, pedals, volume, pan and expression carried MIDI to MIDI, and the sustain pedal played
into note lengths by the tokenizers."""

from __future__ import annotations

import sys
from pathlib import Path

import mido
import pytest

from melody.cli import main
from melody.music.io import read, write
from melody.music.midi import midi_bytes, parse_midi
from melody.music.notes import Control, Note, Piece, TimeSignature, apply_sustain
from melody.tokenizers import get_tokenizer


def _played_programs(data: bytes, path: Path) -> list[tuple[int, int, int]]:
    """(tick, program a synthesizer plays, program the track meant) for every note-on, with
    the program changes of all tracks applied to their channels in time order, as a player does."""
    path.write_bytes(data)
    midi = mido.MidiFile(str(path))
    meant = {}
    timeline = []
    for number, track in enumerate(midi.tracks):
        now = 0
        for message in track:
            now += message.time
            if message.type == "program_change":
                meant[number] = message.program
            order = 0 if message.type == "program_change" else 1
            timeline.append((now, order, number, message))
    playing = [0] * 16
    heard = []
    for now, _, number, message in sorted(timeline, key=lambda event: event[:3]):
        if message.type == "program_change":
            playing[message.channel] = message.program
        elif message.type == "note_on" and message.velocity and message.channel != 9:
            heard.append((now, playing[message.channel], meant.get(number, 0)))
    return heard


def _instruments(count: int, overlap: int) -> Piece:
    """`count` programs, each playing a bar, `overlap` of them sounding at any time."""
    notes = []
    for index in range(count):
        start = (index // overlap) * 96
        notes += [Note(start + 24 * beat, 60 + index % 12, 24, program=10 + index) for beat in range(4)]
    return Piece(notes=notes, time_signatures=[TimeSignature(0, 4, 4)])


def test_eighteen_instruments_in_turn_never_play_with_another_ones_program(tmp_path: Path) -> None:
    piece = _instruments(18, overlap=6)
    warnings = []
    data = midi_bytes(piece, on_warning=warnings.append)
    heard = _played_programs(data, tmp_path / "x.mid")
    assert len(heard) == 72 and all(played == meant for _, played, meant in heard)
    assert warnings == []
    back = parse_midi(data)
    assert sorted((n.onset, n.pitch, n.program) for n in back.notes) == \
        sorted((n.onset, n.pitch, n.program) for n in piece.notes)


def test_up_to_fifteen_programs_keep_a_channel_each_from_the_start(tmp_path: Path) -> None:
    piece = _instruments(15, overlap=15)
    heard = _played_programs(midi_bytes(piece), tmp_path / "x.mid")
    assert all(played == meant for _, played, meant in heard)


def test_more_than_fifteen_at_once_is_said_in_one_line() -> None:
    warnings = []
    midi_bytes(_instruments(18, overlap=18), on_warning=warnings.append)
    assert len(warnings) == 1
    assert "18 melodic instruments sound at once" in warnings[0] and "15 melodic channels" in warnings[0]


def _pedalled(tmp_path: Path) -> Path:
    """A two-track file: piano with pedal, volume and pan; cello with expression; drums."""
    midi = mido.MidiFile(ticks_per_beat=480)
    piano = mido.MidiTrack([
        mido.Message("program_change", program=0, channel=0, time=0),
        mido.Message("control_change", control=7, value=100, channel=0, time=0),
        mido.Message("control_change", control=10, value=30, channel=0, time=0),
        mido.Message("note_on", note=60, velocity=80, channel=0, time=0),
        mido.Message("control_change", control=64, value=127, channel=0, time=240),
        mido.Message("note_off", note=60, velocity=0, channel=0, time=240),
        mido.Message("note_on", note=64, velocity=80, channel=0, time=0),
        mido.Message("note_off", note=64, velocity=0, channel=0, time=480),
        mido.Message("control_change", control=64, value=0, channel=0, time=960),
        mido.Message("pitchwheel", pitch=2000, channel=0, time=0),
    ])
    cello = mido.MidiTrack([
        mido.Message("control_change", control=11, value=90, channel=1, time=0),
        mido.Message("program_change", program=42, channel=1, time=0),
        mido.Message("note_on", note=48, velocity=70, channel=1, time=0),
        mido.Message("note_off", note=48, velocity=0, channel=1, time=1920),
    ])
    drums = mido.MidiTrack([
        mido.Message("control_change", control=7, value=110, channel=9, time=0),
        mido.Message("note_on", note=36, velocity=100, channel=9, time=0),
        mido.Message("note_off", note=36, velocity=0, channel=9, time=120),
    ])
    midi.tracks.extend([piano, cello, drums])
    path = tmp_path / "pedal.mid"
    midi.save(str(path))
    return path


def test_control_changes_are_read_with_the_instrument_they_act_on(tmp_path: Path) -> None:
    piece = read(_pedalled(tmp_path))[0]
    assert piece.controls == sorted([
        Control(0, 7, 100, 0), Control(0, 10, 30, 0), Control(12, 64, 127, 0), Control(96, 64, 0, 0),
        Control(0, 11, 90, 42), Control(0, 7, 110, 0, True)])


def test_midi_to_midi_carries_sustain_volume_pan_and_expression(tmp_path: Path) -> None:
    source = read(_pedalled(tmp_path))[0]
    write(source, tmp_path / "copy.mid")
    copy = read(tmp_path / "copy.mid")[0]
    assert copy.controls == source.controls
    assert copy.notes == source.notes


def test_the_sustain_pedal_holds_released_notes_until_it_comes_up() -> None:
    piece = Piece(notes=[Note(0, 60, 24), Note(24, 64, 24), Note(48, 60, 12), Note(96, 67, 12), Note(0, 40, 12, program=5)],
                  controls=[Control(12, 64, 127), Control(84, 64, 0)])
    held = apply_sustain(piece)
    assert [(n.onset, n.pitch, n.duration) for n in held.notes if n.program == 0] == [
        (0, 60, 48),   # held until the same pitch is struck again
        (24, 64, 60),  # held until the pedal comes up at 84
        (48, 60, 36),
        (96, 67, 12),  # after the pedal: as played
    ]
    assert [n.duration for n in held.notes if n.program == 5] == [12]  # another instrument's pedal
    assert apply_sustain(Piece(notes=[Note(0, 60, 24)])).notes == [Note(0, 60, 24)]


@pytest.mark.parametrize("name", ["remi", "performance"])
def test_tokenizers_play_the_pedal_into_note_lengths(name: str, tmp_path: Path) -> None:
    source = read(_pedalled(tmp_path))[0]
    tokenizer = get_tokenizer(name)
    decoded = tokenizer.decode(tokenizer.encode(source))
    lengths = {n.pitch: n.duration for n in decoded.notes}
    assert lengths[60] == 96 and lengths[64] == 72  # released under the pedal: held until it comes up
    assert "apply_sustain" in sys.modules[type(tokenizer).__module__].__doc__  # stated in the grammar


def test_convert_to_abc_says_what_abc_cannot_carry(tmp_path: Path, capsys) -> None:
    source = _pedalled(tmp_path)
    assert main(["convert", str(source), str(tmp_path / "p.abc")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "control changes" in line]
    # One line for all ABC cannot carry: the bass (velocity 70) and the drum (100) are written as
    # !mp! (65) and !f! (95).
    assert lines == [f"warning: {tmp_path / 'p.abc'}: 6 control changes not written, ABC has no place for "
                     f"them (volume 2, sustain 2, pan 1, expression 1); 2 note velocities rounded to the "
                     f"nearest of ABC's 8 dynamics marks (ppp 20 to fff 125)"]
