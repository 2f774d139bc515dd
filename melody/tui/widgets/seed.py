"""Where a take starts: nothing (key, meter, tempo from the form), a corpus tune, a file, or ABC text.

The picker only collects the user's choice; melody.generation turns it into a prime.
The ABC editor parses as you type (debounced) and shows the first error at line:column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import ContentSwitcher, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from melody.errors import MelodyError, UsageError
from melody.shipped import shipped_corpus
from melody.music.notes import Piece

SHIPPED_CORPUS = shipped_corpus()
# A field that is only useful with what goes with it: focusing it brings the whole part on
# screen (the search box with the tune list, the ABC editor with its error line).
PART_OF = {"tune-search": "#seed-corpus", "tunes": "#seed-corpus", "abc-editor": "#seed-abc"}
KINDS = [("none: key, meter, tempo", "none"), ("a tune from the corpus", "corpus"),
         ("a music file", "file"), ("ABC text", "abc")]
PARSE_DELAY = 0.3  # seconds of quiet typing before the ABC editor parses
WARNINGS_SHOWN = 3  # warnings listed under the ABC editor; the rest are counted, and in the tooltip


class SeedPicker(Vertical):
    """The seed part of the compose form."""

    def __init__(self, corpus: Path = SHIPPED_CORPUS, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.corpus = corpus
        self.tunes: list[Piece] | None = None
        self._parse_timer = None
        self.abc_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Select(KINDS, value="none", allow_blank=False, id="seed-kind", compact=True)
        with ContentSwitcher(initial="seed-none", id="seed-switch"):
            with Vertical(id="seed-none"):
                with Horizontal(classes="field"):
                    yield Label("key", classes="field-label")
                    yield Input("", placeholder="model's choice (D, Em, Ador)", id="key", compact=True)
                with Horizontal(classes="field"):
                    yield Label("meter", classes="field-label")
                    yield Input("", placeholder="model's choice (6/8)", id="meter", compact=True)
                with Horizontal(classes="field"):
                    yield Label("tempo", classes="field-label")
                    yield Input("", placeholder="model's choice (qpm)", id="tempo", compact=True)
            with Vertical(id="seed-corpus"):
                yield Input("", placeholder="search tunes", id="tune-search", compact=True)
                yield OptionList(id="tunes")
            with Vertical(id="seed-file"):
                yield Input("", placeholder="path to .abc or .mid", id="seed-path", compact=True)
            with Vertical(id="seed-abc"):
                yield TextArea("", id="abc-editor", soft_wrap=False, show_line_numbers=True)
                yield Static("type or paste ABC (X:, T:, M:, L:, K: then notes)", id="abc-status")
        with Horizontal(classes="field", id="prime-bars-field"):
            yield Label("prime bars", classes="field-label")
            yield Input("4", placeholder="all", id="prime-bars", compact=True)

    @property
    def kind(self) -> str:
        return str(self.query_one("#seed-kind", Select).value)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "seed-kind":
            return
        self.query_one("#seed-switch", ContentSwitcher).current = f"seed-{event.value}"
        self.query_one("#prime-bars-field").display = event.value != "none"
        if event.value == "corpus" and self.tunes is None:
            self.query_one("#tunes", OptionList).set_options([Option("loading the corpus…", disabled=True)])
            self.load_tunes()

    def on_mount(self) -> None:
        self.query_one("#prime-bars-field").display = False

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        part = PART_OF.get(event.widget.id or "")
        if part is not None:
            # After the screen's own scroll to the focused widget, which would stop at its edge.
            self.call_after_refresh(self.query_one(part).scroll_visible, animate=False)

    # -- the corpus --------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="tunes", exit_on_error=False)
    def load_tunes(self) -> None:
        """Parse the shipped corpus off the UI thread (804 tunes)."""
        from melody.music.io import read

        try:
            tunes = read(self.corpus)
        except MelodyError as error:
            self.app.call_from_thread(self.app.notify, str(error), severity="error")
            tunes = []
        except Exception as error:  # noqa: BLE001 - the UI reports, it does not crash
            self.app.call_from_thread(self.app.notify, f"cannot read the corpus: {error}", severity="error")
            tunes = []
        self.app.call_from_thread(self._show_tunes, tunes)

    def _show_tunes(self, tunes: list[Piece]) -> None:
        self.tunes = tunes
        self._filter(self.query_one("#tune-search", Input).value)

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        options = [Option(f"{piece.tune or index + 1}  {piece.title or '(untitled)'}", id=str(index))
                   for index, piece in enumerate(self.tunes or [])
                   if all(word in (piece.title or "").lower() for word in words)]
        listing = self.query_one("#tunes", OptionList)
        listing.set_options(options or [Option("no tune matches", disabled=True)])
        if options:
            listing.highlighted = 0

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "tune-search" and self.tunes is not None:
            self._filter(event.value)

    def select_tune(self, title: str) -> None:
        """Search for and highlight a tune by title (keyboard-free use, and tests)."""
        self.query_one("#tune-search", Input).value = title
        if self.tunes is not None:
            self._filter(title)

    def chosen_tune(self) -> Piece | None:
        listing = self.query_one("#tunes", OptionList)
        if self.tunes is None or listing.highlighted is None:
            return None
        option = listing.get_option_at_index(listing.highlighted)
        return self.tunes[int(option.id)] if option.id is not None else None

    # -- the ABC editor ----------------------------------------------------------------------
    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if self._parse_timer is not None:
            self._parse_timer.stop()
        self._parse_timer = self.set_timer(PARSE_DELAY, self.check_abc)

    def check_abc(self) -> None:
        """Parse the editor's text and show the first error (line:column) or what it holds."""
        from melody.errors import MusicError
        from melody.music.abc import parse_abc

        text = self.query_one("#abc-editor", TextArea).text
        status = self.query_one("#abc-status", Static)
        if not text.strip():
            self.abc_error = None
            status.set_class(False, "-warning")
            status.set_class(False, "-error")
            status.update("type or paste ABC (X:, T:, M:, L:, K: then notes)")
            return
        warnings: list[MusicError] = []
        try:
            pieces = parse_abc(text, source="", on_warning=warnings.append)
        except MusicError as error:
            self.abc_error = str(error)
            status.update(Content.assemble(("error", "bold"), f" {error}"))
            status.set_class(False, "-warning")
            status.set_class(True, "-error")
            self._keep_status_visible()
            return
        except Exception as error:  # noqa: BLE001 - a parser bug must not take the UI down
            self.abc_error = f"cannot parse: {error}"
            status.update(Content(self.abc_error))
            status.set_class(False, "-warning")
            status.set_class(True, "-error")
            self._keep_status_visible()
            return
        self.abc_error = None
        status.set_class(False, "-error")
        status.set_class(bool(warnings), "-warning")
        notes = sum(len(p.notes) for p in pieces)
        held = f"{len(pieces)} tune{'s' if len(pieces) != 1 else ''}, {notes} notes"
        if warnings:
            # The warnings, each on its line, in the theme's warning colour: not "ok", not just the
            # first. The first few are listed, so that a long list does not push the form off the
            # screen; the count says how many more, and the tooltip holds them all.
            every = [f"· {warning}" for warning in warnings]
            lines = [f"{held}; {len(warnings)} warning{'s' if len(warnings) != 1 else ''}:", *every[:WARNINGS_SHOWN]]
            if len(every) > WARNINGS_SHOWN:
                lines.append(f"… and {len(every) - WARNINGS_SHOWN} more (hover to read them all)")
            status.update(Content("\n".join(lines)))
            status.tooltip = "\n".join(every)
        else:
            status.update(f"ok: {held}")
            status.tooltip = None
        self._keep_status_visible()

    def _keep_status_visible(self) -> None:
        """While the editor has the focus, keep the line under it on screen as it changes."""
        if self.query_one("#abc-editor", TextArea).has_focus:
            self.call_after_refresh(self.query_one("#abc-status", Static).scroll_visible, animate=False)

    # -- what the form says ------------------------------------------------------------------
    def prime_bars(self) -> int | None:
        text = self.query_one("#prime-bars", Input).value.strip()
        if not text:
            return None
        if not text.isdigit() or int(text) < 1:
            raise UsageError(f"prime bars must be a whole number of at least 1, not {text!r}")
        return int(text)

    def header(self) -> dict[str, Any]:
        """key, meter, tempo typed for a seedless take (empty ones left to the model)."""
        values: dict[str, Any] = {}
        for name in ("key", "meter", "tempo"):
            text = self.query_one(f"#{name}", Input).value.strip()
            if text:
                values[name] = text
        if "tempo" in values:
            try:
                values["tempo"] = float(values["tempo"])
            except ValueError:
                raise UsageError(f"tempo must be a number of quarter notes per minute, not {values['tempo']!r}") from None
        return values

    def prime(self) -> tuple[Piece | str | None, str | None]:
        """(prime, prime_abc) for melody.generation.stream; UsageError when the choice is incomplete."""
        kind = self.kind
        if kind == "corpus":
            tune = self.chosen_tune()
            if tune is None:
                raise UsageError("pick a tune from the corpus list first")
            return tune, None
        if kind == "file":
            path = self.query_one("#seed-path", Input).value.strip()
            if not path:
                raise UsageError("type the path of a music file to seed from")
            return str(Path(path).expanduser()), None
        if kind == "abc":
            text = self.query_one("#abc-editor", TextArea).text
            if not text.strip():
                raise UsageError("type or paste some ABC to seed from")
            self.check_abc()
            if self.abc_error:
                raise UsageError(f"the ABC seed does not parse: {self.abc_error}")
            return None, text
        return None, None
