"""A model folder's training history: metrics.jsonl read back, and loss.png drawn from it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from melody.errors import ModelError
from melody.model_folder import METRICS_FILE
from melody.safe_read import MIB, describe, field, parse_json, read_regular


METRICS_LIMIT = 64 * MIB  # 20,000 steps logged every step are about 4 MiB


def read_metrics(folder: str | os.PathLike, until_step: int | None = None) -> list[dict[str, Any]]:
    """metrics.jsonl of a model folder (records after `until_step` dropped; a torn last line,
    what a kill mid-write leaves, skipped); ModelError naming the line for any other bad line."""
    path = Path(folder) / METRICS_FILE
    try:
        lines = read_regular(path, limit=METRICS_LIMIT, within=folder).splitlines()
    except FileNotFoundError:
        return []
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = parse_json(line, f"{path}:{number}", allow_nonfinite=True)  # a loss may be NaN
        except ModelError:
            if number == len(lines):
                continue
            raise
        if not isinstance(record, dict):
            raise ModelError(f"{path}:{number}: a record must be a JSON object, not {describe(record)}")
        where = f"{path}:{number}"
        step = field(record, "step", int, where, required=False)
        for name in ("train_loss", "validation_loss"):
            field(record, name, float, where, required=False, null=True)  # null: not measured at this step
        if until_step is None or (step or 0) <= until_step:
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
