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
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import Collection, Iterable, Iterator

from melody.errors import UsageError


def current_umask() -> int:
    """The process's umask (reading it means setting it: set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_readable(path: Path) -> None:
    """Give a file or folder made by mkstemp/mkdtemp (0600/0700) the umask's usual mode."""
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~current_umask())


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


def write_atomic(path: str | os.PathLike, data: bytes | str, *, overwrite: bool = False,
                 durable: bool = False) -> Path:
    """Write `data` (text as UTF-8) to `path` atomically with the umask's mode; the path.

    `overwrite=False` raises MelodyError if `path` exists. `durable` flushes the data to disk
    before the rename (model weights and configs: a power cut must not leave an empty file).
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    with deferred_signals():  # an interrupt never leaves the temporary file behind
        return _write_atomic(path, payload, overwrite, durable)


def _write_atomic(path: Path, payload: bytes, overwrite: bool, durable: bool) -> Path:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
