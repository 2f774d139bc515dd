"""What several benchmark scripts share: a best-of timer, and a model with its held-out split.

Imported as `from common import ...` (a script's own folder is on sys.path when it runs).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable


def best_cpu_time(function: Callable[[], Any], repeat: int) -> float:
    """The least CPU time (this process) of `repeat` calls: noise from other jobs only adds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        function()
        best = min(best, time.process_time() - started)
    return best


def model_and_split(folder: Any, script: str) -> tuple[Any, Any] | None:
    """The loaded model and its held-out/training split, or None (said on stderr) when the
    files it was trained on cannot be found."""
    from melody.evaluation.data import held_out_and_training
    from melody.model_folder import load_model

    model = load_model(folder)
    split = held_out_and_training(model)
    if split is None:
        print(f"{script}: {folder}: its training data cannot be found to rebuild the held-out split",
              file=sys.stderr)
        return None
    return model, split
