"""The MIDI reader and writer, on real abc2midi output and files built with mido to pin one behaviour each."""

from __future__ import annotations

import io
import subprocess

import mido
import pretty_midi
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import DATA, require_program
from helpers import fifo_consistent
from melody.errors import MusicError
from melody.music import io as music_io
from melody.music.midi import midi_bytes, parse_midi
from melody.music.notes import Key, Note, Piece, Tempo, TimeSignature

FIXTURES = sorted(DATA.glob("*.mid"))


def read(name: str) -> Piece:
    path = DATA / name
    return parse_midi(path.read_bytes(), str(path))


def test_fixtures_are_present():
    assert len(FIXTURES) >= 8


def test_abc2midi_output_reads_with_title_meter_key_and_grid_notes():
    piece = read("abc2midi_alexanders.mid")
    assert piece.title == "Alexander's"
    assert piece.time_signatures == [TimeSignature(0, 2, 2)]
    assert piece.keys == [Key(0, 2, "major")]
    assert piece.tempos == [Tempo(0, 120.0)]
    assert len(piece.notes) == 262
    # abc2midi starts each note one MIDI tick late and ends it early: both round onto the grid.
    assert piece.notes[:3] == [Note(0, 69, 8, 105), Note(8, 71, 8, 80), Note(16, 73, 8, 80)]


def test_abc2midi_multitrack_output_keeps_programs_and_drums():
    piece = read("abc2midi_coleraine_chords.mid")
    instruments = {(n.program, n.is_drum) for n in piece.notes}
    assert len([i for i in instruments if not i[1]]) >= 2  # melody plus chord/bass programs
    drums = read("abc2midi_drums.mid")
    assert drums.notes and all(n.is_drum and n.program == 0 for n in drums.notes)
    assert {n.pitch for n in drums.notes} >= {35, 36, 37, 38}


def test_format0_channels_drums_zero_velocity_offs_and_overlapping_notes_pair_fifo():
    piece = read("format0_mixed.mid")
    assert piece.title == "Format zero"
    assert piece.notes == sorted([
        Note(0, 36, 6, 100, 0, True),  # channel 10
        Note(0, 40, 24, 70, 33),
        Note(0, 64, 24, 90, 40),  # the first note-off of pitch 64 ends the earliest 64
        Note(12, 64, 60, 60, 40),
        Note(96, 67, 72, 80, 40),
    ])
    assert piece.tempos == [Tempo(0, 120.0), Tempo(48, 150.0)]
    assert piece.time_signatures == [TimeSignature(0, 4, 4), TimeSignature(96, 3, 4)]
    assert piece.keys == [Key(0, 4, "minor")]


def test_format1_tracks_key_and_meter_changes_and_a_hanging_note_closed_at_track_end():
    piece = read("format1_four_tracks.mid")
    assert piece.title == "Four tracks"  # the conductor track's name, though it has no notes
    assert piece.keys == [Key(0, 7, "major"), Key(96, 11, "minor")]
    assert piece.time_signatures == [TimeSignature(0, 4, 4), TimeSignature(96, 6, 8)]
    assert piece.tempos == [Tempo(0, 100.0), Tempo(132, 120.0)]
    assert {n.program for n in piece.notes if not n.is_drum} == {0, 42}
    assert len([n for n in piece.notes if n.is_drum]) == 8
    assert Note(108, 71, 36, 88) in piece.notes  # never ended: closed where its track ends


def test_format2_sequences_play_one_after_another():
    assert read("format2_two_sequences.mid").notes == [Note(0, 60, 24), Note(24, 62, 24)]


def test_running_status_across_notes_and_a_meta_event():
    piece = read("running_status.mid")
    assert piece.notes == [Note(0, 60, 24, 80, 24), Note(24, 64, 24, 81, 24), Note(48, 67, 24, 82, 24)]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_written_midi_reads_back_identical(path):
    piece = parse_midi(path.read_bytes(), str(path))
    again = parse_midi(midi_bytes(piece))
    assert again.notes == piece.notes
    assert again.tempos == piece.tempos
    assert again.time_signatures == piece.time_signatures
    assert again.keys == piece.keys
    assert again.title == piece.title


