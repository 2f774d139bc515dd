"""What the abc2midi comparisons share (test_abc_reference, test_abc_perform, test_abc_voices,
test_abc_reader_fixes): running abc2midi on a tune, reading both MIDI files as notes, and
comparing every tune of the corpus and of the examples.

abc2midi is the reference: every tune of the shipped corpus and of the ABC examples Debian
installs must play note for note (pitch, onset, duration) as abc2midi plays it.

abc2midi runs with -NGRA -NGUI -NFER (no grace notes, guitar chords or fermatas), the choices
melody's reader makes, on the tunes without their playback settings (see _PLAYBACK_ONLY). Its MIDI (480 ticks per quarter) is rounded to melody's 24-tick grid, and
onsets are compared relative to the first note, since melody shifts a pickup onto the bar grid.
Every voice is compared: abc2midi writes each to its own track, melody plays them together.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mido
from melody.errors import MusicError
from melody.music.abc import parse_abc
from conftest import IRISH

EXAMPLE_DIRS = (Path("/usr/share/doc/abcmidi/examples"), Path("/usr/share/doc/abcm2ps/examples"))
MIN_IDENTICAL = 0.99
# abc2midi's performance settings, which melody's reader ignores as the notation's meaning does
# not depend on them: %%MIDI directives (transpose, trim, ratio, drums, ...) and R:hornpipe,
# from which abc2midi swings pairs of eighths. abc2midi gets the tunes without them.
_PLAYBACK_ONLY = re.compile(r"\s*(%%MIDI|R:)")
# Decorations: melody drops them all; abc2midi plays some as ornaments (T trill, ~ roll, .
# staccato...) and has no switch to stop, so its copy has them taken out of the music lines
# (quoted text, inline fields and comments are kept as they are).
_DECORATION = re.compile(r'("[^"]*")|(\[[A-Za-z]:[^\]]*\])|(%.*)|(![^!\s|"]{1,40}!|\+[^+\s|"]{1,40}\+|[.~HLMOPSTuvJR])')
_FIELD_LINE = re.compile(r"[A-Za-z+]:|%")


def _without_decorations(line: str) -> str:
    if _FIELD_LINE.match(line):
        return line
    return _DECORATION.sub(lambda m: "" if m.group(4) else m.group(0), line)

# Tunes where melody's notes differ from abc2midi's, each with its cause. Keys are (file, X),
# with '#index' added where irish.abc repeats an X number.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    ("irish.abc", "147"): "abc2midi drops the music after 'M:9/8' on a field line ('M:9/8 EDC DA,B, "
                          "CDE|!'); melody plays it in the new meter",
    ("irish.abc", "138#456"): "same: 'M:3/4 egdB A2| M:4/4 egdB GABd|...' is music abc2midi drops",
    ("baym_rebin.abc", "63"): "'K: C^f^c^a': abc2midi takes the '^f' glued to the tonic for an unknown "
                              "mode and drops it; melody applies all three accidentals",
    ("sample.abc", "9"): "quintuplets of 1/32 notes ((5e//f//g//f//g//): notes shorter than one tick of "
                         "melody's 24-per-quarter grid round differently",
    ("sample3.abc", "1"): "abcm2ps-only syntax ('|1.2[M:5/4 (2/4 3/4)]', '[\"last time\"') that abc2midi "
                          "misreads into stacked notes",
    ("sample3.abc", "4"): "an overlay across bars ('(&Bc|de&FG|AB&)cd'): abc2midi mixes overlay notes into "
                          "the first voice; melody reads each '&' as an overlay of its own bar",
    ("sample4.abc", "2"): "slur-direction marks ('FG) and (,FG): abc2midi halves the F after (' and "
                          "rejects (,",
    ("sample5.abc", "3"): "voices interleaved line by line: abc2midi carries V:1s's '_d' into V:1's bar; "
                          "melody keeps accidentals per voice",
}

# Example tunes whose performance (`parse_abc(perform=True)`) differs from abc2midi's, beyond
# the literal reading's own known differences above, each with what abc2midi does.
KNOWN_PERFORMED_DIFFERENCES: dict[tuple[str, str], str] = {
    ("deco.abc", "1"): "'T!b!!(pp)!A2': abc2midi stops at a decoration letter followed by a '!...!' "
                       "decoration ('Malformed note') and drops the trill",
    ("sample.abc", "6"): "'~[d2f2a2]': abc2midi refuses an ornament on a chord ('Rolls and trills not "
                         "supported in chords') and plays the chord for half its length, shifting the "
                         "rest of the tune",
    ("sample2.abc", "6"): "'!D.C.!F': abc2midi reads the dots inside '!D.C.!' as a staccato",
    ("sample3.abc", "1"): "abcm2ps-only syntax abc2midi misreads (see the literal reading's entry)",
}

# The known differences where abc2midi misreads the notation (drops or mangles music that is
# written correctly, often saying so in an error): melody does not copy these, and the figures
# are given both raw and without them (benchmarks/bench_abc_agreement.py). The rest of the
# known differences are melody's own (its tick grid).
ABC2MIDI_MISREADINGS = frozenset({
    ("irish.abc", "147"), ("irish.abc", "138#456"), ("baym_rebin.abc", "63"), ("sample3.abc", "1"),
    ("sample3.abc", "4"), ("sample4.abc", "2"), ("sample5.abc", "3"), ("deco.abc", "1"),
    ("sample.abc", "6"), ("sample2.abc", "6"),
})


def _chunks(path: Path) -> list[tuple[str, str]]:
    """(X number, text) for each tune of a file: the file header plus the tune's lines."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    starts = [index for index, line in enumerate(lines) if line.startswith("X:")]
    if not starts:
        return []
    header = [line for line in lines[:starts[0]]]
    chunks = []
    for position, start in enumerate(starts):
        stop = starts[position + 1] if position + 1 < len(starts) else len(lines)
        number = lines[start][2:].split("%")[0].strip()
        chunks.append((number, "\n".join(header + lines[start:stop]) + "\n"))
    return chunks


