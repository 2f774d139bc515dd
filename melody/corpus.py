"""Music files to tokenized pieces, with a content-keyed cache and a per-file report.

`build_corpus(paths, tokenizer)` finds every .abc/.mid/.midi file under `paths`, reads and
tokenizes each (in worker processes), and returns the pieces plus one `FileReport` per file:
kept, cached (kept, read from the cache) or skipped with the reason. A bad file never stops
the run.

The cache holds one small `.tok` file per (file content, tokenizer): the key is the sha256 of the
file's bytes, under a folder named by the tokenizer's identity (name, config, vocabulary,
melody's version and a hash of the reader and tokenizer source code, so a changed reader
never serves stale tokens). Entries are written atomically, so several processes (torchrun
ranks) may build the same corpus at once; they hold JSON and raw int32 ids, never pickles.
A file whose reading failed is cached too (with its reason), so a second run re-reads
nothing that has not changed.
"""

from __future__ import annotations

import concurrent.futures as futures
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import struct
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from melody import __version__
from melody.errors import MelodyError, MusicError, UsageError
from melody.music import io as music_io
from melody.tokenizers.base import Tokenizer

CACHE_FORMAT = 2
Progress = Callable[[int, int, str], None]


# -- finding files ---------------------------------------------------------------------------
def find_music_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Music files named by `paths` (files, and folders searched recursively), sorted, once each."""
    found: dict[Path, Path] = {}
    for given in paths:
        path = Path(given)
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"{path}: no such file or folder")
        if not path.is_dir():
            # A file named outright is kept whatever its suffix: the report says why it is skipped.
            found.setdefault(path.resolve(), path)
            continue
        for folder, subfolders, names in os.walk(path):
            subfolders.sort()
            for name in subfolders + names:
                if Path(name).suffix.lower() in music_io.MUSIC_SUFFIXES:
                    # A folder named x.mid is listed too, so the report can say what it is.
                    candidate = Path(folder) / name
                    found.setdefault(candidate.resolve(), candidate)
    return sorted(found.values(), key=lambda p: str(p))


def default_cache_dir() -> Path:
    """$MELODY_CACHE, else $XDG_CACHE_HOME/melody/tokens, else ~/.cache/melody/tokens."""
    if os.environ.get("MELODY_CACHE"):
        return Path(os.environ["MELODY_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "melody" / "tokens"


# -- results ---------------------------------------------------------------------------------
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
        kept = (f"{self.kept} kept ({len(self.pieces):,} piece{'s' if len(self.pieces) != 1 else ''}, "
                f"{self.tokens:,} tokens)")
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

    def write_report(self, path: str | os.PathLike) -> Path:
        """The per-file report as JSON lines (one object per file), written atomically."""
        path = Path(path)
        text = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in self.reports)
        music_io.write_bytes_atomic(path, text.encode("utf-8"), overwrite=True)
        return path


def _reason_kind(reason: str) -> str:
    # "12:3: (tune 5) unknown field" and "4:1: (tune 2) unknown field" are the same kind.
    return re.sub(r"^(\d+(:\d+)?: ?)?(\(tune [^)]*\) ?|tune \S+: )?", "", reason) or reason


# -- the cache ---------------------------------------------------------------------------------
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
        package = Path(__file__).resolve().parent
        for folder in ("music", "tokenizers"):
            for source in sorted((package / folder).rglob("*.py")):
                digest.update(str(source.relative_to(package)).encode())
                digest.update(source.read_bytes())
        _CODE_HASH = digest.hexdigest()
    return _CODE_HASH


@dataclass
class _Outcome:
    """A file's result as the cache stores it: pieces (ids concatenated) or a skip reason."""

    status: str  # "kept" | "skipped"
    reason: str
    warnings: list[str]
    meta: list[dict[str, Any]]  # per piece: tune, title, notes
    ids: np.ndarray  # all pieces' ids, concatenated (int32)
    offsets: np.ndarray  # len(meta) + 1 boundaries into ids (int64)
    cacheable: bool = True


class _Store:
    """One tokenizer's folder of cache entries, keyed by file content."""

    def __init__(self, root: Path, tokenizer: Tokenizer) -> None:
        identity = tokenizer_identity(tokenizer)
        self.folder = root / f"{tokenizer.name}-{identity[:16]}"
        self.description = {"tokenizer": tokenizer.name, "config": tokenizer.config,
                            "melody": __version__, "identity": identity}
        self._described = False

    def entry(self, digest: str) -> Path:
        return self.folder / digest[:2] / f"{digest}.tok"

    def load(self, digest: str) -> _Outcome | None:
        """The cached outcome for this content, or None (missing or unreadable: then re-read)."""
        try:
            data = self.entry(digest).read_bytes()
        except OSError:
            return None
        try:
            return _decode_entry(data)
        except Exception:  # noqa: BLE001 - a torn or foreign entry is a miss, never an error
            return None

    def save(self, digest: str, outcome: _Outcome) -> None:
        """Store an outcome atomically; a cache that cannot be written only costs speed."""
        try:
            if not self._described:
                self._describe()
            music_io.write_bytes_atomic(self.entry(digest), _encode_entry(outcome), overwrite=True)
        except OSError:
            pass

    def _describe(self) -> None:
        # identity.json tells a person which tokenizer a cache folder belongs to.
        about = self.folder / "identity.json"
        if not about.exists():
            text = json.dumps(self.description, indent=1, sort_keys=True, default=str) + "\n"
            music_io.write_bytes_atomic(about, text.encode("utf-8"), overwrite=True)
        self._described = True