def test_modes_end_and_meter_changes_survive_a_round_trip():
    piece = Piece(notes=[Note(0, 62, 36), Note(36, 64, 12, 100), Note(48, 65, 48, 33)],
                  keys=[Key(0, 2, "dorian"), Key(48, 7, "mixolydian")],
                  time_signatures=[TimeSignature(0, 6, 8), TimeSignature(72, 2, 4)],
                  tempos=[Tempo(0, 140.0), Tempo(72, 96.0)], title="Modal", end=96 + 48)
    again = parse_midi(midi_bytes(piece))
    assert (again.notes, again.keys, again.time_signatures, again.tempos, again.title, again.end) == (
        piece.notes, piece.keys, piece.time_signatures, piece.tempos, piece.title, piece.end)


def test_same_piece_gives_byte_identical_midi():
    piece = read("format1_four_tracks.mid")
    assert midi_bytes(piece) == midi_bytes(read("format1_four_tracks.mid"))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_written_midi_loads_in_mido_and_pretty_midi_with_every_note(path):
    piece = parse_midi(path.read_bytes(), str(path))
    data = midi_bytes(piece)
    midi = mido.MidiFile(file=io.BytesIO(data))
    assert midi.type == 1
    ons = sum(1 for track in midi.tracks for m in track if m.type == "note_on" and m.velocity > 0)
    assert ons == len(piece.notes)
    pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    assert sum(len(i.notes) for i in pm.instruments) == len(piece.notes)
    drums = [i for i in pm.instruments if i.is_drum]
    assert sum(len(i.notes) for i in drums) == sum(n.is_drum for n in piece.notes)


