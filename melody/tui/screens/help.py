"""The help screen: every key binding of the app, its screens and widgets, in one list."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

ABOUT = ("melody composes with a trained model. Pick a model and a seed, press ctrl+g to "
         "generate; takes collect in the list below the piano roll and are autosaved until "
         "you export them. F3 trains a new model on a folder of ABC or MIDI files.")


def binding_rows(sources: list[tuple[str, type]]) -> list[tuple[str, str, str]]:
    """(where, keys, description) for every binding with a description, in declaration order."""
    rows: dict[tuple[str, str], list[str]] = {}  # one row per action, every key that does it
    for where, owner in sources:
        for binding in owner.BINDINGS:
            if not isinstance(binding, Binding) or not binding.description:
                continue
            keys = rows.setdefault((where, binding.description), [])
            keys += [_key_name(key) for key in binding.key.split(",") if _key_name(key) not in keys]
    return [(where, ", ".join(keys), description) for (where, description), keys in rows.items()]


def _key_name(key: str) -> str:
    return {"question_mark": "?", "equals_sign": "=", "plus": "+", "minus": "-", "space": "space",
            "left_square_bracket": "[", "right_square_bracket": "]", "left_curly_bracket": "{",
            "right_curly_bracket": "}"}.get(key, key)


class HelpScreen(ModalScreen[None]):
    """All keys; escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close")]

    def __init__(self, sources: list[tuple[str, type]]) -> None:
        super().__init__(classes="dialog")
        self.sources = sources

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog-box", id="help"):
            yield Label("melody: keys", classes="dialog-question")
            yield Static(ABOUT, classes="help-about")
            where_seen = None
            for where, keys, description in binding_rows(self.sources):
                if where != where_seen:
                    yield Label(where, classes="help-section")
                    where_seen = where
                yield Static(f"{keys:<22} {description}", classes="help-row")
            yield Static("The mouse works too: click fields, buttons, takes and tabs; in the piano roll, "
                         "click a bar to select it, shift+click or drag to select more.", classes="help-about")
