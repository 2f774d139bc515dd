"""Small modal dialogs: yes/no confirmation, a line of text, an export destination."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class ConfirmScreen(ModalScreen[bool]):
    """A question answered yes (y, enter on Yes) or no (n, escape)."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__(classes="dialog")
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.question, classes="dialog-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.yes, variant="warning", id="yes")
                yield Button(self.no, variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class PromptScreen(ModalScreen[str | None]):
    """One line of text; enter accepts, escape cancels (None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "", placeholder: str = "") -> None:
        super().__init__(classes="dialog")
        self.question, self.value, self.placeholder = question, value, placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.question, classes="dialog-question")
            yield Input(self.value, placeholder=self.placeholder, id="answer")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self.query_one("#answer", Input).value if event.button.id == "ok" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportScreen(ModalScreen[tuple[Path, str | None] | None]):
    """Where to export: a folder, and for one take a file name stem (MIDI, ABC and JSON share it);
    several takes are each named after their take (stem None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, folder: Path, stem: str | None, count: int) -> None:
        super().__init__(classes="dialog")
        self.folder, self.stem, self.count = folder, stem, count

    def compose(self) -> ComposeResult:
        what = "the selected take" if self.stem is not None else f"{self.count} marked takes, each named after its take,"
        with Vertical(classes="dialog-box"):
            yield Label(f"Export {what} as MIDI + ABC + JSON", classes="dialog-question")
            with Grid(classes="dialog-form"):
                yield Label("folder")
                yield Input(str(self.folder), id="folder")
                if self.stem is not None:
                    yield Label("file name")
                    yield Input(self.stem, id="stem")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#stem" if self.stem is not None else "#folder", Input).focus()

    def _answer(self) -> None:
        folder = self.query_one("#folder", Input).value.strip() or "."
        if self.stem is None:
            self.dismiss((Path(folder).expanduser(), None))
            return
        stem = self.query_one("#stem", Input).value.strip()
        if not stem or "/" in stem or stem.startswith("."):
            self.notify("the file name must be a plain name (no folder, not starting with a dot)",
                        severity="error")
            return
        for suffix in (".mid", ".midi", ".abc", ".json"):
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
        self.dismiss((Path(folder).expanduser(), stem))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._answer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._answer()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
