"""What a training run reports while it runs (TrainEvent) and how it ended (TrainResult).

The CLI's progress bar and the terminal UI's train screen consume these; the loop emits them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

PHASES = ("corpus", "start", "step", "eval", "checkpoint", "done")
# Why a run stopped (config.json's result.stopped), and how the last line says it.
STOP_REASONS = {"max_steps": "reached max_steps", "early stop": "validation loss stopped improving",
                "time budget": "time budget spent", "interrupted": "interrupted", "signal": "stopped by a signal"}


def format_seconds(seconds: float) -> str:
    """Seconds as "42 s", "12 min 5 s" or "2 h 3 min"."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


@dataclass
class TrainEvent:
    """What the loop reports: `phase` is one of PHASES; losses are in nats per token."""

    phase: str
    step: int = 0
    max_steps: int = 0
    train_loss: float | None = None
    validation_loss: float | None = None
    best_validation_loss: float | None = None
    tokens_per_second: float | None = None
    eta_seconds: float | None = None
    learning_rate: float | None = None
    message: str = ""
    files_done: int | None = None  # corpus phase: files tokenized so far, of files_total
    files_total: int | None = None


@dataclass
class TrainResult:
    """How a run ended: `stopped` is a key of STOP_REASONS; `seconds` the real training time."""

    folder: Path
    step: int
    best_step: int | None
    best_validation_loss: float | None
    stopped: str
    parameters: int
    tokens_seen: int
    seconds: float
    bits_per_note: float | None = None  # of the held-out pieces, by the best model

    @property
    def best_bits_per_token(self) -> float | None:
        return None if self.best_validation_loss is None else self.best_validation_loss / math.log(2)

