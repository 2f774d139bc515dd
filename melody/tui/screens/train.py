"""The train screen: scan a corpus (with the per-file report), train a model, watch the loss.

Scanning calls `melody.corpus.build_corpus`, training calls `melody.training.train`, each in
a thread worker; the training callback's events come back as messages. A finished model
joins the compose screen's model picker.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Header, Input, Label, Select, Static

from melody.errors import MelodyError, UsageError
from melody.shipped import shipped_configs
from melody.tui.widgets.footer import KeysFooter
from melody.tui.widgets.form import Form, field
from melody.tui.widgets.loss_chart import LossChart

FAMILIES = [("LSTM", "lstm"), ("Transformer", "transformer")]
PRESETS = [("tiny (a minute or two)", "tiny"), ("small (an hour or more)", "small"),
           ("default (the shipped model's recipe)", "default")]
TOKENIZERS = [("REMI", "remi"), ("performance", "performance"), ("ABC characters", "abc-char")]
REDRAW_SECONDS = 0.1  # training events reach the UI at most this often
CONFIGS = shipped_configs()
# Size presets are the shipped training configs; the family picked in the form overrides theirs.
SIZE_CONFIGS = {"tiny": {"lstm": "tiny.toml", "transformer": "tiny.toml"},
                "small": {"lstm": "lstm-small.toml", "transformer": "transformer-small.toml"},
                "default": {"lstm": "default-lstm.toml", "transformer": "default-transformer.toml"}}


def preset_config(preset: str, family: str) -> Path | None:
    """The shipped config file for a size preset and model family (None: train's own defaults)."""
    path = CONFIGS / SIZE_CONFIGS[preset][family]
    return path if path.is_file() else None


class CorpusScanned(Message):
    def __init__(self, corpus: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.corpus, self.error = corpus, error


class TrainingProgress(Message):
    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class TrainingEnded(Message):
    def __init__(self, result: Any = None, error: str | None = None, stopped: bool = False) -> None:
        super().__init__()
        self.result, self.error, self.stopped = result, error, stopped


class TrainScreen(Screen):
    """Corpus, model family and size on the left; the file report and the loss curves on the right."""

    AUTO_FOCUS = "#corpus"
    BINDINGS = [
        Binding("ctrl+f", "scan", "Scan corpus"),
        Binding("ctrl+g", "start", "Train"),
        Binding("escape", "stop", "Stop"),
    ]

    def __init__(self) -> None:
        super().__init__(id="train")
        self.stop_event: threading.Event | None = None
        self.training = False
        self.out: Path | None = None
        self._last_redraw = 0.0
        self._latest: dict[str, Any] = {}  # the newest value of each field the events carry

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="train-body"):
            with Form(id="train-form"):
                yield Label("Corpus", classes="section")
                yield Input("", placeholder="folder or file of .abc/.mid", id="corpus", compact=True)
                yield Button("Scan", id="scan", compact=True)
                yield Label("Model", classes="section")
                yield field("family", Select(FAMILIES, value="lstm", allow_blank=False, id="family", compact=True))
                yield field("size", Select(PRESETS, value="tiny", allow_blank=False, id="preset", compact=True))
                yield field("tokens", Select(TOKENIZERS, value="remi", allow_blank=False, id="tokenizer",
                                              compact=True))
                yield field("name", Input("my-model", id="model-name", compact=True))
                yield field("steps", Input("", placeholder="preset's", id="steps", compact=True))
                with Horizontal(id="train-actions"):
                    yield Button("Train", variant="primary", id="start", compact=True)
                    yield Button("Stop", variant="error", id="stop", compact=True, disabled=True)
            with Vertical(id="train-main"):
                yield DataTable(id="reports", cursor_type="row", zebra_stripes=True)
                yield Static("scan a corpus to see which files are kept", id="corpus-summary")
                yield LossChart(id="chart")
                yield Static("not training", id="train-status")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#reports", DataTable).add_columns("file", "status", "tunes", "tokens", "why")
        self.query_one("#reports", DataTable).border_title = "corpus files"
        self.query_one("#chart", LossChart).border_title = "loss (nats per token)"

    def _corpus_paths(self) -> list[str]:
        text = self.query_one("#corpus", Input).value.strip()
        if not text:
            raise UsageError("type the folder (or file) of music to train on")
        return [str(Path(text).expanduser())]

    # -- scanning ----------------------------------------------------------------------------
    @on(Button.Pressed, "#scan")
    def action_scan(self) -> None:
        """Tokenize the corpus and show what each file gave (kept, skipped and why)."""
        try:
            paths = self._corpus_paths()
        except MelodyError as error:
            self.notify(str(error), severity="error")
            return
        self.query_one("#corpus-summary", Static).update("scanning…")
        self.scan(paths, str(self.query_one("#tokenizer", Select).value))

    @work(thread=True, exclusive=True, group="scan", exit_on_error=False)
    def scan(self, paths: list[str], tokenizer_name: str) -> None:
        try:
            from melody.corpus import build_corpus
            from melody.tokenizers import get_tokenizer

            corpus = build_corpus(paths, get_tokenizer(tokenizer_name), workers=1)
            self.post_message(CorpusScanned(corpus))
        except MelodyError as error:
            self.post_message(CorpusScanned(error=str(error)))
        except Exception as error:  # noqa: BLE001 - shown, never a traceback
            self.post_message(CorpusScanned(error=f"cannot scan: {type(error).__name__}: {error}"))

    def on_corpus_scanned(self, message: CorpusScanned) -> None:
        summary = self.query_one("#corpus-summary", Static)
        if message.error:
            summary.update(message.error)
            self.notify(message.error, severity="error")
            return
        table = self.query_one("#reports", DataTable)
        table.clear()
        for report in message.corpus.reports:
            table.add_row(Path(report.path).name, report.status, str(report.pieces), f"{report.tokens:,}",
                          report.reason or (f"{len(report.warnings)} warnings" if report.warnings else ""))
        summary.update(message.corpus.summary())

    # -- training ----------------------------------------------------------------------------
    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        """Train a new model on the corpus in a worker thread."""
        if self.training:
            self.notify("training is running: stop it first (escape)", severity="warning")
            return
        try:
            paths = self._corpus_paths()
            name = self.query_one("#model-name", Input).value.strip()
            if not name or "/" in name or name.startswith("."):
                raise UsageError("the model name must be a plain folder name")
            steps = self.query_one("#steps", Input).value.strip()
            if steps and (not steps.isdigit() or int(steps) < 1):
                raise UsageError(f"steps must be a whole number of at least 1, not {steps!r}")
        except MelodyError as error:
            self.notify(str(error), severity="error")
            return
        out = self.app.dirs[0] / name
        if out.exists():
            self.notify(f"{out} already exists: choose another name", severity="error")
            return
        overrides: dict[str, Any] = {}
        if steps:
            overrides["training.max_steps"] = int(steps)
        self.out = out
        self.stop_event = threading.Event()
        self._set_training(True)
        self.query_one("#chart", LossChart).reset()
        self._latest = {}
        self.query_one("#train-status", Static).update("preparing the corpus…")
        family = str(self.query_one("#family", Select).value)
        config = preset_config(str(self.query_one("#preset", Select).value), family)
        self.run_training(paths, out, family, str(self.query_one("#tokenizer", Select).value), config,
                          overrides, self.stop_event)

    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def run_training(self, paths: list[str], out: Path, family: str, tokenizer: str, config: Path | None,
                     overrides: dict[str, Any], stop: threading.Event) -> None:
        try:
            from melody.training import train
            from melody.nn.threads import leave_a_core

            def report(event: Any) -> None:
                self.post_message(TrainingProgress(event))
                time.sleep(0)  # let the UI thread run between steps

            leave_a_core()
            result = train(paths, model=family, tokenizer=tokenizer, out=out, config=config, overrides=overrides,
                           device="auto", on_event=report, stop=stop)
            self.post_message(TrainingEnded(result=result, stopped=stop.is_set()))
        except MelodyError as error:
            self.post_message(TrainingEnded(error=str(error)))
        except Exception as error:  # noqa: BLE001 - shown, never a traceback
            self.post_message(TrainingEnded(error=f"training failed: {type(error).__name__}: {error}"))

    def on_training_progress(self, message: TrainingProgress) -> None:
        event = message.event
        if getattr(event, "phase", "") in ("step", "eval"):
            self.query_one("#chart", LossChart).add(int(getattr(event, "step", 0) or 0),
                                                    getattr(event, "train_loss", None),
                                                    getattr(event, "validation_loss", None),
                                                    getattr(event, "max_steps", None))
        # An eval event has no training loss and a step event no validation loss: show the latest of each.
        self._latest.update({key: value for key, value in getattr(event, "__dict__", {}).items() if value is not None})
        now = time.monotonic()
        if now - self._last_redraw < REDRAW_SECONDS and getattr(event, "phase", "") == "step":
            return
        self._last_redraw = now
        self.query_one("#train-status", Static).update(_progress_line(SimpleNamespace(**self._latest)))

    def on_training_ended(self, message: TrainingEnded) -> None:
        self._set_training(False)
        status = self.query_one("#train-status", Static)
        if message.error:
            status.update(f"training failed: {message.error}")
            self.notify(message.error, severity="error", timeout=10)
            return
        where = self.out
        status.update(f"{'stopped' if message.stopped else 'done'}: model saved in {where}")
        if where is not None:
            self.app.forget_model(where)
        self.app.refresh_models()
        self.notify(f"model {where.name if where else ''} is ready in the Compose screen's picker (F2)")

    def action_stop(self) -> None:
        """Stop training after the current step; the best model so far is kept."""
        if self.training and self.stop_event is not None:
            self.stop_event.set()
            self.query_one("#train-status", Static).update("stopping…")

    @on(Button.Pressed, "#stop")
    def _stop_pressed(self) -> None:
        self.action_stop()

    def _set_training(self, running: bool) -> None:
        self.training = running
        self.query_one("#start", Button).disabled = running
        self.query_one("#stop", Button).disabled = not running
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return True if self.training else None
        if action == "start":
            return None if self.training else True
        return True

    def running_note(self) -> str | None:
        """What quitting now would stop, said in the quit question; None when not training."""
        if not self.training:
            return None
        step, most = self._latest.get("step"), self._latest.get("max_steps")
        where = f"step {step}/{most}" if step is not None and most else "starting"
        return f"A model is training into {self.out} ({where}): quitting stops it."

    def stop_everything(self) -> None:
        if self.stop_event is not None:
            self.stop_event.set()


def _progress_line(event: Any) -> str:
    """reading the corpus 3/12 files, or: training · step 120/3000 · loss 2.31 · val 2.45 · 4,500 tokens/s · ETA 2:31."""
    phase = str(getattr(event, "phase", "") or "training")
    if phase == "corpus":
        done, total = getattr(event, "files_done", None), getattr(event, "files_total", None)
        return f"reading the corpus: {done}/{total} files" if total else "reading the corpus…"
    parts = [{"step": "training", "eval": "validating", "checkpoint": "saving"}.get(phase, phase)]
    message = getattr(event, "message", "")
    if message and phase == "start":
        return f"starting: {message}"
    step, most = getattr(event, "step", None), getattr(event, "max_steps", None)
    if step is not None:
        parts.append(f"step {step}/{most}" if most else f"step {step}")
    for name, label in (("train_loss", "loss"), ("validation_loss", "val")):
        value = getattr(event, name, None)
        if value is not None:
            parts.append(f"{label} {value:.3f}")
    speed = getattr(event, "tokens_per_second", None)
    if speed:
        parts.append(f"{speed:,.0f} tokens/s")
    eta = getattr(event, "eta_seconds", None)
    if eta is not None:
        minutes, seconds = divmod(int(eta), 60)
        parts.append(f"ETA {minutes}:{seconds:02d}")
    return " · ".join(parts)
