"""Where does a model end a tune it is left to end? Lengths and endings without `--bars`.

    python benchmarks/bench_length.py [--model models/default ...] [--num 100] [--seed 1] [--threads 2]

For each model folder (several: side by side, in this one run), samples `--num` tunes with no
bar count, as `melody generate` does without `--bars` (the model ends a tune; at most 64 new
bars), once with the model's own last bar (`--cadence off`) and once at the sampling defaults
(the corpus cadence draws a last bar again where it misses its aim). Prints how long the tunes
are, how many ran to the 64-bar limit instead of ending, how many end on the tonic and bring a
part back, beside the same figures for the model's real tunes (held-out and training).
Markdown, ready for benchmarks/REPORT.md.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def shown(path: str) -> str:
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else path


def row(name: str, pieces: list, limit: int | None) -> str:
    """One table row: lengths (median, 5-95%), share at the limit, tonic ending, returning part."""
    import numpy as np

    from melody.evaluation.form import length_in_bars, returning_part
    from melody.music.cadence import ends_on_tonic

    lengths = np.array([length_in_bars(p) for p in pieces], dtype=float)
    lengths = lengths[np.isfinite(lengths)]
    low, median, high = np.percentile(lengths, [5, 50, 95])
    at_limit = "" if limit is None else f"{100 * np.mean(lengths >= limit):.0f}%"
    tonic = [t for t in (ends_on_tonic(p) for p in pieces) if t is not None]
    parts = [returning_part(p) for p in pieces]
    parts = [p for p in parts if p == p]
    return (f"| {name} | {len(pieces)} | {median:.0f} | {low:.0f}..{high:.0f} | {at_limit} | "
            f"{100 * np.mean(tonic):.0f}% | {100 * np.mean(parts):.0f}% |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="model folder (repeat for several; default models/default)")
    parser.add_argument("--num", type=int, default=100, help="tunes per model and cadence (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="generation seed (default 1)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args(argv)
    models = args.model or [str(ROOT / "models" / "default")]

    import torch

    from common import model_and_split

    from melody.generation import GenerationSettings, generate
    from melody.generation.settings import DEFAULT_MAX_BARS

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    command = "python benchmarks/bench_length.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    lines = ["## Length: where a model ends a tune it is left to end", "", "```bash", command.strip(), "```", "",
             f"{args.num} tunes per row, seed {args.seed}, no `--bars` (the model ends each tune, by "
             f"{DEFAULT_MAX_BARS} new bars at the latest), temperature and top-p at melody's defaults. "
             "Length is in bars (a pickup counts as one); \"at the limit\" is the share that ran to the "
             "limit rather than ending.", "",
             "| tunes | count | median length | 5-95% | at the limit | tonic ending | returning part |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    real_rows: list[str] = []
    for folder in models:
        loaded = model_and_split(folder, "bench_length")
        if loaded is None:
            return 1
        model, split = loaded
        decode = model.tokenizer.decode
        real = [decode([int(t) for t in p.ids]) for p in (*split.held_out, *split.training)]
        if not real_rows:
            real_rows.append(row(f"real tunes of `{shown(folder)}`'s corpus", real, None))
        counts_down = bool(getattr(model.tokenizer, "countdown", False))
        for cadence in ("off", "corpus"):
            sampling = time.perf_counter()
            settings = GenerationSettings(num=args.num, seed=args.seed, cadence=cadence)
            pieces = [take.piece for take in generate(model, settings)]
            seconds = time.perf_counter() - sampling
            name = (f"`{shown(folder)}` ({'countdown' if counts_down else 'no countdown'}), cadence {cadence} "
                    f"({seconds:.0f} s)")
            lines.append(row(name, pieces, DEFAULT_MAX_BARS))
    lines += real_rows + ["", f"({time.perf_counter() - started:.0f} s in all.)"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
