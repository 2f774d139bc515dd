"""`melody inspect`: what is in a music file, tune by tune, and what it costs in tokens."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

TITLE_WIDTH = 30
TOKENIZERS = ("remi", "performance", "abc-char")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect", help="show each tune of music files: meter, key, length, range, token counts",
        description="Show each tune of ABC and MIDI files: title, meter, key, tempo, bars, "
                    "notes, pitch range, duration, and its length in tokens for every tokenizer.")
    parser.add_argument("files", nargs="+", metavar="FILE", help=".abc/.mid/.midi files or folders")
    parser.add_argument("--json", action="store_true", help="print JSON lines, one object per tune")
    parser.add_argument("-q", "--quiet", action="store_true", help="print no reader warnings")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from melody.commands.convert import files_in_order, read_with_warnings
    from melody.errors import MelodyError, UsageError

    files = files_in_order(args.files)
    if not files:
        raise UsageError(f"no .abc, .mid or .midi files in {', '.join(args.files)}")
    tokenizers = _tokenizers()

    failed = 0
    for number, path in enumerate(files):
        try:
            pieces, warnings = read_with_warnings(path)
        except MelodyError as error:
            if len(files) == 1:
                raise
            # Several files: say what is wrong with this one and go on with the others.
            print(f"melody inspect: {error}", file=sys.stderr)
            failed += 1
            continue
        if not args.quiet:
            for warning in warnings:
                print(f"warning: {warning}", file=sys.stderr)
        rows = [describe(piece, tokenizers) for piece in pieces]
        if args.json:
            for row in rows:
                print(json.dumps({"file": str(path), **row}, ensure_ascii=False))
        else:
            if number:
                print()
            print(f"{path}: {len(rows)} tune{'s' if len(rows) != 1 else ''}")
            print(_table(rows, list(tokenizers)))
    return 1 if failed else 0


def _tokenizers() -> dict[str, Any]:
    """Every tokenizer that can be built in this install, by name."""
    from melody.tokenizers import get_tokenizer

    found: dict[str, Any] = {}
    for name in TOKENIZERS:
        try:
            found[name] = get_tokenizer(name)
        except ImportError:
            found[name] = None  # a scheme missing from this install shows as '-'
    return found


def describe(piece: Any, tokenizers: dict[str, Any]) -> dict[str, Any]:
    """One tune's facts as plain values (what both the table and --json show)."""
    from melody.errors import MelodyError
    from melody.music.notes import PITCH_CLASS_NAMES

    signature = piece.time_signature
    meters = {(s.numerator, s.denominator) for s in piece.time_signatures}
    span = piece.pitch_range()
    tokens: dict[str, int | None] = {}
    for name, tokenizer in tokenizers.items():
        try:
            tokens[name] = len(tokenizer.encode(piece)) if tokenizer is not None else None
        except MelodyError:
            tokens[name] = None

    def pitch_name(pitch: int) -> str:
        return f"{PITCH_CLASS_NAMES[pitch % 12]}{pitch // 12 - 1}"

    return {
        "tune": piece.tune,
        "title": piece.title,
        # A "+" says the meter changes later in the piece.
        "meter": f"{signature.numerator}/{signature.denominator}{'+' if len(meters) > 1 else ''}",
        "key": piece.key.name if piece.key else None,
        "tempo": round(piece.qpm, 1),
        "bars": len(piece.bar_starts()) if piece.notes else 0,
        "notes": len(piece.notes),
        # Instruments: how many General MIDI programs play, and how many notes are drum hits.
        "programs": len({note.program for note in piece.notes if not note.is_drum}),
        "drums": sum(1 for note in piece.notes if note.is_drum),
        "range": f"{pitch_name(span[0])}-{pitch_name(span[1])}" if span else None,
        "seconds": round(seconds(piece), 2),
        "tokens": tokens,
    }


def seconds(piece: Any) -> float:
    """How long the piece plays, following its tempo changes."""
    from melody.music.notes import DEFAULT_QPM, TICKS_PER_QUARTER

    end = piece.end_tick
    marks = [(t.tick, t.qpm) for t in piece.tempos if t.qpm > 0]
    if not marks or marks[0][0] > 0:
        marks.insert(0, (0, DEFAULT_QPM))
    total = 0.0
    for index, (tick, qpm) in enumerate(marks):
        stop = min(marks[index + 1][0] if index + 1 < len(marks) else end, end)
        if stop > tick:
            total += (stop - tick) / TICKS_PER_QUARTER * 60.0 / qpm
    return total


def _table(rows: list[dict[str, Any]], tokenizer_names: list[str]) -> str:
    """Rows as aligned columns: text left, numbers right."""
    headers = ["X", "title", "meter", "key", "tempo", "bars", "notes", "programs", "drums", "range",
               "seconds", *tokenizer_names]
    numeric = {"tempo", "bars", "notes", "programs", "drums", "seconds", *tokenizer_names}
    cells = []
    for row in rows:
        title = row["title"] or ""
        if len(title) > TITLE_WIDTH:
            title = title[: TITLE_WIDTH - 1] + "…"
        values = {"X": row["tune"], "title": title, "meter": row["meter"], "key": row["key"],
                  "tempo": f"{row['tempo']:g}", "bars": row["bars"], "notes": row["notes"],
                  "programs": row["programs"], "drums": row["drums"],
                  "range": row["range"], "seconds": f"{row['seconds']:.1f}",
                  **row["tokens"]}
        cells.append(["-" if values[h] is None else str(values[h]) for h in headers])
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
              for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if h in numeric else v.ljust(w)
                         for v, w, h in zip(values, widths, headers)).rstrip()

    return "\n".join([line(headers), *(line(c) for c in cells)])
