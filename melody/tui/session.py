"""The takes of one terminal-UI session, autosaved so that a crash loses nothing.

Every take generated in the UI joins a `Session`. Each change writes the take, atomically,
into the session's folder: `take-N.mid` (the music) and `take-N.json` (its name, seed,
settings, prime length, tokens, model, and whether it was marked or exported); each
generation also writes the compose form's fields to `form.json`. The folder is
`$MELODY_STATE_DIR/sessions/<timestamp>/`, by default under `$XDG_STATE_HOME/melody`
(`~/.local/state/melody`). On the next start the UI offers to restore the most recent
session that still holds un-exported takes, named by its date, models and take count, and
brings its form back too; a session whose takes were all exported, or that the user
declined, is not offered again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from melody.files import write_atomic
from melody.music.io import render
from melody.music.notes import Piece

FORMAT = "melody-session-take"
DECLINED = "declined"  # a file in a session folder: do not offer this session again
FORM = "form.json"  # the compose form as it was at the session's last generation
FORM_LIMIT = 1 << 20  # bytes: the form holds a few fields and at most a pasted ABC tune


def state_dir() -> Path:
    """Where melody keeps UI state: $MELODY_STATE_DIR, else $XDG_STATE_HOME/melody."""
    chosen = os.environ.get("MELODY_STATE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "melody"


def sessions_dir() -> Path:
    return state_dir() / "sessions"


@dataclass(eq=False)
class SessionTake:
    """A take as the UI keeps it: the generation's take plus a name and flags."""

    number: int
    name: str
    take: Any  # melody.generation.Take
    marked: bool = False
    exported: bool = False
    created: float = field(default_factory=time.time)

    @property
    def piece(self) -> Piece:
        return self.take.piece

    @property
    def seed(self) -> int | None:
        return getattr(self.take, "seed", None)

    @property
    def titled_take(self) -> Any:
        """The take with its piece titled by the take's name (the `T:` line exported)."""
        if self.piece.title == self.name or not dataclasses.is_dataclass(self.take):
            return self.take
        return dataclasses.replace(self.take, piece=self.piece.replace(title=self.name))

    @property
    def model(self) -> str | None:
        """The name of the model that made the take."""
        return getattr(self.take, "model_name", None)

    @property
    def temperature(self) -> float | None:
        return getattr(getattr(self.take, "settings", None), "temperature", None)

    @property
    def bars(self) -> int:
        """Bars of music in the take, counting a partial last bar."""
        return len(self.piece.bar_starts()) if self.piece.notes else 0

    @property
    def prime_end(self) -> int:
        return int(getattr(self.take, "prime_end", 0) or 0)

    @property
    def infilled(self) -> dict[str, Any] | None:
        """For a take whose middle bars were sampled anew: {"bars": [first, last], "start_tick", "end_tick"}."""
        prime = getattr(self.take, "prime", None)
        return prime.get("infill") if isinstance(prime, dict) else None

    @property
    def new_span(self) -> tuple[int, int | None]:
        """The ticks [start, end) of the take's new music; end None: to the end of the take."""
        infilled = self.infilled
        if infilled:
            return int(infilled["start_tick"]), int(infilled["end_tick"])
        return self.prime_end, None


