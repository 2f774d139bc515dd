"""The terminal UI at 80x24 (and 100x30, 120x40): every compose field is reached by Tab and is on
screen when focused, the ABC editor's error line shows as you type, the footer always offers
F1/F2/F3, and the takes list fits its columns. Pilot-driven, on a real tiny model.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.geometry import Region
from textual.widgets import Select, TextArea

from helpers import sync, wait_until
from melody.tui.app import MelodyApp
from melody.tui.session import Session
from melody.tui.widgets.seed import SeedPicker

# What Tab reaches in the form for each kind of seed, in order (the Cancel button is disabled).
COMMON = ["temperature", "top-k", "top-p", "bars", "random-seed", "dice", "key-lock", "cadence", "port", "generate"]
FIELDS = {
    "none": ["model", "seed-kind", "key", "meter", "tempo", *COMMON],
    "corpus": ["model", "seed-kind", "tune-search", "tunes", "prime-bars", *COMMON],
    "file": ["model", "seed-kind", "seed-path", "prime-bars", *COMMON],
    "abc": ["model", "seed-kind", "abc-editor", "prime-bars", *COMMON],
}
TUNE_LINES = ["X:1", "T:long", "M:4/4", "L:1/8", "K:D", *["DEFG ABcd|e2d2 c2B2|"] * 10]


def make_app(tmp_path: Path, model: Path, monkeypatch, session: Session | None = None) -> MelodyApp:
    monkeypatch.setenv("MELODY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    return MelodyApp(models=[model.parent], standard_models=False, offer_restore=False,
                     session=session or Session(tmp_path / "state" / "sessions" / "now"))


def on_screen(app: MelodyApp, widget) -> bool:
    """The whole widget is drawn: inside the terminal and clipped by none of its containers
    (a widget's own region runs on under a container that is too small for it)."""
    geometry = app.screen.find_widget(widget)
    return (Region(0, 0, *app.size).contains_region(geometry.region)
            and geometry.visible_region == geometry.region)


@pytest.mark.parametrize("kind", list(FIELDS))
@sync
async def test_tab_reaches_every_compose_field_and_each_is_on_screen_at_80x24(tmp_path, tiny_model, monkeypatch,
                                                                              kind):
    app = make_app(tmp_path, tiny_model, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        screen.query_one("#seed-kind", Select).value = kind
        if kind == "corpus":
            picker = screen.query_one("#seed", SeedPicker)
            await wait_until(pilot, lambda: picker.tunes is not None, 30, "the corpus")
        screen.query_one("#model").focus()
        await pilot.pause()
        reached = []
        for _ in range(len(FIELDS[kind])):
            focused = app.focused
            assert focused is not None
            await pilot.pause()
            assert on_screen(app, focused), f"{focused.id} is focused but not wholly on screen: {focused.region}"
            reached.append(focused.id)
            await pilot.press("tab")
            await pilot.pause()
        assert reached == FIELDS[kind]
        if kind == "corpus":  # the tune list shows more than a sliver, with its search box
            tunes = screen.query_one("#tunes")
            assert tunes.region.height >= 6 and on_screen(app, tunes)


@sync
async def test_the_abc_error_line_is_on_screen_after_typing_bad_abc_at_80x24(tmp_path, tiny_model, monkeypatch):
    app = make_app(tmp_path, tiny_model, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        screen.query_one("#seed-kind", Select).value = "abc"
        await pilot.pause()
        editor = screen.query_one("#abc-editor", TextArea)
        editor.load_text("\n".join(TUNE_LINES) + "\n")  # taller than the editor
        editor.focus()
        editor.move_cursor(editor.document.end)
        await pilot.press(*"c9999999999")  # an impossible note length: an error at line:column
        picker = screen.query_one("#seed", SeedPicker)
        await wait_until(pilot, lambda: picker.abc_error is not None, 10, "the parse")
        await pilot.pause()
        status = screen.query_one("#abc-status")
        assert picker.abc_error.startswith(f"{len(TUNE_LINES) + 1}:"), picker.abc_error
        assert "error" in str(status.content) and status.has_class("-error")
        assert on_screen(app, status), f"the error line is off screen: {status.region}"
        assert on_screen(app, editor)


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
@sync
async def test_the_footer_shows_f1_f2_f3_on_both_screens_and_the_takes_list_fits(tmp_path, tiny_model,
                                                                                 monkeypatch, size):
    from melody.generation import generate as sample

    session = Session(tmp_path / "state" / "sessions" / "now")
    take = sample(tiny_model, bars=2, seed=3)[0]
    session.add(take, name="Reel for Ma, with a very long name indeed")
    exported = session.add(take)
    session.mark_exported(exported)
    app = make_app(tmp_path, tiny_model, monkeypatch, session)
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        table = screen.query_one("#takes")
        table.focus()  # the takes list brings the most keys to the footer
        await pilot.pause()
        for name in ("compose", "train"):
            # A screen's footer fills in after it is shown: on a busy machine, a few frames later.
            await wait_until(pilot, lambda: {"f1", "f2", "f3", "ctrl+p"} <= {key.key for key in
                                                                           app.screen.query("FooterKey")},
                             30, f"the {name} footer")
            keys = {key.key: key for key in app.screen.query("FooterKey")}
            for key in ("f1", "f2", "f3"):
                assert Region(0, 0, *size).contains_region(keys[key].region), f"{key} is off the {name} footer"
            assert keys["ctrl+p"].region.right == size[0]  # the palette key covers the last cell
            await pilot.press("f3")
            await wait_until(pilot, lambda: type(app.screen).__name__ == "TrainScreen", 30, "the train screen")
        # Every column of the takes list is inside the table: marks, name, model, seed, temp, bars.
        assert table.virtual_size.width <= table.scrollable_content_region.width
        first, second = (table.get_row_at(row) for row in range(2))
        assert second[0].strip() == "✓" and second[2].strip() == take.model_name
        assert first[1].strip().startswith("Reel for Ma") and str(take.seed) in first[3]
