"""The terminal UI's parts on their own: piano roll, loss chart, session autosave, dialogs, help."""

from __future__ import annotations

import asyncio
import functools
import json

import pytest
from textual.app import App, ComposeResult

from melody.music.notes import Note, Piece, TimeSignature
from melody.tui.screens.help import binding_rows
from melody.tui.session import Session, decline, load_session, restorable
from melody.tui.widgets.bar_selection import BarSelection
from melody.tui.widgets.loss_chart import LossChart
from melody.tui.widgets.piano_roll import GUTTER, RULER, PianoRoll


def sync(test):
    """Run an async test with asyncio (no async plugin needed); fixtures still arrive."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))
    return run


class RollApp(App):
    CSS_PATH = "../melody/tui/app.tcss"

    def compose(self) -> ComposeResult:
        yield PianoRoll(id="roll")


def _cells(roll: PianoRoll, y: int) -> list[tuple[str, object]]:
    """(character, rich style) of every cell of one rendered line."""
    cells = []
    for segment in roll.render_line(y):
        cells.extend((char, segment.style) for char in segment.text)
    return cells


@sync
async def test_piano_roll_draws_prime_and_new_notes_in_their_own_colours():
    # Two bars of 4/4 (96 ticks each): a prime note in bar 1, a new note in bar 2, a fifth apart.
    piece = Piece(notes=[Note(0, 67, 24), Note(96, 60, 48)], time_signatures=[TimeSignature(0, 4, 4)])
    app = RollApp()
    async with app.run_test(size=(60, 12)) as pilot:
        roll = app.query_one(PianoRoll)
        roll.show(piece, prime_end=96)
        await pilot.pause()
        prime_color = roll.get_component_rich_style("piano-roll--prime").color
        new_color = roll.get_component_rich_style("piano-roll--new").color
        assert prime_color != new_color
        found = {}
        for y in range(roll.size.height):
            for column, (char, style) in enumerate(_cells(roll, y)[GUTTER:]):
                if char in "▀▄█":
                    found.setdefault(style.color, set()).add(column)
        # A sixteenth note per column: the prime quarter note covers columns 0-3, the new half note 16-23.
        assert found[prime_color] == {0, 1, 2, 3}
        assert found[new_color] == set(range(16, 24))


@sync
async def test_piano_roll_marks_bar_lines_shades_the_prime_and_labels_octaves():
    piece = Piece(notes=[Note(0, 60, 24), Note(96, 62, 24), Note(192, 64, 24)],
                  time_signatures=[TimeSignature(0, 3, 4)])  # 72-tick bars: a line every 12 columns
    app = RollApp()
    async with app.run_test(size=(60, 12)) as pilot:
        roll = app.query_one(PianoRoll)
        roll.show(piece, prime_end=96)
        await pilot.pause()
        text = ["".join(char for char, _ in _cells(roll, y)) for y in range(roll.size.height)]
        empty_row = next(row for row in text[RULER:] if not any(c in row for c in "▀▄█"))
        assert [i - GUTTER for i, c in enumerate(empty_row) if c == "│" and i >= GUTTER] == \
            list(range(0, roll.size.width - GUTTER, 12))  # the bar grid runs on past the music
        # The ruler numbers the piece's three bars at their bar lines, and no bar past its end.
        ruler = text[0]
        assert ruler.startswith("bar│")
        assert {i - GUTTER: c for i, c in enumerate(ruler) if c.isdigit()} == {0: "1", 12: "2", 24: "3"}
        assert any(row.startswith("C4 │") for row in text)
        shade = roll.get_component_rich_style("piano-roll--prime-area").bgcolor
        line = _cells(roll, 0)[GUTTER:]
        assert all(style.bgcolor == shade for _, style in line[:16])  # prime_end 96 = column 16
        assert all(style.bgcolor != shade for _, style in line[16:])


@sync
async def test_an_infilled_take_shades_the_kept_bars_on_both_sides_of_the_new_ones():
    # Three bars of 4/4; bar 2 (ticks 96-192, columns 16-31) is new, bars 1 and 3 are kept.
    piece = Piece(notes=[Note(0, 60, 24), Note(96, 64, 24), Note(192, 67, 24)],
                  time_signatures=[TimeSignature(0, 4, 4)])
    app = RollApp()
    async with app.run_test(size=(60, 12)) as pilot:
        roll = app.query_one(PianoRoll)
        roll.show(piece, prime_end=96, new_end=192)
        await pilot.pause()
        shade = roll.get_component_rich_style("piano-roll--prime-area").bgcolor
        line = _cells(roll, RULER)[GUTTER:]
        assert [column for column, (_, style) in enumerate(line[:48]) if style.bgcolor != shade] == \
            list(range(16, 32))
        kept_color = roll.get_component_rich_style("piano-roll--prime").color
        new_color = roll.get_component_rich_style("piano-roll--new").color
        colours = {}
        for y in range(RULER, roll.size.height):
            for column, (char, style) in enumerate(_cells(roll, y)[GUTTER:]):
                if char in "▀▄█":
                    colours[column] = style.color
        assert colours == {**{c: kept_color for c in (0, 1, 2, 3, 32, 33, 34, 35)},
                           **{c: new_color for c in (16, 17, 18, 19)}}


def test_a_bar_selection_picks_moves_and_stretches_within_the_piece():
    bars = BarSelection([0, 96, 192, 288], end=360)  # four bars, the last one short
    assert bars.bars is None and bars.span() is None
    assert [bars.bar_at(t) for t in (-5, 0, 95, 96, 300, 9999)] == [1, 1, 1, 2, 4, 4]
    bars.move(1, default=2)  # nothing selected: the default bar
    assert bars.bars == (2, 2)
    bars.extend(1)
    bars.extend(1)
    assert bars.bars == (2, 4) and bars.span() == (96, 360)  # the last bar ends where the piece does
    bars.move(1)  # at the end already: the range stays, its length kept
    assert bars.bars == (2, 4)
    bars.move(-5)
    assert bars.bars == (1, 3)
    bars.pick(3)
    bars.extend_to(1)  # past the anchor: the range turns around it
    assert bars.bars == (1, 3) and not bars.whole
    bars.extend(-9)
    assert bars.bars == (1, 3)
    bars.select(1, 4)
    assert bars.whole
    bars.clear()
    assert bars.bars is None


class SelectingApp(App):
    CSS_PATH = "../melody/tui/app.tcss"

    def __init__(self) -> None:
        super().__init__()
        self.said: list = []

    def compose(self) -> ComposeResult:
        yield PianoRoll(id="roll")

    def on_piano_roll_selection_changed(self, message: PianoRoll.SelectionChanged) -> None:
        self.said.append(message.bars)


def _four_bars() -> Piece:
    return Piece(notes=[Note(96 * bar + 24 * i, 60 + bar + i, 24) for bar in range(4) for i in range(4)],
                 time_signatures=[TimeSignature(0, 4, 4)])


@sync
async def test_keys_select_bars_on_the_roll_and_the_selection_is_shaded():
    app = SelectingApp()
    async with app.run_test(size=(80, 14)) as pilot:
        roll = app.query_one(PianoRoll)
        roll.show(_four_bars())
        roll.focus()
        await pilot.pause()
        await pilot.press("right_square_bracket")  # nothing selected: the first bar in view
        assert roll.selected_bars == (1, 1)
        await pilot.press("right_square_bracket", "shift+right", "right_curly_bracket")
        assert roll.selected_bars == (2, 4)
        await pilot.press("shift+left", "left_square_bracket")
        assert roll.selected_bars == (1, 2)
        await pilot.pause()
        assert app.said[-1] == (1, 2)
        chosen = roll.get_component_rich_style("piano-roll--selection").bgcolor
        for y in (0, RULER + 3):  # the ruler and the notes' rows alike
            line = _cells(roll, y)[GUTTER:]
            assert [c for c, (_, style) in enumerate(line) if style.bgcolor == chosen] == list(range(0, 32))
        await pilot.press("backspace")
        assert roll.selected_bars is None
        roll.show(_four_bars())  # another take: the selection is gone
        assert roll.selection.bars is None


@sync
async def test_the_mouse_selects_a_bar_and_shift_click_or_a_drag_extends_it():
    app = SelectingApp()
    async with app.run_test(size=(80, 14)) as pilot:
        roll = app.query_one(PianoRoll)
        roll.show(_four_bars())
        await pilot.pause()
        left = roll.content_region.x - roll.region.x  # the Pilot's offsets count the border

        def x_of(bar: int) -> int:  # a column inside the bar (a sixteenth per column: 16 a bar)
            return left + GUTTER + 16 * (bar - 1) + 3

        await pilot.click(roll, offset=(x_of(2), 4))
        assert roll.selected_bars == (2, 2) and roll.has_focus
        await pilot.click(roll, offset=(x_of(4), 4), shift=True)
        assert roll.selected_bars == (2, 4)
        # A drag from bar 3 back to bar 1.
        await pilot.mouse_down(roll, offset=(x_of(3), 5))
        await pilot.hover(roll, offset=(x_of(2), 5))
        await pilot.hover(roll, offset=(x_of(1), 5))
        await pilot.mouse_up(roll, offset=(x_of(1), 5))
        assert roll.selected_bars == (1, 3)
        await pilot.click(roll, offset=(x_of(4), 0))  # the ruler row works as well
        assert roll.selected_bars == (4, 4)


@sync
async def test_piano_roll_follows_streamed_notes_and_pans_back():
    app = RollApp()
    async with app.run_test(size=(40, 10)) as pilot:
        roll = app.query_one(PianoRoll)
        roll.start(None)
        roll.add_notes([Note(6 * i, 60 + i % 12, 6) for i in range(200)])  # 200 columns of music
        await pilot.pause()
        visible = roll.size.width - GUTTER
        assert roll._start_column() == 200 - visible  # the newest note is in view
        roll.focus()
        await pilot.press("left")
        assert roll._start_column() < 200 - visible and not roll.follow
        await pilot.press("end")
        assert roll._start_column() == 200 - visible


class ChartApp(App):
    def compose(self) -> ComposeResult:
        yield LossChart()


@sync
async def test_loss_chart_plots_both_curves_with_a_legend():
    app = ChartApp()
    async with app.run_test(size=(50, 10)) as pilot:
        chart = app.query_one(LossChart)
        for step in range(0, 101, 10):
            chart.add(step, train=4.0 - step / 50, validation=4.2 - step / 60 if step % 50 == 0 else None,
                      max_steps=100)
        await pilot.pause()
        lines = ["".join(segment.text for segment in chart.render_line(y)) for y in range(chart.size.height)]
        assert lines[0].strip().startswith("4.20")  # the highest point labels the top
        assert "2.00" in lines[chart.size.height - 2]  # the lowest the bottom of the plot
        assert "train 2.000" in lines[-1] and "validation 2.533" in lines[-1]
        dots = sum(1 for line in lines[:-1] for char in line if 0x2800 < ord(char) <= 0x28FF)
        assert dots > 20


# -- the session ---------------------------------------------------------------------------
def _take(seed: int = 7, bars: int = 2):
    from melody.generation import GenerationSettings, Take

    notes = [Note(48 * i, 62 + (i % 5), 48) for i in range(bars * 2)]
    piece = Piece(notes=notes, time_signatures=[TimeSignature(0, 4, 4)], title=f"take {seed}")
    return Take(piece=piece, prime_end=96, tokens=[1, 5, 9, 2], seed=seed,
                settings=GenerationSettings(temperature=0.9, seed=seed, bars=bars),
                model_name="tiny", model_sha256="ab" * 32)


def test_session_autosaves_each_take_as_midi_and_json(tmp_path):
    session = Session(tmp_path / "sessions" / "20260101-000000")
    first = session.add(_take(1))
    session.add(_take(2))
    session.rename(first, "my tune")
    files = sorted(p.name for p in session.folder.iterdir())
    assert files == ["take-1.json", "take-1.mid", "take-2.json", "take-2.mid"]
    record = json.loads((session.folder / "take-1.json").read_text())
    assert record["name"] == "my tune" and record["take"]["seed"] == 1
    assert record["take"]["settings"]["temperature"] == 0.9
    assert (session.folder / "take-1.mid").read_bytes().startswith(b"MThd")
    assert not list(session.folder.glob(".*")), "atomic writes leave no temporary files"


def test_an_unexported_session_is_offered_once_and_restores_its_takes(tmp_path):
    root = tmp_path / "sessions"
    crashed = Session(root / "20260101-000000")
    kept = crashed.add(_take(3, bars=4))
    crashed.rename(kept, "keeper")
    done = crashed.add(_take(4))
    crashed.mark_exported(done)
    # (no close(): the app crashed)
    current = Session(root / "20260102-000000")
    assert restorable(root, exclude=current.folder) == crashed.folder
    restored = current.adopt(load_session(crashed.folder))
    assert [item.name for item in restored] == ["keeper"]  # the exported take is not brought back
    assert restored[0].take.seed == 3 and restored[0].take.settings.temperature == 0.9
    assert [n.pitch for n in restored[0].piece.notes] == [n.pitch for n in kept.piece.notes]
    decline(crashed.folder)
    assert restorable(root, exclude=current.folder) is None


def test_a_restored_infilled_take_still_knows_which_bars_are_new(tmp_path):
    crashed = Session(tmp_path / "sessions" / "20260101-000000")
    take = _take(5, bars=3)
    take.prime = {"source": "piece", "text": None, "bars": 3,
                  "infill": {"bars": [2, 2], "start_tick": 96, "end_tick": 192}}
    crashed.add(take, name="bar 2 of take 1")
    crashed.add(_take(6))
    restored, plain = load_session(crashed.folder)
    assert restored.infilled == {"bars": [2, 2], "start_tick": 96, "end_tick": 192}
    assert restored.new_span == (96, 192)
    assert plain.infilled is None and plain.new_span == (96, None)  # new music from the prime's end on


def test_closing_a_session_removes_its_folder_only_when_everything_was_exported(tmp_path):
    session = Session(tmp_path / "s1")
    item = session.add(_take())
    session.close()
    assert session.folder.is_dir()
    session.mark_exported(item)
    session.close()
    assert not session.folder.exists()


def test_deleting_a_take_removes_its_autosaved_files(tmp_path):
    session = Session(tmp_path / "s1")
    item = session.add(_take())
    session.delete(item)
    assert not list(session.folder.glob("take-*")) and session.takes == []


# -- help ---------------------------------------------------------------------------------------
def test_help_lists_every_described_binding_of_the_app_and_its_screens():
    from melody.tui.app import MelodyApp
    from melody.tui.screens.compose import ComposeScreen
    from melody.tui.screens.train import TrainScreen
    from melody.tui.widgets.takes import TakesTable

    rows = binding_rows([("everywhere", MelodyApp), ("compose", ComposeScreen), ("takes", TakesTable),
                         ("train", TrainScreen)])
    described = {(where, description) for where, _, description in rows}
    assert ("compose", "Generate") in described and ("takes", "Continue") in described
    assert ("train", "Stop") in described and ("everywhere", "Quit") in described
    keys = {row[1] for row in rows}
    assert "ctrl+g" in keys and "ctrl+s" in keys
    assert ("everywhere", "f1, ?", "Help") in rows  # one row per action, with all its keys


def test_help_names_the_piano_rolls_selection_keys_as_they_are_typed():
    rows = binding_rows([("piano roll", PianoRoll)])
    assert ("piano roll", "[", "Select the bar before") in rows
    assert ("piano roll", "]", "Select the bar after") in rows
    assert ("piano roll", "}, shift+right", "Move the selection's end a bar on") in rows


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@sync
async def test_every_screen_fits_small_and_large_terminals(tmp_path, monkeypatch, size):
    from melody.tui.app import MelodyApp

    monkeypatch.setenv("MELODY_STATE_DIR", str(tmp_path / "state"))
    app = MelodyApp(models=[tmp_path / "models"], standard_models=False, offer_restore=False)
    async with app.run_test(size=size) as pilot:
        for key in ("f3", "f2", "f1", "escape"):
            await pilot.press(key)
            await pilot.pause()
            for widget in app.screen.query("Footer, Header"):
                assert widget.region.width == size[0]
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        assert app.screen.query_one("#roll").size.width > 0


# -- the command --------------------------------------------------------------------------------
def test_melody_tui_rejects_a_missing_models_folder_in_one_line(tmp_path, capsys):
    from melody.cli import main

    assert main(["tui", "--models", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"melody tui: --models {tmp_path / 'nowhere'}: no such folder"]


def test_the_command_line_loads_neither_textual_nor_torch_until_tui_runs():
    import subprocess
    import sys

    code = ("import sys, melody.cli; melody.cli.build_parser(); "
            "print('textual' in sys.modules, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_a_pitch_window_fits_any_range_into_its_rows_and_follows_a_note_out_of_it():
    from melody.tui.widgets.pitch_window import PitchWindow, fit_step, pitch_name

    assert fit_step(55, 83, 7) == 3 and fit_step(60, 72, 7) == 1  # 29 semitones on 14 half rows
    window = PitchWindow.centred(55, 83, 7)
    assert window.bottom <= 55 and window.top >= 83 and window.row_of(83) is not None
    assert window.row_of(window.top + 1) is None
    assert [window.label(y) for y in (0, 6)] == [pitch_name(window.top), pitch_name(window.bottom)]
    assert pitch_name(60) == "C4" and pitch_name(78) == "F#5"
    zoomed = PitchWindow.centred(55, 83, 7, step=1)  # wider than the window: the top notes in view
    assert zoomed.top == 83 and zoomed.row_of(55) is None
    moved = zoomed.following(55)
    assert moved.row_of(55) is not None and (zoomed.top - moved.top) % 2 == 0  # by whole rows
    assert PitchWindow(200, 1, 7).clamped().top == 127 and PitchWindow(3, 1, 7).clamped().bottom == 0
