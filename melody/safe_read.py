"""Reading files melody did not necessarily write: model folders handed over by someone else.

A model folder's JSON files (config.json, tokenizer.json, openings.json, metrics.jsonl, the
checkpoint pointer) are read through here, never with a bare `read_text` + `json.loads`:

- only a regular file is read: a FIFO would block the reader forever and a device such as
  /dev/zero never ends, so the file is opened without blocking and checked with fstat before
  a byte is read; a symlink that leads out of the folder it sits in is refused;
- each file has a size cap, checked before reading and again while reading (a file that grows);
- JSON is parsed with a nesting limit (100,000 brackets overflow the parser's recursion) and a
  limit on the digits of an integer (Python refuses to convert 4,300 digits, and a 40-digit
  size is never meant); NaN and infinities are refused unless the file may record them;
- `field` type-checks one value into a ModelError that names the file and the field.

Every refusal is a `ModelError`: one line, the file first. A missing file raises
FileNotFoundError, so each caller says what a missing file means (often: nothing wrong).

`real_path` is for any path a user hands over: `Path.resolve` raises on a symlink loop
(RuntimeError before Python 3.13), which would escape as a traceback.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, Iterator

from melody.errors import ModelError

MAX_JSON_DEPTH = 64  # melody's own files nest 4 deep
MAX_INT_DIGITS = 40  # an int64 has 19 digits; a size or count of 40 digits is never meant
KIB, MIB = 1024, 1024 * 1024

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # a JSON string, escapes included
_BRACKET = re.compile(r"[\[\]{}]")
_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               dict: "an object", list: "a list"}


class _TooManyDigits(ValueError):
    pass


class _NotFinite(ValueError):
    pass


def real_path(path: str | os.PathLike) -> Path:
    """Where `path` really leads (links followed), or its absolute form when it leads nowhere
    (a symlink loop, a folder that cannot be searched): never raises, so it can key a path."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):
        return Path(os.path.abspath(path))


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def _size(count: int) -> str:
    return f"{count / MIB:.0f} MiB" if count >= MIB else f"{count / KIB:.0f} KiB" if count >= KIB else f"{count} bytes"


@contextlib.contextmanager
def open_regular(path: str | os.PathLike, *, limit: int,
                 within: str | os.PathLike | None = None) -> Iterator[tuple[int, int]]:
    """(descriptor, size) of the regular file `path` of at most `limit` bytes, opened for reading;
    ModelError for a FIFO, a device, a folder, a larger file, or (with `within`) a path whose
    links lead out of the folder `within`. FileNotFoundError when it is not there."""
    path = Path(path)
    if within is not None:
        root = os.path.realpath(within)
        if os.path.commonpath([os.path.realpath(path), root]) != root:
            raise ModelError(f"{path}: refused: a link to {os.path.realpath(path)}, outside {within}")
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise
    except OSError as error:
        raise ModelError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise ModelError(f"{path}: refused: {_file_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise ModelError(f"{path}: refused: {_size(info.st_size)}, more than the {_size(limit)} "
                             f"such a file may have")
        yield handle, info.st_size
    except OSError as error:
        raise ModelError(f"{path}: cannot read: {error.strerror or error}") from None
    finally:
        os.close(handle)


def _read_up_to(handle: int, count: int) -> bytes:
    chunks, total = [], 0
    while total < count:
        chunk = os.read(handle, min(count - total, 4 * MIB))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read_regular(path: str | os.PathLike, *, limit: int, within: str | os.PathLike | None = None) -> bytes:
    """The bytes of the regular file `path`, checked as `open_regular` says."""
    with open_regular(path, limit=limit, within=within) as (handle, _):
        data = _read_up_to(handle, limit + 1)
    if len(data) > limit:  # it grew while being read
        raise ModelError(f"{path}: refused: more than the {_size(limit)} such a file may have")
    return data


def read_head(path: str | os.PathLike, count: int, *, within: str | os.PathLike | None = None,
              limit: int = 2**62) -> tuple[bytes, int]:
    """The first `count` bytes (fewer if it is shorter) of the regular file `path`, and its size."""
    with open_regular(path, limit=limit, within=within) as (handle, size):
        return _read_up_to(handle, count), size


def json_depth(text: str, stop_after: int = MAX_JSON_DEPTH) -> int:
    """How deep brackets nest in JSON `text` (strings skipped); counting stops past `stop_after`."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_after:
                    break
        else:
            depth -= 1
    return deepest


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise _TooManyDigits(f"an integer of {len(digits.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(digits)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"the number {text[:20]}{'...' if len(text) > 20 else ''} is out of range")
    return value


def _refuse_constant(name: str) -> float:
    raise _NotFinite(f"{name} is not a number melody reads here")


def parse_json(data: bytes | str, source: str, *, allow_nonfinite: bool = False) -> Any:
    """JSON `data` from the file `source`, with the nesting and number limits; ModelError otherwise."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as error:
        raise ModelError(f"{source}: not UTF-8 text (byte {error.start})") from None
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ModelError(f"{source}: refused: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, parse_int=_parse_int,
                          parse_float=float if allow_nonfinite else _parse_float,
                          parse_constant=float if allow_nonfinite else _refuse_constant)
    except json.JSONDecodeError as error:
        raise ModelError(f"{source}:{error.lineno}:{error.colno}: not valid JSON ({error.msg})") from None
    except (_TooManyDigits, _NotFinite) as error:
        raise ModelError(f"{source}: refused: {error}") from None
    except RecursionError:  # the depth check should have caught it; never a traceback
        raise ModelError(f"{source}: refused: JSON nested too deeply") from None


def read_json(path: str | os.PathLike, *, limit: int, within: str | os.PathLike | None = None,
              allow_nonfinite: bool = False) -> Any:
    """`read_regular` then `parse_json`: a model folder's JSON file, checked."""
    return parse_json(read_regular(path, limit=limit, within=within), str(path),
                      allow_nonfinite=allow_nonfinite)


def describe(value: Any) -> str:
    """A JSON value's type in the file's words, for an error message."""
    if value is None:
        return "null"
    for kind in (bool, int, float, str, dict, list):
        if isinstance(value, kind):
            return _TYPE_NAMES[kind]
    return type(value).__name__


def field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], source: str, *,
          where: str = "", required: bool = True, null: bool = False, low: float | None = None,
          high: float | None = None) -> Any:
    """`data[name]` checked to be of `kind` (int excludes bool; float accepts an int) and within
    [low, high]; None when absent and not `required`, or null and `null` allows it. ModelError
    naming the file and the field otherwise."""
    label = f"{where}.{name}" if where else name
    if name not in data:
        if required:
            raise ModelError(f"{source}: field {label!r} is missing")
        return None
    value = data[name]
    if value is None and null:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds:
        kinds = (*kinds, int)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        wanted = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds if not (k is int and float in kinds))
        raise ModelError(f"{source}: field {label!r} must be {wanted}, not {describe(value)}")
    if low is not None and value < low or high is not None and value > high:
        bounds = f"from {low:g} to {high:g}" if low is not None and high is not None else (
            f"at least {low:g}" if low is not None else f"at most {high:g}")
        raise ModelError(f"{source}: field {label!r} must be {bounds}, not {value}")
    return value
