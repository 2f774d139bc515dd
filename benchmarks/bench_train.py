"""Training throughput: melody's real loop beside a bare PyTorch loop, same model, same shapes.

melody's side is `melody.training.train` on assets/irish.abc with remi tokens: the corpus
cache, length-weighted random windows, transposition augmentation, LR schedule, gradient
clipping, logging every 5 steps and the progress events. The bare side steps the same
model (same sizes, same optimizer) on random token tensors of the same [batch, window] shape,
in the same process. The two alternate for a few rounds and each side keeps its best round:
on a shared machine, other people's jobs only ever slow a round down, so the best round is
the closest to what the code itself costs.

Both sides time the same steps: from the end of step 5 to the end of the last step, so
start-up (corpus, model build, first-step allocation) is outside the figure; the validation
pass at the end is outside too. Each side is timed twice: by the wall clock, and by the CPU
time this process used (time.process_time). On a machine shared with other jobs the wall
clock mostly measures the neighbours; CPU seconds per token measure the code, so the
overhead is computed from CPU time (the wall-clock figures are printed beside it).

    python benchmarks/bench_train.py            # default model sizes, batch 16 x window 256
    python benchmarks/bench_train.py --quick    # smaller models and windows (a minute or two)

One thread by default (--threads N to change): on a shared machine a second thread mostly
spins waiting for the first, which adds noise to both sides and measures nothing of melody.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from melody.nn import build_model  # noqa: E402
from melody.tokenizers import PAD, get_tokenizer  # noqa: E402
from melody.training.settings import Settings, apply_overrides, model_config  # noqa: E402
from melody.training.optim import make_optimizer  # noqa: E402
from melody.training import TrainEvent, train  # noqa: E402

WARMUP = 5  # steps before the clock starts; melody logs every 5 steps here, so it reports at step 5


def bare_loop(family: str, overrides: dict, steps: int, device: torch.device) -> tuple[float, float]:
    """Tokens per wall-clock second and per CPU second of the same model stepped by a plain loop."""
    settings = apply_overrides(Settings(), dict(overrides) | {"model.family": family})
    training = settings.training
    vocab = get_tokenizer("remi").vocab_size
    torch.manual_seed(0)
    net = build_model(family, model_config(settings, vocab)).to(device).train()
    optimizer = make_optimizer(net, training)
    batch, window = training.batch_size, training.window
    started = cpu_started = 0.0
    for step in range(WARMUP + steps):
        if step == WARMUP:
            started, cpu_started = time.perf_counter(), time.process_time()
        tokens = torch.randint(3, vocab, (batch, window + 1), device=device)
        logits = net(tokens[:, :-1])
        loss = F.cross_entropy(logits.float().view(-1, vocab), tokens[:, 1:].reshape(-1), ignore_index=PAD)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), training.clip)
        optimizer.step()
    loss.item()
    if device.type == "cuda":
        torch.cuda.synchronize()
    tokens = steps * batch * window
    return tokens / (time.perf_counter() - started), tokens / (time.process_time() - cpu_started)


def melody_loop(family: str, overrides: dict, steps: int, device: str, corpus: Path,
                cache: Path) -> tuple[float, float]:
    """The same two rates (the same B x window tokens per step) through melody.training.train."""
    times: dict[int, tuple[float, float]] = {}

    def clock(event: TrainEvent) -> None:
        if event.phase == "step":
            times[event.step] = (time.perf_counter(), time.process_time())

    settings = dict(overrides) | {"training.max_steps": WARMUP + steps, "training.eval_every": 10_000,
                                  "training.checkpoint_every": 10_000, "training.log_every": WARMUP,
                                  "training.augment_transpose": 5}
    with tempfile.TemporaryDirectory() as scratch:
        train([corpus], model=family, tokenizer="remi", out=Path(scratch) / "m", overrides=settings,
              device=device, on_event=clock, cache_dir=cache)
    tokens = steps * overrides["training.batch_size"] * overrides["training.window"]
    (wall0, cpu0), (wall1, cpu1) = times[WARMUP], times[WARMUP + steps]
    return tokens / (wall1 - wall0), tokens / (cpu1 - cpu0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller models and fewer steps")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round (a multiple of 5)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per side")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    args = parser.parse_args()
    steps = max(WARMUP, args.steps // WARMUP * WARMUP)
    rounds = max(1, args.rounds)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          args.device if args.device != "auto" else "cpu")
    if device.type == "cpu":
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # melody's runtime reads it too
        torch.set_num_threads(args.threads)
    sizes = {
        "lstm": {"model.d_model": 256, "model.layers": 2},
        "transformer": {"model.d_model": 256, "model.layers": 4, "model.heads": 4, "model.context": 256},
    }
    shape = {"training.batch_size": 16, "training.window": 256, "model.dropout": 0.1}
    if args.quick:
        sizes = {"lstm": {"model.d_model": 128, "model.layers": 2},
                 "transformer": {"model.d_model": 128, "model.layers": 2, "model.heads": 4, "model.context": 128}}
        shape = {"training.batch_size": 16, "training.window": 128, "model.dropout": 0.1}
    corpus = ROOT / "assets" / "irish.abc"
    print(f"training throughput on {device} ({torch.get_num_threads()} threads), remi tokens from "
          f"{corpus.name}, {steps} timed steps after {WARMUP} warm-up steps, batch "
          f"{shape['training.batch_size']} x window {shape['training.window']}")
    print(f"{'model':<34} {'bare tok/CPU-s':>15} {'melody tok/CPU-s':>17} {'overhead':>9}   "
          f"{'bare tok/s':>11} {'melody tok/s':>13} (wall clock)")
    with tempfile.TemporaryDirectory() as cache:
        for family, size in sizes.items():
            overrides = size | shape
            bare_runs, melody_runs = [], []
            for _ in range(rounds):
                bare_runs.append(bare_loop(family, overrides, steps, device))
                melody_runs.append(melody_loop(family, overrides, steps, str(device), corpus, Path(cache)))
            bare_wall, bare_cpu = (max(r[i] for r in bare_runs) for i in (0, 1))
            ours_wall, ours_cpu = (max(r[i] for r in melody_runs) for i in (0, 1))
            overhead = (bare_cpu / ours_cpu - 1) * 100
            label = f"{family} d_model={size['model.d_model']} layers={size['model.layers']}"
            print(f"{label:<34} {bare_cpu:>15,.0f} {ours_cpu:>17,.0f} {overhead:>8.1f}%   "
                  f"{bare_wall:>11,.0f} {ours_wall:>13,.0f}", flush=True)
            print(f"{'':<34} rounds (tok/CPU-s): bare {', '.join(f'{r[1]:,.0f}' for r in bare_runs)}; "
                  f"melody {', '.join(f'{r[1]:,.0f}' for r in melody_runs)}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"peak memory: {peak:,.0f} MiB resident (ru_maxrss)")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:,.0f} MiB allocated")
    print("overhead = bare tok/CPU-s / melody tok/CPU-s - 1, best round of each side (aim: at most 15%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
