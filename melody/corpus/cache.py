"""The token cache: one small file per (file content, tokenizer identity), written atomically.

An entry holds a file's outcome: its pieces' token ids, or why it was skipped. Entries are
plain bytes (a magic line, a JSON header, int32 ids): nothing in them can run code.

Each tokenizer identity has its own folder, and a new melody version (or any change to the
reader or tokenizers) starts a new one. So that old folders do not pile up, opening a store
keeps the folder in use and the two most recently used other folders of the same tokenizer,
and removes older ones that have not been used for a day (another process, say another
installed version, may still be using a folder that recent).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from melody import __version__
from melody.files import refusal_line, write_atomic
from melody.tokenizers.base import Tokenizer

CACHE_FORMAT = 2
KEEP_OTHER_FOLDERS = 2  # per tokenizer, besides the one in use
UNUSED_FOR = 24 * 3600.0  # seconds before an old folder may be removed


def default_cache_dir() -> Path:
    """$MELODY_CACHE, else $XDG_CACHE_HOME/melody/tokens, else ~/.cache/melody/tokens."""
    if os.environ.get("MELODY_CACHE"):
        return Path(os.environ["MELODY_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "melody" / "tokens"



def tokenizer_identity(tokenizer: Tokenizer) -> str:
    """A hash of everything that decides the tokens: scheme, config, vocabulary and reader code."""
    description = {
        "cache": CACHE_FORMAT,
        "melody": __version__,
        "code": _code_hash(),
        "tokenizer": tokenizer.name,
        "config": tokenizer.config,
        "vocab": hashlib.sha256("\n".join(tokenizer.vocab).encode("utf-8")).hexdigest(),
    }
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_CODE_HASH: str | None = None


def _code_hash() -> str:
    # The reader and tokenizers change between releases (and during development without a
    # version bump): hashing their source makes any change start a fresh cache.
    global _CODE_HASH
    if _CODE_HASH is None:
        digest = hashlib.sha256()
        package = Path(__file__).resolve().parent.parent
        for folder in ("music", "tokenizers"):
            for source in sorted((package / folder).rglob("*.py")):
                digest.update(str(source.relative_to(package)).encode())
                digest.update(source.read_bytes())
        _CODE_HASH = digest.hexdigest()
    return _CODE_HASH


@dataclass
class Outcome:
    """A file's result as the cache stores it: pieces (ids concatenated) or a skip reason."""

    status: str  # "kept" | "skipped"
    reason: str
    warnings: list[str]
    meta: list[dict[str, Any]]  # per piece: tune, title, notes
    ids: np.ndarray  # all pieces' ids, concatenated (int32)
    offsets: np.ndarray  # len(meta) + 1 boundaries into ids (int64)
    cacheable: bool = True


