"""`melody generate --num N` in batches: pieces per second and time to the first file, by batch size.

    python benchmarks/bench_generate_batches.py [--num 256] [--bars 16] [--sizes 16,32,64,128,256]

The baseline is one batch of all N pieces (what `--num` did before generation.BATCH_SIZE):
every size is timed in this same process on the shipped default model, and printed beside it
as a ratio of pieces per second, with the seconds until the first batch is done (the first
file a user sees). Every size must give the pieces of the one-batch run, byte for byte
(piece i is seeded seed + i whatever the batch); the script says so or fails.

This machine is shared and its speed drifts, so every figure is the best of `--repeats` runs,
and the sizes take turns within each repeat so drift falls on all of them alike.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from melody.generation import GenerationSettings, batches, resolve_model  # noqa: E402
from melody.generation.run import BATCH_SIZE  # noqa: E402
from melody.music.io import render  # noqa: E402
from melody.nn.threads import intra_op_threads  # noqa: E402


def timed(model, settings: GenerationSettings, size: int) -> tuple[float, float, list[bytes]]:
    """Seconds for the whole run, seconds to the first batch, and every piece's MIDI."""
    start = time.perf_counter()
    first = None
    pieces: list[bytes] = []
    for takes in batches(model, settings, size=size):
        first = first if first is not None else time.perf_counter() - start
        pieces += [render(take.piece, "mid") for take in takes]
    return time.perf_counter() - start, first or 0.0, pieces


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=256)
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--sizes", default="16,32,64,128")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    sizes = [int(part) for part in options.sizes.split(",")]
    model = resolve_model("default")
    settings = GenerationSettings(num=options.num, bars=options.bars, seed=options.seed)
    best: dict[int, tuple[float, float]] = {}
    baseline_pieces: list[bytes] | None = None
    with intra_op_threads(1):
        for _ in range(options.repeats):
            for size in [options.num, *sizes]:
                total, first, pieces = timed(model, settings, size)
                if size == options.num:
                    baseline_pieces = pieces
                elif pieces != baseline_pieces:
                    print(f"batch size {size}: pieces differ from one batch of {options.num}", file=sys.stderr)
                    return 1
                old = best.get(size, (float("inf"), float("inf")))
                best[size] = (min(old[0], total), min(old[1], first))
    base_total, base_first = best[options.num]
    print(f"melody generate --num {options.num} --bars {options.bars}, shipped default model, 1 thread, "
          f"best of {options.repeats}; baseline: one batch of {options.num}")
    print(f"{'batch':>6} {'pieces/s':>9} {'vs one batch':>13} {'first batch s':>14} {'vs one batch':>13}")
    for size in [options.num, *sizes]:
        total, first = best[size]
        mark = "  <- BATCH_SIZE" if size == BATCH_SIZE else ""
        print(f"{size:>6} {options.num / total:>9.1f} {base_total / total:>12.2f}x {first:>14.2f} "
              f"{base_first / first:>12.1f}x{mark}")
    print(f"every batch size gave the same {options.num} pieces, byte for byte")
    return 0


if __name__ == "__main__":
    sys.exit(main())
