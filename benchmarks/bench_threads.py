"""Training on one CPU thread or on all: tokens/s on an idle machine and beside one busy process.

    python benchmarks/bench_threads.py [--seconds 4] [--widths 64,256]

Why training measures its thread count (melody/training/loop.py, `_choose_threads`): torch's
intra-op threads wait for each other, spinning, at every operation, so when another process
holds one of the cores a run on all threads can crawl. For each LSTM width this trains the
same network on the same batches (16 windows of 256 tokens, AdamW) for `--seconds` at one
thread and at every usable CPU, first on the machine as it is (its load average is printed:
on a shared machine "as found" is not idle), then beside one more busy process of our own (a
Python loop that never sleeps, the simplest stand-in for a browser tab or another job), and
prints tokens/s and the all/one ratio. Both runs of a row share this process and its caches.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VOCAB = 1138  # the default remi vocabulary


def spin(stop) -> None:
    while not stop.is_set():
        pass


def rate(width: int, threads: int, seconds: float) -> float:
    """Tokens per second of training a 2-layer LSTM `width` wide on `threads` threads."""
    import torch
    from torch.nn import functional as F

    from melody.nn import build_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = build_model("lstm", {"vocab_size": VOCAB, "d_model": width, "layers": 2, "hidden": 0, "dropout": 0.0})
    optimizer = torch.optim.AdamW(net.parameters())
    batch = torch.randint(3, VOCAB, (16, 257))

    def step() -> None:
        logits = net(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up, untimed
    started, steps = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        step()
        steps += 1
    return steps * 16 * 256 / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="timed training per measurement")
    parser.add_argument("--widths", default="64,256", help="LSTM widths, comma-separated")
    args = parser.parse_args()
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    if cpus < 2:
        print("one CPU: nothing to compare")
        return 0
    widths = [int(w) for w in args.widths.split(",")]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"LSTM, 2 layers, batch 16 x 256, {args.seconds:g} s per measurement, {cpus} CPUs, "
          f"load average {load} at the start")
    print(f"{'machine':22} {'width':>5} {'1 thread tok/s':>15} {f'{cpus} threads tok/s':>17} {'all/one':>8}")
    for label in ("as found", "plus one busy process"):
        stop = multiprocessing.Event()
        busy = multiprocessing.Process(target=spin, args=(stop,), daemon=True) if label != "as found" else None
        if busy is not None:
            busy.start()
        try:
            for width in widths:
                one = rate(width, 1, args.seconds)
                every = rate(width, cpus, args.seconds)
                print(f"{label:22} {width:>5} {one:>15,.0f} {every:>17,.0f} {every / one:>7.2f}x", flush=True)
        finally:
            if busy is not None:
                stop.set()
                busy.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
