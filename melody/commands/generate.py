"""`melody generate`: sample new pieces from a model and write them as MIDI, ABC and a sidecar."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from melody.errors import MelodyError, UsageError

DEFAULT_OUT = "melody-out"
MAX_COPY_ATTEMPTS = 8  # draws per piece before --reject-copies gives up and keeps the last one


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate", help="sample new pieces from a model (the shipped default unless --model)",
        description="Sample new pieces from a trained model and write each as MIDI and ABC, "
                    "with a .json sidecar holding every option and the seed.")
    parser.add_argument("--model", default="default", metavar="DIR",
                        help="model folder (default: the shipped models/default, or $MELODY_MODEL)")
    parser.add_argument("--num", "-n", type=int, default=1, metavar="N", help="pieces to sample (default 1)")
    parser.add_argument("--temperature", "-t", type=float, default=None, metavar="T",
                        help="sampling temperature; 0 is greedy (default 1.0)")
    parser.add_argument("--top-k", type=int, default=None, metavar="K", help="keep the K likeliest tokens (0: off)")
    parser.add_argument("--top-p", type=float, default=None, metavar="P",
                        help="nucleus sampling: keep the likeliest tokens up to probability P (default 0.95; 1: off)")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help="random seed (default: drawn and recorded in the sidecar)")
    prime = parser.add_mutually_exclusive_group()
    prime.add_argument("--prime", metavar="FILE", help="start from this .abc or .mid file (its first tune)")
    prime.add_argument("--prime-abc", metavar="TEXT", help='start from ABC text, e.g. "K:D\\nABcd efge|"')
    parser.add_argument("--prime-bars", type=int, default=None, metavar="B",
                        help="keep the first B bars of the prime (default: all of it)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--bars", type=int, default=None, metavar="B",
                        help="exactly B new bars after the prime (default: the model ends the piece)")
    length.add_argument("--max-tokens", type=int, default=None, metavar="N",
                        help="new tokens instead of a bar count")
    parser.add_argument("--max-bars", type=int, default=None, metavar="B",
                        help="without --bars: the piece ends by B new bars at the latest (default 64)")
    parser.add_argument("--key", metavar="K", help='key without a prime: "D", "Em", "Ador", "G major"')
    parser.add_argument("--meter", metavar="M", help='meter without a prime: "6/8", "3/4", "C"')
    parser.add_argument("--tempo", type=float, default=None, metavar="Q", help="quarter notes per minute")
    parser.add_argument("--key-lock", action="store_true", help="only pitches of the key's scale")
    parser.add_argument("--pitch-range", metavar="LOW-HIGH", help="MIDI pitches to stay within, e.g. 55-88")
    parser.add_argument("--out", "-o", default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder (default ./{DEFAULT_OUT})")
    parser.add_argument("--format", default="mid,abc", metavar="mid,abc", help="files to write (default mid,abc)")
    parser.add_argument("--force", action="store_true", help="replace files of the same name")
    parser.add_argument("--reject-copies", action="store_true",
                        help="draw again any piece that nearly copies a tune the model was trained on")
    parser.set_defaults(run=run)


def _pitch_range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = text.replace(":", "-").split("-")
    try:
        low, high = (int(part) for part in parts)
    except ValueError:
        raise UsageError(f"--pitch-range must be LOW-HIGH in MIDI pitches, e.g. 55-88, not {text!r}") from None
    return low, high


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(part.strip().lower().lstrip(".") for part in text.split(",") if part.strip())
    formats = tuple("mid" if f == "midi" else f for f in formats)
    bad = [f for f in formats if f not in ("mid", "abc")]
    if bad or not formats:
        raise UsageError(f"--format takes mid, abc or mid,abc, not {text!r}")
    return formats


def settings_from_args(args: argparse.Namespace):  # -> GenerationSettings
    """The run's GenerationSettings from the command line (defaults where an option is absent)."""
    from melody.generation import GenerationSettings

    given = {
        "num": args.num, "seed": args.seed, "prime_bars": args.prime_bars, "key": args.key,
        "meter": args.meter, "tempo": args.tempo, "key_lock": args.key_lock,
        "pitch_range": _pitch_range(args.pitch_range),
    }
    for name in ("temperature", "top_k", "top_p", "bars", "max_tokens", "max_bars"):
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    if args.prime_bars is not None and args.prime is None and args.prime_abc is None:
        raise UsageError("--prime-bars needs --prime or --prime-abc")
    settings = GenerationSettings().replace(**given)
    settings.validate()
    return settings


def run(args: argparse.Namespace) -> int:
    from melody.generation import resolve_model, write_take
    from melody.generation import generate as generate_takes

    formats = _formats(args.format)
    settings = settings_from_args(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    model = resolve_model(args.model)
    takes = generate_takes(model, settings, prime=args.prime, prime_abc=args.prime_abc)
    if args.reject_copies:
        from melody.evaluation.novelty import index_for_model
        from melody.generation import reject_copies

        index = index_for_model(model)
        if index is None:
            raise MelodyError("--reject-copies: the files this model was trained on are not available "
                              "(config.json names them), so copies cannot be checked")
        takes = reject_copies(model, settings, takes, index=index, prime=args.prime, prime_abc=args.prime_abc,
                              attempts=MAX_COPY_ATTEMPTS,
                              on_retry=lambda line: print(f"melody generate: {line}", file=sys.stderr))
    for take in takes:
        for path in write_take(take, out, formats=formats, force=args.force):
            print(path)
    return 0
