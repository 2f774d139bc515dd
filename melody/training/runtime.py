"""Where training runs: the device, CPU threads, and torchrun's process group."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from melody.errors import UsageError
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
