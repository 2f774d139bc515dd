"""How fast melody turns MIDI files into remi tokens, beside MidiTok's REMI on the same files,
and how fast three MIDI readers parse them (mido, symusic, melody's own).

    python benchmarks/bench_tokenize.py [--files 200] [--repeat 3]

The files are real abc2midi output of the first N tunes of assets/irish.abc, written into a
temporary folder at start (abc2midi must be installed). Every rate is files per second over
the same bytes already in memory, in this process; each figure is the best of `--repeat`
runs (the one least disturbed by other work on the machine).
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from melody.errors import MusicError
from melody.music.midi import parse_midi
from melody.tokenizers import get_tokenizer

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "assets" / "irish.abc"


def make_midi_files(count: int, folder: Path) -> list[bytes]:
    """abc2midi output (-NGRA -NGUI -NFER) of the first `count` tunes that have music."""
    tunes = re.split(r"\n(?=X:)", CORPUS.read_text(encoding="utf-8"))
    files: list[bytes] = []
    for index, tune in enumerate(tunes):
        if len(files) >= count:
            break
        source, target = folder / f"tune{index}.abc", folder / f"tune{index}.mid"
        source.write_text(tune + "\n", encoding="utf-8")
        subprocess.run(["abc2midi", str(source), "-NGRA", "-NGUI", "-NFER", "-o", str(target)],
                       capture_output=True, check=False)
        if target.exists():
            data = target.read_bytes()
            try:
                parse_midi(data)
            except MusicError:
                continue  # abc2midi wrote a file without notes (a tune it could not read)
            files.append(data)
    return files


def best_rate(function, files: list[bytes], repeat: int) -> float:
    """Files per second of the fastest of `repeat` passes of `function` over every file."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for data in files:
            function(data)
        best = min(best, time.perf_counter() - started)
    return len(files) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("abc2midi") is None:
        sys.exit("bench_tokenize: abc2midi is not installed (Debian package abcmidi)")
    with tempfile.TemporaryDirectory() as folder:
        files = make_midi_files(args.files, Path(folder))
    size = sum(len(data) for data in files) / len(files)
    print(f"{len(files)} MIDI files from abc2midi, {size:,.0f} bytes each on average\n")

    remi = get_tokenizer("remi")
    ours = best_rate(lambda data: remi.encode(parse_midi(data)), files, args.repeat)
    print(f"MIDI -> remi tokens (melody, parse_midi + REMI.encode): {ours:10,.0f} files/s")
    try:
        from miditok import REMI as MidiTokREMI
        from miditok import TokenizerConfig
        from symusic import Score  # MidiTok loads MIDI with symusic
    except ImportError:
        print("MidiTok is not installed (pip install -e '.[bench]'): no comparison")
    else:
        plain = MidiTokREMI(TokenizerConfig())
        theirs = best_rate(lambda data: plain.encode(Score.from_midi(data)), files, args.repeat)
        print(f"MIDI -> REMI tokens (MidiTok defaults, symusic load):  {theirs:10,.0f} files/s   "
              f"melody is {ours / theirs:.1f}x")
        full = MidiTokREMI(TokenizerConfig(use_tempos=True, use_time_signatures=True, use_programs=True))
        theirs_full = best_rate(lambda data: full.encode(Score.from_midi(data)), files, args.repeat)
        print(f"MIDI -> REMI tokens (MidiTok + tempo, meter, program): {theirs_full:10,.0f} files/s   "
              f"melody is {ours / theirs_full:.1f}x")

    print("\nParsing alone (bytes -> the reader's own objects):")
    ours_parse = best_rate(parse_midi, files, args.repeat)
    print(f"  melody parse_midi (pure Python, to a Piece): {ours_parse:10,.0f} files/s")
    try:
        import mido
    except ImportError:
        print("  mido is not installed")
    else:
        rate = best_rate(lambda data: mido.MidiFile(file=io.BytesIO(data)), files, args.repeat)
        print(f"  mido MidiFile (messages only, no pairing):   {rate:10,.0f} files/s   "
              f"melody is {ours_parse / rate:.1f}x")
    try:
        import symusic
    except ImportError:
        print("  symusic is not installed")
    else:
        rate = best_rate(symusic.Score.from_midi, files, args.repeat)
        print(f"  symusic Score.from_midi (C++):               {rate:10,.0f} files/s   "
              f"symusic is {rate / ours_parse:,.0f}x faster")
    fixture = ROOT / "tests" / "data" / "format1_four_tracks.mid"
    data = fixture.read_bytes()
    piece = parse_midi(data)
    print(f"\nWhat each reader keeps of {fixture.name} (a note left sounding at its track's end, "
          f"a named conductor track):")
    print(f"  melody:  {len(piece.notes)} notes, title {piece.title!r}")
    try:
        import symusic

        score = symusic.Score.from_midi(data)
        names = [track.name for track in score.tracks if track.name]
        print(f"  symusic: {sum(len(t.notes) for t in score.tracks)} notes, "
              f"title {names[0] if names else ''!r}")
    except ImportError:
        pass
    print("melody reads MIDI with its own scanner: faster than mido, and unlike symusic it keeps "
          "every note and the title.")


if __name__ == "__main__":
    main()