def _abc2midi_notes(program: str, text: str, number: str, folder: Path, name: str,
                    performed: bool = False) -> list[tuple[int, int, int]] | None:
    """abc2midi's notes, every voice, as (onset, pitch, duration) on the 24-tick grid.

    `performed`: the tune keeps its decorations and R: field (what melody's performed reading
    plays); %%MIDI directives still go.
    """
    source = folder / f"{name}.abc"
    target = folder / f"{name}.mid"
    # Chord notes start together: no humanising delay between them (a playing nicety only;
    # abc2midi takes the setting inside a tune, so it goes right after the X: line).
    if performed:
        text = "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("%%MIDI"))
    else:
        text = "\n".join(_without_decorations(line) for line in text.split("\n")
                         if not _PLAYBACK_ONLY.match(line))
    header, x_line, rest = text.partition("\nX:")
    if not x_line:
        header, x_line, rest = "", "X:", text[2:]
    first, _, body = rest.partition("\n")
    source.write_text(f"{header}\nX:{first}\n%%MIDI chordattack 0\n{body}", encoding="utf-8")
    subprocess.run([program, str(source), number or "1", "-o", str(target), "-NGRA", "-NGUI", "-NFER",
                    "-silent"], capture_output=True, timeout=60, check=False)
    if not target.exists():
        return None
    return _midi_notes(target)


def _midi_notes(path: Path) -> list[tuple[int, int, int]]:
    """Every voice's notes (every track) of a MIDI file as (onset, pitch, duration) on the grid,
    relative to the first note."""
    midi = mido.MidiFile(str(path))
    scale = midi.ticks_per_beat / 24
    notes = []
    for track in midi.tracks:
        track_notes: set[tuple[int, int, int]] = set()
        sounding, now = {}, 0
        for message in track:
            now += message.time
            if message.type == "note_on" and message.velocity > 0:
                sounding.setdefault((message.channel, message.note), []).append(now)
            elif message.type in ("note_on", "note_off"):
                started = sounding.get((message.channel, message.note))
                if started:
                    begin = started.pop(0)
                    onset, end = round(begin / scale), round(now / scale)
                    track_notes.add((onset, message.note, end - onset))
        # A unison in a chord ([cc]) is one sounding note on a MIDI channel; melody keeps one.
        # The same note in two voices is two.
        notes.extend(track_notes)
    return _relative(sorted(notes))


def _relative(notes: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    if not notes:
        return []
    first = min(onset for onset, _, _ in notes)
    return sorted((onset - first, pitch, duration) for onset, pitch, duration in notes)


def _melody_notes(text: str, performed: bool = False) -> list[tuple[int, int, int]]:
    try:
        pieces = parse_abc(text, perform=performed)
    except MusicError:
        return []
    return _relative([(n.onset, n.pitch, n.duration) for n in pieces[0].notes])


def _files() -> list[Path]:
    files = [IRISH]
    for folder in EXAMPLE_DIRS:
        if folder.is_dir():
            files.extend(sorted(folder.glob("*.abc")))
    return files


def compare_all(program: str, performed: bool = False) -> dict[tuple[str, str], str]:
    """Every tune's difference from abc2midi ('' when identical), keyed by (file name, X);
    `performed` compares melody's performed reading with abc2midi's performance."""
    jobs = [(path.name, number, text) for path in _files() for number, text in _chunks(path)]
    results: dict[tuple[str, str], str] = {}
    with tempfile.TemporaryDirectory() as folder:
        def one(job: tuple[int, tuple[str, str, str]]) -> tuple[tuple[str, str], str]:
            index, (name, number, text) = job
            expected = _abc2midi_notes(program, text, number, Path(folder), f"t{index}", performed)
            actual = _melody_notes(text, performed)
            key = (name, number)
            if expected is None:
                return key, "" if not actual else "abc2midi wrote no file"
            if expected == actual:
                return key, ""
            for position, (want, got) in enumerate(zip(expected, actual)):
                if want != got:
                    return key, f"note {position}: abc2midi {want}, melody {got}"
            return key, f"abc2midi {len(expected)} notes, melody {len(actual)}"

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            for key, difference in pool.map(one, enumerate(jobs)):
                if key in results:  # irish.abc restarts X numbers per dance type
                    key = (key[0], f"{key[1]}#{sum(1 for k in results if k[0] == key[0])}")
                results[key] = difference
    return results
