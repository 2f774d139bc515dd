"""Writing files: the one atomic writer every command uses, and free names for new files.

A file is written to a temporary name in its own folder, given the mode the user's umask asks
for (mkstemp makes 0600 files; a generated tune should read like any file the user made), and
then moved into place in one step, so a reader never sees half a file and a kill leaves
either the old file or the new one. Without `overwrite` an existing file is never replaced:
the new one is hard-linked into place, which fails if the name was taken meanwhile, so two
writers cannot race past a check.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Collection, Iterable, Iterator

from melody.errors import MelodyError, OutputError, UsageError


def current_umask() -> int:
    """The process's umask (reading it means setting it: set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_readable(path: Path) -> None:
    """Give a file or folder made by mkstemp/mkdtemp (0600/0700) the umask's usual mode."""
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~current_umask())


TEMPORARY_SUFFIX = ".tmp"  # write_atomic's temporary files: `.<name>.<8 random chars>.tmp`

# The signals that ask a process to stop: Ctrl-C, a polite kill, a closed terminal or session.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def deferred_signals(signals: Iterable[int] | None = None) -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP back until the block is done, then deliver them as they came.

    For a few milliseconds of writing that must happen whole: a temporary file not yet
    renamed or removed, or a piece's MIDI without its sidecar. Outside the main thread
    (where Python cannot handle signals) the block simply runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signals is None:
        signals = STOP_SIGNALS
    arrived: list[int] = []
    previous = {number: signal.signal(number, lambda number, frame: arrived.append(number))
                for number in signals}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in arrived[:1]:  # one is enough to stop: the first, as its own handler would
            handler = previous[number]
            if callable(handler):
                handler(number, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(number)


def make_folder(path: Path) -> None:
    """`mkdir -p path`; a name on the way that is no folder (a link loop, a dangling link)
    is the OSError a file there gives (ENOTDIR), which `refusal_line` words, not EEXIST."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path)) from None


def write_atomic(path: str | os.PathLike, data: bytes | str, *, overwrite: bool = False,
                 durable: bool = False) -> Path:
    """Write `data` (text as UTF-8) to `path` atomically with the umask's mode; the path.

    `overwrite=False` raises MelodyError if `path` exists. `durable` flushes the data to disk
    before the rename (model weights and configs: a power cut must not leave an empty file).
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    make_folder(path.parent)
    with deferred_signals():  # an interrupt never leaves the temporary file behind
        return _write_atomic(path, payload, overwrite, durable)


def _write_atomic(path: Path, payload: bytes, overwrite: bool, durable: bool) -> Path:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        make_readable(Path(temporary))
        if overwrite:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)  # fails if the name exists: no race with another writer
            except FileExistsError:
                raise UsageError(f"{path}: already exists (use --force to replace it)") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return path


def numbered_stem(stem: str, number: int) -> str:
    """The name a clash gets: `stem (2)` reads as a second copy, where `stem-2` read as part of
    the name (`default-7-1-2` looked like seed 7, piece 1, run 2)."""
    return stem if number < 2 else f"{stem} ({number})"


def free_stem(folder: str | os.PathLike, stem: str, suffixes: Iterable[str], *,
              taken: Collection[Path] = (), on_disk: bool = True) -> str:
    """`stem`, or the first `stem (2)`, `stem (3)`, ... with no `folder/<stem>.<suffix>` taken.

    A name is taken when it is in `taken` (outputs planned in the same run) or, with
    `on_disk`, when a file (or a dangling link) of that name exists.
    """
    folder, suffixes = Path(folder), list(suffixes)

    def is_taken(path: Path) -> bool:
        return path in taken or (on_disk and (path.exists() or path.is_symlink()))

    number = 1
    while any(is_taken(folder / f"{numbered_stem(stem, number)}.{suffix}") for suffix in suffixes):
        number += 1
    return numbered_stem(stem, number)


# -- what a refused write means ----------------------------------------------------------------
# mkstemp and mkdtemp name their files `<prefix><8 of [a-z0-9_]><suffix>`; write_atomic's prefix
# is `.<name>.`, save_model's and save_checkpoint's folders add `.old` for a folder moved aside.
TEMPORARY_NAME = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.(tmp|old)$")

# The errors a machine (not melody) causes when it refuses a write, in the words a user reads.
MACHINE_REFUSALS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (the disk or a file-size limit refused it)",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of the path is not a folder (a file, or a link that leads nowhere)",
    errno.ELOOP: "too many levels of symbolic links (a link loop)",
    errno.EISDIR: "is a folder, not a file",
    errno.ENAMETOOLONG: "file name too long",
    errno.EIO: "input/output error (the disk failed)",
}


