"""Sampling speed: tokens/s with and without the cache, at batch 1 and 32, for both families.

    python benchmarks/bench_sampling.py [--tokens 512] [--threads 2] [--quick]

Each row measures the cost of a token at position `--tokens`: a real remi prime (an irish.abc
tune) of `--tokens - 64` tokens goes in, then 64 tokens are sampled through melody's real
sampler (remi grammar masks, temperature 1, top-p 0.95) and only those 64 steps are timed.
"no cache" recomputes the forward over the whole context (up to the model's context length)
for every token, the baseline; "cache" feeds one token per step through `model.step` (the
Transformer's KV cache, the LSTM's carried state). Models are the shipped default where it is
of that family, else one of the sizes the comparison in models/default/MODEL_CARD.md trained.
Then the time to write a 32-bar tune with the shipped default: from the loaded model to its
files, and from a shell (a fresh `melody generate` process, beside `import torch` alone).

This machine is shared and its speed drifts by tens of percent within a minute, so every
figure is the best of `--repeats` runs, and the runs being compared (cache and no cache,
batch 1 and batch 32) take turns, so that drift falls on both sides of each ratio alike.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from melody.model_folder import DEFAULT_MODEL_DIR, load_model  # noqa: E402
from melody.nn import build_model  # noqa: E402
from melody.generation.sampling import BatchSampler, SamplingOptions  # noqa: E402
from melody.tokenizers import Constraints, get_tokenizer  # noqa: E402

# Sizes of the shipped default recipe (assets/configs/default.toml), used where no model is shipped.
SIZES = {
    "lstm": {"d_model": 192, "hidden": 0, "layers": 2, "dropout": 0.0},
    "transformer": {"d_model": 96, "layers": 4, "heads": 4, "context": 256, "dropout": 0.0},
}
TIMED = 64  # sampled tokens timed at the end of the prime


def net_for(family: str, vocab_size: int) -> torch.nn.Module:
    """The shipped default's network when it is of this family, else a fresh one of default size."""
    if (DEFAULT_MODEL_DIR / "config.json").is_file():
        config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
        if config.get("family") == family:
            return load_model(DEFAULT_MODEL_DIR).net.eval()
    torch.manual_seed(0)
    return build_model(family, {"vocab_size": vocab_size, **SIZES[family]}).eval()


def real_prime(tokenizer: Any, length: int) -> list[int]:
    """The first `length` tokens of the first irish.abc tune that long."""
    from melody.music.io import read

    for piece in read(ROOT / "assets" / "irish.abc"):
        ids = tokenizer.encode(piece)
        if len(ids) > length:
            return ids[:length]
    raise SystemExit(f"no tune in irish.abc has {length} tokens")


def tokens_per_second(net: Any, tokenizer: Any, batch: int, tokens: int, use_cache: bool,
                      threads: int, first: list[float] | None = None) -> float:
    """Sampled tokens per second (all sequences together) at position `tokens`; the seconds
    to the first token (the prime's pass) are appended to `first` when given."""
    # A bar quota no run reaches keeps EOS out, so every sequence draws all its tokens.
    grammar = tokenizer.grammar(Constraints(bars=100_000))
    sampler = BatchSampler(net, grammar, real_prime(tokenizer, tokens - TIMED), list(range(batch)),
                           SamplingOptions(1.0, 0, 0.95), max_new_tokens=TIMED + 1, use_cache=use_cache,
                           threads=threads)
    steps = sampler.run()
    start = time.perf_counter()
    next(steps)  # the prime goes in (one pass) and the first token comes out: not in the rate
    if first is not None:
        first.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in steps:
        pass
    elapsed = time.perf_counter() - start
    return batch * TIMED / elapsed


