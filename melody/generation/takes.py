"""A generated piece with everything needed to make it again, and the files it is written to.

`write_take` writes MIDI and/or ABC plus a `.json` sidecar (model and weights hash, tokenizer,
every sampling option, the seed, the prime, melody's version and a timestamp). The timestamp
lives only in the sidecar, so the music files of one seed are byte-identical run after run.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from melody import __version__
from melody.errors import UsageError
from melody.files import OutputBatch, deferred_signals, free_stem
from melody.music.notes import Piece
from melody.generation.prime import key_name

if TYPE_CHECKING:
    from melody.generation.settings import GenerationSettings

FORMATS = ("mid", "abc")


@dataclass
class Take:
    """One generated piece, the prime included, and everything needed to make it again."""

    piece: Piece
    prime_end: int  # tick where the new music starts
    tokens: list[int]
    seed: int  # this piece's own seed: `--seed <it> --num 1` samples it again
    settings: GenerationSettings
    model_name: str
    model_sha256: str
    index: int = 0  # its place in the batch
    run_seed: int | None = None  # the seed of the run (seed - index)
    model_folder: str = ""
    tokenizer: dict[str, Any] = field(default_factory=dict)  # name and config
    prime: dict[str, Any] | None = None  # source (path, "abc", "piece"), text, bars
    complete: bool = True  # False when the run was stopped before the piece ended
    novelty: dict[str, Any] | None = None  # the near-copy check, with --reject-copies
    attempts: int = 1  # pieces drawn until one passed the near-copy check
    ending: dict[str, Any] | None = None  # the degree it aimed to end on, and its last bar's fate (cadence.py)

    def sidecar(self) -> dict[str, Any]:
        """The JSON sidecar: model, tokenizer, options, seeds, prime, version, time."""
        return {
            "melody_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "model": {"name": self.model_name, "folder": self.model_folder,
                      "weights_sha256": self.model_sha256},
            "tokenizer": self.tokenizer,
            "settings": self.settings.to_dict(),
            "seed": self.seed,
            "run_seed": self.run_seed,
            "index": self.index,
            "prime": self.prime,
            "prime_end": self.prime_end,
            "complete": self.complete,
            "attempts": self.attempts,
            "novelty": self.novelty,
            "ending": self.ending,
            "piece": {"title": self.piece.title, "notes": len(self.piece.notes),
                      "bars": len(self.piece.bar_starts()), "end_tick": self.piece.end_tick,
                      "key": key_name(self.piece.key) if self.piece.key else None,
                      "meter": f"{self.piece.time_signature.numerator}/{self.piece.time_signature.denominator}",
                      "qpm": self.piece.qpm},
            "tokens": self.tokens,
        }


def write_take(take: Take, out_dir: str | Path, *, formats: tuple[str, ...] | list[str] = FORMATS,
               stem: str | None = None, force: bool = False,
               renderers: Mapping[str, Callable[[Piece], bytes]] | None = None,
               batch: OutputBatch | None = None) -> list[Path]:
    """Write a take as MIDI and/or ABC plus its .json sidecar, atomically; the paths written.

    Without `force` an existing name is never replaced: the next free stem is used instead
    (`default-7-1 (2)`). `renderers` add formats beyond mid and abc, from a layer above this
    one (the CLI passes playback's WAV renderer). The files go into `batch` (a command's
    whole output, undone together if it fails), else into one of their own: either way a
    failed write leaves none of this take's files.
    """
    from melody.music.io import render

    renderers = dict(renderers or {})
    formats = list(dict.fromkeys(formats))
    known = (*FORMATS, *renderers)
    unknown = [f for f in formats if f not in known]
    if unknown or not formats:
        raise UsageError(f"unknown output format(s) {', '.join(unknown) or '(none)'} (choose from {', '.join(known)})")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder")
    stem = stem or f"{take.model_name}-{take.run_seed if take.run_seed is not None else take.seed}-{take.index + 1}"
    suffixes = [*formats, "json"]
    if not force:
        stem = free_stem(out_dir, stem, suffixes)
    # Render everything first: a failure leaves no file behind.
    payloads = [(out_dir / f"{stem}.{kind}", renderers[kind](take.piece) if kind in renderers
                 else render(take.piece, kind)) for kind in formats]
    sidecar = take.sidecar()
    sidecar["files"] = [path.name for path, _ in payloads]
    payloads.append((out_dir / f"{stem}.json", (json.dumps(sidecar, indent=1) + "\n").encode("utf-8")))
    written = []
    with deferred_signals(), contextlib.ExitStack() as stack:  # a take is written whole: never a MIDI without its sidecar
        if batch is None:
            batch = stack.enter_context(OutputBatch(overwrite=force))
        for path, data in payloads:
            written.append(batch.write(path, data))
    return written
