"""How fast melody reads ABC: tunes per second for parse_abc on the shipped corpus, beside
music21's ABC parser on the same tunes in the same process.

    python benchmarks/bench_abc.py [--music21-tunes 40] [--repeat 3]

music21 is much slower, so it is timed on the first N tunes only; both rates are tunes per
second of CPU time, so the ratio compares like with like (melody is also timed on the same N
tunes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import best_cpu_time
from melody.errors import MusicError
from melody.music.abc import parse_abc

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "assets" / "irish.abc"


def _tunes(text: str) -> list[str]:
    """Each tune of the corpus that has notes, as its own text (the corpus has no file header)."""
    blocks = [block if block.startswith("X:") else "X:" + block for block in text.split("\nX:")]
    usable = []
    for block in blocks:
        try:
            parse_abc(block)
        except MusicError:
            continue  # two tunes of the corpus have a blank line before their music
        usable.append(block)
    return usable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music21-tunes", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    text = CORPUS.read_text(encoding="utf-8")
    tunes = _tunes(text)
    subset = tunes[:args.music21_tunes]

    whole = best_cpu_time(lambda: parse_abc(text, source=str(CORPUS)), args.repeat)
    print(f"melody parse_abc, whole file:  {len(tunes)} tunes in {whole:.3f} s = {len(tunes) / whole:,.0f} tunes/s")
    ours = best_cpu_time(lambda: [parse_abc(tune) for tune in subset], args.repeat)
    print(f"melody parse_abc, {len(subset)} tunes:    {ours:.3f} s = {len(subset) / ours:,.0f} tunes/s")
    try:
        from music21 import converter
    except ImportError:
        print("music21 is not installed (pip install music21): no baseline")
        return
    theirs = best_cpu_time(lambda: [converter.parse(tune, format="abc") for tune in subset], args.repeat)
    print(f"music21 converter.parse, {len(subset)} tunes: {theirs:.3f} s = {len(subset) / theirs:,.1f} tunes/s")
    print(f"ratio (melody / music21 tunes/s, same {len(subset)} tunes): {theirs / ours:,.0f}x")


if __name__ == "__main__":
    main()
