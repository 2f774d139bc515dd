"""The form column both screens use: a scrolling list of labelled one-line fields."""

from __future__ import annotations

from typing import Any

from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label


class Form(VerticalScroll, can_focus=False):
    """A scrolling column of fields; it scrolls to the focused field and never takes focus itself."""


def field(label: str, widget: Any, *extra: Any) -> Horizontal:
    """One line: a label, then the widget (and any extra, such as a button)."""
    return Horizontal(Label(label, classes="field-label"), widget, *extra, classes="field")