class Session:
    """An ordered list of takes, mirrored to a folder on every change."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or sessions_dir() / time.strftime("%Y%m%d-%H%M%S")
        self.takes: list[SessionTake] = []
        self._next = 1

    # -- changes (each one saved) ------------------------------------------------------
    def add(self, take: Any, name: str | None = None) -> SessionTake:
        """Keep a new take, named `take N` unless given a name."""
        number = self._next
        self._next += 1
        item = SessionTake(number=number, name=name or f"take {number}", take=take)
        self.takes.append(item)
        self.save(item)
        return item

    def rename(self, item: SessionTake, name: str) -> None:
        item.name = name.strip() or item.name
        self.save(item, music=False)

    def toggle_mark(self, item: SessionTake) -> None:
        item.marked = not item.marked
        self.save(item, music=False)

    def mark_exported(self, item: SessionTake) -> None:
        item.exported = True
        self.save(item, music=False)

    def delete(self, item: SessionTake) -> None:
        self.takes.remove(item)
        for suffix in (".json", ".mid"):
            (self.folder / f"take-{item.number}{suffix}").unlink(missing_ok=True)

    def unexported(self) -> list[SessionTake]:
        return [item for item in self.takes if not item.exported]

    def marked(self) -> list[SessionTake]:
        return [item for item in self.takes if item.marked]

    # -- the folder ----------------------------------------------------------------------
    def save(self, item: SessionTake, *, music: bool = True) -> None:
        """Write one take's MIDI (when it changed) and JSON, each atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if music:
            write_atomic(self.folder / f"take-{item.number}.mid", render(item.piece, "mid"), overwrite=True)
        record = {"format": FORMAT, "number": item.number, "name": item.name, "marked": item.marked,
                  "exported": item.exported, "created": item.created, "take": take_record(item.take)}
        write_atomic(self.folder / f"take-{item.number}.json",
                           (json.dumps(record, indent=1) + "\n").encode(), overwrite=True)

    def save_form(self, state: dict[str, Any]) -> None:
        """Keep the compose form's fields (widget id -> value), so a restore brings them back."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.folder / FORM, (json.dumps(state, indent=1) + "\n").encode(), overwrite=True)

    def close(self) -> None:
        """Remove the folder when nothing in it needs keeping (no takes, or all exported)."""
        if self.folder.is_dir() and not self.unexported():
            shutil.rmtree(self.folder, ignore_errors=True)

    def adopt(self, items: Iterable[SessionTake]) -> list[SessionTake]:
        """Add restored takes to this session (renumbered, saved here)."""
        adopted = []
        for old in items:
            item = dataclasses.replace(old, number=self._next)
            self._next += 1
            self.takes.append(item)
            self.save(item)
            adopted.append(item)
        return adopted


def take_record(take: Any) -> dict[str, Any]:
    """The JSON-able fields of a generation Take, the piece aside (it goes to MIDI)."""
    if dataclasses.is_dataclass(take):
        record = {f.name: getattr(take, f.name) for f in dataclasses.fields(take) if f.name != "piece"}
    else:
        record = {name: getattr(take, name, None) for name in
                  ("prime_end", "tokens", "seed", "settings", "model_name", "model_sha256")}
    settings = record.get("settings")
    if dataclasses.is_dataclass(settings):
        record["settings"] = dataclasses.asdict(settings)
    record["tokens"] = [int(t) for t in record.get("tokens") or []]
    return json.loads(json.dumps(record, default=str))  # anything exotic becomes text, not a crash


def unexported_count(folder: Path) -> int:
    """How many takes saved in a session folder were never exported."""
    count = 0
    for record in folder.glob("take-*.json"):
        try:
            count += not json.loads(record.read_text(encoding="utf-8")).get("exported")
        except (OSError, ValueError, AttributeError):
            continue
    return count


def load_form(folder: Path) -> dict[str, Any] | None:
    """The form fields a saved session kept (None: it kept none); MelodyError when the file is damaged."""
    from melody.errors import ModelError
    from melody.safe_read import read_json

    path = folder / FORM
    if not path.exists():
        return None
    state = read_json(path, limit=FORM_LIMIT, within=folder)
    if not isinstance(state, dict):
        raise ModelError(f"{path}: not a JSON object of form fields")
    return state


def describe_session(folder: Path) -> str:
    """A saved session in words: its date, the models of its takes, how many are not exported
    ("Mon 30 Nov 2026 04:16 · tiny · 3 takes not exported")."""
    try:
        when = time.strftime("%a %d %b %Y %H:%M", time.strptime(folder.name, "%Y%m%d-%H%M%S"))
    except ValueError:
        when = folder.name
    models: list[str] = []
    for record in folder.glob("take-*.json"):
        try:
            name = json.loads(record.read_text(encoding="utf-8"))["take"]["model_name"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(name, str) and name not in models:
            models.append(name)
    count = unexported_count(folder)
    takes = f"{count} take{'s' if count != 1 else ''} not exported"
    return " · ".join([when, ", ".join(sorted(models)) or "model unknown", takes])


def restorable(root: Path | None = None, *, exclude: Path | None = None) -> Path | None:
    """The newest earlier session folder with un-exported takes that was not declined."""
    root = root or sessions_dir()
    if not root.is_dir():
        return None
    for folder in sorted((p for p in root.iterdir() if p.is_dir()), reverse=True):
        if exclude is not None and folder.resolve() == exclude.resolve():
            continue
        if not (folder / DECLINED).exists() and unexported_count(folder):
            return folder
    return None


def decline(folder: Path) -> None:
    """Remember not to offer this session again."""
    (folder / DECLINED).touch()


def forget(folder: Path) -> None:
    """Remove a saved session once its takes were adopted by the current one."""
    shutil.rmtree(folder, ignore_errors=True)


def load_session(folder: Path) -> list[SessionTake]:
    """The un-exported takes of a saved session folder; unreadable takes are skipped."""
    from melody.generation import GenerationSettings, Take
    from melody.music.io import read

    items = []
    for record_path in sorted(folder.glob("take-*.json"), key=lambda p: int(p.stem.split("-")[1])):
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            if record.get("format") != FORMAT or record.get("exported"):
                continue
            piece = read(record_path.with_suffix(".mid"))[0]
            fields = dict(record["take"])
            known = {f.name for f in dataclasses.fields(GenerationSettings)}
            settings = {k: (tuple(v) if isinstance(v, list) else v)
                        for k, v in (fields.get("settings") or {}).items() if k in known}
            fields["settings"] = GenerationSettings(**settings)
            take_fields = {f.name for f in dataclasses.fields(Take)}
            take = Take(piece=piece, **{k: v for k, v in fields.items() if k in take_fields})
        except Exception:  # noqa: BLE001 - one damaged take must not cost the others
            continue
        items.append(SessionTake(number=record["number"], name=record.get("name", record_path.stem),
                                 take=take, marked=bool(record.get("marked"))))
    return items
