"""The compose screen: pick a model and a seed, sample, watch the notes arrive, keep takes.

The screen gathers the form into `GenerationSettings` and hands them to
`melody.generation.stream` in a thread worker; notes come back as messages and land in the
piano roll. Every finished take joins the session (autosaved) and the takes table.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Checkbox, DataTable, Header, Input, Label, Select, Static, TextArea

from melody.errors import MelodyError, UsageError
from melody.music.notes import Note
from melody.tui.screens.listen import Listening
from melody.tui.screens.take_actions import TakeActions
from melody.tui.widgets.footer import KeysFooter
from melody.tui.widgets.form import Form, field
from melody.tui.widgets.piano_roll import PianoRoll
from melody.tui.widgets.seed import SeedPicker
from melody.tui.widgets.takes import TakesTable

# The picker's one entry while no model exists; never offered beside real models.
NO_MODELS = ("no models yet: train one (F3)", "")
# GenerationSettings.cadence, as the form offers it (melody.generation.cadence).
CADENCE_CHOICES = [("corpus", "corpus"), ("tonic", "tonic"), ("off", "off")]
CADENCE_TIP = ("Where a tune ends. corpus: on a degree drawn from where the model's training tunes of "
               "its length end (mostly the tonic); tonic: always on the key's tonic; off: the "
               "model's own last bar. A last bar that misses is drawn again.")
FLUSH_SECONDS = 0.1  # stream notes to the UI in batches at most this often (10 per second)


class NotesArrived(Message):
    """Sampled notes for the piano roll (posted from the generation thread)."""

    def __init__(self, notes: list[Note], bar: int) -> None:
        super().__init__()
        self.notes, self.bar = notes, bar


class GenerationStarted(Message):
    """Where the new music starts (and, infilling, ends: new_end) and the meter."""

    def __init__(self, prime_end: int, signatures: list, new_end: int | None = None) -> None:
        super().__init__()
        self.prime_end, self.signatures, self.new_end = prime_end, signatures, new_end


class GenerationEnded(Message):
    """The stream's DoneEvent, or the one-line error that stopped it."""

    def __init__(self, done: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.done, self.error = done, error


class ComposeScreen(Listening, TakeActions, Screen):
    """Model, seed and sampling on the left; the piano roll, the takes and the take's ABC on the right."""

    AUTO_FOCUS = "#model"
    BINDINGS = [
        Binding("ctrl+g", "generate", "Generate"),
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "export", "Export"),
        Binding("ctrl+l", "listen", "Listen"),
        Binding("ctrl+r", "dice", "New seed"),
        Binding("ctrl+t", "focus_takes", "Takes", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="compose")
        self.stop_event: threading.Event | None = None
        self.generating = False
        self.pending_name: str | None = None
        self.pending_infill: tuple[Any, tuple[int, int]] | None = None  # (source take, bars) while infilling
        self.notes_seen = 0
        self.player: Any = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="compose-body"):
            with Form(id="form"):
                yield Label("Model", classes="section")
                yield Select([NO_MODELS], value="", allow_blank=False, id="model", compact=True)
                yield Static("", id="model-info")
                yield Label("Seed", classes="section")
                yield SeedPicker(id="seed")
                yield Label("Sampling", classes="section")
                yield field("temperature", Input("1.0", id="temperature", compact=True))
                yield field("top-k", Input("0", placeholder="off", id="top-k", compact=True))
                yield field("top-p", Input("0.95", id="top-p", compact=True))
                yield field("bars", Input("16", id="bars", compact=True))
                yield field("seed", Input("", placeholder="random", id="random-seed", compact=True),
                             Button("dice", id="dice", compact=True))
                yield Checkbox("key lock", id="key-lock", compact=True)
                yield field("ending", Select(CADENCE_CHOICES, value="corpus", allow_blank=False, id="cadence",
                                             compact=True, tooltip=CADENCE_TIP))
                yield field("listen", Select([("automatic", "auto")], value="auto", allow_blank=False,
                                              id="port", compact=True))
                with Horizontal(id="actions"):
                    yield Button("Generate", variant="primary", id="generate", compact=True)
                    yield Button("Cancel", variant="error", id="cancel", compact=True, disabled=True)
            with Vertical(id="work"):
                yield PianoRoll(id="roll")
                yield Static("no take yet: pick a seed and press ctrl+g", id="roll-status")
                with Horizontal(id="bottom"):
                    yield TakesTable(id="takes")
                    yield TextArea("", id="take-abc", read_only=True, soft_wrap=False)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#roll", PianoRoll).border_title = "piano roll"
        self.query_one("#takes", TakesTable).border_title = "takes"
        self.query_one("#take-abc", TextArea).border_title = "ABC"
        self.show_models()
        self.load_ports()
        if self.app.session.takes:  # a session handed to the app with takes: the latest is shown at once
            self.refresh_takes(select=self.app.session.takes[-1])

    # -- the model picker ----------------------------------------------------------------------
    def show_models(self) -> None:
        """Fill the model picker from the app's list, keeping the choice (default preselected)."""
        select = self.query_one("#model", Select)
        infos = self.app.model_infos
        current = select.value
        select.set_options([(info.name, str(info.folder)) for info in infos] or [NO_MODELS])
        folders = [str(info.folder) for info in infos]
        if current in folders:
            select.value = current
        elif infos:
            select.value = str(self.app.default_model_folder(infos))
        self._describe_model()

    @on(Select.Changed, "#model")
    def _describe_model(self) -> None:
        info = self.selected_model()
        if info is None:
            self.query_one("#model-info", Static).update("no model: train one on the Train screen (F3)")
            return
        loaded = self.app.is_loaded(info.folder)
        self.query_one("#model-info", Static).update(f"{_model_line(info)} · {'ready' if loaded else 'loading…'}")
        if not loaded:
            self.app.preload_model(info.folder)

    def model_loaded(self, folder: Path) -> None:
        """The app finished loading a model: say so if it is the one picked."""
        info = self.selected_model()
        if info is not None and Path(info.folder).resolve() == Path(folder).resolve():
            self.query_one("#model-info", Static).update(f"{_model_line(info)} · ready")

    def selected_model(self) -> Any:
        value = self.query_one("#model", Select).value
        return next((info for info in self.app.model_infos if str(info.folder) == value), None)

    def restore_form(self, state: dict[str, Any]) -> None:
        """Put a restored session's form back; say which saved fields no longer fit."""
        if "cadence" in state:  # saved by the "end on the tonic" box of 2026-11-30: true or false
            from melody.generation.cadence import cadence_of

            state = state | {"cadence": cadence_of(state["cadence"])}
        skipped = self.query_one("#form", Form).restore(state)
        if skipped:
            self.notify(f"form restored except {', '.join(skipped)} (no longer offered)", severity="warning")

    # -- playback ports --------------------------------------------------------------------------
    @work(thread=True, group="ports", exit_on_error=False)
    def load_ports(self) -> None:
        from melody import playback

        ports = playback.midi_ports()
        options = [("automatic", "auto"), *((f"port {p}", f"port:{p}") for p in ports)]
        if playback.can_render():
            options.append(("FluidSynth (WAV)", "wav"))
        self.app.call_from_thread(self.query_one("#port", Select).set_options, options)
        self.app.call_from_thread(setattr, self.query_one("#port", Select), "value", "auto")

    # -- the form ------------------------------------------------------------------------------
    def _value(self, name: str) -> str:
        return self.query_one(f"#{name}", Input).value.strip()

    def form_settings(self, *, seeded: bool) -> Any:
        """GenerationSettings from the form; UsageError naming the field that is wrong."""
        from melody.generation import GenerationSettings

        def number(name: str, kind: type, blank: Any = None) -> Any:
            text = self._value(name)
            if not text:
                return blank
            try:
                return kind(text)
            except ValueError:
                what = "a whole number" if kind is int else "a number"
                raise UsageError(f"{name} must be {what}, not {text!r}") from None

        picker = self.query_one("#seed", SeedPicker)
        header = {} if seeded else picker.header()
        bars = number("bars", int, None) or 16
        settings = GenerationSettings(
            num=1,
            temperature=number("temperature", float, 1.0),
            top_k=number("top-k", int, 0),
            top_p=number("top-p", float, 1.0),
            bars=bars,
            seed=number("random-seed", int, None),
            key_lock=self.query_one("#key-lock", Checkbox).value,
            cadence=self.query_one("#cadence", Select).value,
            prime_bars=picker.prime_bars() if seeded else None,
            **header,
        )
        settings.validate()
        return settings

    def action_dice(self) -> None:
        self.query_one("#random-seed", Input).value = str(random.randrange(2**31))

    @on(Button.Pressed, "#dice")
    def _dice_pressed(self) -> None:
        self.action_dice()

    # -- generating ----------------------------------------------------------------------------
    @on(Button.Pressed, "#generate")
    def action_generate(self) -> None:
        """Sample a new take from the form's seed and settings."""
        try:
            prime, prime_abc = self.query_one("#seed", SeedPicker).prime()
            settings = self.form_settings(seeded=prime is not None or prime_abc is not None)
        except MelodyError as error:
            self.notify(str(error), severity="error")
            return
        self.start(settings, prime, prime_abc, name=None)

    def start(self, settings: Any, prime: Any, prime_abc: str | None, name: str | None,
              infilling: tuple[Any, tuple[int, int]] | None = None) -> None:
        """Begin a generation in the worker thread (one at a time); `infilling` is the take and
        bars being sampled anew, shown again with its selection if the run fails."""
        if self.busy():
            return
        info = self.selected_model()
        if info is None:
            self.notify("no model to generate with: train one on the Train screen (F3)", severity="error")
            return
        self.app.session.save_form(self.query_one("#form", Form).state())
        self.stop_event = threading.Event()
        self.pending_name = name
        self.pending_infill = infilling
        self.notes_seen = 0
        self._set_generating(True)
        self.query_one("#roll", PianoRoll).start(None)
        self.say("loading the model…")
        self.run_generation(info.folder, settings, prime, prime_abc, self.stop_event)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def run_generation(self, folder: Path, settings: Any, prime: Any, prime_abc: str | None,
                       stop: threading.Event) -> None:
        """The worker: load (cached), stream, post notes in batches; never raises."""
        try:
            from melody.generation import BarEvent, DoneEvent, NoteEvent, stream
            from melody.generation.run import build_prime

            model = self.app.model_for(folder)
            opening, _ = build_prime(model.tokenizer, settings, prime, prime_abc)
            self.post_message(GenerationStarted(opening.end, list(opening.piece.time_signatures), opening.infill_end))
            pending: list[Note] = []
            bar = 0
            flushed = time.monotonic()
            for event in stream(model, settings, prime=prime, prime_abc=prime_abc, stop=stop):
                if isinstance(event, NoteEvent):
                    pending.append(event.note)
                elif isinstance(event, BarEvent):
                    bar = event.bar
                elif isinstance(event, DoneEvent):
                    self.post_message(NotesArrived(pending, bar))
                    self.post_message(GenerationEnded(done=event))
                    return
                if pending and time.monotonic() - flushed >= FLUSH_SECONDS:
                    self.post_message(NotesArrived(pending, bar))
                    pending, flushed = [], time.monotonic()
                # Hand the interpreter to the UI thread between tokens: keys stay quick while sampling.
                time.sleep(0)
            self.post_message(GenerationEnded(error="the generation ended without a result"))
        except MelodyError as error:
            self.post_message(GenerationEnded(error=str(error)))
        except Exception as error:  # noqa: BLE001 - shown as a notification, never a traceback
            self.post_message(GenerationEnded(error=f"generation failed: {type(error).__name__}: {error}"))

    def on_generation_started(self, message: GenerationStarted) -> None:
        self.query_one("#roll", PianoRoll).set_opening(message.prime_end, message.signatures, message.new_end)
        self.say("generating… (escape cancels)")

    def on_notes_arrived(self, message: NotesArrived) -> None:
        if not self.generating:
            return
        self.notes_seen += len(message.notes)
        self.query_one("#roll", PianoRoll).add_notes(message.notes)
        self.query_one("#roll-status", Static).update(
            f"generating… bar {message.bar + 1} · {self.notes_seen} notes (escape cancels)")

    def on_generation_ended(self, message: GenerationEnded) -> None:
        self._set_generating(False)
        infilling, self.pending_infill = self.pending_infill, None
        if message.error or message.done.cancelled:
            # Nothing kept: the roll goes back from the half-drawn notes to the take beside them.
            if infilling is not None and infilling[0] in self.app.session.takes:
                # Back to the take and its selection, so another model or range is one step away.
                source, bars = infilling
                self.show_take(source)
                self.query_one("#roll", PianoRoll).select_bars(*bars)
            else:
                self.show_take(self.selected_take())
        if message.error:
            self.say(f"generation failed: {message.error}", error=True)
            self.notify(message.error, severity="error", timeout=8)
            return
        done = message.done
        if done.cancelled:
            self.say("cancelled: nothing kept")
            self.notify("generation cancelled")
            return
        added = None
        for take in done.takes:
            added = self.app.session.add(take, name=self.pending_name)
        self.refresh_takes(select=added)
        if added is not None:
            self.show_take(added)
            self.notify(f"kept {added.name}")

    def busy(self) -> bool:
        """True, said as a warning, while a generation runs (one at a time)."""
        if self.generating:
            self.notify("a generation is running: cancel it first (escape)", severity="warning")
        return self.generating

    def say(self, text: str, *, error: bool = False) -> None:
        """The line under the piano roll; an error in the theme's error colour."""
        status = self.query_one("#roll-status", Static)
        status.update(text)
        status.set_class(error, "-error")

    def action_cancel(self) -> None:
        """Stop the running generation at the next token."""
        if self.generating and self.stop_event is not None:
            self.stop_event.set()
            self.say("cancelling…")

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def _set_generating(self, running: bool) -> None:
        self.generating = running
        self.query_one("#generate", Button).disabled = running
        self.query_one("#cancel", Button).disabled = not running
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return True if self.generating else None  # None: shown dimmed in the footer
        if action in ("generate", "infill_take"):
            return None if self.generating else True
        return True

    @on(DataTable.RowHighlighted, "#takes")
    def _take_highlighted(self) -> None:
        if not self.generating:
            self.show_take(self.selected_take())

    def stop_everything(self) -> None:
        """Cancel the generation and silence playback (the app is closing)."""
        if self.stop_event is not None:
            self.stop_event.set()
        self.stop_listening()


def _model_line(info: Any) -> str:
    if not info.parameters:
        size = "? params"
    elif info.parameters >= 1e6:
        size = f"{info.parameters / 1e6:.1f}M params"
    else:
        size = f"{info.parameters / 1e3:.0f}k params"
    if info.bits_per_note is not None:
        quality = f"{info.bits_per_note:.2f} bits/note"
    elif info.bits_per_token is not None:
        quality = f"{info.bits_per_token:.2f} bits/token"
    else:
        quality = "not evaluated"
    return f"{info.family} · {info.tokenizer} · {size} · {quality}"
