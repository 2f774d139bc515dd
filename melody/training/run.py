"""Training as one call: corpus in, model folder out, with resume, Ctrl-C safety and torchrun.

`train(data, ...)` is the one entry point; the CLI's progress bar and the terminal UI's train
screen are both just `on_event` consumers. What it does, in order:

1. settings: defaults, then the resumed folder's recipe, a TOML file, --model/--tokenizer, --set;
2. the corpus (melody.corpus.build_corpus, through the token cache) and its report;
3. a split by piece (melody.training.data), random training windows with transposition;
4. AdamW (or Adam) with linear warmup and cosine decay, gradient clipping, bf16 autocast on CUDA;
5. validation every `eval_every` steps on fixed windows, early stopping on its loss;
6. the model folder (melody.model_folder): the root holds the best model, `checkpoints/` the last
   state (melody.training.checkpoint), `metrics.jsonl` and `loss.png` the history.

Under `torchrun --nproc_per_node=N` every process runs this same function: each draws its
own windows (its rank is part of every step's seed), DistributedDataParallel averages the
gradients, validation windows are shared out and their losses summed across processes, and
only rank 0 reports and writes. `training.batch_size` is per process.
"""

from __future__ import annotations

import errno
import gc
import os
import shutil
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from melody.errors import ModelError, OutputError, UsageError
from melody.files import refusal_line
from melody.folder_lock import LOCK_FILE, FolderLock
from melody.model_folder import CONFIG_FILE, locate_source, read_config
from melody.safe_read import real_path
from melody.training.events import TrainEvent, TrainResult
from melody.training.settings import SHAPE_KEYS, Settings, apply_overrides, load_toml, merge, validate


def resolve_settings(*, model: str | None = None, tokenizer: str | None = None,
                     config: str | os.PathLike | dict[str, Any] | None = None,
                     overrides: Sequence[str] | dict[str, Any] | None = None,
                     previous: dict[str, Any] | None = None) -> Settings:
    """Defaults < a resumed folder's recipe < the config file < --model/--tokenizer < --set."""
    settings = Settings()
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
        before = merge(Settings(), previous.get("settings") or {}, CONFIG_FILE)
        for name in SHAPE_KEYS:
            if before.get(name) != settings.get(name):
                raise ModelError(f"cannot resume: the model was trained with {name} = "
                                 f"{before.get(name)!r}, not {settings.get(name)!r}")
    return settings


def explicit_settings(*, model: str | None = None, tokenizer: str | None = None,
                      config: str | os.PathLike | dict[str, Any] | None = None,
                      overrides: Sequence[str] | dict[str, Any] | None = None,
                      previous: dict[str, Any] | None = None) -> frozenset[str]:
    """The "section.key" names someone chose (a resumed recipe, the config file, --model,
    --tokenizer, --set): the time budget sizes only the others (melody.training.budget)."""
    names: set[str] = set()
    tables: list[dict[str, Any]] = []
    if previous is not None:
        tables.append(previous.get("settings") or {})
    if config is not None:
        tables.append(config if isinstance(config, dict) else load_toml(config))
    for table in tables:
        names.update(f"{section}.{key}" for section, values in table.items() if isinstance(values, dict)
                     for key in values)
    if model is not None:
        names.add("model.family")
    if tokenizer is not None:
        names.add("data.tokenizer")
    if overrides:
        items = overrides if isinstance(overrides, dict) else [text.split("=", 1)[0].strip() for text in overrides]
        names.update(items)
    return frozenset(names)


def default_out(data: Sequence[str | os.PathLike]) -> Path:
    """models/<name of the first data folder or file>."""
    first = real_path(data[0])
    name = first.name if first.is_dir() else first.stem
    return Path("models") / (name or "model")


