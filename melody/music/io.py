"""Read and write music files by suffix: `.abc` and `.mid`/`.midi`.

This is the one door between files and `Piece`s; the CLI, the corpus and the terminal UI
all come through it. Writes are atomic (temporary file, then rename) and never replace an
existing file unless asked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from melody.errors import MissingMusicFile, MusicError, UsageError
from melody.files import write_atomic
from melody.music.notes import Piece

ABC_SUFFIXES = (".abc",)
MIDI_SUFFIXES = (".mid", ".midi")
MUSIC_SUFFIXES = ABC_SUFFIXES + MIDI_SUFFIXES
MAX_FILE_BYTES = 64 * 1024 * 1024  # a music file larger than this is hostile, not music

Warn = Callable[[MusicError], None]


def format_of(path: str | os.PathLike) -> str:
    """'abc' or 'mid' from a file name; UsageError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix in ABC_SUFFIXES:
        return "abc"
    if suffix in MIDI_SUFFIXES:
        return "mid"
    raise UsageError(f"{path}: unknown music format {suffix or '(no suffix)'!r} "
                     f"(use {', '.join(MUSIC_SUFFIXES)})")


def read_bytes(path: str | os.PathLike) -> bytes:
    """A music file's bytes, with one clear error for a missing, unreadable or huge file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            os.listdir(path)  # a folder that cannot be listed says why (os.walk passed over it)
            raise MusicError("is a folder, not a music file", file=str(path))
        if not path.is_file():  # a FIFO or a device would block or never end
            raise MusicError("not a regular file", file=str(path))
        if size > MAX_FILE_BYTES:
            raise MusicError(f"file is {size // (1024 * 1024)} MiB, larger than any music file "
                             f"melody reads ({MAX_FILE_BYTES // (1024 * 1024)} MiB)", file=str(path))
        data = path.read_bytes()
    except FileNotFoundError:
        raise MissingMusicFile("no such file", file=str(path)) from None
    except OSError as error:  # a symlink loop (ELOOP), no permission, an I/O error
        raise MusicError(f"cannot read: {error.strerror or error}", file=str(path)) from None
    if not data:
        raise MusicError("file is empty", file=str(path))
    return data


def read(path: str | os.PathLike, on_warning: Warn | None = None, *, perform: bool = False) -> list[Piece]:
    """Every piece in a music file: each tune of an ABC file, or the one piece of a MIDI file.

    `perform`: ABC ornaments and hornpipe swing played as abc2midi plays them (MIDI is
    already a performance); the default reads the literal score."""
    format_of(path)  # an unknown suffix is refused before any reading
    return parse_bytes(read_bytes(path), path, on_warning, perform=perform)


def parse_bytes(data: bytes, path: str | os.PathLike, on_warning: Warn | None = None, *,
                perform: bool = False) -> list[Piece]:
    """Every piece in bytes already read from `path` (whose suffix gives the format)."""
    kind = format_of(path)
    if kind == "abc":
        from melody.music.abc import parse_abc

        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")  # older collections are Latin-1
        if "\x00" in text:
            raise MusicError("binary data, not ABC text", file=str(path))
        return parse_abc(text, source=str(path), on_warning=on_warning, perform=perform)
    from melody.music.midi import parse_midi

    return [parse_midi(data, source=str(path), on_warning=on_warning)]


def render(piece: Piece, kind: str, on_warning: Callable[[str], None] | None = None) -> bytes:
    """A piece as the bytes of an 'abc' or 'mid' file; `on_warning` hears, in one line each,
    of what the format cannot carry (ABC: control changes; MIDI: programs sharing a channel)."""
    if kind == "abc":
        from melody.music.abc import piece_to_abc

        return piece_to_abc(piece, on_warning).encode("utf-8")
    from melody.music.midi import midi_bytes

    return midi_bytes(piece, on_warning)


def write(piece: Piece, path: str | os.PathLike, *, overwrite: bool = False,
          on_warning: Callable[[str], None] | None = None) -> Path:
    """Write a piece to `.abc` or `.mid`, atomically; refuses to replace a file unless asked."""
    path = Path(path)
    data = render(piece, format_of(path), on_warning)
    write_atomic(path, data, overwrite=overwrite)
    return path
