"""Keys spelled by their mode and tempos written as given (issue 14)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from melody.music.abc import parse_abc, piece_to_abc
from melody.music.io import read, write
from melody.music.notes import MODES, Key, Note, Piece, Tempo, TimeSignature
from conftest import require_program


def _piece(tonic: int, mode: str, qpm: float = 120.0) -> Piece:
    key = Key(0, tonic, mode)
    scale = sorted(key.scale)
    notes = [Note(12 * i, 60 + pc, 12) for i, pc in enumerate(scale)]
    return Piece(notes=notes, keys=[key], tempos=[Tempo(0, qpm)], time_signatures=[TimeSignature(0, 4, 4)])


@pytest.mark.parametrize("tonic, mode, written", [(1, "minor", "C#m"), (1, "dorian", "C#dor"),
                                                  (3, "minor", "D#m"), (8, "minor", "G#m"),
                                                  (1, "major", "Db"), (6, "major", "F#"),
                                                  (10, "minor", "Bbm"), (5, "locrian", "Floc")])
def test_keys_are_spelled_by_their_mode(tonic: int, mode: str, written: str) -> None:
    text = piece_to_abc(_piece(tonic, mode))
    assert f"\nK:{written}\n" in text


@pytest.mark.parametrize("mode", MODES)
def test_every_key_reads_back_and_abc2midi_takes_it_without_a_warning(mode: str, tmp_path: Path) -> None:
    abc2midi = require_program("abc2midi")
    for tonic in range(12):
        piece = _piece(tonic, mode)
        text = piece_to_abc(piece)
        back = parse_abc(text)[0]
        assert (back.key.tonic, back.key.mode) == (tonic, mode)
        assert [n.pitch for n in back.notes] == [n.pitch for n in piece.notes]
        source = tmp_path / "k.abc"
        source.write_text(text)
        result = subprocess.run([abc2midi, str(source), "-o", str(tmp_path / "k.mid")],
                                capture_output=True, text=True, timeout=60)
        assert "Unusual key" not in result.stdout + result.stderr, text


@pytest.mark.parametrize("qpm, field", [(90.0, "Q:1/4=90"), (140.0, "Q:1/4=140"), (10.0, "Q:1/4=10"),
                                        (400.0, "Q:1/4=400"), (104.5, "Q:1/8=209")])
def test_tempos_are_written_exactly(qpm: float, field: str, tmp_path: Path) -> None:
    piece = _piece(2, "major", qpm)
    assert f"\n{field}\n" in piece_to_abc(piece)
    assert parse_abc(piece_to_abc(piece))[0].qpm == qpm
    write(piece, tmp_path / "t.mid")
    assert read(tmp_path / "t.mid")[0].qpm == pytest.approx(qpm, abs=0.01)


def test_generation_writes_the_tempo_asked_for_not_its_token_bin() -> None:
    from melody.generation import generate
    from melody.model_folder import DEFAULT_MODEL_DIR

    if not (DEFAULT_MODEL_DIR / "model.safetensors").is_file():
        pytest.skip("the default model is not shipped")
    for qpm in (90, 140):
        take = generate("default", num=1, bars=2, seed=7, tempo=qpm)[0]
        assert take.piece.qpm == qpm
        assert f"Q:1/4={qpm}" in piece_to_abc(take.piece)


def test_a_prime_keeps_its_own_tempo(tmp_path: Path) -> None:
    from melody.generation import generate
    from melody.model_folder import DEFAULT_MODEL_DIR

    if not (DEFAULT_MODEL_DIR / "model.safetensors").is_file():
        pytest.skip("the default model is not shipped")
    prime = tmp_path / "prime.mid"
    write(_piece(7, "major", 90.0).replace(notes=[Note(12 * i, 67 + i % 5, 12) for i in range(16)]), prime)
    take = generate("default", num=1, bars=4, seed=7, prime=prime, prime_bars=1)[0]
    assert take.piece.qpm == pytest.approx(90.0, abs=0.01)


def test_convert_via_performance_keeps_the_tempo(tmp_path: Path) -> None:
    source, target = tmp_path / "in.mid", tmp_path / "out.mid"
    write(_piece(2, "major", 104.0), source)
    from melody.cli import main

    assert main(["convert", str(source), str(target), "--via", "performance"]) == 0
    assert read(target)[0].qpm == pytest.approx(104.0, abs=0.01)
