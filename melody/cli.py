"""The `melody` command line: one subcommand per module in `melody.commands`.

Each command module defines `add_parser(subparsers)` and `run(args) -> int`, and imports
anything heavy (torch, textual) only inside `run`, so `melody --help` stays fast and never
imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from melody import __version__
from melody.errors import MelodyError

# Order here is the order `melody --help` lists them.
COMMANDS = ("generate", "tui", "train", "eval", "convert", "inspect", "tokenize")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="melody",
        description="Generate music with neural sequence models, from a terminal.",
    )
    parser.add_argument("--version", action="version", version=f"melody {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"melody.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            args = parser.parse_args(["tui"])
        else:
            parser.print_help()
            return 0
    try:
        return int(args.run(args) or 0)
    except MelodyError as error:
        print(f"melody {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"melody {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
