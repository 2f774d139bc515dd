"""Where training runs: the device, CPU threads, torchrun's process group, and stop signals."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any, Iterator

from melody.errors import Terminated, UsageError
from melody.files import STOP_SIGNALS
from melody.nn.threads import cap_threads, usable_cpus

DEVICES = ("auto", "cpu", "cuda", "mps")


def pick_device(name: str = "auto") -> Any:
    """A torch.device: auto tries CUDA, then Apple's MPS, then the CPU."""
    import torch

    if name not in DEVICES:
        raise UsageError(f"unknown device {name!r} (choose from {', '.join(DEVICES)})")
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA GPU is available to this torch build")
    if name == "mps" and not has_mps:
        raise UsageError("--device mps: Apple's Metal backend is not available here")
    return torch.device(name)


@dataclass
class Runtime:
    """This process's place in a (possibly one-process) training run."""

    device: Any
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    started_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def all_sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over every process (the values unchanged in a one-process run)."""
        if not self.distributed:
            return values
        import torch
        import torch.distributed as dist

        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every process when any process says True."""
        if not self.distributed:
            return flag
        return self.all_sum([1.0 if flag else 0.0])[0] > 0

    def close(self) -> None:
        if self.started_group:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.started_group = False


def start_runtime(device_name: str = "auto") -> Runtime:
    """The device and, under torchrun (WORLD_SIZE > 1), the process group: NCCL on GPUs, gloo on CPUs."""
    import torch

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        device = pick_device(device_name)
        if device.type == "cpu":
            cap_threads(usable_cpus())
        return Runtime(device=device)
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
    device = pick_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    elif device.type == "mps":
        raise UsageError("several processes on Apple's Metal backend are not supported: use --device cpu")
    else:
        cap_threads(usable_cpus(local_world))
    started = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        started = True
    return Runtime(device=device, rank=rank, world_size=world_size, local_rank=local_rank,
                   started_group=started)


class SignalStop:
    """Ctrl-C, SIGTERM and SIGHUP asking a training run to stop after its current step.

    Batch schedulers and containers stop a job with SIGTERM (then SIGKILL after a grace
    period); a closed terminal or SSH session sends SIGHUP. The first signal only sets
    `event` (the loop then saves a checkpoint and the best model and ends); a second one
    exits at once with 128 + its number, leaving the last atomic save as it is.
    """

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self.signum: int | None = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            name = signal.Signals(signum).name
            try:
                sys.stderr.write(f"\n{name} again: quitting at once; the model folder keeps its last save\n")
                sys.stderr.flush()
            finally:
                os._exit(128 + signum)
        self.signum = signum
        self.event.set()

    @property
    def reason(self) -> str | None:
        """How config.json names the stop: "interrupted" (Ctrl-C) or "signal"; None before one came."""
        if self.signum is None:
            return None
        return "interrupted" if self.signum == signal.SIGINT else "signal"

    @property
    def name(self) -> str | None:
        return None if self.signum is None else signal.Signals(self.signum).name

    def reraise(self) -> None:
        """After the save: end the caller's run as the signal would have (KeyboardInterrupt or Terminated)."""
        if self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signum is not None:
            raise Terminated(self.signum)


@contextlib.contextmanager
def stop_on_signals(event: threading.Event) -> Iterator[SignalStop | None]:
    """Install SignalStop for the block (main thread only: elsewhere Python cannot handle
    signals, and the caller's `stop` event is the way to end a run); yields None there."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    stopper = SignalStop(event)
    previous = {}
    try:
        for number in STOP_SIGNALS:
            previous[number] = signal.signal(number, stopper._handle)
        yield stopper
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
