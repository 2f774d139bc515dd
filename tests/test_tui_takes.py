"""Takes and sessions in the terminal UI: exported under their names, deleted to a neighbour,
varied with a clear question, restored with the form; the model picker, and ABC warnings.
Pilot-driven on a real tiny model, real files on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

from textual.color import Color
from textual.widgets import Input, Select, TextArea

from helpers import sync, wait_until
from melody.tui.app import MelodyApp
from melody.tui.screens.dialogs import ConfirmScreen, ExportScreen, PromptScreen
from melody.tui.session import Session
from melody.tui.widgets.seed import SeedPicker
from melody.tui.widgets.takes import TakesTable


def make_app(tmp_path: Path, models: Path, monkeypatch, session: Session | None = None, **options) -> MelodyApp:
    monkeypatch.setenv("MELODY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)  # exports go to ./melody-out
    options.setdefault("offer_restore", False)
    return MelodyApp(models=[models], standard_models=False,
                     session=session or Session(tmp_path / "state" / "sessions" / "now"), **options)


def session_of(tmp_path: Path, model: Path, *names: str | None, folder: str = "now") -> Session:
    from melody.generation import generate as sample

    session = Session(tmp_path / "state" / "sessions" / folder)
    for index, name in enumerate(names):
        session.add(sample(model, bars=2, seed=index + 1)[0], name=name)
    return session


def picker_entries(select: Select) -> list[str]:
    overlay = select.query_one("SelectOverlay")
    return [str(overlay.get_option_at_index(i).prompt) for i in range(overlay.option_count)]


@sync
async def test_marked_takes_are_exported_under_their_names_and_titled_by_them(tmp_path, tiny_model, monkeypatch):
    session = session_of(tmp_path, tiny_model, None, "Reel for Ma", "a/b: ../odd")
    app = make_app(tmp_path, tiny_model.parent, monkeypatch, session)
    async with app.run_test(size=(120, 40)) as pilot:
        for item in session.takes:
            session.toggle_mark(item)
        app.screen.refresh_takes()
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ExportScreen) and not app.screen.query("#stem")
        await pilot.press("enter")
        out = tmp_path / "melody-out"
        await wait_until(pilot, lambda: all(item.exported for item in session.takes), 10, "the export")
        assert sorted(p.name for p in out.iterdir()) == sorted(
            f"{stem}.{kind}" for stem in ("take-1", "Reel-for-Ma", "a-b-odd") for kind in ("abc", "json", "mid"))
        assert "T:Reel for Ma\n" in (out / "Reel-for-Ma.abc").read_text(encoding="utf-8")
        assert json.loads((out / "a-b-odd.json").read_text(encoding="utf-8"))["piece"]["title"] == "a/b: ../odd"

        # Again: the next free names, nothing replaced.
        before = (out / "Reel-for-Ma.mid").stat().st_mtime_ns
        await pilot.press("ctrl+s")
        await pilot.press("enter")
        await wait_until(pilot, lambda: (out / "Reel-for-Ma (2).abc").exists(), 10, "the second export")
        assert (out / "Reel-for-Ma.mid").stat().st_mtime_ns == before

        # One take: its free name is offered; typing a name in use asks before replacing.
        for item in session.takes:
            session.toggle_mark(item)
        app.screen.refresh_takes(session.takes[1])
        await pilot.press("ctrl+s")
        assert app.screen.query_one("#stem", Input).value == "Reel-for-Ma (3)"
        app.screen.query_one("#stem", Input).value = "take-1"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and "take-1.abc" in app.screen.question
        await pilot.press("y")
        await wait_until(pilot, lambda: "T:Reel for Ma" in (out / "take-1.abc").read_text(encoding="utf-8"),
                         10, "the replacement")


@sync
async def test_the_takes_list_names_each_takes_model(tmp_path, tiny_model, monkeypatch):
    session = session_of(tmp_path, tiny_model, "one")
    app = make_app(tmp_path, tiny_model.parent, monkeypatch, session)
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.refresh_takes()
        await pilot.pause()
        assert app.screen.query_one("#takes").get_row_at(0)[2].strip() == tiny_model.name


@sync
async def test_the_model_picker_offers_no_models_yet_only_when_there_are_none(tmp_path, tiny_model, monkeypatch):
    app = make_app(tmp_path, tiny_model.parent, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        select = app.screen.query_one("#model", Select)
        await pilot.pause()
        assert picker_entries(select) == [tiny_model.name]
        assert select.value == str(tiny_model)
    empty = tmp_path / "no-models"
    empty.mkdir()
    app = make_app(tmp_path, empty, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        select = app.screen.query_one("#model", Select)
        await pilot.pause()
        assert [entry.split(":")[0] for entry in picker_entries(select)] == ["no models yet"]
        assert app.screen.selected_model() is None
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert not app.screen.generating
        assert "train one on the Train screen" in str(app.screen.query_one("#model-info").content)


@sync
async def test_abc_warnings_are_listed_in_the_warning_colour_and_a_long_list_is_cut_short(tmp_path, tiny_model, monkeypatch):
    app = make_app(tmp_path, tiny_model.parent, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        screen.query_one("#seed-kind", Select).value = "abc"
        await pilot.pause()
        screen.query_one("#abc-editor", TextArea).load_text("X:1\nM:4/4\nL:1/8\nK:D\nDEz/3/F|\nabc|z/3/d|e f|\nAz/3/B|\n")
        picker = screen.query_one("#seed", SeedPicker)
        picker.check_abc()
        await pilot.pause()
        status = screen.query_one("#abc-status")
        text = str(status.content)
        assert picker.abc_error is None and not text.startswith("ok")
        assert "3 warnings" in text and text.count("\n· ") == 3, text
        assert status.styles.color == Color.parse(app.get_css_variables()["warning"])
        # Many: the first few listed, the rest counted, and every one in the tooltip.
        screen.query_one("#abc-editor", TextArea).load_text("X:1\nM:4/4\nL:1/8\nK:D\n" + "Az/3/B|" * 9 + "\n")
        picker.check_abc()
        await pilot.pause()
        text = str(status.content)
        assert "9 warnings" in text and text.count("\n· ") == 3 and text.endswith("… and 6 more (hover to read them all)")
        assert str(status.tooltip).count("· ") == 9
        # Clean ABC again: ok, in the success colour.
        screen.query_one("#abc-editor", TextArea).load_text("X:1\nM:4/4\nL:1/8\nK:D\nDEFG|\n")
        picker.check_abc()
        await pilot.pause()
        assert str(status.content).startswith("ok: 1 tune") and not status.has_class("-warning")
        assert status.tooltip is None


@sync
async def test_deleting_the_last_take_selects_the_new_last(tmp_path, tiny_model, monkeypatch):
    session = session_of(tmp_path, tiny_model, "first", "middle", "last")
    app = make_app(tmp_path, tiny_model.parent, monkeypatch, session)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        screen.refresh_takes(session.takes[2])
        screen.query_one("#takes").focus()
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert [item.name for item in session.takes] == ["first", "middle"]
        assert screen.selected_take().name == "middle"
        assert str(screen.query_one("#roll-status").content).startswith("middle ·")
        # A take in the middle: the next one moves up under the cursor.
        screen.refresh_takes(session.takes[0])
        await pilot.press("d", "y")
        await pilot.pause()
        assert screen.selected_take().name == "middle"


@sync
async def test_the_vary_question_says_which_bars_are_kept(tmp_path, tiny_model, monkeypatch):
    session = session_of(tmp_path, tiny_model, "tune")
    app = make_app(tmp_path, tiny_model.parent, monkeypatch, session)
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.refresh_takes()
        app.screen.query_one("#takes").focus()
        most = session.takes[0].bars - 1
        await pilot.press("v")
        assert isinstance(app.screen, PromptScreen)
        assert "keep bars 1 to N, then write new bars" in app.screen.question
        assert f"N (1 to {most})" in app.screen.question
        app.screen.query_one(Input).value = str(most + 1)
        await pilot.press("enter")
        await pilot.pause()
        assert any(f"bars to keep: a whole number from 1 to {most}" in n.message for n in app._notifications)
        assert len(session.takes) == 1


@sync
async def test_restore_names_the_session_and_brings_back_its_form(tmp_path, tiny_model, monkeypatch):
    earlier = Session(tmp_path / "state" / "sessions" / "20260101-093000")
    app = make_app(tmp_path, tiny_model.parent, monkeypatch, earlier)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        screen.query_one("#seed-kind", Select).value = "abc"
        await pilot.pause()
        screen.query_one("#abc-editor", TextArea).load_text("X:1\nM:4/4\nL:1/8\nK:D\nDEFG ABcd|\n")
        for field, value in (("#temperature", "0.7"), ("#bars", "1"), ("#random-seed", "42"), ("#prime-bars", "1")):
            screen.query_one(field, Input).value = value
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(earlier.takes) == 1, 60, "the take")
    assert (earlier.folder / "form.json").is_file()  # the app closed with the take not exported

    app = make_app(tmp_path, tiny_model.parent, monkeypatch, Session(tmp_path / "state" / "sessions" / "now"),
                   offer_restore=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the offer")
        question = app.screen.question
        assert "Thu 01 Jan 2026 09:30" in question and tiny_model.name in question
        assert "1 take not exported" in question
        await pilot.press("y")
        await pilot.pause()
        await pilot.pause()
        screen = app.screen
        assert [item.name for item in app.session.takes] == ["take 1"]
        values = {name: screen.query_one(f"#{name}", Input).value
                  for name in ("temperature", "bars", "random-seed", "prime-bars")}
        assert values == {"temperature": "0.7", "bars": "1", "random-seed": "42", "prime-bars": "1"}
        assert screen.query_one("#seed-kind", Select).value == "abc"
        assert screen.query_one("#abc-editor", TextArea).text.startswith("X:1\nM:4/4")


@sync
async def test_the_ending_picker_sets_the_cadence(tmp_path, tiny_model, monkeypatch):
    from textual.widgets import Select

    app = make_app(tmp_path, tiny_model.parent, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await pilot.pause()
        assert screen.form_settings(seeded=False).cadence == "corpus"
        for choice in ("tonic", "off"):
            screen.query_one("#cadence", Select).value = choice
            await pilot.pause()
            assert screen.form_settings(seeded=False).cadence == choice


@sync
async def test_a_session_handed_to_the_app_shows_its_takes_at_once(tmp_path, tiny_model, monkeypatch):
    session = session_of(tmp_path, tiny_model, "first", "second")
    app = make_app(tmp_path, tiny_model.parent, monkeypatch, session)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#takes", TakesTable)
        assert table.row_count == 2
        assert app.screen.selected_take().name == "second"  # the latest, shown in the roll


@sync
async def test_a_form_saved_with_the_old_tonic_box_restores_its_ending(tmp_path, tiny_model, monkeypatch):
    app = make_app(tmp_path, tiny_model.parent, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for saved, shown in ((True, "tonic"), (False, "off")):
            app.screen.restore_form({"cadence": saved})
            await pilot.pause()
            assert app.screen.query_one("#cadence", Select).value == shown
        assert not [n for n in app._notifications if "restored except" in n.message]


@sync
async def test_the_status_line_says_where_the_take_ends_and_whether_its_last_bar_was_drawn_again(
        tmp_path, tiny_model, monkeypatch):
    import dataclasses

    from melody.generation import generate as sample

    session = Session(tmp_path / "state" / "sessions" / "now")
    take = sample(tiny_model, bars=2, seed=1, cadence="off")[0]
    endings = [None, {"aim": "fifth", "drawn_from": "40 training tunes of 2..2 bars", "last_bar": "drawn again"},
               {"aim": "tonic", "drawn_from": "the key's tonic", "last_bar": "the model's own"},
               {"aim": "second", "drawn_from": "all 9 training tunes", "last_bar": "kept: no candidate ended on the second"}]
    for index, ending in enumerate(endings):
        session.add(dataclasses.replace(take, ending=ending), name=f"take {index + 1}")
    app = make_app(tmp_path, tiny_model.parent, monkeypatch, session)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        said = []
        for item in app.session.takes:
            app.screen.show_take(item)
            said.append(str(app.screen.query_one("#roll-status").content))
    assert "ends on" not in said[0] and "missed" not in said[0]
    assert said[1].endswith(" · ends on the fifth (last bar drawn again)")
    assert said[2].endswith(" · ends on the tonic")
    assert said[3].endswith(" · missed the second")
