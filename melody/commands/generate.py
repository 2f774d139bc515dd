"""`melody generate`: sample new pieces from a model and write them as MIDI, ABC and a sidecar.

For scripts: `--stdout` writes one piece to standard output and nothing else there, `--json`
prints one JSON object per piece written (paths, seeds, settings), `--quiet` prints nothing
but errors. Pieces are sampled in batches (generation.BATCH_SIZE), each batch written as
soon as it is done, with a progress bar on stderr when it is a terminal (plain lines now and
then when not). `--format wav` renders through FluidSynth (melody.playback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from melody.errors import UsageError
from melody.files import OutputBatch, deferred_signals

DEFAULT_OUT = "melody-out"
FORMATS = ("mid", "abc", "wav")
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
    parser.add_argument("--infill", metavar="FIRST-LAST",
                        help="sample bars FIRST to LAST of the prime anew (from 1, both included), "
                             "keeping every other bar; needs a model trained for infilling")
    parser.add_argument("--max-bars", type=int, default=None, metavar="B",
                        help="without --bars: the piece ends by B new bars at the latest (default 64)")
    parser.add_argument("--key", metavar="K", help='key without a prime: "D", "Em", "Ador", "G major"')
    parser.add_argument("--meter", metavar="M", help='meter without a prime: "6/8", "3/4", "C"')
    parser.add_argument("--tempo", type=float, default=None, metavar="Q", help="quarter notes per minute")
    parser.add_argument("--key-lock", action="store_true", help="only pitches of the key's scale")
    parser.add_argument("--pitch-range", metavar="LOW-HIGH", help="MIDI pitches to stay within, e.g. 55-88")
    parser.add_argument("--cadence", choices=("corpus", "tonic", "off"), default="corpus",
                        help="where a tune ends. corpus (default): on a degree drawn from where the model's "
                             "training tunes of about the same length end (mostly the tonic); tonic: always "
                             "on the key's tonic; off: the model's own last bar. A last bar that misses the "
                             "aim is drawn again (32 candidates)")
    parser.add_argument("--no-cadence", dest="cadence", action="store_const", const="off",
                        help="the same as --cadence off")
    parser.add_argument("--out", "-o", default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder (default ./{DEFAULT_OUT}; - is --stdout)")
    parser.add_argument("--format", default=None, metavar="mid,abc,wav",
                        help="files to write, any of mid, abc, wav (default mid,abc; abc with --stdout); "
                             "wav needs FluidSynth")
    parser.add_argument("--force", action="store_true", help="replace files of the same name")
    parser.add_argument("--stdout", action="store_true",
                        help="write the one piece to standard output in one --format (no files, no sidecar)")
    chatter = parser.add_mutually_exclusive_group()
    chatter.add_argument("--json", action="store_true",
                         help="print one JSON object per piece written (paths, seeds, settings), one per line")
    chatter.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
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
    formats = tuple(dict.fromkeys("mid" if f == "midi" else f for f in formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UsageError(f"--format takes {', '.join(FORMATS)} or a comma-separated list of them, not {text!r}")
    return formats


def settings_from_args(args: argparse.Namespace):  # -> GenerationSettings
    """The run's GenerationSettings from the command line (defaults where an option is absent)."""
    from melody.generation import GenerationSettings

    given = {
        "num": args.num, "seed": args.seed, "prime_bars": args.prime_bars, "key": args.key,
        "meter": args.meter, "tempo": args.tempo, "key_lock": args.key_lock,
        "pitch_range": _pitch_range(args.pitch_range), "cadence": args.cadence,
    }
    for name in ("temperature", "top_k", "top_p", "bars", "max_tokens", "max_bars"):
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    if args.prime_bars is not None and args.prime is None and args.prime_abc is None:
        raise UsageError("--prime-bars needs --prime or --prime-abc")
    if args.infill is not None:
        from melody.generation.infill import parse_range

        given["infill"] = parse_range(args.infill)
    settings = GenerationSettings().replace(**given)
    settings.validate()
    return settings