def tune_seconds(threads: int, bars: int = 32, repeats: int = 3) -> tuple[float, int]:
    """Median seconds from the loaded default model to a 32-bar tune's files on disk, and its tokens.

    What `melody generate --bars 32` does after its imports: sample (note events on, as the
    CLI streams), decode, and write the .mid, .abc and .json atomically.
    """
    import tempfile

    from melody.generation import GenerationSettings
    from melody.generation.run import _Run
    from melody.generation.takes import write_take

    model = load_model(DEFAULT_MODEL_DIR)
    times, lengths = [], []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(repeats):
            start = time.perf_counter()
            run = _Run(model, GenerationSettings(bars=bars, seed=seed), None, None)
            sampler = run._sampler([seed])
            sampler.threads = threads
            for _ in sampler.run():
                pass
            write_take(run.take(0, seed, sampler.results()[0], True), folder)
            times.append(time.perf_counter() - start)
            lengths.append(len(sampler.results()[0]))
    return sorted(times)[len(times) // 2], sorted(lengths)[len(lengths) // 2]


def cli_seconds() -> tuple[float, float]:
    """Wall seconds of `melody generate --bars 32` in a fresh process, and of `import torch` alone."""
    import subprocess
    import tempfile

    def wall(command: list[str], folder: str) -> float:
        start = time.perf_counter()
        subprocess.run(command, cwd=folder, check=True, capture_output=True)
        return time.perf_counter() - start

    with tempfile.TemporaryDirectory() as folder:
        generate = [sys.executable, "-m", "melody", "generate", "--bars", "32", "--seed", "0"]
        torch_only = [sys.executable, "-c", "import torch"]
        best_cli = min(wall(generate + ["--force"], folder) for _ in range(3))
        best_torch = min(wall(torch_only, folder) for _ in range(3))
    return best_cli, best_torch


def run(tokens: int = 512, threads: int = 2, quick: bool = False, repeats: int = 3) -> dict[str, Any]:
    """Measure everything; returns the figures (benchmarks/report.py calls this)."""
    torch.set_num_threads(threads)
    tokenizer = get_tokenizer("remi")
    if quick:
        tokens, repeats = min(tokens, 192), 1
    figures: dict[str, Any] = {"tokens": tokens, "threads": threads, "repeats": repeats, "families": {}}
    print(f"tokens/s at position {tokens} ({TIMED} sampled tokens timed), torch threads = {threads}, "
          f"best of {repeats}")
    print(f"{'family':<12}{'batch':>6}{'no cache tok/s':>16}{'cache tok/s':>13}{'cache/none':>12}")
    for family in ("lstm", "transformer"):
        net = net_for(family, tokenizer.vocab_size)
        best: dict[tuple[int, bool], float] = {}
        first: dict[int, list[float]] = {1: [], 32: []}
        for _ in range(repeats):  # in turns: drift reaches every configuration alike
            for batch in (1, 32):
                for use_cache in (True, False):
                    rate = tokens_per_second(net, tokenizer, batch, tokens, use_cache, threads,
                                             first[batch] if use_cache else None)
                    best[batch, use_cache] = max(best.get((batch, use_cache), 0.0), rate)
        rows: dict[Any, Any] = {}
        for batch in (1, 32):
            cached, uncached = best[batch, True], best[batch, False]
            rows[batch] = {"cache": cached, "no_cache": uncached, "speedup": cached / uncached}
            print(f"{family:<12}{batch:>6}{uncached:>16.0f}{cached:>13.0f}{cached / uncached:>11.1f}x")
        rows["batch_gain"] = rows[32]["cache"] / rows[1]["cache"]
        print(f"{family:<12} batch 32 / batch 1 (cache): {rows['batch_gain']:.1f}x")
        # The prime all pieces share goes through the model once, whatever the batch.
        rows["first_token_ms"] = {batch: 1000 * min(times) for batch, times in first.items()}
        print(f"{family:<12} first token after the {tokens - TIMED}-token prime: "
              f"batch 1 {rows['first_token_ms'][1]:.0f} ms, batch 32 {rows['first_token_ms'][32]:.0f} ms")
        figures["families"][family] = rows
    if (DEFAULT_MODEL_DIR / "model.safetensors").is_file():
        for count in sorted({1, threads}):
            seconds, length = tune_seconds(count, repeats=1 if quick else 3)
            figures[f"tune_32_bars_seconds_threads_{count}"] = seconds
            figures["tune_32_bars_tokens"] = length
            print(f"32-bar tune with the default model, {count} thread(s): {seconds:.3f} s "
                  f"({length} tokens, files written; aim < 0.5 s)")
        if not quick:
            whole, torch_import = cli_seconds()
            figures["cli_32_bars_seconds"], figures["import_torch_seconds"] = whole, torch_import
            print(f"the same from a shell, `melody generate --bars 32` in a fresh process: {whole:.2f} s, "
                  f"of which importing torch alone takes {torch_import:.2f} s")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each figure; the best counts")
    parser.add_argument("--quick", action="store_true", help="192 tokens, one repeat")
    args = parser.parse_args()
    run(args.tokens, args.threads, args.quick, args.repeats)


if __name__ == "__main__":
    main()
