"""Infilling: new bars inside a piece, every other bar kept note for note, from the API and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers import tiny_model_folder
from melody.errors import ModelError, UsageError
from melody.generation import infill
from melody.music.abc import parse_abc

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TUNE = ("X:1\nT:Infill me\nM:6/8\nL:1/8\nK:G\n"
        "GAB c2d|edc B2A|GAB c2d|e3 d3|GAB c2d|edc B2A|G2A B2c|d3 G3|\n")


@pytest.fixture(scope="module", params=["lstm", "transformer"])
def model(request, tmp_path_factory) -> Path:
    return tiny_model_folder(tmp_path_factory.mktemp("models") / request.param, request.param, seed=2,
                             infill_rate=0.5)


def notes_outside(piece, start, end):
    return [(n.onset, n.pitch, n.duration) for n in piece.notes if n.onset < start or n.onset >= end]


@pytest.mark.parametrize("bars", [(3, 4), (1, 2), (7, 8), (5, 5)])
def test_bars_outside_the_range_are_the_originals_and_the_range_has_its_bars(model, bars):
    original = parse_abc(TUNE)[0]
    takes = infill(model, original, bars=bars, num=2, seed=5)
    starts = original.bar_starts()
    start = starts[bars[0] - 1]
    end = starts[bars[1]] if bars[1] < len(starts) else original.end_tick
    for take in takes:
        piece = take.piece
        assert notes_outside(piece, start, end) == notes_outside(original, start, end)
        new = [n for n in piece.notes if start <= n.onset < end]
        assert all(n.onset + n.duration <= end for n in new)  # nothing rings past the range
        assert piece.bar_starts() == starts  # exactly the range's bars, in the piece's meter
        assert take.prime["infill"] == {"bars": list(bars), "start_tick": start, "end_tick": end}


def test_the_key_lock_keeps_every_new_pitch_in_the_scale(model):
    original = parse_abc(TUNE)[0]
    start, end = original.bar_starts()[2], original.bar_starts()[6]
    scale = original.key.scale
    for take in infill(model, original, bars=(3, 6), num=3, seed=11, key_lock=True):
        new = [n for n in take.piece.notes if start <= n.onset < end]
        assert all(n.pitch % 12 in scale for n in new if not n.is_drum)  # drums have no pitch class


def test_the_same_seed_gives_the_same_infill(model):
    original = parse_abc(TUNE)[0]
    first = infill(model, original, bars=(2, 3), num=2, seed=9)
    again = infill(model, original, bars=(2, 3), num=2, seed=9)
    assert [t.piece.notes for t in first] == [t.piece.notes for t in again]


@pytest.mark.parametrize("bars, message", [
    ((4, 2), "comes after"), ((0, 2), "at least 1"), ((7, 12), "outside the piece"), ((1, 8), "whole piece"),
])
def test_a_bad_range_is_one_clear_error(model, bars, message):
    with pytest.raises(UsageError, match=message):
        infill(model, parse_abc(TUNE)[0], bars=bars)


def test_a_model_not_trained_for_infilling_says_so(tmp_path):
    folder = tiny_model_folder(tmp_path / "plain")  # no infill_rate recorded
    with pytest.raises(ModelError, match="not trained for infilling"):
        infill(folder, parse_abc(TUNE)[0], bars=(2, 3))


@pytest.mark.slow
def test_the_cli_writes_whole_pieces_and_refuses_bad_ranges_writing_nothing(model, tmp_path):
    tune = tmp_path / "tune.abc"
    tune.write_text(TUNE)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "melody", "generate", "--model", str(model), "--prime", str(tune),
               "--seed", "4", "--num", "2", "--out", str(out)]
    done = subprocess.run([*command, "--infill", "3-4"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(p.suffix for p in out.iterdir()) == [".abc", ".abc", ".json", ".json", ".mid", ".mid"]
    for bad in ("4-3", "3-40", "1-8", "x"):
        done = subprocess.run([*command, "--infill", bad, "--out", str(tmp_path / bad)], capture_output=True,
                              text=True)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert not (tmp_path / bad).exists()
