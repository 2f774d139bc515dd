"""What a corpus build gives: the tokenized pieces, and a report line per file."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from melody.files import write_atomic
from melody.tokenizers.base import Tokenizer


@dataclass
class TokenizedPiece:
    """One tune (the unit of the train/validation split) as token ids `[BOS, ..., EOS]`."""

    source: str
    tune: str | None
    title: str
    ids: np.ndarray  # int32
    notes: int

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class FileReport:
    """What happened to one file: kept, cached (kept from the cache) or skipped, and why."""

    path: str
    status: str  # "kept" | "cached" | "skipped"
    reason: str = ""
    pieces: int = 0
    tokens: int = 0
    warnings: list[str] = field(default_factory=list)
    cached: bool = False  # the outcome (kept or skipped) came from the cache: nothing was parsed

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "reason": self.reason,
                "pieces": self.pieces, "tokens": self.tokens, "warnings": self.warnings,
                "cached": self.cached}


@dataclass
class Corpus:
    """The tokenized pieces of a set of files, with the per-file report."""

    tokenizer: Tokenizer
    pieces: list[TokenizedPiece]
    reports: list[FileReport]

    @property
    def files(self) -> int:
        return len(self.reports)

    @property
    def kept(self) -> int:
        """Files that gave pieces, whether parsed now or read from the cache."""
        return sum(r.status in ("kept", "cached") for r in self.reports)

    @property
    def cached(self) -> int:
        """Files whose outcome came from the cache (nothing parsed)."""
        return sum(r.cached for r in self.reports)

    @property
    def skipped(self) -> int:
        return sum(r.status == "skipped" for r in self.reports)

    @property
    def tokens(self) -> int:
        return sum(len(p.ids) for p in self.pieces)

    @property
    def warnings(self) -> int:
        return sum(len(r.warnings) for r in self.reports)

    def skip_reasons(self) -> list[tuple[str, int]]:
        """Why files were skipped, most common first (locations stripped so alike ones group)."""
        counts = Counter(_reason_kind(r.reason) for r in self.reports if r.status == "skipped")
        return counts.most_common()

    def summary(self, top: int = 3) -> str:
        """A few lines for people: counts kept and skipped, the top reasons, warnings."""
        files = f"{self.files} file{'s' if self.files != 1 else ''}"
        pieces = f"{len(self.pieces):,} piece{'s' if len(self.pieces) != 1 else ''}"
        kept = f"{self.kept} kept ({pieces}, {self.tokens:,} tokens)"
        cached = f"; {self.cached} from the cache" if self.cached else ""
        lines = [f"{files}: {kept}, {self.skipped} skipped{cached}"]
        reasons = self.skip_reasons()
        if reasons:
            shown = "; ".join(f"{reason} ({count})" for reason, count in reasons[:top])
            more = f"; {len(reasons) - top} other reasons" if len(reasons) > top else ""
            lines.append(f"skipped: {shown}{more}")
        if self.warnings:
            with_warnings = sum(bool(r.warnings) for r in self.reports)
            lines.append(f"warnings: {self.warnings} in {with_warnings} "
                         f"file{'s' if with_warnings != 1 else ''}")
        return "\n".join(lines)

    def problems(self) -> list[str]:
        """One line per skipped file and per warning, each naming its file: nothing goes unsaid."""
        lines = []
        for report in self.reports:
            if report.status == "skipped":
                lines.append(f"skipped {report.path}: {report.reason}")
            lines.extend(f"warning {report.path}: {warning}" for warning in report.warnings)
        return lines

    def report_bytes(self) -> bytes:
        """The per-file report as JSON lines (one object per file)."""
        return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in self.reports).encode("utf-8")

    def write_report(self, path: str | os.PathLike) -> Path:
        """The per-file report (`report_bytes`), written atomically."""
        path = Path(path)
        write_atomic(path, self.report_bytes(), overwrite=True)
        return path


def _reason_kind(reason: str) -> str:
    # "12:3: (tune 5) unknown field" and "4:1: (tune 2) unknown field" are the same kind, and
    # so are "same bytes as an earlier file (a.abc)" and "... (b.abc)".
    kind = re.sub(r"^(\d+(:\d+)?: ?)?(\(tune [^)]*\) ?|tune \S+: )?", "", reason)
    return re.sub(r" \([^()]*\)$", "", kind) or reason