class TokenStore:
    """One tokenizer's folder of cache entries, keyed by file content."""

    def __init__(self, root: Path, tokenizer: Tokenizer) -> None:
        identity = tokenizer_identity(tokenizer)
        self.folder = root / f"{tokenizer.name}-{identity[:16]}"
        self.description = {"tokenizer": tokenizer.name, "config": tokenizer.config,
                            "melody": __version__, "identity": identity}
        self._described = False

    def open(self) -> None:
        """Mark this store's folder as used now and prune old folders of the same tokenizer.

        Called once per corpus build in the main process; a cache that cannot be written
        only costs speed, so nothing here raises.
        """
        try:
            self._describe()
            os.utime(self.folder / "identity.json")
        except OSError:
            return
        others = []
        for folder in self.folder.parent.glob(self.description["tokenizer"] + "-*"):
            used = self._last_use(folder)
            if used is not None and folder != self.folder:
                others.append((used, folder))
        others.sort(reverse=True)
        now = time.time()
        for used, folder in others[KEEP_OTHER_FOLDERS:]:
            if now - used >= UNUSED_FOR:
                shutil.rmtree(folder, ignore_errors=True)

    def _last_use(self, folder: Path) -> float | None:
        """When `folder` was last used, if it is surely another token cache folder of this
        tokenizer (its name and its identity.json say so); None for anything else."""
        suffix = folder.name[len(self.description["tokenizer"]) + 1:]
        if len(suffix) != 16 or any(c not in "0123456789abcdef" for c in suffix) or folder.is_symlink():
            return None
        try:
            about = folder / "identity.json"
            identity = json.loads(about.read_text(encoding="utf-8"))
            used = about.stat().st_mtime
        except (OSError, ValueError):
            return None
        if not isinstance(identity, dict) or identity.get("tokenizer") != self.description["tokenizer"] \
                or not str(identity.get("identity", "")).startswith(suffix):
            return None
        return used

    def entry(self, digest: str) -> Path:
        return self.folder / digest[:2] / f"{digest}.tok"

    def load(self, digest: str) -> Outcome | None:
        """The cached outcome for this content, or None (missing or unreadable: then re-read)."""
        try:
            data = self.entry(digest).read_bytes()
        except OSError:
            return None
        try:
            return _decode_entry(data)
        except Exception:  # noqa: BLE001 - a torn or foreign entry is a miss, never an error
            return None

    def save(self, digest: str, outcome: Outcome) -> None:
        """Store an outcome atomically; a cache that cannot be written only costs speed."""
        try:
            if not self._described:
                self._describe()
            write_atomic(self.entry(digest), _encode_entry(outcome), overwrite=True)
        except OSError:
            pass

    def unwritten(self, paths: list[str]) -> tuple[list[str], str]:
        """Of files just tokenized, those with no entry in the cache, and why the cache
        refuses writes (`FOLDER: no space left on device`; "" when a probe write works).

        Saving swallows its errors (a cache only costs speed), so `melody tokenize`, whose
        whole job is the cache, asks afterwards what was really stored.
        """
        missing = []
        for path in paths:
            try:
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                continue  # gone since it was read: nothing to say about the cache
            if not self.entry(digest).is_file():
                missing.append(path)
        if not missing:
            return missing, ""
        try:
            probe = write_atomic(self.folder / ".write-probe", b"", overwrite=True)
            probe.unlink()
        except OSError as error:
            return missing, refusal_line(error, self.folder)
        return missing, ""

    def _describe(self) -> None:
        # identity.json tells a person which tokenizer a cache folder belongs to.
        about = self.folder / "identity.json"
        if not about.exists():
            text = json.dumps(self.description, indent=1, sort_keys=True, default=str) + "\n"
            write_atomic(about, text.encode("utf-8"), overwrite=True)
        self._described = True


# An entry: MAGIC, the JSON header's length (uint32 LE), the JSON header (padded with spaces
# to a multiple of 4 bytes), then every piece's ids as int32 LE. Plain bytes: nothing in it
# can run code, and it loads with one read (an .npz costs a zip archive per file).
_MAGIC = b"melody-tokens\n"


def _encode_entry(outcome: Outcome) -> bytes:
    header = json.dumps({"format": CACHE_FORMAT, "status": outcome.status, "reason": outcome.reason,
                         "warnings": outcome.warnings, "pieces": outcome.meta,
                         "offsets": [int(o) for o in outcome.offsets]}).encode("utf-8")
    header += b" " * (-(len(_MAGIC) + 4 + len(header)) % 4)
    return b"".join([_MAGIC, struct.pack("<I", len(header)), header,
                     outcome.ids.astype("<i4", copy=False).tobytes()])


def _decode_entry(data: bytes) -> Outcome | None:
    if not data.startswith(_MAGIC):
        return None
    (length,) = struct.unpack_from("<I", data, len(_MAGIC))
    start = len(_MAGIC) + 4
    meta = json.loads(data[start:start + length].decode("utf-8"))
    ids = np.frombuffer(data, dtype="<i4", offset=start + length).astype(np.int32)
    offsets = np.asarray(meta["offsets"], dtype=np.int64)
    if (meta.get("format") != CACHE_FORMAT or len(offsets) != len(meta["pieces"]) + 1
            or offsets[-1] != len(ids)):
        return None  # torn or from another version
    return Outcome(meta["status"], meta["reason"], list(meta["warnings"]), list(meta["pieces"]),
                    ids, offsets)




def skipped(reason: str, warnings: list[str] | None = None, cacheable: bool = True) -> Outcome:
    """The outcome of a file that gave no pieces, and why."""
    return Outcome("skipped", reason, warnings or [], [], np.zeros(0, np.int32),
                   np.zeros(1, np.int64), cacheable)