# An entry: MAGIC, the JSON header's length (uint32 LE), the JSON header (padded with spaces
# to a multiple of 4 bytes), then every piece's ids as int32 LE. Plain bytes: nothing in it
# can run code, and it loads with one read (an .npz costs a zip archive per file).
_MAGIC = b"melody-tokens\n"


def _encode_entry(outcome: _Outcome) -> bytes:
    header = json.dumps({"format": CACHE_FORMAT, "status": outcome.status, "reason": outcome.reason,
                         "warnings": outcome.warnings, "pieces": outcome.meta,
                         "offsets": [int(o) for o in outcome.offsets]}).encode("utf-8")
    header += b" " * (-(len(_MAGIC) + 4 + len(header)) % 4)
    return b"".join([_MAGIC, struct.pack("<I", len(header)), header,
                     outcome.ids.astype("<i4", copy=False).tobytes()])


def _decode_entry(data: bytes) -> _Outcome | None:
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
    return _Outcome(meta["status"], meta["reason"], list(meta["warnings"]), list(meta["pieces"]),
                    ids, offsets)


# -- reading one file ---------------------------------------------------------------------------
def _located(error: MusicError) -> str:
    """An error as a line without its file name (the report names the file once)."""
    return str(MusicError(error.message, tune=error.tune, line=error.line, column=error.column))


def _skipped(reason: str, warnings: list[str] | None = None, cacheable: bool = True) -> _Outcome:
    return _Outcome("skipped", reason, warnings or [], [], np.zeros(0, np.int32),
                    np.zeros(1, np.int64), cacheable)


def _tokenize_file(path: str | os.PathLike, data: bytes, tokenizer: Tokenizer) -> _Outcome:
    """Parse one file's bytes and encode every piece with notes; skips, never raises for bad input."""
    warnings: list[str] = []
    try:
        pieces = music_io.parse_bytes(data, path, on_warning=lambda w: warnings.append(_located(w)))
    except MusicError as error:
        return _skipped(_located(error), warnings)
    except MelodyError as error:
        return _skipped(str(error).removeprefix(f"{path}: "), warnings)
    meta: list[dict[str, Any]] = []
    arrays: list[np.ndarray] = []
    for index, piece in enumerate(pieces, 1):
        tune = piece.tune if piece.tune is not None else (str(index) if len(pieces) > 1 else None)
        name = f"tune {tune}: " if tune is not None else ""
        if not piece.notes:
            warnings.append(f"{name}no notes, skipped")
            continue
        try:
            ids = np.asarray(tokenizer.encode(piece), dtype=np.int32)
        except MusicError as error:  # e.g. a meter or a length the scheme cannot write
            warnings.append(_located(error.located(tune=tune)))
            continue
        except MelodyError as error:
            warnings.append(f"{name}{error}")
            continue
        meta.append({"tune": piece.tune, "title": piece.title, "notes": len(piece.notes)})
        arrays.append(ids)
    if not meta:
        reason = "no notes" if pieces and all(not p.notes for p in pieces) else "no piece could be tokenized"
        return _skipped(reason, warnings)
    offsets = np.zeros(len(arrays) + 1, np.int64)
    np.cumsum([len(a) for a in arrays], out=offsets[1:])
    return _Outcome("kept", "", warnings, meta, np.concatenate(arrays), offsets)


def _tokenize_and_store(path: str, data: bytes, digest: str, tokenizer: Tokenizer,
                        store: _Store, writer: futures.Executor | None = None) -> _Outcome:
    try:
        outcome = _tokenize_file(path, data, tokenizer)
    except Exception as error:  # noqa: BLE001 - a bug must not end a run over 10,000 files
        return _skipped(f"internal error in melody (please report it): "
                        f"{type(error).__name__}: {error}", cacheable=False)
    if outcome.cacheable:
        if writer is not None:
            writer.submit(store.save, digest, outcome)
        else:
            store.save(digest, outcome)
    return outcome


# Worker processes get the tokenizer and store once, at start, not with every file.
_WORKER: tuple[Tokenizer, _Store] | None = None


def _init_worker(tokenizer: Tokenizer, store: _Store) -> None:
    global _WORKER
    _WORKER = (tokenizer, store)


def _work(path: str, data: bytes, digest: str) -> _Outcome:
    assert _WORKER is not None
    return _tokenize_and_store(path, data, digest, *_WORKER)


