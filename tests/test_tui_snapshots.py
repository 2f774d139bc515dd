"""SVG snapshots of the compose and train screens at 80x24 and 120x40 (pytest-textual-snapshot).

Deterministic by construction: a fixed hand-made take, a model built with a fixed seed, no
clock, no random names; the corpus report comes from a fresh cache so every file reads "kept".
Regenerate after an intended change with `pytest tests/test_tui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import IRISH
from melody.music.notes import Note, Piece, TimeSignature
from melody.tui.app import MelodyApp
from melody.tui.session import Session

SIZES = [(80, 24), (120, 40)]


def _take():
    """Four bars of a D-major line over a two-bar prime, and its settings."""
    from melody.generation import GenerationSettings, Take
    from melody.music.notes import Key, Tempo

    scale = [62, 64, 66, 67, 69, 71, 73, 74]
    notes = [Note(24 * i, scale[(i * 3) % 8] + (12 if i % 7 == 6 else 0), 24 if i % 4 else 36, 90)
             for i in range(24)]
    piece = Piece(notes=notes, time_signatures=[TimeSignature(0, 4, 4)], keys=[Key(0, 2, "major")],
                  tempos=[Tempo(0, 120.0)], title="snapshot")
    return Take(piece=piece, prime_end=192, tokens=[1, 2], seed=1234,
                settings=GenerationSettings(temperature=0.9, seed=1234, bars=4), model_name="tiny",
                model_sha256="0" * 64)


def _app(tmp_path: Path, model: Path, monkeypatch) -> MelodyApp:
    monkeypatch.setenv("MELODY_STATE_DIR", str(tmp_path / "state"))
    session = Session(tmp_path / "state" / "sessions" / "snapshot")
    session.add(_take())
    session.add(_take(), name="second idea")
    return MelodyApp(models=[model.parent], standard_models=False, offer_restore=False, session=session)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compose_screen(snap_compare, tmp_path, tiny_model, monkeypatch, size):
    app = _app(tmp_path, tiny_model, monkeypatch)

    async def show_a_take(pilot) -> None:
        screen = pilot.app.screen
        table = screen.query_one("#takes")
        table.move_cursor(row=0)
        screen.show_take(pilot.app.session.takes[0])
        screen.query_one("#model").focus()
        while not pilot.app.is_loaded(tiny_model):  # "loading…" turns to "ready"
            await pilot.pause(0.05)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=show_a_take)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_train_screen(snap_compare, tmp_path, tiny_model, monkeypatch, size):
    from melody.corpus import build_corpus
    from melody.tokenizers import get_tokenizer
    from melody.training import TrainEvent
    from melody.tui.screens.train import CorpusScanned, TrainingProgress

    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    tunes = [t.strip() + "\n" for t in IRISH.read_text(encoding="utf-8").split("\n\n") if t.strip()][:3]
    for index, tune in enumerate(tunes):
        (corpus_dir / f"tune{index}.abc").write_text(tune, encoding="utf-8")
    (corpus_dir / "notes.abc").write_text("no tunes here\n", encoding="utf-8")
    corpus = build_corpus([corpus_dir], get_tokenizer("remi"), cache_dir=tmp_path / "cache", workers=1)
    app = _app(tmp_path, tiny_model, monkeypatch)

    async def show_a_run(pilot) -> None:
        while not pilot.app.is_loaded(tiny_model):
            await pilot.pause(0.05)
        await pilot.press("f3")
        await pilot.pause()
        screen = pilot.app.screen
        screen.query_one("#corpus").value = "corpus"
        screen.post_message(CorpusScanned(corpus))
        for step in range(0, 101, 5):
            event = TrainEvent("step", step=step, max_steps=200, train_loss=5.5 - 2.5 * step / 100,
                               tokens_per_second=4200.0, eta_seconds=95 - step * 0.45)
            screen.post_message(TrainingProgress(event))
            if step % 25 == 0:
                screen.post_message(TrainingProgress(TrainEvent(
                    "eval", step=step, max_steps=200, validation_loss=5.6 - 2.2 * step / 100,
                    tokens_per_second=4200.0, eta_seconds=95 - step * 0.45)))
        chart = screen.query_one("#chart")
        while len(chart.train) < 21 or len(chart.validation) < 5 or not screen.query_one("#reports").row_count:
            await pilot.pause(0.05)  # every posted message handled before the picture
        screen.query_one("#family").focus()  # not a text field: no blinking cursor in the picture
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=show_a_run)


def test_compose_abc_seed_with_an_error_at_80x24(snap_compare, tmp_path, tiny_model, monkeypatch):
    """The ABC editor at 80x24: the whole editor and its line:column error line on screen."""
    app = _app(tmp_path, tiny_model, monkeypatch)

    async def type_bad_abc(pilot) -> None:
        screen = pilot.app.screen
        screen.query_one("#seed-kind").value = "abc"
        await pilot.pause()
        editor = screen.query_one("#abc-editor")
        editor.load_text("X:1\nT:seed\nM:6/8\nL:1/8\nK:G\nGAB c2d|e3 d2B|c9999999999\n")
        editor.focus()
        picker = screen.query_one("#seed")
        picker.check_abc()
        while not pilot.app.is_loaded(tiny_model):
            await pilot.pause(0.05)
        screen.query_one("#seed-kind").focus()  # no blinking cursor in the picture
        screen.query_one("#seed-abc").scroll_visible(animate=False)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=type_bad_abc)
