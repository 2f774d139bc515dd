"""The form column both screens use: a scrolling list of labelled one-line fields."""

from __future__ import annotations

from typing import Any

from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Checkbox, Input, Label, Select, TextArea
from textual.widgets.select import InvalidSelectValueError


class Form(VerticalScroll, can_focus=False):
    """A scrolling column of fields; it scrolls to the focused field and never takes focus itself."""

    def state(self) -> dict[str, Any]:
        """Every named field's value (widget id -> text, choice or tick), to be saved as JSON."""
        state: dict[str, Any] = {}
        for widget in self.query("Input, Checkbox, Select, TextArea"):
            if widget.id is None:
                continue
            if isinstance(widget, TextArea):
                state[widget.id] = widget.text
            elif isinstance(widget, Select):
                if widget.value != Select.BLANK:
                    state[widget.id] = widget.value
            else:
                state[widget.id] = widget.value
        return state

    def restore(self, state: dict[str, Any]) -> list[str]:
        """Put saved values back; the ids of those that no longer fit (a model or port now gone)."""
        skipped = []
        for key, value in state.items():
            found = self.query(f"#{key}") if isinstance(key, str) and key.replace("-", "").isalnum() else []
            widget = found.first() if found else None
            if isinstance(widget, Checkbox) and isinstance(value, bool):
                widget.value = value
            elif isinstance(widget, Input) and isinstance(value, str):
                widget.value = value
            elif isinstance(widget, TextArea) and isinstance(value, str):
                widget.load_text(value)
            elif isinstance(widget, Select) and isinstance(value, str):
                try:
                    widget.value = value
                except InvalidSelectValueError:
                    skipped.append(key)
            else:
                skipped.append(str(key))
        return skipped


def field(label: str, widget: Any, *extra: Any) -> Horizontal:
    """One line: a label, then the widget (and any extra, such as a button)."""
    return Horizontal(Label(label, classes="field-label"), widget, *extra, classes="field")