# -- the corpus ---------------------------------------------------------------------------------
def default_workers() -> int:
    """min(CPUs this process may use, 8)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def build_corpus(
    paths: Iterable[str | os.PathLike],
    tokenizer: Tokenizer,
    *,
    cache_dir: Path | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Corpus:
    """Tokenize every music file under `paths`, through the cache; pieces come in file order."""
    files = find_music_files(paths)
    if workers is not None and workers < 1:
        raise UsageError(f"workers must be at least 1, not {workers}")
    workers = default_workers() if workers is None else workers
    store = _Store(Path(cache_dir) if cache_dir is not None else default_cache_dir(), tokenizer)
    outcomes: dict[int, tuple[_Outcome, bool]] = {}
    done = 0

    def finish(index: int, outcome: _Outcome, cached: bool) -> None:
        nonlocal done
        outcomes[index] = (outcome, cached)
        done += 1
        if progress is not None:
            progress(done, len(files), str(files[index]))

    jobs = _scan(files, store, finish)
    if workers == 1:
        # Cache writes wait on the disk (milliseconds each on a busy one): a thread does them
        # while this one parses the next file.
        with futures.ThreadPoolExecutor(1, thread_name_prefix="melody-cache") as writer:
            for index, path, data, digest in jobs:
                finish(index, _tokenize_and_store(str(path), data, digest, tokenizer, store, writer),
                       False)
    else:
        _run_pool(jobs, workers, tokenizer, store, finish)

    pieces: list[TokenizedPiece] = []
    reports: list[FileReport] = []
    for index, path in enumerate(files):
        outcome, cached = outcomes[index]
        for number, meta in enumerate(outcome.meta):
            ids = outcome.ids[outcome.offsets[number]:outcome.offsets[number + 1]]
            pieces.append(TokenizedPiece(str(path), meta["tune"], meta["title"], ids, meta["notes"]))
        status = outcome.status if outcome.status == "skipped" or not cached else "cached"
        reports.append(FileReport(str(path), status, outcome.reason, len(outcome.meta),
                                  int(outcome.offsets[-1]), outcome.warnings, cached))
    return Corpus(tokenizer, pieces, reports)


Job = tuple[int, Path, bytes, str]
_DIED = "a worker process died while this file was in flight (out of memory?)"


def _scan(files: list[Path], store: _Store,
          finish: Callable[[int, _Outcome, bool], None]) -> Iterator[Job]:
    """Files whose outcome is not cached, as jobs; read lazily so a huge corpus is never all in memory."""
    for index, path in enumerate(files):
        try:
            data = music_io.read_bytes(path)
        except MusicError as error:
            # Empty, huge, unreadable, a folder: known before hashing, so never cached.
            finish(index, _skipped(_located(error), cacheable=False), False)
            continue
        digest = hashlib.sha256(data).hexdigest()
        cached = store.load(digest)
        if cached is not None:
            finish(index, cached, True)
        else:
            yield index, path, data, digest


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork is fastest, but forking a process that runs threads (the terminal UI) or has
    # torch loaded (`melody train`) can deadlock the child: start those workers fresh.
    if threading.active_count() > 1 or "torch" in sys.modules:
        return multiprocessing.get_context("forkserver" if sys.platform != "win32" else "spawn")
    return multiprocessing.get_context()


def _run_pool(jobs: Iterator[Job], workers: int, tokenizer: Tokenizer, store: _Store,
              finish: Callable[[int, _Outcome, bool], None]) -> None:
    """Run jobs on `workers` processes, started only when the first uncached file turns up."""
    first = next(jobs, None)
    if first is None:
        return
    pool = _Pool(workers, tokenizer, store)
    in_flight: dict[futures.Future, int] = {}
    try:
        for job in itertools.chain([first], jobs):
            # A bounded queue: the parent reads ahead only a few files per worker.
            while len(in_flight) >= 2 * workers:
                _collect(in_flight, finish)
            in_flight[pool.submit(job)] = job[0]
        while in_flight:
            _collect(in_flight, finish)
    finally:
        pool.executor.shutdown(wait=True, cancel_futures=True)


class _Pool:
    """A process pool that starts afresh if a worker dies (killed, out of memory)."""

    def __init__(self, workers: int, tokenizer: Tokenizer, store: _Store) -> None:
        self.workers, self.tokenizer, self.store = workers, tokenizer, store
        self.executor = self._start()

    def _start(self) -> futures.ProcessPoolExecutor:
        return futures.ProcessPoolExecutor(self.workers, mp_context=_pool_context(),
                                           initializer=_init_worker,
                                           initargs=(self.tokenizer, self.store))

    def submit(self, job: Job) -> futures.Future:
        try:
            return self.executor.submit(_work, str(job[1]), job[2], job[3])
        except futures.process.BrokenProcessPool:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = self._start()
            return self.executor.submit(_work, str(job[1]), job[2], job[3])


def _collect(in_flight: dict[futures.Future, int],
             finish: Callable[[int, _Outcome, bool], None]) -> None:
    """Wait for at least one job to end and record what it gave."""
    done, _ = futures.wait(in_flight, return_when=futures.FIRST_COMPLETED)
    for future in done:
        index = in_flight.pop(future)
        try:
            outcome = future.result()
        except futures.process.BrokenProcessPool:
            # Which file killed the worker is unknown: every file in flight is reported.
            outcome = _skipped(_DIED, cacheable=False)
        finish(index, outcome, False)
