"""Notation robustness: bits per note of held-out tunes as written and at half note values.

    python benchmarks/bench_notation.py [--model models/default] [--threads 2]

A reel written in 4/4 with eighth notes and the same reel written in 4/8 with sixteenths are
one tune; a model that learned the music rather than the notation should find both about as
likely. Each of the model's held-out tunes is rewritten with `melody.music.notes.
scale_note_values(piece, 1/2)` (4/4 -> 4/8, 6/8 -> 6/16, 2/2 -> 2/4; onsets and durations
halved, tempo halved so it sounds the same), encoded with the model's own tokenizer, and
scored with `melody.evaluation.likelihood.evaluate_likelihood`, beside the same tunes as
written (a tune that cannot be halved, a 32nd note, or that the tokenizer cannot encode, is
left out of both and counted). The ratio halved / written is the figure (1.0: notation does
not matter; the issue asks for 1.3 or less), overall and per meter as written.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HALF = Fraction(1, 2)


@dataclass
class Scored:
    """Token ids and a note count: what evaluate_likelihood scores."""

    ids: list[int]
    notes: int


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "default"), help="model folder")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args(argv)

    import torch

    from common import model_and_split

    from melody.errors import MelodyError
    from melody.evaluation.likelihood import evaluate_likelihood
    from melody.music.notes import scale_note_values

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    loaded = model_and_split(args.model, "bench_notation")
    if loaded is None:
        return 1
    model, split = loaded
    tokenizer = model.tokenizer
    written: list[Scored] = []
    halved: list[Scored] = []
    meters: list[str] = []
    left_out: dict[str, int] = defaultdict(int)
    for tokenized in split.held_out:
        ids = [int(t) for t in tokenized.ids]
        piece = tokenizer.decode(ids)
        try:
            half = scale_note_values(piece, HALF)
            half_ids = tokenizer.encode(half)
        except ValueError:
            left_out["a tick would not be whole at half values"] += 1
            continue
        except MelodyError as error:
            left_out[f"the tokenizer cannot encode it ({error})"] += 1
            continue
        written.append(Scored(ids, len(piece.notes)))
        halved.append(Scored(list(half_ids), len(half.notes)))
        signature = piece.time_signature
        meters.append(f"{signature.numerator}/{signature.denominator}")
    if not written:
        print("bench_notation: no held-out tune could be halved", file=sys.stderr)
        return 1

    as_written = evaluate_likelihood(model, written)
    at_half = evaluate_likelihood(model, halved)

    def bits_per_note(result, rows: list[int]) -> float:
        nats = sum(result.per_piece[i][0] for i in rows)
        notes = sum(result.per_piece[i][2] for i in rows)
        return nats / math.log(2) / notes

    by_meter: dict[str, list[int]] = defaultdict(list)
    for index, meter in enumerate(meters):
        by_meter[meter].append(index)

    command = "python benchmarks/bench_notation.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    resolved = Path(args.model).resolve()
    name = resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else args.model
    skipped = "; ".join(f"{reason}: {count}" for reason, count in left_out.items()) or "none"
    lines = ["## Notation robustness: the same tunes at half note values", "", "```bash", command.strip(), "```", "",
             f"Model `{name}` ({model.family}, {tokenizer.name} tokens) on {len(written)} of its "
             f"{len(split.held_out)} held-out tunes (left out: {skipped}), as written and rewritten at half "
             f"note values (4/4 -> 4/8, 6/8 -> 6/16, 2/2 -> 2/4, tempo halved so it sounds the same); "
             f"{as_written.method}.", "",
             "| tunes | meter as written | bits/note as written | at half values | ratio |",
             "|---:|---|---:|---:|---:|"]
    for meter, rows in sorted(by_meter.items(), key=lambda item: -len(item[1])):
        before, after = bits_per_note(as_written, rows), bits_per_note(at_half, rows)
        lines.append(f"| {len(rows)} | {meter} | {before:.3f} | {after:.3f} | {after / before:.2f}x |")
    ratio = at_half.bits_per_note / as_written.bits_per_note
    lines += [f"| {len(written)} | all | **{as_written.bits_per_note:.3f}** | **{at_half.bits_per_note:.3f}** | "
              f"**{ratio:.2f}x** |", "",
              f"Bits per token: {as_written.bits_per_token:.3f} as written, {at_half.bits_per_token:.3f} at half "
              f"values ({as_written.tokens} and {at_half.tokens} tokens). "
              f"({time.perf_counter() - started:.0f} s in all.)"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
