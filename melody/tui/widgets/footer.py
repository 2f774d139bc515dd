"""The footer both screens use: the keys that move between screens first, so a narrow terminal
still shows F1 (help), F2 (compose) and F3 (train) when the screen's own keys run off the end."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer

FIRST_KEYS = ("f1", "f2", "f3")


class KeysFooter(Footer):
    """Textual's footer, compact, with the screen-switching keys leading."""

    def __init__(self) -> None:
        super().__init__(compact=True)

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        # FooterKey is not public: its `key` attribute is what tells the keys apart.
        leading = sorted((w for w in widgets if getattr(w, "key", None) in FIRST_KEYS),
                         key=lambda w: FIRST_KEYS.index(w.key))
        yield from leading
        yield from (w for w in widgets if w not in leading)
