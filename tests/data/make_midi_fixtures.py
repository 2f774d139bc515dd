"""Rebuild the MIDI fixtures in this folder (see README.md): `python tests/data/make_midi_fixtures.py`.

The abc2midi files are real tool output; the mido files each pin down one reader behaviour.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import mido

HERE = Path(__file__).resolve().parent
IRISH = HERE.parent.parent / "assets" / "irish.abc"
EXAMPLES = Path("/usr/share/doc/abcmidi/examples")
M, Meta = mido.Message, mido.MetaMessage


def irish_tune(title: str) -> str:
    """One tune of assets/irish.abc by title (tunes start at X: lines)."""
    tunes = re.split(r"\n(?=X:)", IRISH.read_text(encoding="utf-8"))
    return next(t for t in tunes if re.search(rf"^T:{re.escape(title)}$", t, re.MULTILINE))


def abc2midi(abc_text: str, out: Path, *flags: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "tune.abc"
        source.write_text(abc_text, encoding="utf-8")
        subprocess.run(["abc2midi", str(source), *flags, "-o", str(out)], check=True, capture_output=True)


def save(name: str, tracks: list[list], kind: int = 1, ticks: int = 480) -> None:
    midi = mido.MidiFile(type=kind, ticks_per_beat=ticks)
    for events in tracks:
        midi.tracks.append(mido.MidiTrack(events))
    midi.save(HERE / name)


def main() -> None:
    plain = ("-NGRA", "-NGUI", "-NFER")
    abc2midi(irish_tune("Alexander's"), HERE / "abc2midi_alexanders.mid", *plain)  # C|, D major
    abc2midi(irish_tune("Banish Misfortune"), HERE / "abc2midi_banish_misfortune.mid", *plain)  # jig, D mixolydian
    # Guitar chords on: abc2midi writes format 1 with chord and bass tracks (real multi-track).
    abc2midi((EXAMPLES / "coleraine.abc").read_text(encoding="latin-1"), HERE / "abc2midi_coleraine_chords.mid")
    abc2midi((EXAMPLES / "drums.abc").read_text(encoding="latin-1"), HERE / "abc2midi_drums.mid")

    # Format 0: several channels and programs, drums on channel 10, a tempo and a meter change,
    # zero-velocity note-offs, and overlapping notes of one pitch on one channel.
    save("format0_mixed.mid", [[
        Meta("track_name", name="Format zero"),
        Meta("set_tempo", tempo=500000), Meta("time_signature", numerator=4, denominator=4),
        Meta("key_signature", key="Em"),
        M("program_change", channel=0, program=40), M("program_change", channel=1, program=33),
        M("note_on", channel=0, note=64, velocity=90), M("note_on", channel=1, note=40, velocity=70),
        M("note_on", channel=9, note=36, velocity=100),
        M("note_on", channel=9, note=36, velocity=0, time=120),
        M("note_on", channel=0, note=64, velocity=60, time=120),  # same pitch again: overlap
        M("note_on", channel=0, note=64, velocity=0, time=240),  # ends the first (FIFO)
        M("note_on", channel=1, note=40, velocity=0, time=0),
        Meta("set_tempo", tempo=400000, time=480),  # 150 qpm from beat 3 of bar 1... at tick 960
        M("note_on", channel=0, note=64, velocity=0, time=480),  # ends the second
        Meta("time_signature", numerator=3, denominator=4, time=480),  # bar 2 is 3/4
        M("note_on", channel=0, note=67, velocity=80), M("note_off", channel=0, note=67, time=1440),
    ]], kind=0)

    # Format 1: a named conductor track, a piano, a cello and a drum track; a key change
    # to a minor key, a tempo change, a 6/8 section, running notes, a note left hanging.
    conductor = [Meta("track_name", name="Four tracks"), Meta("set_tempo", tempo=600000),
                 Meta("time_signature", numerator=4, denominator=4), Meta("key_signature", key="G"),
                 Meta("time_signature", numerator=6, denominator=8, time=1920),
                 Meta("key_signature", key="Bm", time=0), Meta("set_tempo", tempo=500000, time=720)]
    piano = [M("program_change", channel=0, program=0)]
    for index, note in enumerate((67, 71, 74, 79, 74, 71, 67, 62)):
        piano += [M("note_on", channel=0, note=note, velocity=70 + index, time=0 if index == 0 else 0),
                  M("note_off", channel=0, note=note, velocity=64, time=240)]
    piano += [M("note_on", channel=0, note=71, velocity=88, time=240)]  # never ended: closed at track end
    piano += [Meta("end_of_track", time=720)]
    cello = [M("program_change", channel=1, program=42), M("note_on", channel=1, note=43, velocity=75),
             M("note_off", channel=1, note=43, time=1920), M("note_on", channel=1, note=47, velocity=75),
             M("note_off", channel=1, note=47, time=1440)]
    drums = []
    for index in range(8):
        drums += [M("note_on", channel=9, note=42 if index % 2 else 36, velocity=100, time=0 if index == 0 else 216),
                  M("note_on", channel=9, note=42 if index % 2 else 36, velocity=0, time=24)]
    save("format1_four_tracks.mid", [conductor, piano, cello, drums])

    # Format 2: two independent sequences, read one after the other.
    save("format2_two_sequences.mid", [
        [Meta("track_name", name="Sequences"), M("note_on", note=60, velocity=80), M("note_off", note=60, time=480)],
        [M("note_on", note=62, velocity=80), M("note_off", note=62, time=480)],
    ], kind=2)

    # Running status written byte by byte (mido never writes it): C-E-G with note-on
    # velocity 0 as note-off, all under one status byte; then a meta event and more running status.
    body = bytes([0x00, 0xC0, 0x18,  # program 24 (nylon guitar)
                  0x00, 0x90, 60, 80, 0x60, 60, 0, 0x00, 64, 81, 0x60, 64, 0, 0x00, 67, 82,
                  0x60, 0xFF, 0x01, 0x04]) + b"mark" + bytes([0x00, 67, 0, 0x00, 0xFF, 0x2F, 0x00])
    data = (b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big")
            + (96).to_bytes(2, "big") + b"MTrk" + len(body).to_bytes(4, "big") + body)
    (HERE / "running_status.mid").write_bytes(data)


if __name__ == "__main__":
    main()