def test_midi2abc_reads_written_midi(tmp_path):
    midi2abc = require_program("midi2abc")
    for name in ("abc2midi_banish_misfortune.mid", "format1_four_tracks.mid"):
        path = tmp_path / name
        path.write_bytes(midi_bytes(read(name)))
        result = subprocess.run([midi2abc, str(path)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        assert "X:" in result.stdout and "K:" in result.stdout
        assert "rror" not in result.stderr


def test_read_and_write_through_the_file_door(tmp_path):
    piece = music_io.read(DATA / "format0_mixed.mid")[0]
    out = music_io.write(piece, tmp_path / "out.mid")
    assert music_io.read(out)[0].notes == piece.notes


HEADER = b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0"


@pytest.mark.parametrize("data, message", [
    (b"", "not a MIDI file"),
    (b"X:1\nT:tune\nK:D\nabc|\n", "not a MIDI file"),
    (b"MThd\x00\x00", "broken MIDI header"),
    (b"MThd\x00\x00\x00\x02\x00\x01\x00\x01\x01\xe0", "broken MIDI header"),
    (HEADER[:-2] + b"\xe7\x28", "SMPTE"),
    (HEADER[:-2] + b"\x00\x00", "0 ticks per quarter"),
    (HEADER, "no tracks"),
    (HEADER + b"MTrk\x00\x00\x00\x04\x00\xff\x2f\x00", "no notes"),
    (HEADER + b"MTrk\x00\x00\x00\x40\x00\x90\x3c", "truncated"),
    (HEADER + b"MTrk\x00\x00\x00\x04\x00\x3c\x40\x00", "no status"),
    (HEADER + b"MTrk\x00\x00\x00\x03\x00\x90\x3c", "truncated"),
    (HEADER + b"MTrk\x00\x00\x00\x09\xff\xff\xff\xff\xff\x90\x3c\x40\x00", "longer than four bytes"),
    (HEADER + b"MTrk\x00\x00\x00\x03\x00\x90\x3c" + b"MTrk\x00\x00\x00\x04\x00\xff\x2f\x00",
     "runs past the track's end"),
    (HEADER + b"MTrk\x00\x00\x00\x04\x00\xf3\x01\x00", "no place in a MIDI file"),
])
def test_broken_files_raise_music_error_naming_the_file(data, message):
    with pytest.raises(MusicError) as error:
        parse_midi(data, "bad.mid")
    assert message in str(error.value)
    assert str(error.value).startswith("bad.mid: ")


def test_a_truncated_real_file_is_refused():
    data = (DATA / "abc2midi_alexanders.mid").read_bytes()
    with pytest.raises(MusicError, match="truncated"):
        parse_midi(data[: len(data) // 2], "half.mid")


def test_absurdly_long_files_are_refused_not_read():
    # One note, then a note-off 2^27 MIDI ticks later (beyond melody's length limit).
    body = b"\x00\x90\x3c\x40" + b"\xc0\x80\x80\x00\x80\x3c\x00" + b"\x00\xff\x2f\x00"
    data = HEADER[:-2] + b"\x00\x18" + b"MTrk" + len(body).to_bytes(4, "big") + body
    with pytest.raises(MusicError, match="runs past"):
        parse_midi(data, "long.mid")


SEEDS = [path.read_bytes() for path in FIXTURES]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), edits=st.lists(
    st.tuples(st.sampled_from(["flip", "cut", "insert", "delete"]), st.integers(0, 10**6),
              st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_midi_raises_only_music_error(seed, edits):
    data = bytearray(seed)
    for action, where, byte in edits:
        if not data:
            break
        where %= len(data)
        if action == "flip":
            data[where] = byte
        elif action == "cut":
            del data[where:]
        elif action == "insert":
            data.insert(where, byte)
        else:
            del data[where]
    try:
        piece = parse_midi(bytes(data), "mutated.mid")
    except MusicError:
        return
    assert piece.notes
    assert all(n.duration >= 1 and 0 <= n.pitch <= 127 and 1 <= n.velocity <= 127 for n in piece.notes)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_music_error(data):
    try:
        parse_midi(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x00\x60" + data)
    except MusicError:
        pass


notes_strategy = st.lists(st.builds(
    lambda onset, pitch, duration, velocity, program, drum: Note(onset, pitch, duration, velocity,
                                                                 0 if drum else program, drum),
    st.integers(0, 3000), st.integers(0, 127), st.integers(1, 400), st.integers(1, 127),
    st.sampled_from([0, 1, 24, 40, 73, 127]), st.booleans()), min_size=1, max_size=40)


def changes(values):
    """Events at distinct rising ticks, each changing the value in force."""
    return st.lists(st.tuples(st.integers(0, 4000), values), max_size=4).map(
        lambda pairs: [(tick, value) for index, (tick, value) in enumerate(sorted(dict(pairs).items()))
                       if index == 0 or value != sorted(dict(pairs).items())[index - 1][1]])


@settings(max_examples=80, deadline=None)
@given(notes=notes_strategy,
       tempos=changes(st.sampled_from([40.0, 96.5, 120.0, 133.33, 200.0])),
       meters=changes(st.sampled_from([(2, 4), (3, 4), (4, 4), (6, 8), (5, 16), (3, 2)])),
       keys=changes(st.tuples(st.integers(0, 11), st.sampled_from(["major", "minor", "dorian", "lydian"]))),
       title=st.text(max_size=20).map(str.strip))
def test_any_piece_midi_can_say_reads_back_identical(notes, tempos, meters, keys, title):
    assume(fifo_consistent(notes))
    piece = Piece(notes=notes, tempos=[Tempo(t, q) for t, q in tempos],
                  time_signatures=[TimeSignature(t, *m) for t, m in meters],
                  keys=[Key(t, *k) for t, k in keys], title=title)
    again = parse_midi(midi_bytes(piece))
    assert again.notes == piece.notes
    assert again.tempos == piece.tempos
    assert again.time_signatures == piece.time_signatures
    assert again.keys == piece.keys
    assert again.title == title


def test_what_a_piece_cannot_hold_is_counted_in_one_warning():
    """Pitch bends, aftertouch and controllers melody does not carry are said, not dropped in
    silence; a bend back to centre and the carried controllers are not counted."""
    import io as bytes_io

    import mido

    from melody.music.io import parse_bytes

    song = mido.MidiFile()
    track = mido.MidiTrack()
    song.tracks.append(track)
    track.append(mido.Message("note_on", note=60, velocity=80, time=0))
    for pitch in (500, 900, 0):  # two bends away from centre, then back
        track.append(mido.Message("pitchwheel", pitch=pitch, time=10))
    track.append(mido.Message("aftertouch", value=50, time=0))
    track.append(mido.Message("control_change", control=7, value=60, time=0))  # volume: carried
    track.append(mido.Message("control_change", control=121, value=0, time=0))  # reset: no music
    track.append(mido.Message("control_change", control=3, value=9, time=0))  # undefined: dropped
    track.append(mido.Message("note_off", note=60, velocity=0, time=200))
    data = bytes_io.BytesIO()
    song.save(file=data)
    warnings = []
    pieces = parse_bytes(data.getvalue(), "bent.mid", warnings.append)
    assert len(pieces[0].notes) == 1 and len(warnings) == 1
    assert str(warnings[0]) == ("bent.mid: not kept (a note here has no bend or pressure): 2 pitch bends, "
                                "1 aftertouch event, 1 other controller change")
