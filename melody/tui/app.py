"""The melody terminal UI: a compose screen and a train screen over one session of takes.

The app owns what the screens share: the model list (config.json only, no torch), loaded
models (cached, loaded in worker threads so the first frame never waits for torch), and the
session of takes (autosaved). Quitting with takes not exported asks first.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding

from melody.errors import MelodyError
from melody.shipped import shipped_root
from melody.tui.screens.compose import ComposeScreen
from melody.tui.screens.dialogs import ConfirmScreen
from melody.tui.screens.help import HelpScreen
from melody.tui.screens.train import TrainScreen
from melody.tui.session import Session, decline, describe_session, forget, load_form, load_session, restorable
from melody.tui.widgets.piano_roll import PianoRoll
from melody.tui.widgets.takes import TakesTable

def model_dirs(extra: list[Path] | None = None, *, standard: bool = True) -> list[Path]:
    """Where the model picker looks: ./models, the shipped models/ (the repository's, or the
    installed package's copy), and any --models DIR."""
    dirs = [*([Path.cwd() / "models", shipped_root() / "models"] if standard else []), *(extra or [])]
    seen: list[Path] = []
    for folder in dirs:
        if folder.resolve() not in [s.resolve() for s in seen]:
            seen.append(folder)
    return seen


class MelodyApp(App):
    """melody's terminal UI."""

    TITLE = "melody"
    SUB_TITLE = "compose"
    CSS_PATH = "app.tcss"
    MODES = {"compose": ComposeScreen, "train": TrainScreen}
    DEFAULT_MODE = "compose"
    # A class on the app by terminal width, so app.tcss can give small terminals a narrower form
    # (and, under 110 columns, the takes list the whole width).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    BINDINGS = [
        Binding("f1", "help", "Help", key_display="F1"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("f2", "mode('compose')", "Compose", key_display="F2"),
        Binding("f3", "mode('train')", "Train", key_display="F3"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, *, models: list[Path] | None = None, session: Session | None = None,
                 offer_restore: bool = True, standard_models: bool = True) -> None:
        super().__init__()
        self.dirs = model_dirs(models, standard=standard_models)
        self.session = session or Session()
        self.offer_restore = offer_restore
        self.model_infos: list[Any] = []
        self._models: dict[str, Any] = {}
        self._model_lock = threading.Lock()
        self._painted = False  # no torch import until the first frame is on screen
        self._preload_waiting: Path | None = None
        self.refresh_models(wait=True)

    # -- models ------------------------------------------------------------------------------
    def refresh_models(self, wait: bool = False) -> None:
        """Re-read the model folders (config.json only) and update the picker."""
        from melody.model_folder import list_models

        self.model_infos = list_models(self.dirs)
        if not wait:
            for screen in self._compose_screens():
                screen.show_models()

    def default_model_folder(self, infos: list[Any]) -> Path:
        """The shipped default if it is listed, else the first model."""
        from melody.model_folder import DEFAULT_MODEL_DIR

        for info in infos:
            if info.folder.resolve() == DEFAULT_MODEL_DIR.resolve():
                return info.folder
        named = [info for info in infos if info.name == "default"]
        return (named or infos)[0].folder

    def model_for(self, folder: Path) -> Any:
        """A loaded model, from the cache or the folder (call from a worker thread: imports torch)."""
        from melody.model_folder import load_model
        from melody.nn.threads import leave_a_core

        key = str(Path(folder).resolve())
        with self._model_lock:
            if key not in self._models:
                leave_a_core()
                self._models[key] = load_model(folder)
            return self._models[key]

    def forget_model(self, folder: Path) -> None:
        """Drop a cached model whose folder training has just rewritten."""
        with self._model_lock:
            self._models.pop(str(Path(folder).resolve()), None)

    def preload_model(self, folder: Path) -> None:
        """Load the picked model in the background so Generate starts at once (after the first frame)."""
        if self._painted:
            self._preload(folder)
        else:
            self._preload_waiting = folder

    def _first_frame(self) -> None:
        self._painted = True
        if self._preload_waiting is not None:
            self._preload(self._preload_waiting)

    @work(thread=True, exclusive=True, group="preload", exit_on_error=False)
    def _preload(self, folder: Path) -> None:
        try:
            self.model_for(folder)
            self.call_from_thread(self._model_ready, folder)
        except MelodyError as error:
            self.call_from_thread(self.notify, str(error), severity="error")
        except Exception as error:  # noqa: BLE001 - reported, never a traceback
            self.call_from_thread(self.notify, f"cannot load {folder}: {error}", severity="error")

    def is_loaded(self, folder: Path) -> bool:
        return str(Path(folder).resolve()) in self._models

    def _model_ready(self, folder: Path) -> None:
        for screen in self._compose_screens():
            screen.model_loaded(folder)

    def _compose_screens(self) -> list[ComposeScreen]:
        return [screen for stack in self._screen_stacks.values() for screen in stack
                if isinstance(screen, ComposeScreen)]

    # -- start and end -------------------------------------------------------------------------
    def on_mount(self) -> None:
        # Importing torch holds the interpreter for a second or more: start it once the first
        # frame is drawn, so the screen appears at once.
        self.call_after_refresh(lambda: self.set_timer(0.1, self._first_frame))
        if self.offer_restore:
            self.call_after_refresh(self._offer_restore)

    def _offer_restore(self) -> None:
        previous = restorable(self.session.folder.parent, exclude=self.session.folder)
        if previous is None:
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.restore(previous)
            else:
                decline(previous)

        self.push_screen(ConfirmScreen(f"An earlier session ({describe_session(previous)}). "
                                       f"Restore its takes and form settings?", "Restore", "No"), answer)

    def restore(self, folder: Path) -> None:
        """Bring a saved session's un-exported takes, and its form settings, into this one."""
        try:
            items = self.session.adopt(load_session(folder))
        except Exception as error:  # noqa: BLE001 - a damaged session must not stop the app
            self.notify(f"cannot restore {folder}: {error}", severity="error")
            return
        try:
            form = load_form(folder)
        except MelodyError as error:
            form = None
            self.notify(f"form settings not restored: {error}", severity="warning")
        forget(folder)
        for screen in self._compose_screens():
            screen.refresh_takes(select=self.session.takes[-1] if self.session.takes else None)
            if form:
                screen.restore_form(form)
        self.notify(f"restored {len(items)} take(s)" + (" and the form settings" if form else ""))

    def action_mode(self, mode: str) -> None:
        self.switch_mode(mode)
        self.sub_title = mode

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen([("everywhere", MelodyApp), ("compose", ComposeScreen),
                                     ("takes list", TakesTable), ("piano roll", PianoRoll),
                                     ("train", TrainScreen)]))

    async def action_quit(self) -> None:
        """Quit, asking first while a model trains or takes are not exported (they stay autosaved)."""
        screens = [s for stack in self._screen_stacks.values() for s in stack]
        reasons = [note for note in (getattr(s, "running_note", lambda: None)() for s in screens) if note]
        waiting = self.session.unexported()
        if waiting:
            reasons.append(f"{len(waiting)} take(s) not exported (autosaved in {self.session.folder}).")
        if not reasons:
            self.stop_work()
            self.exit()
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.stop_work()
                self.exit()

        self.push_screen(ConfirmScreen(" ".join([*reasons, "Quit anyway?"]), "Quit", "Stay"), answer)

    def stop_work(self) -> None:
        for screen in [s for stack in self._screen_stacks.values() for s in stack]:
            stopper = getattr(screen, "stop_everything", None)
            if stopper is not None:
                stopper()
        self.session.close()


def run_app(models: list[Path] | None = None) -> int:
    """Run the UI in this terminal; returns the exit status."""
    MelodyApp(models=models).run()
    return 0