def is_machine_refusal(error: BaseException) -> bool:
    """Whether `error` is an OSError a full, read-only or forbidden disk raises (not a bug)."""
    return isinstance(error, OSError) and error.errno in MACHINE_REFUSALS


def refusal_line(error: OSError, path: str | os.PathLike | None = None, *, nothing_written: bool = False) -> str:
    """`PATH: no space left on device`, the one line a refused write becomes."""
    where = error.filename if error.filename is not None else path
    reason = MACHINE_REFUSALS.get(error.errno) or (error.strerror or str(error)).lower()
    line = f"{where}: {reason}" if where is not None else reason
    return f"{line} (nothing written)" if nothing_written else line


class OutputBatch:
    """The files one command writes, all or none: each written atomically, every one it
    created removed again if the batch fails part-way.

        with OutputBatch(overwrite=args.force) as batch:
            batch.check(paths)            # every name free (a dangling link counts) before a byte
            for path, data in outputs:
                batch.write(path, data)

    A failure inside the block (an Exception: a full or read-only disk, a name taken meanwhile)
    removes the files and folders the batch made and raises one line that says nothing was
    written: OutputError for a refused write, the MelodyError with "; nothing written" added
    where files were taken back, any other error as it was. Ctrl-C and
    SIGTERM keep what is whole: a user who stops a batch keeps the pieces already reported.
    Files replaced with `overwrite` cannot come back; only new names are undone.
    """

    def __init__(self, *, overwrite: bool = False) -> None:
        self.overwrite = overwrite
        self.created: list[Path] = []
        self.folders: list[Path] = []  # made by this batch, removed (when empty) on failure

    def __enter__(self) -> OutputBatch:
        return self

    def check(self, paths: Iterable[str | os.PathLike]) -> None:
        """UsageError, before anything is written, for a name that exists (or dangles) without
        `overwrite`, or that is a folder."""
        paths = [Path(path) for path in paths]
        folders = [path for path in paths if path.is_dir()]
        if folders:
            raise UsageError(f"{folders[0]}: is a folder, not a file; nothing written")
        if self.overwrite:
            return
        existing = [path for path in paths if os.path.lexists(path)]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise UsageError(f"{existing[0]}: already exists{more}; nothing written (use --force to replace)")

    def folder(self, path: str | os.PathLike) -> Path:
        """Make folder `path` (and its parents) if missing, remembering what was made."""
        path = Path(path)
        missing = []
        for parent in (path, *path.parents):
            if os.path.lexists(parent):
                break
            missing.append(parent)
        make_folder(path)
        self.folders.extend(reversed(missing))
        return path

    def write(self, path: str | os.PathLike, data: bytes | str, *, durable: bool = False) -> Path:
        """Write one file of the batch atomically; the path."""
        path = Path(path)
        self.folder(path.parent)
        existed = os.path.lexists(path)
        write_atomic(path, data, overwrite=self.overwrite, durable=durable)
        if not existed:
            self.created.append(path)
        return path

    def undo(self) -> None:
        """Remove every file and folder this batch created (newest first)."""
        with deferred_signals():
            for path in reversed(self.created):
                with contextlib.suppress(OSError):
                    path.unlink()
            for folder in reversed(self.folders):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty: a folder someone else filled stays
            self.created, self.folders = [], []

    def __exit__(self, kind, error, trace) -> bool:
        if error is None or not isinstance(error, Exception) or isinstance(error, BrokenPipeError):
            # (A reader that went away, `melody generate --json | head -1`, is no failure of the
            # batch: what it wrote is whole, and stays, as on Ctrl-C.)
            return False
        undone = bool(self.created)
        self.undo()
        if isinstance(error, OSError):  # raised by a write of the batch: the machine refused it
            raise OutputError(refusal_line(error, nothing_written=True)) from None
        if undone and type(error) in (UsageError, OutputError, MelodyError) and "nothing written" not in str(error):
            raise type(error)(f"{error}; nothing written") from None
        return False  # another error (a MusicError with its position) goes on as it is


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files and folders a killed writer left in `folder`; what went.

    Only names write_atomic, save_model and save_checkpoint make (`.<name>.<8 chars>.tmp`,
    `.old`), and only call this while holding the folder's lock: then no live writer owns them.
    """
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not TEMPORARY_NAME.match(entry.name):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed
