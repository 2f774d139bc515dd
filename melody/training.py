"""The training loop: corpus in, model folder out, with resume, Ctrl-C safety and torchrun.

`train(data, ...)` is the one entry point; the CLI's progress bar and the terminal UI's train
screen are both just `on_event` consumers. What it does, in order:

1. settings: defaults, then the resumed folder's recipe, a TOML file, --model/--tokenizer, --set;
2. the corpus (melody.corpus.build_corpus, through the token cache) and its report;
3. a split by piece (melody.training_data), random training windows with transposition;
4. AdamW (or Adam) with linear warmup and cosine decay, gradient clipping, bf16 autocast on CUDA;
5. validation every `eval_every` steps on fixed windows, early stopping on its loss;
6. the model folder (melody.models): the root holds the best model, `checkpoints/` the last
   state (melody.checkpoint), `metrics.jsonl` and `loss.png` the history.

Under `torchrun --nproc_per_node=N` every process runs this same function: each draws its
own windows (its rank is part of every step's seed), DistributedDataParallel averages the
gradients, validation windows are shared out and their losses summed across processes, and
only rank 0 reports and writes. `training.batch_size` is per process.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from melody.errors import ModelError, UsageError
from melody.models import CONFIG_FILE, METRICS_FILE, read_config
from melody.train_config import (SHAPE_KEYS, Settings, apply_overrides, default_settings, load_toml,
                                 merge, validate)

PHASES = ("corpus", "start", "step", "eval", "checkpoint", "done")


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
    """How a run ended: `stopped` is max_steps, early_stopping, time_limit or stopped."""

    folder: Path
    step: int
    best_step: int | None
    best_validation_loss: float | None
    stopped: str
    parameters: int
    tokens_seen: int
    seconds: float

    @property
    def best_bits_per_token(self) -> float | None:
        return None if self.best_validation_loss is None else self.best_validation_loss / math.log(2)


def resolve_settings(*, model: str | None = None, tokenizer: str | None = None,
                     config: str | os.PathLike | dict[str, Any] | None = None,
                     overrides: Sequence[str] | dict[str, Any] | None = None,
                     previous: dict[str, Any] | None = None) -> Settings:
    """Defaults < a resumed folder's recipe < the config file < --model/--tokenizer < --set."""
    settings = default_settings()
    if previous is not None:
        settings = merge(settings, previous.get("settings") or {}, f"{CONFIG_FILE} of the resumed model")
    if config is not None:
        tables = config if isinstance(config, dict) else load_toml(config)
        settings = merge(settings, tables, "config" if isinstance(config, dict) else str(config))
    if model is not None:
        settings = apply_overrides(settings, {"model.family": model})
    if tokenizer is not None:
        from melody.tokenizers import SCHEMES

        if tokenizer not in SCHEMES:
            raise UsageError(f"unknown tokenizer {tokenizer!r} (choose from {', '.join(SCHEMES)})")
        settings = apply_overrides(settings, {"data.tokenizer": tokenizer})
    settings = validate(apply_overrides(settings, overrides))
    if previous is not None:
        before = merge(default_settings(), previous.get("settings") or {}, CONFIG_FILE)
        for section, key in SHAPE_KEYS:
            if before[section][key] != settings[section][key]:
                raise ModelError(f"cannot resume: the model was trained with {section}.{key} = "
                                 f"{before[section][key]!r}, not {settings[section][key]!r}")
    return settings


def default_out(data: Sequence[str | os.PathLike]) -> Path:
    """models/<name of the first data folder or file>."""
    first = Path(data[0]).resolve()
    name = first.name if first.is_dir() else first.stem
    return Path("models") / (name or "model")


def train(
    data: str | os.PathLike | Sequence[str | os.PathLike] = (),
    *,
    model: str | None = None,
    tokenizer: str | None = None,
    out: str | os.PathLike | None = None,
    config: str | os.PathLike | dict[str, Any] | None = None,
    overrides: Sequence[str] | dict[str, Any] | None = None,
    device: str = "auto",
    resume: str | os.PathLike | None = None,
    force: bool = False,
    on_event: Callable[[TrainEvent], None] | None = None,
    stop: threading.Event | None = None,
    workers: int | None = None,
    compile: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> TrainResult:
    """Train a model on music files and write its folder; see the module docstring.

    `model` (default lstm) and `tokenizer` (default remi) override the config file. A set
    `stop` event ends the run cleanly after the current step, with a checkpoint saved.
    """
    data = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    previous = None
    if resume is not None:
        resume = Path(resume)
        previous = read_config(resume)
        if out is not None and Path(out).resolve() != resume.resolve():
            raise UsageError(f"--resume {resume} continues in that folder; drop --out {out}")
        out = resume
        data = data or [_recorded_source(path, resume) for path in
                        (previous.get("data") or {}).get("sources") or []]
    settings = resolve_settings(model=model, tokenizer=tokenizer, config=config, overrides=overrides,
                                previous=previous)
    if not data:
        raise UsageError("no training data: name files or folders of .abc, .mid or .midi")
    out = Path(out) if out is not None else default_out(data)
    if previous is None and out.exists() and not force:
        raise UsageError(f"{out}: already exists (use --force to replace it, or --resume {out} to "
                         f"continue training it)")
    from melody.train_loop import Trainer
    from melody.train_runtime import start_runtime

    runtime = start_runtime(device)
    try:
        trainer = Trainer(data=data, settings=settings, out=out, runtime=runtime, previous=previous,
                          on_event=on_event, stop=stop, workers=workers, compile=compile,
                          cache_dir=Path(cache_dir) if cache_dir is not None else None,
                          replace=force and previous is None)
        return trainer.run()
    finally:
        runtime.close()


def _recorded_source(path: str, folder: Path) -> str:
    """A data path config.json recorded: as written if it exists here, else beside models/<name>/."""
    if Path(path).is_absolute() or Path(path).exists():
        return path
    beside = folder.resolve().parent.parent / path
    return str(beside) if beside.exists() else path


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
    """loss.png: training loss (blue) and validation loss (orange) against steps."""
    from melody.png import BLUE, ORANGE, line_chart

    train = [(r["step"], r["train_loss"]) for r in records if r.get("train_loss") is not None]
    valid = [(r["step"], r["validation_loss"]) for r in records if r.get("validation_loss") is not None]
    series = []
    for points, color in ((train, BLUE), (valid, ORANGE)):
        if points:
            steps, losses = zip(*points)
            series.append((steps, losses, color))
    return line_chart(series)


# The split by piece lives with the rest of the data path; evaluation finds it here too.
from melody.training_data import split_pieces  # noqa: E402

__all__ = ["PHASES", "TrainEvent", "TrainResult", "train", "resolve_settings", "default_out",
           "read_metrics", "loss_plot", "split_pieces"]
