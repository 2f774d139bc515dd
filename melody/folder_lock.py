"""One writer per model folder: a lock held while a run writes it, and what a killed run left.

`melody train` holds an exclusive lock on `<folder>/.lock` (flock on Linux and macOS, msvcrt
on Windows) from before its first byte until it exits. A second run into the same folder is
refused at once with the first one's pid, instead of the two overwriting each other's files
(or one removing the other's temporary file). The kernel drops the lock when its process
dies, however it dies, so a killed run never leaves the folder locked; the lock file itself
stays (removing it would let a third run lock a fresh file while the second still holds the
old one).

Taking the lock is also when a killed run's temporary files are removed: while we hold it,
no live writer can own them.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from melody.errors import FolderBusy, UsageError
from melody.files import TEMPORARY_NAME, remove_stale_temporaries

LOCK_FILE = ".lock"
PID_LIMIT = 64  # the lock file holds one pid


class FolderLock:
    """An exclusive, non-blocking lock on a folder while this process writes it."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.handle: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock, or raise FolderBusy naming the run that holds it."""
        if self.folder.exists() and not self.folder.is_dir():
            raise UsageError(f"{self.folder}: is a file, not a model folder")
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        handle = os.open(self.path, flags, 0o666)
        if not _try_lock(handle):
            holder = _read_pid(handle)
            os.close(handle)
            who = f" (pid {holder})" if holder else ""
            raise FolderBusy(f"{self.folder}: another melody run is writing this folder{who}; "
                             f"wait for it or choose another --out")
        os.ftruncate(handle, 0)
        os.lseek(handle, 0, os.SEEK_SET)
        os.write(handle, f"{os.getpid()}\n".encode())
        self.handle = handle
        clear_leftovers(self.folder)
        return self

    def release(self) -> None:
        if self.handle is not None:
            os.close(self.handle)  # closing drops the lock
            self.handle = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.release()


def clear_leftovers(folder: Path) -> list[Path]:
    """Remove a killed run's temporary files: in the folder, its checkpoints, and the folders
    built or moved aside beside it (`.<name>.xxxxxxxx.tmp`, `.old`). Call only under the lock."""
    removed = remove_stale_temporaries(folder) + remove_stale_temporaries(folder / "checkpoints")
    try:
        beside = [entry for entry in folder.parent.iterdir()
                  if (match := TEMPORARY_NAME.match(entry.name)) and match["name"] == folder.name]
    except OSError:
        beside = []
    for entry in beside:
        removed += [entry] if _remove_tree(entry) else []
    return removed


def _remove_tree(path: Path) -> bool:
    import shutil

    try:
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    except OSError:
        return False
    return True


def _read_pid(handle: int) -> str:
    try:
        os.lseek(handle, 0, os.SEEK_SET)
        text = os.read(handle, PID_LIMIT).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


try:
    import fcntl

    def _try_lock(handle: int) -> bool:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
except ImportError:  # Windows: msvcrt locks a byte range; the same promise for one byte
    import msvcrt

    def _try_lock(handle: int) -> bool:
        try:
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
