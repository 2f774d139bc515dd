"""`melody convert`: ABC and MIDI to ABC and MIDI, optionally through a tokenizer.

Two forms:
    melody convert IN OUT                       one file to one file (formats from the suffixes)
    melody convert IN... --out DIR --to mid|abc one output per tune

In the folder form a file with one tune writes DIR/<stem>.<ext>, a file with several writes
DIR/<stem>-<X>.<ext> per tune (X: the tune's number), and a name already taken in the same run
gets ` (2)`, ` (3)`, ... (assets/irish.abc restarts its X: numbers per dance type). The two-file form
with a multi-tune input needs --tune X, so it never picks one tune silently. Every input is
read, every output rendered and every name checked before anything is written, and the
outputs are one `OutputBatch`: a bad file, an existing output (without --force) or a disk that
fills half-way leaves nothing behind.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

SUMMARY_OVER = 10  # more outputs than this: a summary line instead of one line each


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert", help="convert ABC and MIDI files (optionally through a tokenizer)",
        description="Convert ABC and MIDI files: abc->mid, mid->abc, abc->abc (normalised), "
                    "mid->mid, and either to .wav through FluidSynth. `melody convert IN OUT` converts one file; "
                    "`melody convert IN... --out DIR --to mid|abc` writes one file per tune.")
    parser.add_argument("inputs", nargs="+", metavar="IN",
                        help="input .abc/.mid/.midi files or folders (and OUT in the "
                             "two-file form)")
    parser.add_argument("--out", metavar="DIR", type=Path, help="folder for one output per tune")
    parser.add_argument("--to", choices=("mid", "abc", "wav"),
                        help="output format with --out (wav: rendered by FluidSynth)")
    parser.add_argument("--tune", metavar="X",
                        help="convert only the tune with this X: number (or 1-based index)")
    parser.add_argument("--via", metavar="TOKENIZER",
                        help="encode and decode through a tokenizer (remi, performance, abc-char) "
                             "to hear what a model learns")
    parser.add_argument("--perform", action="store_true",
                        help="play ABC staccato, trills, rolls and hornpipe swing as abc2midi does "
                             "(default: the literal score, what models train on)")
    parser.add_argument("--force", action="store_true", help="replace existing output files")
    parser.add_argument("-q", "--quiet", action="store_true", help="print no reader warnings")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from melody.errors import MusicError, UsageError
    from melody.files import OutputBatch

    targets = _plan_form(args)
    if targets["kind"] == "wav":
        from melody.playback import render_missing

        if render_missing():
            raise UsageError(render_missing())
    sources = files_in_order(targets["inputs"])
    if not sources:
        named = ", ".join(map(str, targets["inputs"]))
        raise UsageError(f"no .abc, .mid or .midi files in {named}")

    tokenizer = None
    if args.via:
        from melody.tokenizers import get_tokenizer

        tokenizer = get_tokenizer(args.via)

    outputs: list[tuple[Path, bytes]] = []
    taken: set[Path] = set()
    warnings: list[MusicError] = []  # printed once the outputs are known to be writable
    for source in sources:
        pieces, file_warnings = read_with_warnings(source, perform=args.perform)
        warnings.extend(file_warnings)
        if args.tune is not None:
            pieces = _select_tune(pieces, args.tune, source)
        if targets["out_file"] is not None and len(pieces) > 1:
            raise UsageError(f"{source} has {len(pieces)} tunes: pick one with --tune X, or write "
                             f"them all with --out DIR --to {targets['kind']}")
        for number, piece in enumerate(pieces, 1):
            if tokenizer is not None:
                decoded = tokenizer.decode(tokenizer.encode(piece))
                # Titles are not tokens; keep them so the output still names its tune. A
                # tokenizer without tempo tokens (performance) keeps the source's tempo.
                piece = decoded.replace(title=decoded.title or piece.title, tune=piece.tune,
                                        source=piece.source, tempos=decoded.tempos or piece.tempos)
            if not piece.notes:
                raise MusicError("no notes to write", file=str(source),
                                 tune=piece.tune if len(pieces) > 1 else None)
            path = targets["out_file"] or _output_name(
                targets["out_dir"], source, piece.tune, number, len(pieces), targets["kind"], taken)
            taken.add(path)

            def left_out(message: str, path: Path = path) -> None:
                """What the output format cannot carry is said, as a reader's warning is."""
                warnings.append(MusicError(message, file=str(path)))

            outputs.append((path, _render(piece, targets["kind"], on_warning=left_out)))

    with OutputBatch(overwrite=args.force) as batch:
        batch.check(path for path, _ in outputs)  # every name, dangling links too, before a byte
        if not args.quiet:
            for warning in warnings:
                print(f"warning: {warning}", file=sys.stderr)
        for path, data in outputs:
            batch.write(path, data)
    _say_written([path for path, _ in outputs], targets["out_dir"])
    return 0


def files_in_order(paths: list) -> list[Path]:
    """Music files in the order the user named them (a folder's files sorted), each once."""
    from melody.corpus import find_music_files
    from melody.safe_read import real_path

    seen: set[Path] = set()
    files: list[Path] = []
    for given in paths:
        for path in find_music_files([given]):
            if real_path(path) not in seen:
                seen.add(real_path(path))
                files.append(path)
    return files


def read_with_warnings(path: Path, perform: bool = False) -> tuple[list, list]:
    """The pieces of a file and the reader's warnings, held back for the caller to print.

    Held, because a file that then fails prints only its error, which already says what the
    reader warned about on the way (one line, as promised).
    """
    from melody.music import io as music_io

    warnings: list = []
    return music_io.read(path, on_warning=warnings.append, perform=perform), warnings


def _plan_form(args: argparse.Namespace) -> dict:
    """Which form the arguments take: inputs, and an output file or an output folder and format."""
    from melody.errors import UsageError
    from melody.music import io as music_io

    if args.out is not None:
        if args.to is None:
            raise UsageError("--out DIR needs --to mid or --to abc")
        if args.out.exists() and not args.out.is_dir():
            raise UsageError(f"{args.out}: --out must be a folder, and this is a file")
        return {"inputs": args.inputs, "out_file": None, "out_dir": args.out, "kind": args.to}
    if len(args.inputs) != 2:
        raise UsageError("give IN OUT (one file to one file), or IN... --out DIR --to mid|abc")
    source, target = (Path(p) for p in args.inputs)
    if target.is_dir():
        raise UsageError(f"{target} is a folder: use --out {target} --to mid|abc")
    kind = "wav" if target.suffix.lower() == ".wav" else music_io.format_of(target)
    if args.to is not None and args.to != kind:
        raise UsageError(f"--to {args.to} does not match the output file {target}")
    if source.is_dir():
        raise UsageError(f"{source} is a folder: use --out DIR --to {kind}")
    return {"inputs": [source], "out_file": target, "out_dir": None, "kind": kind}


def _render(piece, kind: str, on_warning=None) -> bytes:
    """The bytes of one output: MIDI or ABC from melody.music, WAV through FluidSynth."""
    if kind == "wav":
        from melody.playback import wav_bytes

        return wav_bytes(piece)
    from melody.music import io as music_io

    return music_io.render(piece, kind, on_warning=on_warning)


def _select_tune(pieces: list, tune: str, source: Path) -> list:
    """The pieces whose X: number is `tune`, else the `tune`-th piece; UsageError if none."""
    from melody.errors import UsageError

    chosen = [p for p in pieces if p.tune is not None and str(p.tune) == tune]
    if not chosen and tune.isdigit() and 1 <= int(tune) <= len(pieces):
        chosen = [pieces[int(tune) - 1]]
    if not chosen:
        raise UsageError(f"{source} has no tune {tune} ({len(pieces)} tune"
                         f"{'s' if len(pieces) != 1 else ''})")
    return chosen[:1]


def _output_name(folder: Path, source: Path, tune: str | None, number: int, count: int,
                 kind: str, taken: set[Path]) -> Path:
    """DIR/<stem>.<ext> for a one-tune file, DIR/<stem>-<X>.<ext> per tune; ` (2)`... if taken."""
    from melody.files import free_stem

    stem = source.stem
    if count > 1:
        label = re.sub(r"[^A-Za-z0-9._-]+", "_", str(tune)).strip("._") if tune is not None else ""
        stem = f"{stem}-{label or number}"
    # Only names of this run count: an existing file is refused (or replaced with --force).
    return folder / f"{free_stem(folder, stem, [kind], taken=taken, on_disk=False)}.{kind}"


def _say_written(paths: list[Path], folder: Path | None) -> None:
    if len(paths) <= SUMMARY_OVER or folder is None:
        for path in paths:
            print(f"wrote {path}")
        return
    print(f"wrote {len(paths)} files to {folder}/ ({paths[0].name} ... {paths[-1].name})")
