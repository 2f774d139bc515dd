"""`melody train DATA...`: train an LSTM or a Transformer on ABC and MIDI files."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

EPILOG = """\
examples:
  melody train my_tunes/                        an LSTM sized to 15 minutes (30 on a GPU), into models/my_tunes
  melody train my_tunes/ --minutes 60           an hour: a larger network, more steps
  melody train tunes.abc --model transformer --set training.max_steps=5000
  melody train my_tunes/ --config assets/configs/transformer-small.toml --out models/small
  melody train --resume models/my_tunes         continue where it stopped (Ctrl-C, SIGTERM, SIGHUP save first)
  torchrun --nproc_per_node=2 -m melody train my_tunes/   several processes (see README)

settings (--set section.key=value; a TOML --config file has the same sections):
  model:    family, d_model, hidden, layers, heads, context, dropout
  training: batch_size, window, optimizer, lr, min_lr_ratio, weight_decay, warmup_steps,
            max_steps, max_minutes, eval_every, eval_batches, patience, clip, seed,
            augment_transpose, augment_halve, infill_rate, checkpoint_every, log_every
  data:     tokenizer, validation_fraction
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train", help="train a model on ABC and MIDI files",
        description="Train an LSTM or a causal Transformer on .abc, .mid and .midi files. The model "
                    "folder's root holds the best model by validation loss; checkpoints/ the last state.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="*", metavar="DATA",
                        help="music files and folders (searched recursively); with --resume, "
                             "defaults to the data the model was trained on")
    parser.add_argument("--minutes", type=float, metavar="N",
                        help="time budget for the whole run after the corpus is read (default: 15 on a "
                             "CPU, 30 on a GPU, unless training.max_steps is set); what you did not set "
                             "is sized to fit it (same as --set training.max_minutes=N)")
    parser.add_argument("--model", choices=("lstm", "transformer"), help="model family (default: lstm)")
    parser.add_argument("--tokenizer", choices=("remi", "performance", "abc-char"),
                        help="token scheme (default: remi)")
    parser.add_argument("--out", metavar="DIR", help="model folder to write (default: models/<name of DATA>)")
    parser.add_argument("--config", metavar="FILE.toml", help="settings file ([model], [training], [data])")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override one setting, e.g. --set training.lr=3e-4 (repeatable)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"),
                        help="where to train (default: auto: CUDA, then MPS, then CPU)")
    parser.add_argument("--compile", action="store_true", help="compile the model with torch.compile")
    parser.add_argument("--resume", metavar="DIR", help="continue training the model in DIR")
    parser.add_argument("--force", action="store_true", help="replace an existing --out folder")
    parser.add_argument("--workers", type=int, metavar="N", help="processes that tokenize the corpus")
    parser.set_defaults(run=run)


class ProgressPrinter:
    """Turns TrainEvents into the corpus report, a progress bar and a final summary on stderr."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.bar: Any = None
        self.first_step: int | None = None
        self.validation: float | None = None

    def __call__(self, event: Any) -> None:
        from melody.commands.progress import Progress, format_duration

        if event.phase == "corpus":
            if event.files_total is not None:
                if self.bar is None:
                    self.bar = Progress(event.files_total, label="tokenize", unit="files", stream=self.stream)
                self.bar.update(event.files_done or 0, text=event.message[len("tokenizing "):])
                return
            self.close()
            self.print(event.message)
        elif event.phase == "start":
            self.close()
            self.print(event.message)
            # The bar counts this session's steps (a resumed run starts past 0), so its rate and ETA are right.
            self.first_step = event.step
            self.bar = Progress(event.max_steps - event.step, label="train", unit="steps", stream=self.stream)
            if event.eta_seconds is not None:
                self.print(f"ends in about {format_duration(event.eta_seconds)} (the time budget)")
        elif event.phase == "step" and self.bar is not None:
            parts = [f"step {event.step}"] if self.first_step else []
            parts.append(f"loss {event.train_loss:.3f}")
            if self.validation is not None:
                parts.append(f"val {self.validation:.3f}")
            if event.tokens_per_second:
                parts.append(f"{event.tokens_per_second:,.0f} tok/s")
            # With a time budget the step count is re-estimated as the rate is measured: the bar's
            # total follows it, and its ETA is the loop's (the budget left), not a guess from steps.
            self.bar.update(event.step - (self.first_step or 0), total=event.max_steps - (self.first_step or 0),
                            text="  ".join(parts), eta=event.eta_seconds)
        elif event.phase == "eval":
            self.validation = event.validation_loss
            if self.bar is None or not self.bar.interactive:
                self.print(f"step {event.step}: validation loss {event.validation_loss:.4f} nats/token")
        elif event.phase == "checkpoint":
            if event.message.startswith("interrupted"):
                self.print(event.message)
        elif event.phase == "done":
            self.close()
            self.print(event.message)

    def print(self, text: str) -> None:
        if self.bar is not None and self.bar.interactive:
            self.stream.write("\r\x1b[K")
        print(text, file=self.stream, flush=True)
        if self.bar is not None and self.bar.interactive:
            self.bar.update(self.bar.done, text=self.bar.text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run(args: argparse.Namespace) -> int:
    from melody.errors import UsageError
    from melody.training import train

    if not args.data and not args.resume:
        raise UsageError("name the music files or folders to train on (or --resume a model folder)")
    overrides = list(args.overrides)
    if args.minutes is not None:
        if not args.minutes > 0:  # also refuses NaN
            raise UsageError(f"--minutes must be a positive number of minutes, not {args.minutes:g}")
        overrides.append(f"training.max_minutes={args.minutes!r}")
    printer = ProgressPrinter()
    try:
        result = train(args.data, model=args.model, tokenizer=args.tokenizer, out=args.out,
                       config=args.config, overrides=overrides, device=args.device,
                       resume=args.resume, force=args.force, on_event=printer,
                       workers=args.workers, compile=args.compile)
    finally:
        printer.close()
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one line, not one per process
        print(result.folder)
    return 0
