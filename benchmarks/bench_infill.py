"""Infilling, measured: does the model use the suffix, and how fast is an infill?

    python benchmarks/bench_infill.py [--model DIR] [--bars 4] [--seed 0] [--repeats 5]

1. The suffix is used. For every held-out tune of the model's split (at least 8 bars), a
   range of `--bars` bars at a seeded place is the middle. Its tokens (the same ids either
   way: the middle written with copies that may reach into the prefix) are scored twice:
   after the prefix alone, left to right, as a model without infilling would see them; and
   in fill-in-the-middle order, after the prefix and the suffix (Tokenizer.infill_prime).
   Printed as bits per note of the middle's notes; lower with the suffix = the suffix helps.
2. Speed: `melody.infill` of 4 bars in the middle of a 32-bar tune (the model loaded, one
   piece, two threads), best of `--repeats`, beside `melody.generate` of a 4-bar
   continuation from the same prefix, in the same process.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch


def token_bits(net, ids: list[int], start: int) -> float:
    """Bits the model spends on ids[start:] given everything before them."""
    tokens = torch.tensor([ids], dtype=torch.long)
    with torch.inference_mode():
        logits = net(tokens[:, :-1]).float()
        logp = torch.log_softmax(logits, dim=-1)[0]
    targets = tokens[0, 1:]
    picked = logp[torch.arange(len(targets)), targets]
    return float(-picked[start - 1:].sum()) / math.log(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--bars", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from melody.evaluation.data import held_out_and_training
    from melody.generation import generate, infill
    from melody.generation.infill import check_model
    from melody.model_folder import resolve_model
    from melody.music.io import read
    from melody.tokenizers import EOS

    model = resolve_model(args.model)
    check_model(model)
    tokenizer, net = model.tokenizer, model.net.eval()
    held_out = held_out_and_training(model).held_out
    rng = np.random.default_rng(args.seed)
    sentinels = tokenizer.kind_mask("infill")
    with_suffix = prefix_only = 0.0
    notes = tunes = 0
    for piece in held_out:
        ids = list(piece.ids)
        count = tokenizer.bar_count(ids)
        if count is None or count < 8:
            continue
        first = int(rng.integers(1, count - args.bars))  # 0-based, never the first or last bar
        last = first + args.bars - 1
        prime, middle = tokenizer.infill_prime(ids, first, last)
        # The prefix is everything before the first sentinel (the one that opens the suffix).
        prefix = prime[:next(i for i, token in enumerate(prime) if sentinels[token])]
        decoded = tokenizer.decode([*prefix, *middle, EOS])
        starts = decoded.bar_starts()
        end = starts[last + 1] if last + 1 < len(starts) else decoded.end_tick
        middle_notes = sum(1 for n in decoded.notes if starts[first] <= n.onset < end)
        if not middle_notes:
            continue
        with_suffix += token_bits(net, [*prime, *middle], len(prime))
        prefix_only += token_bits(net, [*prefix, *middle], len(prefix))
        notes += middle_notes
        tunes += 1
    print(f"model {model.folder} ({model.family}), {tunes} held-out tunes, a {args.bars}-bar middle each "
          f"({notes} notes), seed {args.seed}")
    print(f"  middle given the prefix only (left to right): {prefix_only / notes:.3f} bits per note")
    print(f"  middle given prefix and suffix (infilling):   {with_suffix / notes:.3f} bits per note "
          f"({with_suffix / prefix_only:.2f}x)")

    tune = next(p for p in read("assets/irish.abc") if len(p.bar_starts()) >= 32)
    bars = (15, 18)
    infill(model, tune, bars=bars, num=1, seed=0)  # warm-up
    infill_times, continue_times = [], []
    for repeat in range(args.repeats):
        started = time.perf_counter()
        infill(model, tune, bars=bars, num=1, seed=repeat)
        infill_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        generate(model, prime=tune, prime_bars=14, bars=args.bars, num=1, seed=repeat)
        continue_times.append(time.perf_counter() - started)
    print(f"infill of bars {bars[0]}-{bars[1]} of '{tune.title}' ({len(tune.bar_starts())} bars), "
          f"{args.threads} threads, best of {args.repeats}: {min(infill_times):.3f} s "
          f"(a {args.bars}-bar continuation of its first 14 bars: {min(continue_times):.3f} s)")


if __name__ == "__main__":
    main()
