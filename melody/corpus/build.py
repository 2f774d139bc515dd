"""Building a corpus: find the files, read each once (in worker processes), keep the report."""

from __future__ import annotations

import concurrent.futures as futures
import hashlib
import itertools
import multiprocessing
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from melody.corpus.cache import Outcome, TokenStore, default_cache_dir, skipped
from melody.corpus.report import Corpus, FileReport, TokenizedPiece
from melody.errors import MelodyError, MusicError, UsageError
from melody.music import io as music_io
from melody.safe_read import real_path
from melody.tokenizers.base import Tokenizer

Progress = Callable[[int, int, str], None]


# -- finding files ---------------------------------------------------------------------------
def find_music_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Music files named by `paths` (files, and folders searched recursively), sorted, once each.

    A symlink loop, or a folder that cannot be listed, is kept as an entry of its own: reading
    it fails, and the caller reports that file and goes on, as for any other bad file."""
    found: dict[Path, Path] = {}
    for given in paths:
        path = Path(given)
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"{path}: no such file or folder")
        if not path.is_dir():
            # A file named outright is kept whatever its suffix: the report says why it is skipped.
            found.setdefault(real_path(path), path)
            continue

        def unlisted(error: OSError) -> None:
            if error.filename is not None:
                found.setdefault(real_path(error.filename), Path(error.filename))

        for folder, subfolders, names in os.walk(path, onerror=unlisted):
            subfolders.sort()
            for name in subfolders + names:
                if Path(name).suffix.lower() in music_io.MUSIC_SUFFIXES:
                    # A folder named x.mid is listed too, so the report can say what it is.
                    candidate = Path(folder) / name
                    found.setdefault(real_path(candidate), candidate)
    return sorted(found.values(), key=lambda p: str(p))



# -- reading one file ---------------------------------------------------------------------------
def _located(error: MusicError) -> str:
    """An error as a line without its file name (the report names the file once)."""
    return str(MusicError(error.message, tune=error.tune, line=error.line, column=error.column))


def _tokenize_file(path: str | os.PathLike, data: bytes, tokenizer: Tokenizer) -> Outcome:
    """Parse one file's bytes and encode each piece with notes; bad input skips, never raises."""
    warnings: list[str] = []
    try:
        pieces = music_io.parse_bytes(data, path, on_warning=lambda w: warnings.append(_located(w)))
    except MusicError as error:
        return skipped(_located(error), warnings)
    except MelodyError as error:
        return skipped(str(error).removeprefix(f"{path}: "), warnings)
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
        no_notes = pieces and all(not p.notes for p in pieces)
        reason = "no notes" if no_notes else "no piece could be tokenized"
        return skipped(reason, warnings)
    offsets = np.zeros(len(arrays) + 1, np.int64)
    np.cumsum([len(a) for a in arrays], out=offsets[1:])
    return Outcome("kept", "", warnings, meta, np.concatenate(arrays), offsets)


def _tokenize_and_store(path: str, data: bytes, digest: str, tokenizer: Tokenizer,
                        store: TokenStore, writer: futures.Executor | None = None) -> Outcome:
    try:
        outcome = _tokenize_file(path, data, tokenizer)
    except Exception as error:  # noqa: BLE001 - a bug must not end a run over 10,000 files
        return skipped(f"internal error in melody (please report it): "
                        f"{type(error).__name__}: {error}", cacheable=False)
    if outcome.cacheable:
        if writer is not None:
            writer.submit(store.save, digest, outcome)
        else:
            store.save(digest, outcome)
    return outcome


# Worker processes get the tokenizer and store once, at start, not with every file.
_WORKER: tuple[Tokenizer, TokenStore] | None = None


def _init_worker(tokenizer: Tokenizer, store: TokenStore) -> None:
    global _WORKER
    _WORKER = (tokenizer, store)


def _work(path: str, data: bytes, digest: str) -> Outcome:
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
    if workers > 1 and not _can_start_processes():
        workers = 1
    store = TokenStore(Path(cache_dir) if cache_dir is not None else default_cache_dir(), tokenizer)
    store.open()
    outcomes: dict[int, tuple[Outcome, bool]] = {}
    done = 0

    def finish(index: int, outcome: Outcome, cached: bool) -> None:
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
                outcome = _tokenize_and_store(str(path), data, digest, tokenizer, store, writer)
                finish(index, outcome, False)
    else:
        _run_pool(jobs, workers, tokenizer, store, finish)

    pieces: list[TokenizedPiece] = []
    reports: list[FileReport] = []
    for index, path in enumerate(files):
        outcome, cached = outcomes[index]
        for number, meta in enumerate(outcome.meta):
            ids = outcome.ids[outcome.offsets[number]:outcome.offsets[number + 1]]
            pieces.append(TokenizedPiece(str(path), meta["tune"], meta["title"], ids,
                                         meta["notes"]))
        status = outcome.status if outcome.status == "skipped" or not cached else "cached"
        reports.append(FileReport(str(path), status, outcome.reason, len(outcome.meta),
                                  int(outcome.offsets[-1]), outcome.warnings, cached))
    return Corpus(tokenizer, pieces, reports)


Job = tuple[int, Path, bytes, str]
_DIED = "a worker process died while this file was in flight (out of memory?)"


def _scan(files: list[Path], store: TokenStore,
          finish: Callable[[int, Outcome, bool], None]) -> Iterator[Job]:
    """Files not in the cache, as jobs; read lazily, so a huge corpus is never all in memory."""
    first_with: dict[str, Path] = {}
    for index, path in enumerate(files):
        try:
            data = music_io.read_bytes(path)
        except MusicError as error:
            # Empty, huge, unreadable, a folder: known before hashing, so never cached.
            finish(index, skipped(_located(error), cacheable=False), False)
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest in first_with:
            # A second copy of a file would put the same pieces on both sides of the
            # train/validation split: keep the first only.
            finish(index, skipped(f"same bytes as an earlier file ({first_with[digest]})",
                                  cacheable=False), False)
            continue
        first_with[digest] = path
        cached = store.load(digest)
        if cached is not None:
            finish(index, cached, True)
        else:
            yield index, path, data, digest


def _can_start_processes() -> bool:
    """Whether worker processes can start: fresh ones need a real stderr file descriptor."""
    # The terminal UI captures sys.stderr in an object with no usable descriptor, and
    # multiprocessing's forkserver and resource tracker pass stderr's descriptor to the child
    # ("bad value(s) in fds_to_keep"): parse in this process instead.
    try:
        return sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        return False


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork is fastest, but forking a process that runs threads (the terminal UI) or has
    # torch loaded (`melody train`) can deadlock the child: start those workers fresh.
    if threading.active_count() > 1 or "torch" in sys.modules:
        return multiprocessing.get_context("forkserver" if sys.platform != "win32" else "spawn")
    return multiprocessing.get_context()


def _run_pool(jobs: Iterator[Job], workers: int, tokenizer: Tokenizer, store: TokenStore,
              finish: Callable[[int, Outcome, bool], None]) -> None:
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

    def __init__(self, workers: int, tokenizer: Tokenizer, store: TokenStore) -> None:
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
             finish: Callable[[int, Outcome, bool], None]) -> None:
    """Wait for at least one job to end and record what it gave."""
    done, _ = futures.wait(in_flight, return_when=futures.FIRST_COMPLETED)
    for future in done:
        index = in_flight.pop(future)
        try:
            outcome = future.result()
        except futures.process.BrokenProcessPool:
            # Which file killed the worker is unknown: every file in flight is reported.
            outcome = skipped(_DIED, cacheable=False)
        finish(index, outcome, False)
