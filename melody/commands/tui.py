"""`melody tui`: the terminal UI (compose, listen, export, train)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tui", help="the terminal UI: compose, listen, export and train",
        description="Open melody's terminal UI. Takes are autosaved to $XDG_STATE_HOME/melody/sessions "
                    "and offered again on the next start until they are exported.")
    parser.add_argument("--models", metavar="DIR", type=Path, action="append", default=[],
                        help="another folder of model folders for the picker (repeatable); "
                             "./models and the repository's models/ are always listed")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from melody.errors import UsageError

    for folder in args.models:
        if not folder.is_dir():
            raise UsageError(f"--models {folder}: no such folder")
    from melody.tui.app import run_app  # textual loads only here, never for `melody --help`

    return run_app(models=list(args.models))
