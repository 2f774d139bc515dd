"""Sampling speed: tokens/s with and without the cache, at batch 1 and 32, for both families.

    python benchmarks/bench_sampling.py [--tokens 512] [--threads 2] [--quick]

Each row samples `--tokens` new tokens through melody's real sampler (remi grammar masks,
temperature 1, top-p 0.95) from a model of the shipped default's size; "no cache" recomputes
the full forward over the whole context for every token (the baseline), "cache" feeds one
token per step through `model.step`. Then the time to write a 32-bar tune with the shipped
default model, end to end (`melody.generate`). Figures and ratios print side by side.
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

from melody.models import DEFAULT_MODEL_DIR, load_model  # noqa: E402
from melody.nn import build_model  # noqa: E402
from melody.sampling import BatchSampler, SamplingOptions  # noqa: E402
from melody.tokenizers import Constraints, get_tokenizer  # noqa: E402

# Sizes of the shipped default recipe (assets/configs/default.toml), used where no model is shipped.
SIZES = {
    "lstm": {"d_model": 256, "hidden": 512, "layers": 2, "dropout": 0.0},
    "transformer": {"d_model": 192, "layers": 4, "heads": 6, "context": 512, "dropout": 0.0},
}


def net_for(family: str, vocab_size: int) -> torch.nn.Module:
    """The shipped default's network when it is of this family, else a fresh one of default size."""
    if (DEFAULT_MODEL_DIR / "config.json").is_file():
        config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
        if config.get("family") == family:
            return load_model(DEFAULT_MODEL_DIR).net.eval()
    torch.manual_seed(0)
    return build_model(family, {"vocab_size": vocab_size, **SIZES[family]}).eval()


def tokens_per_second(net: Any, tokenizer: Any, batch: int, tokens: int, use_cache: bool) -> float:
    """New tokens per second (all sequences together) for one batch of `tokens` new tokens each."""
    # A bar quota no run reaches keeps EOS out, so every sequence draws exactly `tokens`.
    grammar = tokenizer.grammar(Constraints(bars=100_000))
    sampler = BatchSampler(net, grammar, [1], list(range(batch)), SamplingOptions(1.0, 0, 0.95),
                           max_new_tokens=tokens, use_cache=use_cache)
    start = time.perf_counter()
    for _ in sampler.run():
        pass
    elapsed = time.perf_counter() - start
    return batch * sampler.new_tokens / elapsed


def tune_seconds(bars: int = 32, repeats: int = 3) -> tuple[float, int]:
    """Best seconds to sample a `bars`-bar tune with the shipped default, and its token count."""
    from melody.generation import generate

    model = load_model(DEFAULT_MODEL_DIR)
    best, length = float("inf"), 0
    for seed in range(repeats):
        start = time.perf_counter()
        take = generate(model, bars=bars, seed=seed)[0]
        best = min(best, time.perf_counter() - start)
        length = len(take.tokens)
    return best, length


def run(tokens: int = 512, threads: int = 2, quick: bool = False) -> dict[str, Any]:
    """Measure everything; returns the figures (benchmarks/report.py calls this)."""
    torch.set_num_threads(threads)
    tokenizer = get_tokenizer("remi")
    if quick:
        tokens = min(tokens, 128)
    figures: dict[str, Any] = {"tokens": tokens, "threads": threads, "families": {}}
    print(f"sampling {tokens} new tokens per sequence, torch threads = {threads}")
    print(f"{'family':<12}{'batch':>6}{'no cache tok/s':>16}{'cache tok/s':>13}{'cache/none':>12}")
    for family in ("lstm", "transformer"):
        net = net_for(family, tokenizer.vocab_size)
        rows = {}
        for batch in (1, 32):
            cached = tokens_per_second(net, tokenizer, batch, tokens, use_cache=True)
            uncached = tokens_per_second(net, tokenizer, batch, tokens, use_cache=False)
            rows[batch] = {"cache": cached, "no_cache": uncached, "speedup": cached / uncached}
            print(f"{family:<12}{batch:>6}{uncached:>16.0f}{cached:>13.0f}{cached / uncached:>11.1f}x")
        rows["batch_gain"] = rows[32]["cache"] / rows[1]["cache"]
        print(f"{family:<12} batch 32 / batch 1 (cache): {rows['batch_gain']:.1f}x")
        figures["families"][family] = rows
    if (DEFAULT_MODEL_DIR / "model.safetensors").is_file():
        seconds, length = tune_seconds(repeats=1 if quick else 3)
        figures["tune_32_bars_seconds"] = seconds
        figures["tune_32_bars_tokens"] = length
        print(f"32-bar tune with the default model: {seconds:.3f} s ({length} tokens, aim < 0.5 s)")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="128 tokens, one repeat")
    args = parser.parse_args()
    run(args.tokens, args.threads, args.quick)


if __name__ == "__main__":
    main()
