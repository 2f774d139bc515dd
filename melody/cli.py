# PYTHON_ARGCOMPLETE_OK  (argcomplete looks for this mark in the first lines of the script)
"""The `melody` command line: one subcommand per module in `melody.commands`.

Each command module defines `add_parser(subparsers)` and `run(args) -> int`, and imports
anything heavy (torch, textual) only inside `run`, so `melody --help` stays fast and never
imports torch.

Exit codes are the same for every command (melody.errors lists them): a user's mistake is one
line on stderr and the error's `exit_code`, a mistyped command or option names the nearest
real one, Ctrl-C exits 130, SIGTERM 143 and SIGHUP 129, all after the same clean-up.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import signal
import sys
from typing import Any, Iterable, NoReturn

from melody import __version__
from melody.errors import MelodyError, Terminated

# Order here is the order `melody --help` lists them.
COMMANDS = ("generate", "tui", "train", "eval", "convert", "inspect", "tokenize", "completion")
USAGE_EXIT = 2
INTERRUPTED_EXIT = 128 + signal.SIGINT  # 130, what shells report for Ctrl-C
TERMINATED_EXIT = 128 + signal.SIGTERM  # 143
HANGUP = getattr(signal, "SIGHUP", None)  # not on Windows
FILE_SIZE_LIMIT = getattr(signal, "SIGXFSZ", None)  # not on Windows
HANGUP_EXIT = 129  # 128 + SIGHUP, as batch schedulers and closed terminals report it


def nearest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate `word` was most likely a typo of, or None when nothing is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors that suggest the nearest command, choice or option."""

    def error(self, message: str) -> NoReturn:
        message = message.replace("argument COMMAND: ", "")  # the subcommand's own metavar
        self.exit(USAGE_EXIT, f"{self.prog}: {message} (see '{self.prog} --help')\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        # argparse's own message lists every choice; a typo deserves the one that was meant.
        if action.choices is not None and value not in action.choices:
            choices = [str(choice) for choice in action.choices]
            guess = nearest(str(value), choices)
            hint = f"did you mean {guess!r}? " if guess else ""
            what = "command" if isinstance(action, argparse._SubParsersAction) else "choice"  # noqa: SLF001
            raise argparse.ArgumentError(
                action, f"unknown {what} {value!r} ({hint}choose from {', '.join(choices)})")
        super()._check_value(action, value)

    def unrecognized(self, extras: list[str]) -> NoReturn:
        """Refuse arguments this (sub)command does not take, naming the nearest option."""
        unknown = [extra.split("=", 1)[0] for extra in extras if extra.startswith("-")]
        if not unknown:  # a stray value: the options were fine
            self.error(f"unrecognized argument{'s' if len(extras) > 1 else ''} {' '.join(extras)}")
        options = [option for action in self._actions for option in action.option_strings]
        described = []
        for option in unknown:
            guess = nearest(option, options)
            described.append(f"{option} (did you mean {guess}?)" if guess else option)
        self.error(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(described)}")


def build_parser() -> Parser:
    parser = Parser(
        prog="melody",
        description="Generate music with neural sequence models, from a terminal.",
        epilog="Exit codes (every command): 0 done, 1 bad music or model content, 2 usage or "
               "missing input, 129 hung up, 130 interrupted, 143 terminated.",
    )
    parser.add_argument("--version", action="version", version=f"melody {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"melody.commands.{name}").add_parser(subparsers)
    return parser


def subparser(parser: argparse.ArgumentParser, command: str) -> Parser:
    """The parser of one subcommand."""
    return parser._subparsers._group_actions[0].choices[command]  # noqa: SLF001


def parse(parser: Parser, argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line; a mistake exits 2 with one line naming the nearest option."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        (subparser(parser, args.command) if args.command else parser).unrecognized(extras)
    return args


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asking for completions: answer and exit
        from melody.commands.completion import complete

        complete(parser)
    command = "melody"
    wanted = {number: _terminate for number in (signal.SIGTERM, HANGUP) if number is not None}
    if FILE_SIZE_LIMIT is not None:
        # Past a file-size limit (ulimit -f) the kernel would kill us; ignored, the write fails
        # with EFBIG and is reported like a full disk.
        wanted[FILE_SIZE_LIMIT] = signal.SIG_IGN
    previous = _on_signals(wanted)
    try:
        try:
            args = parse(parser, argv)
        except SystemExit as done:  # --help, --version, or a usage mistake already printed
            return done.code if isinstance(done.code, int) else (0 if done.code is None else USAGE_EXIT)
        if args.command is None:
            if sys.stdin.isatty() and sys.stdout.isatty():
                args = parser.parse_args(["tui"])
            else:
                parser.print_help()
                return 0
        command = f"melody {args.command}"
        return int(args.run(args) or 0)
    except MelodyError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:
        # The reader went away (`melody generate --stdout | head -c 100`): not an error. Point
        # stdout at /dev/null so the interpreter's final flush does not complain either.
        _silence_stdout()
        return 0
    except OSError as error:
        from melody.files import is_machine_refusal, refusal_line

        if not is_machine_refusal(error):
            raise  # anything else is a bug, and keeps its traceback
        # A full, read-only or forbidden disk: the machine's refusal, not melody's bug.
        print(f"{command}: {refusal_line(error)}", file=sys.stderr)
        return 1
    except Terminated as stopped:
        print(f"{command}: {'hung up' if stopped.signum == HANGUP else 'terminated'}", file=sys.stderr)
        return 128 + stopped.signum
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT
    finally:
        _on_signals(previous)


def _on_signals(handlers: dict[int, Any]) -> dict[int, Any]:
    """Install signal handlers (main thread only; elsewhere signals cannot be handled); the
    previous ones, for the same call to put back when the command is done."""
    previous = {}
    for number, wanted in handlers.items():
        try:
            previous[number] = signal.signal(number, wanted)
        except (ValueError, TypeError):  # not the main thread, or no previous handler to restore
            pass
    return previous


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
