"""The terminal UI driven headless with Textual's Pilot, flow by flow, on a real tiny model.

Each test starts `MelodyApp` with its own state folder and a picker that lists only the
test's model, then presses keys as a person would and checks what the screen and the disk show.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mido
import pytest
from textual.widgets import DataTable, Input, Select, TextArea

from conftest import IRISH
from helpers import sync, tiny_model_folder, wait_until
from melody.tui.app import MelodyApp
from melody.tui.screens.dialogs import ConfirmScreen, ExportScreen, PromptScreen
from melody.tui.session import Session
from melody.tui.widgets.piano_roll import PianoRoll
from melody.tui.widgets.seed import SeedPicker


def make_app(tmp_path: Path, model: Path | None, monkeypatch) -> MelodyApp:
    monkeypatch.setenv("MELODY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)  # exports go to ./melody-out, new models to the picker's first folder
    return MelodyApp(models=[model.parent] if model else [tmp_path / "models"], standard_models=False,
                     offer_restore=False, session=Session(tmp_path / "state" / "sessions" / "now"))


async def set_input(pilot, selector: str, value: str) -> None:
    widget = pilot.app.screen.query_one(selector, Input)
    widget.value = value
    await pilot.pause()


async def generate(pilot, takes_before: int) -> None:
    app = pilot.app
    await pilot.press("ctrl+g")
    await wait_until(pilot, lambda: len(app.session.takes) > takes_before or not app.screen.generating,
                     60, "the take")
    assert len(app.session.takes) == takes_before + 1, app.screen.query_one("#roll-status").content


@pytest.mark.slow
@sync
async def test_compose_generate_cancel_keep_continue_export_and_quit(tmp_path, tiny_model, monkeypatch):
    app = make_app(tmp_path, tiny_model, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        # The picker lists the model, preselected.
        assert screen.query_one("#model", Select).value == str(tiny_model)
        # Seed from the corpus: search a tune by name and take it.
        screen.query_one("#seed-kind", Select).value = "corpus"
        picker = screen.query_one("#seed", SeedPicker)
        await wait_until(pilot, lambda: picker.tunes is not None, 30, "the corpus")
        picker.select_tune("Belfast")
        await pilot.pause()
        assert picker.chosen_tune().title == "Belfast"
        await set_input(pilot, "#prime-bars", "2")
        await set_input(pilot, "#bars", "1")
        await set_input(pilot, "#random-seed", "11")

        # Generate: the take joins the list, with the prime shaded apart in the roll.
        await generate(pilot, 0)
        first = app.session.takes[0]
        assert first.seed == 11 and first.prime_end > 0
        roll = screen.query_one(PianoRoll)
        assert roll.prime_end == first.prime_end and len(roll.notes) == len(first.piece.notes)
        assert "X:" in screen.query_one("#take-abc", TextArea).text

        # Cancel a long one: nothing is kept.
        await set_input(pilot, "#bars", "2000")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: screen.generating and len(roll.notes) > 0, 30, "streamed notes")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.generating, 30, "the cancel")
        assert len(app.session.takes) == 1
        assert "cancelled" in str(screen.query_one("#roll-status").content)

        # A second take, then continue the first one.
        await set_input(pilot, "#bars", "1")
        await set_input(pilot, "#random-seed", "12")
        await generate(pilot, 1)
        table = screen.query_one("#takes", DataTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.pause()
        await pilot.press("c")
        await wait_until(pilot, lambda: len(app.session.takes) == 3, 60, "the continued take")
        continued = app.session.takes[2]
        assert continued.name == "take 1 +"
        assert continued.prime_end >= first.piece.end_tick - 96  # the whole first take is its prime
        assert continued.piece.notes[:len(first.piece.notes) // 2] == first.piece.notes[:len(first.piece.notes) // 2]

        # Mark the first two and export both.
        table.move_cursor(row=0)
        await pilot.press("space")
        table.move_cursor(row=1)
        await pilot.press("space")
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ExportScreen)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.session.takes[1].exported, 10, "the export")
        out = tmp_path / "melody-out"
        names = sorted(p.name for p in out.iterdir())
        assert names == ["take-1.abc", "take-1.json", "take-1.mid", "take-2.abc", "take-2.json", "take-2.mid"]
        for midi in out.glob("*.mid"):
            assert len(mido.MidiFile(midi).tracks) >= 1

        # Export again: each take gets the next free name, nothing is replaced.
        await pilot.press("ctrl+s")
        await pilot.press("enter")
        await wait_until(pilot, lambda: (out / "take-2 (2).mid").exists(), 10, "the second export")
        assert (out / "take-1 (2).abc").read_text(encoding="utf-8").count("T:take 1\n") == 1

        # Quit with the continued take not exported: a confirmation appears, "Stay" keeps the app.
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and "1 take(s) not exported" in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
    assert app.return_code == 0
    # The un-exported take stays autosaved for the next start.
    assert (tmp_path / "state" / "sessions" / "now" / "take-3.mid").is_file()


@pytest.mark.slow
@sync
async def test_vary_rename_and_delete_a_take(tmp_path, tiny_model, monkeypatch):
    app = make_app(tmp_path, tiny_model, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        # Seed with two bars of ABC, then one new bar: a three-bar take.
        screen.query_one("#seed-kind", Select).value = "abc"
        await pilot.pause()
        screen.query_one("#abc-editor", TextArea).load_text("X:1\nT:seed\nM:4/4\nL:1/8\nK:D\nDEFG ABcd|e2d2 c2B2|\n")
        await set_input(pilot, "#bars", "1")
        await set_input(pilot, "#random-seed", "5")
        await generate(pilot, 0)
        table = screen.query_one("#takes", DataTable)
        table.focus()
        await pilot.press("v")
        assert isinstance(app.screen, PromptScreen)
        app.screen.query_one(Input).value = "2"
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.session.takes) == 2, 60, "the variation")
        original, variation = app.session.takes
        bar_two = original.piece.bar_starts()[2]
        assert variation.name == "take 1 var 2" and variation.prime_end == bar_two
        kept = [n for n in original.piece.notes if n.end <= bar_two]
        assert kept and set(kept) <= set(variation.piece.notes)  # the first two bars are its prime

        table.move_cursor(row=1)
        await pilot.press("r")
        app.screen.query_one(Input).value = "keeper"
        await pilot.press("enter")
        await pilot.pause()
        assert app.session.takes[1].name == "keeper"
        table.move_cursor(row=0)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert [item.name for item in app.session.takes] == ["keeper"]
        assert not (app.session.folder / "take-1.mid").exists()


@sync
async def test_abc_seed_shows_parse_errors_at_line_and_column(tmp_path, tiny_model, monkeypatch):
    app = make_app(tmp_path, tiny_model, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        screen.query_one("#seed-kind", Select).value = "abc"
        await pilot.pause()
        editor = screen.query_one("#abc-editor", TextArea)
        editor.load_text("X:1\nT:test\nM:6/8\nL:1/8\nK:G\nGAB c2d|e3 d2B|\n")
        picker = screen.query_one("#seed", SeedPicker)
        picker.check_abc()
        assert picker.abc_error is None
        assert "ok: 1 tune" in str(screen.query_one("#abc-status").content)
        editor.load_text("X:1\nT:test\nM:6/8\nL:1/8\nK:G\nGAB c2d|e3 d2B|c9999999999\n")
        picker.check_abc()
        assert picker.abc_error is not None and picker.abc_error.startswith("6:16:"), picker.abc_error
        assert "impossible note length" in str(screen.query_one("#abc-status").content)
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert not screen.generating  # a seed that does not parse is refused up front


@sync
async def test_a_crashed_sessions_takes_are_offered_and_restored(tmp_path, tiny_model, monkeypatch):
    from melody.generation import generate as sample

    monkeypatch.setenv("MELODY_STATE_DIR", str(tmp_path / "state"))
    earlier = Session(tmp_path / "state" / "sessions" / "20260101-000000")
    earlier.add(sample(tiny_model, bars=2, seed=3)[0], name="from before")
    app = MelodyApp(models=[tiny_model.parent], standard_models=False,
                    session=Session(tmp_path / "state" / "sessions" / "20260102-000000"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the offer")
        await pilot.press("y")
        await pilot.pause()
        assert [item.name for item in app.session.takes] == ["from before"]
        assert app.screen.query_one("#takes", DataTable).row_count == 1
        assert not earlier.folder.exists()


@sync
async def test_listen_renders_the_selected_take_and_ctrl_l_stops_it(tmp_path, tiny_model, monkeypatch):
    from melody import playback
    from melody.generation import generate as sample

    if not playback.can_render():
        pytest.skip(reason="fluidsynth or a SoundFont is missing")
    # No MIDI port here; a stand-in audio player that would play for a minute.
    monkeypatch.setattr(playback, "midi_ports", lambda: [])
    monkeypatch.setattr(playback, "find_audio_player", lambda: [sys.executable, "-c", "import time; time.sleep(60)"])
    app = make_app(tmp_path, tiny_model, monkeypatch)
    app.session.add(sample(tiny_model, bars=1, seed=2)[0])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await pilot.pause()
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: screen.player is not None, 30, "playback to start")
        assert screen.player.playing and screen.player.how.startswith("wav:")
        player = screen.player
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert not player.playing and screen.player is None


@pytest.mark.slow
@sync
async def test_train_screen_scans_trains_stops_and_lists_the_new_model(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    tunes = [t.strip() + "\n" for t in IRISH.read_text(encoding="utf-8").split("\n\n") if t.strip()][:6]
    for index, tune in enumerate(tunes):
        (corpus / f"tune{index}.abc").write_text(tune, encoding="utf-8")
    (corpus / "broken.abc").write_text("this is not music\n", encoding="utf-8")
    app = make_app(tmp_path, None, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        screen = app.screen
        await set_input(pilot, "#corpus", str(corpus))
        await pilot.press("ctrl+f")
        table = screen.query_one("#reports", DataTable)
        await wait_until(pilot, lambda: table.row_count == 7, 60, "the corpus report")
        statuses = {table.get_row_at(i)[0]: table.get_row_at(i)[1] for i in range(table.row_count)}
        assert statuses["broken.abc"] == "skipped" and statuses["tune0.abc"] in ("kept", "cached")

        await set_input(pilot, "#model-name", "fresh")
        await set_input(pilot, "#steps", "100000")  # long enough to need the stop button
        await pilot.press("ctrl+g")
        chart = screen.query_one("#chart")
        await wait_until(pilot, lambda: len(chart.train) >= 3, 120, "training steps")
        # Quitting while it trains asks first, and "Stay" leaves it training.
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and "training into" in app.screen.question
        assert "quitting stops it" in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and screen.training and app.screen is screen
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.training, 60, "the stop")
        assert "stopped" in str(screen.query_one("#train-status").content)
        assert (tmp_path / "models" / "fresh" / "model.safetensors").is_file()
        await pilot.press("f2")
        await pilot.pause()
        assert [info.name for info in app.model_infos] == ["fresh"]
        assert app.screen.query_one("#model", Select).value == str(tmp_path / "models" / "fresh")


# -- infilling: bars picked in the piano roll sampled anew -------------------------------------
TUNE = ("X:1\nT:Infill me\nM:6/8\nL:1/8\nK:G\n"
        "GAB c2d|edc B2A|GAB c2d|e3 d3|GAB c2d|edc B2A|G2A B2c|d3 G3|\n")


def notes_outside(piece, start, end):
    return sorted((n.onset, n.pitch, n.duration) for n in piece.notes if n.onset < start or n.onset >= end)


def said(app, severity: str) -> list[str]:
    return [n.message for n in app._notifications if n.severity == severity]


async def infill_and_wait(pilot, takes_before: int):
    app = pilot.app
    await pilot.press("i")
    await wait_until(pilot, lambda: len(app.session.takes) > takes_before or
                     (not app.screen.generating and said(app, "error")), 60, "the infilled take")
    assert len(app.session.takes) == takes_before + 1, said(app, "error")
    return app.session.takes[-1]


def assert_new_bars_shaded(roll, start: int, end: int) -> None:
    """The roll's ground is plain over the new ticks [start, end) and shaded over the kept ones,
    and the notes inside are drawn in the new colour, those outside in the kept colour."""
    from melody.tui.widgets.piano_roll import GUTTER, RULER

    per = roll.ticks_per_column
    assert roll._start_column() == 0 and roll._columns() <= roll.size.width - GUTTER  # all in view
    shade = roll.get_component_rich_style("piano-roll--prime-area").bgcolor
    cells = [segment.style for segment in roll.render_line(0) for _ in segment.text][GUTTER:]
    plain = [column for column, style in enumerate(cells[:roll._columns()]) if style.bgcolor != shade]
    assert plain == list(range(-(-start // per), -(-end // per)))
    new_color = roll.get_component_rich_style("piano-roll--new").color
    kept_color = roll.get_component_rich_style("piano-roll--prime").color
    for y in range(RULER, roll.size.height):
        column = 0
        for segment in roll.render_line(y):
            for char in segment.text:
                if char in "▀▄█" and column >= GUTTER:
                    tick = (column - GUTTER) * per
                    if segment.style.color == new_color:
                        assert start <= tick < end
                    elif tick < start - per or tick >= end:  # a column can hold a kept and a new note
                        assert segment.style.color in (kept_color, new_color) and \
                            (segment.style.color == kept_color or segment.style.bgcolor == kept_color)
                column += 1


@sync
async def test_infill_bars_selected_by_keys_and_by_mouse_as_new_takes(tmp_path, monkeypatch):
    from melody.generation import generate as sample

    model = tiny_model_folder(tmp_path / "models" / "fills", seed=2, infill_rate=0.5)
    app = make_app(tmp_path, model, monkeypatch)
    app.session.add(sample(model, prime_abc=TUNE, bars=1, seed=3)[0])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        original = app.session.takes[0]
        roll = screen.query_one(PianoRoll)
        await wait_until(pilot, lambda: roll.selection is not None, 10, "the take in the roll")
        starts = original.piece.bar_starts()
        assert len(starts) == 9
        roll.focus()
        await set_input(pilot, "#random-seed", "7")
        roll.focus()

        # Nothing selected yet: i says how to select.
        await pilot.press("i")
        await pilot.pause()
        assert not screen.generating and "select the bars" in said(app, "warning")[-1]

        # By keys: bar 1, then on to bar 2, stretched to bar 4.
        await pilot.press("right_square_bracket", "right_square_bracket", "shift+right", "right_curly_bracket")
        assert roll.selected_bars == (2, 4)
        assert roll.border_subtitle.startswith("bars 2-4 selected")
        made = await infill_and_wait(pilot, 1)
        start, end = starts[1], starts[4]
        assert made.name == "bars 2-4 of take 1"
        assert made.infilled == {"bars": [2, 4], "start_tick": start, "end_tick": end}
        assert notes_outside(made.piece, start, end) == notes_outside(original.piece, start, end)
        assert made.piece.bar_starts() == starts
        # The new take is shown: its new bars apart from the kept ones on both sides.
        assert (roll.prime_end, roll.new_end) == (start, end) and roll.selected_bars is None
        assert "bars 2-4 new" in str(screen.query_one("#roll-status").content)
        assert_new_bars_shaded(roll, start, end)

        # By mouse, on the first take again: click bar 6, shift+click bar 7.
        table = screen.query_one("#takes", DataTable)
        table.move_cursor(row=0)
        await pilot.pause()
        assert roll.notes == original.piece.notes and roll.new_end is None
        left = roll.content_region.x - roll.region.x

        def x_of(bar: int) -> int:
            from melody.tui.widgets.piano_roll import GUTTER

            return left + GUTTER + starts[bar - 1] // roll.ticks_per_column + 1

        await pilot.click(roll, offset=(x_of(6), 3))
        await pilot.click(roll, offset=(x_of(7), 3), shift=True)
        assert roll.selected_bars == (6, 7) and roll.has_focus
        again = await infill_and_wait(pilot, 2)
        start, end = starts[5], starts[7]
        assert again.name == "bars 6-7 of take 1"
        assert notes_outside(again.piece, start, end) == notes_outside(original.piece, start, end)
        assert_new_bars_shaded(roll, start, end)

        # The whole take selected: nothing would be kept, and i says so.
        roll.select_bars(1, 9)
        await pilot.press("i")
        await pilot.pause()
        assert not screen.generating and len(app.session.takes) == 3
        assert "the whole take" in said(app, "warning")[-1]


@sync
async def test_infilling_with_a_model_not_trained_for_it_says_so_in_one_line(tmp_path, tiny_model, monkeypatch):
    from melody.generation import generate as sample

    app = make_app(tmp_path, tiny_model, monkeypatch)
    app.session.add(sample(tiny_model, prime_abc=TUNE, bars=1, seed=3)[0])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        roll = screen.query_one(PianoRoll)
        await wait_until(pilot, lambda: roll.selection is not None, 10, "the take in the roll")
        roll.focus()
        roll.select_bars(3, 4)
        await pilot.press("i")
        await wait_until(pilot, lambda: said(app, "error"), 60, "the refusal")
        await wait_until(pilot, lambda: not screen.generating, 10, "the end of the run")
        error = said(app, "error")[-1]
        assert "not trained for infilling" in error and "\n" not in error
        status = screen.query_one("#roll-status")
        assert "not trained for infilling" in str(status.content) and status.has_class("-error")
        assert len(app.session.takes) == 1
        # The take is back in the roll with its selection: another model is one step away.
        assert roll.notes == app.session.takes[0].piece.notes and roll.selected_bars == (3, 4)


def test_tunes_listed_in_the_seed_picker_come_from_the_shipped_corpus():
    from melody.tui.widgets.seed import SHIPPED_CORPUS

    assert SHIPPED_CORPUS == IRISH


# -- the piano roll at 80x24, and listening (issue 15) --------------------------------------------
def hand_made_take(notes, bars: int = 16, prime_end: int = 0):
    """A take of `notes` in 4/4 D major, as a model would hand it back."""
    from melody.generation import GenerationSettings, Take
    from melody.music.notes import Key, Piece, Tempo, TimeSignature

    piece = Piece(notes=notes, time_signatures=[TimeSignature(0, 4, 4)], keys=[Key(0, 2, "major")],
                  tempos=[Tempo(0, 120.0)], title="hand made", end=bars * 96)
    return Take(piece=piece, prime_end=prime_end, tokens=[1, 2], seed=7,
                settings=GenerationSettings(seed=7, bars=bars), model_name="tiny", model_sha256="0" * 64)


def wide_notes():
    """145 eighth notes over 15 bars, pitches 55 to 83: wider than a short roll is tall."""
    from melody.music.notes import Note

    return [Note(12 * i, 55 + (i * 7) % 29, 12, 90) for i in range(145)]


def roll_text(roll) -> list[str]:
    return ["".join(segment.text for segment in roll.render_line(y)) for y in range(roll.size.height)]


def drawn(roll, note) -> bool:
    """The cell of the note's onset holds a block on the note's half of it."""
    place = roll.cell_of(note)
    if place is None:
        return False
    x, y, half = place
    return roll_text(roll)[y][x] in ("▀█" if half == 0 else "▄█")


@sync
async def test_the_roll_shows_every_note_of_a_take_wider_than_it_is_tall_at_80x24(tmp_path, monkeypatch):
    from melody.tui.widgets.piano_roll import RULER
    from melody.tui.widgets.pitch_window import pitch_name

    app = make_app(tmp_path, None, monkeypatch)
    app.session.add(hand_made_take(wide_notes()))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await pilot.pause()
        roll = screen.query_one(PianoRoll)
        notes = roll.notes
        assert len(notes) == 145 and 2 * (roll.size.height - RULER) < 83 - 55 + 1  # taller than the roll
        window = roll.pitch_window()
        assert all(window.bottom <= n.pitch <= window.top for n in notes)  # every pitch on a row
        text = roll_text(roll)
        labels = [line[:3].strip() for line in text[RULER:]]
        assert labels[0] == pitch_name(window.top) and labels[-1] == pitch_name(window.bottom)
        assert {"C4", "C5"} <= set(labels)  # and every C between
        assert text[0].startswith("bar│1")
        assert "▲" not in "".join(text) and "▼" not in "".join(text)  # nothing beyond the rows

        # Panning right bar by bar brings every note on screen, each drawn on its own row.
        roll.focus()
        seen = set()
        for _ in range(20):
            seen |= {i for i, n in enumerate(notes) if drawn(roll, n)}
            await pilot.press("right")
        assert seen == set(range(145))
        assert any(c.isdigit() for c in roll_text(roll)[0][4:])  # bar numbers along the top as it pans

        # Zoomed in on pitch, notes go out of view and the gutter says so; up pans, end fits again.
        await pilot.press("shift+up", "shift+up")
        zoomed = roll.pitch_window()
        assert zoomed.step < window.step and ("▲" in "".join(roll_text(roll)) or "▼" in "".join(roll_text(roll)))
        await pilot.press("up")
        assert roll.pitch_window().top > zoomed.top
        await pilot.press("end")
        assert roll.pitch_window().step == window.step


@sync
async def test_a_cancelled_take_leaves_the_roll_on_the_selected_take(tmp_path, tiny_model, monkeypatch):
    app = make_app(tmp_path, tiny_model, monkeypatch)
    app.session.add(hand_made_take(wide_notes()))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await pilot.pause()
        roll = screen.query_one(PianoRoll)
        shown = list(app.session.takes[0].piece.notes)
        assert roll.notes == shown
        await set_input(pilot, "#bars", "2000")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: screen.generating and roll.notes and roll.notes != shown, 60,
                         "streamed notes")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.generating, 60, "the cancel")
        assert len(app.session.takes) == 1
        assert roll.notes == shown and roll.selection is not None  # the take again, not half a new one
        assert "cancelled" in str(screen.query_one("#roll-status").content)


@sync
async def test_continue_and_vary_open_the_roll_at_the_new_bars(tmp_path, tiny_model, monkeypatch):
    from melody.music.notes import Note

    app = make_app(tmp_path, tiny_model, monkeypatch)
    # Sixteen bars of quarter notes: more than the roll shows at 80x24, even a quarter to a column.
    app.session.add(hand_made_take([Note(24 * i, 62 + (i % 8), 24, 90) for i in range(64)]))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await set_input(pilot, "#bars", "1")
        await set_input(pilot, "#random-seed", "3")
        roll = screen.query_one(PianoRoll)
        table = screen.query_one("#takes", DataTable)

        def first_new_bar_in_view() -> bool:
            item = app.session.takes[-1]
            bar = item.piece.bar_starts().index(item.prime_end) + 1 if item.prime_end in item.piece.bar_starts() \
                else None
            ruler = roll_text(roll)[0]
            return bar is not None and f"{bar}" in ruler.split("│", 1)[1].split()

        table.focus()
        table.move_cursor(row=0)
        await pilot.pause()
        assert roll._start_column() == 0
        await pilot.press("c")
        await wait_until(pilot, lambda: len(app.session.takes) == 2 and not screen.generating, 60,
                         "the continued take")
        await pilot.pause()
        assert app.session.takes[1].prime_end == 16 * 96
        assert roll._start_column() > 0 and first_new_bar_in_view()

        table.move_cursor(row=0)
        await pilot.press("v")
        assert isinstance(app.screen, PromptScreen)
        app.screen.query_one(Input).value = "12"
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.session.takes) == 3 and not screen.generating, 60,
                         "the variation")
        await pilot.pause()
        assert app.session.takes[2].prime_end == 12 * 96
        assert roll._start_column() > 0 and first_new_bar_in_view()


def player_on_path(tmp_path: Path, monkeypatch, body: str) -> None:
    """A real executable named aplay, first on PATH (where playback looks for a player)."""
    from melody import playback

    if not playback.can_render():
        pytest.skip(reason="fluidsynth or a SoundFont is missing")
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    (folder / "aplay").write_text(f"#!/bin/sh\n{body}\n")
    (folder / "aplay").chmod(0o755)
    import os

    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")


@sync
async def test_a_failing_player_is_reported_and_a_wav_offered_instead(tmp_path, monkeypatch):
    from melody.music.notes import Note

    player_on_path(tmp_path, monkeypatch, "echo 'aplay: main:850: audio open error: no soundcards found' >&2\n"
                                          "exit 1")
    app = make_app(tmp_path, None, monkeypatch)
    app.session.add(hand_made_take([Note(24 * i, 62 + i % 5, 24, 90) for i in range(8)], bars=2))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        screen.query_one("#port", Select).value = "wav"
        await pilot.pause()
        await pilot.press("ctrl+l")
        message = "aplay failed: aplay: main:850: audio open error: no soundcards found"
        # The notification is a message the app handles in its turn, the dialog a screen push:
        # either may come first on a busy machine.
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and said(app, "error"), 60,
                         "the WAV offer and the error notification")
        assert message in app.screen.question
        assert message in said(app, "error")
        assert message in str(screen.query_one("#roll-status").content)
        assert not any(text.startswith("playing") for text in said(app, "information"))
        assert screen.player is None and screen.listening is None
        await pilot.press("y")
        wav = tmp_path / "melody-out" / "take-1.wav"
        await wait_until(pilot, lambda: wav.is_file(), 60, "the WAV")
        assert wav.read_bytes()[:4] == b"RIFF" and (tmp_path / "melody-out" / "take-1.json").is_file()


@sync
async def test_ctrl_l_plays_and_stops_and_plays_again(tmp_path, monkeypatch):
    from melody.music.notes import Note

    player_on_path(tmp_path, monkeypatch, "exec sleep 60")
    app = make_app(tmp_path, None, monkeypatch)
    app.session.add(hand_made_take([Note(24 * i, 62 + i % 5, 24, 90) for i in range(8)], bars=2))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        screen.query_one("#port", Select).value = "wav"
        await pilot.pause()
        for _ in range(2):  # a stopped take plays again on the next press
            await pilot.press("ctrl+l")
            await wait_until(pilot, lambda: screen.player is not None and screen.player.playing, 60, "playback")
            await wait_until(pilot, lambda: any(t.startswith("playing take 1") for t in said(app, "information")),
                             10, "the playing notice")
            player = screen.player
            await pilot.press("ctrl+l")
            await pilot.pause()
            assert not player.playing and screen.player is None and screen.listening is None
            assert player.failure is None  # stopped, not failed
        assert not said(app, "error")