def check_out_folder(out: Path) -> None:
    """Refuse, before any training, an output path no model folder can be written to: a name
    taken by a file or a link to nothing (exit 2, as a taken name is everywhere), a path the
    machine refuses (a link loop, a parent that is a file, a folder not searchable: exit 1,
    as a refused write is everywhere)."""
    try:
        os.stat(out)
    except FileNotFoundError:
        if out.is_symlink():
            raise UsageError(f"{out}: is a symbolic link to nothing; pick another --out") from None
        parent = out.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise OutputError(refusal_line(OSError(errno.ENOTDIR, "not a folder", str(out)),
                                           nothing_written=True)) from None
        return
    except OSError as error:  # ELOOP: a symlink loop; EACCES: a folder on the way not searchable
        raise OutputError(refusal_line(error, out, nothing_written=True)) from None
    if not out.is_dir():
        raise UsageError(f"{out}: is a file, not a model folder; pick another --out")


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
        if out is not None and real_path(out) != real_path(resume):
            raise UsageError(f"--resume {resume} continues in that folder; drop --out {out}")
        out = resume
        data = data or [str(locate_source(path, resume) or path) for path in
                        (previous.get("data") or {}).get("sources") or []]
    settings = resolve_settings(model=model, tokenizer=tokenizer, config=config, overrides=overrides,
                                previous=previous)
    explicit = explicit_settings(model=model, tokenizer=tokenizer, config=config, overrides=overrides,
                                 previous=previous)
    # What this command asks for itself (a resumed run's --set training.max_steps=N fixes the steps).
    asked = explicit_settings(model=model, tokenizer=tokenizer, config=config, overrides=overrides)
    if not data:
        raise UsageError("no training data: name files or folders of .abc, .mid or .midi")
    out = Path(out) if out is not None else default_out(data)
    check_out_folder(out)
    fresh = previous is None and not force
    if os.path.lexists(out):
        try:
            with FolderLock(out):  # a folder another run is writing is refused as such, at once
                pass
        except OSError as error:
            raise OutputError(refusal_line(error, out, nothing_written=True)) from None
        if fresh and _holds_files(out):
            raise UsageError(f"{out}: already exists (use --force to replace it, or --resume {out} to "
                             f"continue training it)")
    from melody.training.loop import Trainer
    from melody.training.runtime import start_runtime

    runtime = start_runtime(device)
    lock, made = None, False
    try:
        if runtime.is_main:  # the process that writes the folder holds it until the end
            existed = os.path.lexists(out)
            try:
                out.mkdir(parents=True, exist_ok=True)
                lock = FolderLock(out).acquire()
            except OSError as error:  # a read-only or forbidden place: said before any training
                raise OutputError(refusal_line(error, out, nothing_written=True)) from None
            # Only the run holding the lock owns a folder it made: two runs can both find `out`
            # missing, and the one refused must not remove the folder the other is writing.
            made = not existed
            if fresh and _holds_files(out):  # another run made it between the check and now
                made = False
                raise UsageError(f"{out}: already exists (use --force to replace it, or --resume {out} "
                                 f"to continue training it)")
        trainer = Trainer(data=data, settings=settings, explicit=explicit, asked=asked, out=out, runtime=runtime, previous=previous,
                          on_event=on_event, stop=stop, workers=workers, compile=compile,
                          cache_dir=Path(cache_dir) if cache_dir is not None else None,
                          replace=force and previous is None)
        result = trainer.run()
        # A process whose DDP model (and the gradient all-reduce work it holds) outlives the
        # process group is torn down by the interpreter at exit, when freeing those tensors
        # aborts it (SIGABRT, seen once in CI): free the model now, while Python is whole, and
        # let every process finish before any destroys the group.
        del trainer
        gc.collect()
        runtime.barrier()
        return result
    finally:
        if made and not (out / CONFIG_FILE).exists():
            shutil.rmtree(out, ignore_errors=True)  # a run that never saved leaves no folder behind
        if lock is not None:
            lock.release()
        runtime.close()


def _holds_files(folder: Path) -> bool:
    """Whether `folder` holds anything but a run's lock (a folder made for --out by a run that
    was killed before its first save is free to use)."""
    return folder.is_file() or any(entry.name != LOCK_FILE for entry in folder.iterdir())
