"""How many CPU threads torch uses: the one place melody sets it.

Training takes the CPUs it may use (shared among torchrun's processes on a machine), the
terminal UI leaves one core to itself, and a sampler may run with a thread count of its own
for the length of a run. Each only ever lowers what torch (or an app embedding melody) chose.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator


def usable_cpus(local_processes: int = 1) -> int:
    """The CPUs this process may use, shared among the processes on this machine."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))  # the user's (or torchrun's) choice wins
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, local_processes))


def cap_threads(count: int) -> None:
    """Use at most `count` CPU threads; never more than torch (or the app embedding melody) chose."""
    import torch

    # torch starts with one thread per physical core; an app (the terminal UI) may have lowered it.
    torch.set_num_threads(max(1, min(count, torch.get_num_threads())))


def leave_a_core() -> None:
    """Leave one core to a user interface: sampling one take at a time gains little from more
    threads, and on a busy machine torch's spinning worker threads slow every token (and key)."""
    cap_threads(max(1, (os.cpu_count() or 1) - 1))


@contextlib.contextmanager
def intra_op_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to `threads` inside the block (None: left alone)."""
    import torch

    previous = torch.get_num_threads()
    if threads is None or threads == previous:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
