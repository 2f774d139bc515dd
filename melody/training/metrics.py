"""A model folder's training history: metrics.jsonl read back, and loss.png drawn from it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from melody.model_folder import METRICS_FILE


def read_metrics(folder: str | os.PathLike, until_step: int | None = None) -> list[dict[str, Any]]:
    """metrics.jsonl of a model folder (lines after `until_step` dropped; a torn last line skipped)."""
    path = Path(folder) / METRICS_FILE
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and (until_step is None or record.get("step", 0) <= until_step):
            records.append(record)
    return records


def loss_plot(records: Sequence[dict[str, Any]]) -> bytes:
    """loss.png: training loss (blue) and validation loss (orange), nats per token, against steps."""
    from melody.charts import line_plot

    train = [(r["step"], r["train_loss"]) for r in records if r.get("train_loss") is not None]
    valid = [(r["step"], r["validation_loss"]) for r in records if r.get("validation_loss") is not None]
    series = [(label, [step for step, _ in points], [loss for _, loss in points])
              for label, points in (("training", train), ("validation", valid))]
    return line_plot(series, title="loss", x_label="step", y_label="nats")
