"""`melody completion bash|zsh|fish`: the shell code that completes melody's command line.

Completion goes through argcomplete: the shell calls `melody` back with the line typed so far
(`_ARGCOMPLETE` in the environment), `cli.main` builds the parser and hands it to `complete`,
which answers with commands, options, choices, model folders for `--model` and paths for
files and folders. The parser is built without torch, so a TAB costs a fraction of a second.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

SHELLS = ("bash", "zsh", "fish")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "completion", help="print shell code that completes melody's commands, options, models and files",
        description="Print the shell code that completes melody's commands, options, model "
                    "folders and files. Load it in your shell's start-up file: "
                    'bash: eval "$(melody completion bash)" in ~/.bashrc; '
                    'zsh: eval "$(melody completion zsh)" in ~/.zshrc; '
                    "fish: melody completion fish > ~/.config/fish/completions/melody.fish")
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import argcomplete

    print(argcomplete.shellcode(["melody"], shell=args.shell), end="")
    return 0


def model_folders(prefix: str, **_: Any) -> list[str]:
    """What `--model` can take that starts with `prefix`: "default", the model folders under
    ./models, and any folder (a model can live anywhere)."""
    from argcomplete.completers import DirectoriesCompleter

    from melody.model_folder import list_models

    names = ["default"]
    names += [os.path.relpath(info.folder) for info in list_models([Path("models")])]
    names = [name for name in names if name.startswith(prefix)]
    folders = [folder for folder in DirectoriesCompleter()(prefix) if folder.rstrip("/") not in names]
    return names + folders


def attach_completers(parser: argparse.ArgumentParser) -> None:
    """Model folders for every `--model DIR`, folders for every other `DIR` (files are the default)."""
    from argcomplete.completers import DirectoriesCompleter

    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in action.choices.values():
                attach_completers(sub)
        elif action.choices is None and action.dest == "model":
            action.completer = model_folders  # type: ignore[attr-defined]
        elif action.choices is None and action.metavar in ("DIR", "FOLDER"):
            action.completer = DirectoriesCompleter()  # type: ignore[attr-defined]


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request and exit (argcomplete's protocol)."""
    import argcomplete

    attach_completers(parser)
    argcomplete.autocomplete(parser)
