"""The shipped default model: what it samples always decodes and loads in other tools."""

from __future__ import annotations

import io
import subprocess

import mido
import pretty_midi
import pytest
import torch

from conftest import require_program
from melody.generation import generate
from melody.model_folder import DEFAULT_MODEL_DIR, load_model
from melody.music.abc import parse_abc
from melody.music.io import render

pytestmark = pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "model.safetensors").is_file(),
                                reason="the default model is not shipped yet")


@pytest.fixture(scope="module")
def default_model():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_model(DEFAULT_MODEL_DIR)
    torch.set_num_threads(previous)


def test_the_default_model_folder_is_complete_and_small():
    for name in ("model.safetensors", "config.json", "tokenizer.json", "MODEL_CARD.md"):
        assert (DEFAULT_MODEL_DIR / name).is_file(), name
    assert (DEFAULT_MODEL_DIR / "model.safetensors").stat().st_size < 8 * 1024 * 1024


@pytest.mark.slow
def test_200_hot_pieces_all_decode_and_load_in_pretty_midi_mido_and_abc2midi(default_model, tmp_path):
    abc2midi = require_program("abc2midi")
    takes = generate(default_model, num=200, temperature=1.5, bars=8, seed=1000)
    assert len(takes) == 200
    failures = []
    for take in takes:
        assert take.complete and take.piece.notes, take.seed
        data = render(take.piece, "mid")
        instruments = pretty_midi.PrettyMIDI(io.BytesIO(data)).instruments
        assert sum(len(i.notes) for i in instruments) == len(take.piece.notes)
        mido.MidiFile(file=io.BytesIO(data))
        abc = render(take.piece, "abc").decode()
        assert len(parse_abc(abc)) == 1
        path = tmp_path / f"{take.seed}.abc"
        path.write_text(abc)
        result = subprocess.run([abc2midi, str(path), "-o", str(path.with_suffix(".mid"))],
                                capture_output=True, text=True, timeout=60)
        errors = [line for line in (result.stdout + result.stderr).splitlines() if "Error" in line]
        if result.returncode != 0 or errors or not path.with_suffix(".mid").is_file():
            failures.append((take.seed, errors[:2]))
    assert not failures, failures


@pytest.mark.slow
def test_a_32_bar_tune_from_the_default_model_has_32_bars_in_its_key(default_model):
    take = generate(default_model, bars=32, seed=5, key="D", meter="6/8", key_lock=True)[0]
    bars = [t for t in take.piece.bar_starts() if t >= take.prime_end]
    pickup = min(n.onset for n in take.piece.notes) > 0  # an upbeat bar, not counted
    assert len(bars) == 32 + pickup and take.complete
    scale = take.piece.key.scale
    assert all(n.pitch % 12 in scale for n in take.piece.notes if not n.is_drum)


def test_cadence_draws_only_the_last_bar_again_until_the_tune_ends_on_its_tonic(default_model):
    from melody.evaluation.form import tonic_ending
    from melody.generation.cadence import CANDIDATES

    raw = generate(default_model, num=12, bars=16, seed=5, cadence="off")
    closed = generate(default_model, num=12, bars=16, seed=5, cadence="tonic")
    assert sum(tonic_ending(t.piece) for t in raw) <= 6  # the model alone: few (18% on 100)
    redrawn = 0
    for before, after in zip(raw, closed):
        starts = before.piece.bar_starts()
        assert after.piece.bar_starts() == starts  # same bars: --bars stays exact
        last = starts[-1]
        kept = [[(n.onset, n.pitch, min(n.duration, last - n.onset)) for n in take.piece.notes if n.onset < last]
                for take in (before, after)]
        assert kept[0] == kept[1]  # all but the last bar (a note held into it is cut at its line)
        assert before.ending is None and after.ending["aim"] == "tonic"
        if tonic_ending(before.piece) == 1.0:
            assert after.ending["last_bar"] == "the model's own" and after.tokens == before.tokens
            continue
        redrawn += 1
        assert after.ending["candidates"] == CANDIDATES
        if after.ending["chosen"] is not None:
            assert tonic_ending(after.piece) == 1.0
            assert after.sidecar()["ending"]["last_bar"] == "drawn again"
    assert redrawn >= 6 and sum(tonic_ending(t.piece) for t in closed) >= 11
    # The same seed draws the same candidates: the same tunes again, token for token.
    assert [t.tokens for t in generate(default_model, num=12, bars=16, seed=5, cadence="tonic")] == \
        [t.tokens for t in closed]


def test_the_corpus_cadence_ends_each_tune_on_its_drawn_aim_mostly_the_tonic(default_model):
    from melody.music.cadence import degree_name, final_degree

    takes = generate(default_model, num=24, bars=32, seed=40)
    aims = [t.ending["aim"] for t in takes]
    assert all(t.ending["drawn_from"] in ("450 training tunes of 28..36 bars", "450 training tunes of 29..37 bars")
               for t in takes)  # 33 bars where the tune opens with an upbeat
    assert 14 <= aims.count("tonic") <= 23  # 82% of the shipped corpus's 32-bar tunes (binomial 5-95%: 17..22)
    assert set(aims) - {"tonic"}  # and now and then elsewhere
    for take in takes:
        if take.ending["last_bar"] != f"kept: no candidate ended on the {take.ending['aim']}":
            assert degree_name(final_degree(take.piece)) == take.ending["aim"]
    assert [t.tokens for t in generate(default_model, num=24, bars=32, seed=40)] == [t.tokens for t in takes]


def test_the_default_opens_in_the_keys_its_tunes_were_written_in(default_model):
    """Trained with transposition, the model learnt every key about as often; weighted by the
    keys as written, it opens mostly in G and D major (6 tunes in 10 of the corpus), never in
    A-flat."""
    import json
    from collections import Counter

    written = json.loads((default_model.folder / "openings.json").read_text())["keys_written"]
    takes = generate(default_model, num=60, bars=2, seed=3, cadence="off")
    names = "C C# D Eb E F F# G Ab A Bb B".split()
    keys = Counter(f"{names[t.piece.keys[0].tonic]}_{t.piece.keys[0].mode}" for t in takes)
    assert set(keys) <= set(written)
    assert keys["G_major"] + keys["D_major"] >= 25  # 435 of 736 as written: 59%


def test_a_stop_while_the_last_bars_are_drawn_again_cancels_the_run(default_model, monkeypatch):
    """Closing a long piece takes a while: a stop then must cancel, as it does while sampling
    (the terminal UI's Cancel once kept a take that was still being closed)."""
    import threading

    import melody.generation.cadence as cadence
    from melody.generation import DoneEvent, stream

    stop = threading.Event()
    real = cadence.candidate_seeds
    monkeypatch.setattr(cadence, "candidate_seeds", lambda seed, *a: (stop.set(), real(seed, *a))[1])
    done = [e for e in stream(default_model, num=12, bars=16, seed=5, stop=stop, note_events=False)
            if isinstance(e, DoneEvent)]
    assert stop.is_set() and len(done) == 1 and done[0].cancelled
    assert done[0].takes[-1].ending is None  # the pieces after the stop were not closed


def test_a_tune_the_model_ends_itself_is_closed_on_its_tonic_too(default_model):
    from melody.evaluation.form import tonic_ending

    takes = generate(default_model, num=6, seed=11, cadence="tonic")
    assert all(t.complete for t in takes)
    assert sum(tonic_ending(t.piece) for t in takes) >= 5
