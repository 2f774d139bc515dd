"""What the compose screen does with kept takes: show, mark, rename, delete, continue, vary,
infill (bars selected in the piano roll sampled anew) and export (listening is `listen.py`). A
mixin of `ComposeScreen`, which supplies `start`, `busy`, `form_settings`, `say` and `generating`;
the work itself is melody's (generation.stream, generation.write_take).
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import TextArea

from melody.errors import MelodyError
from melody.tui.screens.dialogs import ConfirmScreen, ExportScreen, PromptScreen
from melody.tui.session import SessionTake
from melody.tui.widgets.piano_roll import PianoRoll
from melody.tui.widgets.takes import TakesTable

EXPORT_DIR = Path("melody-out")


class TakeActions:
    """Actions on the session's takes (bound to keys on the screen and the takes table)."""

    # -- takes -----------------------------------------------------------------------------------
    def refresh_takes(self, select: SessionTake | None = None) -> None:
        self.query_one("#takes", TakesTable).show_takes(self.app.session.takes, select)

    def selected_take(self) -> SessionTake | None:
        number = self.query_one("#takes", TakesTable).selected_number()
        return next((item for item in self.app.session.takes if item.number == number), None)

    def show_take(self, item: SessionTake | None) -> None:
        """Draw a take in the piano roll with its ABC beside it."""
        roll = self.query_one("#roll", PianoRoll)
        abc = self.query_one("#take-abc", TextArea)
        if item is None:
            roll.show(None)
            abc.load_text("")
            self.say("no take")
            return
        roll.show(item.piece, *item.new_span)
        infilled = item.infilled
        new = f" · bars {infilled['bars'][0]}-{infilled['bars'][1]} new" if infilled else ""
        from melody.generation.cadence import ending_summary

        ending = ending_summary(item.take.ending)
        self.say(f"{item.name} · {item.bars} bars{new} · {len(item.piece.notes)} notes · seed {item.seed}"
                 + (f" · {ending}" if ending else ""))
        try:
            from melody.music.abc import piece_to_abc

            abc.load_text(piece_to_abc(item.titled_take.piece))
        except Exception as error:  # noqa: BLE001 - no ABC text is no reason to fail
            abc.load_text(f"(no ABC: {error})")

    def action_focus_takes(self) -> None:
        self.query_one("#takes", TakesTable).focus()

    def _need_take(self) -> SessionTake | None:
        item = self.selected_take()
        if item is None:
            self.notify("no take selected", severity="warning")
        return item

    def action_mark_take(self) -> None:
        item = self._need_take()
        if item is not None:
            self.app.session.toggle_mark(item)
            self.refresh_takes(item)

    def action_rename_take(self) -> None:
        item = self._need_take()
        if item is None:
            return

        def renamed(name: str | None) -> None:
            if name:
                self.app.session.rename(item, name)
                self.refresh_takes(item)
                self.show_take(item)  # its ABC's T: line is its name

        self.app.push_screen(PromptScreen(f"Rename {item.name}", item.name), renamed)

    def action_delete_take(self) -> None:
        item = self._need_take()
        if item is None:
            return

        def delete(yes: bool | None) -> None:
            if yes:
                takes = self.app.session.takes
                place = takes.index(item)
                self.app.session.delete(item)
                # The neighbour takes the cursor: the next take, or the new last one.
                neighbour = takes[min(place, len(takes) - 1)] if takes else None
                self.refresh_takes(neighbour)
                self.show_take(neighbour)

        if item.exported:
            delete(True)
        else:
            self.app.push_screen(ConfirmScreen(f"Delete {item.name}? It has not been exported.", "Delete", "Keep"),
                                 delete)

    def action_continue_take(self) -> None:
        """Extend a take: the whole take is the prime, then `bars` new bars."""
        item = self._need_take()
        if item is None:
            return
        try:
            settings = self.form_settings(seeded=True).replace(prime_bars=None)
        except MelodyError as error:
            self.notify(str(error), severity="error")
            return
        self.start(settings, item.piece, None, name=f"{item.name} +")

    def action_vary_take(self) -> None:
        """Keep a take's first N bars and sample the rest again."""
        item = self._need_take()
        if item is None:
            return

        most = max(1, item.bars - 1)

        def vary(answer: str | None) -> None:
            if answer is None:
                return
            if not answer.strip().isdigit() or not 1 <= int(answer) <= most:
                self.notify(f"bars to keep: a whole number from 1 to {most}, not {answer.strip()!r}",
                            severity="error")
                return
            bars = int(answer)
            try:
                settings = self.form_settings(seeded=True).replace(prime_bars=bars)
            except MelodyError as error:
                self.notify(str(error), severity="error")
                return
            self.start(settings, item.piece, None, name=f"{item.name} var {bars}")

        self.app.push_screen(PromptScreen(f"Vary {item.name}: keep bars 1 to N, then write new bars. "
                                          f"N (1 to {most}):", str(max(1, item.bars // 2))), vary)

    def action_infill_take(self) -> None:
        """Sample the bars selected in the piano roll anew, keeping the rest: a new take."""
        item = None if self.busy() else self._need_take()
        if item is None:
            return
        roll = self.query_one("#roll", PianoRoll)
        bars = roll.selected_bars
        if bars is None or roll.selection is None:
            self.notify("select the bars to sample anew first: [ and ] or a click in the piano roll "
                        "(shift+click or drag for more)", severity="warning")
            return
        if roll.selection.whole:
            self.notify(f"bars {bars[0]}-{bars[1]} are the whole take: select fewer, so that some are kept "
                        f"(ctrl+g makes a new piece)", severity="warning")
            return
        try:
            settings = self.form_settings(seeded=True).replace(prime_bars=None, bars=None, infill=bars)
        except MelodyError as error:
            self.notify(str(error), severity="error")
            return
        first, last = bars
        name = f"bars {first}-{last} of {item.name}" if first != last else f"bar {first} of {item.name}"
        self.start(settings, item.piece, None, name=name, infilling=(item, bars))

    def on_piano_roll_selection_changed(self, message: PianoRoll.SelectionChanged) -> None:
        """Say what is selected on the roll's lower border."""
        if message.bars is None:
            message.roll.border_subtitle = ""
        else:
            first, last = message.bars
            what = f"bars {first}-{last}" if first != last else f"bar {first}"
            message.roll.border_subtitle = f"{what} selected · i samples {'them' if first != last else 'it'} anew"

    # -- export ------------------------------------------------------------------------------------
    def action_export(self) -> None:
        """Export the marked takes, or the selected one, as MIDI + ABC + JSON named after each take."""
        from melody.files import free_stem
        from melody.generation import FORMATS

        targets = self.app.session.marked() or ([self.selected_take()] if self.selected_take() else [])
        if not targets:
            self.notify("no take to export: generate one first", severity="warning")
            return
        # One take: its name, made free in the usual folder, offered for editing; several: each its own.
        stem = free_stem(EXPORT_DIR, file_stem(targets[0].name), (*FORMATS, "json")) if len(targets) == 1 else None

        def chosen(answer: tuple[Path, str | None] | None) -> None:
            if answer is not None:
                self.export(targets, *answer)

        self.app.push_screen(ExportScreen(EXPORT_DIR, stem, len(targets)), chosen)

    def export(self, targets: list[SessionTake], folder: Path, stem: str | None, force: bool = False) -> None:
        """Write the takes, each titled by its name (`T:`); a typed name that would replace files
        asks first, and names made from the takes' own never replace anything."""
        from melody.files import free_stem
        from melody.generation import FORMATS, write_take

        suffixes = (*FORMATS, "json")
        if stem is None:
            planned: list[Path] = []
            stems = []
            for item in targets:
                stems.append(free_stem(folder, file_stem(item.name), suffixes, taken=planned))
                planned += [folder / f"{stems[-1]}.{kind}" for kind in suffixes]
        else:
            stems = [stem]
        clashes = [folder / f"{s}.{kind}" for s in stems for kind in suffixes if (folder / f"{s}.{kind}").exists()]
        if clashes and not force:
            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.export(targets, folder, stem, force=True)

            names = ", ".join(p.name for p in clashes[:3]) + (" …" if len(clashes) > 3 else "")
            self.app.push_screen(ConfirmScreen(f"{names} already exist{'s' if len(clashes) == 1 else ''} "
                                               f"in {folder}. Replace?", "Replace", "Cancel"), confirmed)
            return
        written: list[Path] = []
        try:
            for item, name in zip(targets, stems):
                written += write_take(item.titled_take, folder, stem=name, force=force)
                self.app.session.mark_exported(item)
        except MelodyError as error:
            self.notify(str(error), severity="error")
        except OSError as error:
            self.notify(f"{folder}: cannot write: {error.strerror or error}", severity="error")
        self.refresh_takes()
        if written:
            self.notify(f"exported {len(written)} files to {folder}: {', '.join(p.name for p in written[:3])}"
                        + (" …" if len(written) > 3 else ""))


STEM_LIMIT = 80  # characters of a take's name kept in its file names


def file_stem(name: str) -> str:
    """A file-name stem from a take name ("Reel for Ma" -> "Reel-for-Ma", "take 3 +" -> "take-3"):
    letters, digits, - and _ only, so no folder, no leading dot, nothing a shell must quote."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.strip()[:STEM_LIMIT])
    return "-".join(part for part in cleaned.split("-") if part) or "take"

