"""How much slower melody reads multi-voice ABC than single-voice ABC of the same notes.

    python benchmarks/bench_abc_voices.py [--voices 4] [--repeat 3]

The tunes of the shipped corpus are taken in groups of `--voices`. Each group is written
twice, with the same bodies: as one tune whose voices (V:1, V:2, ...) play the tunes together,
and as one single-voice tune that plays them one after another. Each body starts with inline
[M:], [L:] and [K:] fields, so it reads alike in both. Both files are read with parse_abc in
the same process; the aim (issue 14) is a ratio of at most 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import best_cpu_time
from melody.errors import MusicError
from melody.music.abc import parse_abc

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "assets" / "irish.abc"


def _bodies(text: str) -> list[str]:
    """Each readable tune's body, opened by inline fields for its own meter, unit and key."""
    bodies = []
    for block in text.split("\nX:"):
        block = block if block.startswith("X:") else "X:" + block
        try:
            parse_abc(block)
        except MusicError:
            continue
        lines = block.strip().split("\n")
        fields = {line[0]: line[2:].split("%")[0].strip() for line in lines if line[1:2] == ":"}
        start = next(index for index, line in enumerate(lines) if line.startswith("K:")) + 1
        music = [line for line in lines[start:] if line[1:2] != ":" and not line.startswith("%")]
        inline = "".join(f"[{letter}:{fields[letter]}]" for letter in "MLK" if fields.get(letter))
        bodies.append(inline + "\n" + "\n".join(music))
    return bodies


def files(bodies: list[str], voices: int) -> tuple[str, str, int]:
    """(multi-voice text, single-voice text, tunes in each) for groups of `voices` bodies."""
    multi, single = [], []
    groups = len(bodies) // voices
    for number in range(groups):
        group = bodies[number * voices:(number + 1) * voices]
        head = f"X:{number + 1}\nT:group {number + 1}\nM:4/4\nL:1/8\nK:C\n"
        multi.append(head + "".join(f"V:{index}\n{body}\n" for index, body in enumerate(group, 1)))
        # A "||" before each body: a ":|" with no "|:" goes back there, as to the start of a voice.
        single.append(head + "".join(f"||{body}\n" for body in group))
    return "\n".join(multi), "\n".join(single), groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    multi, single, groups = files(_bodies(CORPUS.read_text(encoding="utf-8")), args.voices)
    multi_notes = sum(len(piece.notes) for piece in parse_abc(multi))
    single_notes = sum(len(piece.notes) for piece in parse_abc(single))
    one = best_cpu_time(lambda: parse_abc(single), args.repeat)
    many = best_cpu_time(lambda: parse_abc(multi), args.repeat)
    print(f"single voice: {groups} tunes, {single_notes:,} notes in {one:.3f} s")
    print(f"{args.voices} voices:     {groups} tunes, {multi_notes:,} notes in {many:.3f} s")
    # Played in a row, a body's ':|' with no '|:' can find another body's bar line, so the
    # note counts differ a little: the ratio is of time per note.
    ratio = (many / multi_notes) / (one / single_notes)
    print(f"ratio (multi-voice / single-voice time per note): {ratio:.2f}x (aim: at most 2x)")


if __name__ == "__main__":
    main()