def run(args: argparse.Namespace) -> int:
    from melody.generation import batches, resolve_model

    to_stdout = args.stdout or args.out == "-"
    formats = _formats(args.format or ("abc" if to_stdout else "mid,abc"))
    settings = settings_from_args(args)
    if to_stdout:
        _check_stdout(args, settings, formats)
    out = Path(args.out)
    if not to_stdout and out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    renderers = _renderers(formats)
    model = resolve_model(args.model)
    say = _Say(quiet=args.quiet, total=settings.num)
    index = _copy_index(model) if args.reject_copies else None
    # Every file of the run is one batch: a disk that fills at piece 51 takes pieces 1-50 back
    # with it and says nothing was written (Ctrl-C and SIGTERM keep the pieces reported).
    try:
        with OutputBatch(overwrite=args.force) as output:
            for takes in batches(model, settings, prime=args.prime, prime_abc=args.prime_abc):
                if index is not None:
                    from melody.generation import reject_copies

                    takes = reject_copies(model, settings, takes, index=index, prime=args.prime,
                                          prime_abc=args.prime_abc, attempts=MAX_COPY_ATTEMPTS,
                                          on_retry=say.line)
                if to_stdout:
                    _write_stdout(takes[0], formats[0], renderers, say)
                    continue
                for take in takes:
                    with deferred_signals():  # a piece written is a piece reported, even on Ctrl-C
                        written = _write(take, out, formats, renderers, args.force, output)
                        say.written(written, take, as_json=args.json)
    finally:
        say.close()
    return 0


def _check_stdout(args: argparse.Namespace, settings, formats: tuple[str, ...]) -> None:
    """Standard output holds exactly one piece in one format, and no binary goes to a terminal."""
    if settings.num != 1:
        raise UsageError(f"--stdout writes one piece: drop --num {settings.num}, or write files with --out DIR")
    if len(formats) != 1:
        raise UsageError(f"--stdout writes one format: pick one of {', '.join(formats)} with --format")
    if args.json:
        raise UsageError("--stdout and --json both want standard output: pick one")
    if formats[0] != "abc" and sys.stdout.isatty():
        raise UsageError(f"--stdout --format {formats[0]} would print binary data on the terminal: "
                         f"redirect it (> tune.{formats[0]}) or pipe it")


def _renderers(formats: tuple[str, ...]) -> dict:
    """Formats beyond MIDI and ABC, rendered here (playback sits above generation)."""
    if "wav" not in formats:
        return {}
    from melody import playback

    missing = playback.render_missing()
    if missing:
        raise UsageError(f"--format wav: {missing}")
    return {"wav": playback.wav_bytes}


def _copy_index(model):  # -> NoveltyIndex
    from melody.evaluation.novelty import index_for_model

    index = index_for_model(model)
    if index is None:
        raise UsageError("--reject-copies: the files this model was trained on are not available "
                         "(config.json names them), so copies cannot be checked")
    return index


def _write(take, out: Path, formats: tuple[str, ...], renderers: dict, force: bool,
           batch: OutputBatch) -> list[Path]:
    from melody.generation import write_take

    return write_take(take, out, formats=formats, force=force, renderers=renderers, batch=batch)


def _write_stdout(take, kind: str, renderers: dict, say: _Say) -> None:
    from melody.music.io import render

    data = renderers[kind](take.piece) if kind in renderers else render(take.piece, kind)
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    say.line(f"wrote {take.model_name} seed {take.seed} to standard output ({kind})")


class _Say:
    """What `melody generate` tells the user: paths or JSON on stdout, progress and notes on stderr."""

    def __init__(self, *, quiet: bool, total: int) -> None:
        from melody.commands.progress import Progress

        self.quiet = quiet
        # One piece is one batch: a bar would jump from nothing to done.
        self.progress = None if quiet or total < 2 else Progress(total, label="generating", unit="pieces")
        if self.progress is not None:
            self.progress.update(0)
        self.done = 0

    def line(self, text: str) -> None:
        """A note on stderr (a near-copy drawn again, where a piece went)."""
        if self.quiet:
            return
        if self.progress is not None:
            self.progress.write(f"melody generate: {text}")
        else:
            print(f"melody generate: {text}", file=sys.stderr)

    def written(self, paths: list[Path], take, *, as_json: bool) -> None:
        """One piece's files: their paths, or one JSON object, on stdout; then the progress."""
        self.done += 1
        if not self.quiet:
            if self.progress is not None and sys.stdout.isatty():
                self.progress.clear()  # stdout and stderr share the terminal's line
            if as_json:
                record = take.sidecar()
                del record["tokens"]
                print(json.dumps({"paths": [str(path) for path in paths], **record}), flush=True)
            else:
                print("\n".join(str(path) for path in paths), flush=True)
        if self.progress is not None:
            self.progress.update(self.done)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()
