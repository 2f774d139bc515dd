"""`melody generate` on the command line: outputs, reproducibility, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from melody.cli import main
from melody.model_folder import DEFAULT_MODEL_DIR
from melody.music.cadence import DEGREE_NAMES
from helpers import PRIME_ABC, tiny_model_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HAS_DEFAULT = (DEFAULT_MODEL_DIR / "model.safetensors").is_file()
needs_default = pytest.mark.skipif(not HAS_DEFAULT, reason="the default model is not shipped yet")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_model_folder(tmp_path_factory.mktemp("models") / "tiny")


def melody_generate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`melody generate ARGS` in a fresh process, as a user runs it."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "melody", "generate", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@needs_default
@pytest.mark.slow
def test_generate_with_no_options_writes_a_piece_into_melody_out(tmp_path):
    result = melody_generate(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "melody-out").iterdir())
    assert len(written) == 3 and {Path(n).suffix for n in written} == {".mid", ".abc", ".json"}
    abc, json_name, mid = written  # sorted by name
    assert [Path(line).name for line in result.stdout.split()] == [mid, abc, json_name]
    sidecar = json.loads(next((tmp_path / "melody-out").glob("*.json")).read_text())
    # No bar count: the model ended the tune itself, at a bar line, within the 64-bar limit.
    assert sidecar["settings"]["bars"] is None and isinstance(sidecar["seed"], int)
    assert sidecar["complete"] and 1 <= sidecar["piece"]["bars"] <= 65


@needs_default
@pytest.mark.slow
def test_the_same_seed_twice_gives_byte_identical_midi(tmp_path):
    for name in ("one", "two"):
        result = melody_generate("--seed", "7", "--out", name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    one = sorted((tmp_path / "one").glob("*.mid"))
    two = sorted((tmp_path / "two").glob("*.mid"))
    assert len(one) == len(two) == 1
    assert one[0].read_bytes() == two[0].read_bytes()
    assert one[0].with_suffix(".abc").read_bytes() == two[0].with_suffix(".abc").read_bytes()


def test_generate_writes_every_piece_and_never_overwrites(model, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", "--model", str(model), "--num", "2", "--bars", "2", "--seed", "3",
                 "--out", str(out), "--format", "mid"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["tiny-3-1.json", "tiny-3-1.mid", "tiny-3-2.json", "tiny-3-2.mid"]
    first = (out / "tiny-3-1.mid").read_bytes()
    assert main(["generate", "--model", str(model), "--bars", "2", "--seed", "3", "--out", str(out),
                 "--format", "mid"]) == 0
    # A new name that reads as a second copy (not as seed 3, piece 1, run 2); the old file untouched.
    assert (out / "tiny-3-1 (2).mid").read_bytes() == first
    printed = capsys.readouterr().out.splitlines()
    assert printed[-2:] == [str(out / "tiny-3-1 (2).mid"), str(out / "tiny-3-1 (2).json")]


def test_generate_from_a_prime_with_key_lock(model, tmp_path):
    out = tmp_path / "out"
    assert main(["generate", "--model", str(model), "--prime-abc", PRIME_ABC, "--prime-bars", "2",
                 "--bars", "2", "--key-lock", "--seed", "1", "--out", str(out)]) == 0
    sidecar = json.loads((out / "tiny-1-1.json").read_text())
    assert sidecar["prime"] == {"source": "abc", "text": PRIME_ABC, "bars": 2}
    assert sidecar["settings"]["key_lock"] is True
    assert sidecar["piece"]["key"] == "G major" and sidecar["piece"]["meter"] == "6/8"
    abc = (out / "tiny-1-1.abc").read_text()
    assert "K:G" in abc


BAD_INPUT = [
    (["--temperature", "-1"], "temperature"),
    (["--top-p", "0"], "top-p"),
    (["--top-p", "1.5"], "top-p"),
    (["--top-k", "-1"], "top-k"),
    (["--num", "0"], "num"),
    (["--num", "-3"], "num"),
    (["--bars", "0"], "bars"),
    (["--key", "H"], "key"),
    (["--key", "D", "--meter", "5/7"], "meter"),
    (["--meter", "17/8", "--key", "D"], "meter"),  # longer than remi's longest bar
    (["--tempo", "0"], "tempo"),
    (["--key-lock"], "key-lock"),
    (["--prime-bars", "2"], "prime-bars"),
    (["--prime-abc", "X:1\nT:no notes\nK:D\n"], "no notes"),
    (["--prime-abc", PRIME_ABC, "--key", "D"], "prime sets the key"),
    (["--prime", "missing.abc"], "no such file"),
    (["--format", "ogg"], "format"),
    (["--pitch-range", "high-low"], "pitch-range"),
    (["--pitch-range", "90-40"], "pitch range"),
]


@pytest.mark.parametrize("args, words", BAD_INPUT, ids=[" ".join(a)[:40] for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_a_non_zero_exit_and_nothing_written(model, tmp_path, capsys, args, words):
    out = tmp_path / "out"
    code = main(["generate", "--model", str(model), "--out", str(out), *args])
    error = capsys.readouterr().err
    assert code != 0
    assert error.count("\n") == 1 and error.startswith("melody generate: ") and words in error
    assert not out.exists()


def test_a_prime_file_that_fails_to_parse_names_the_file(model, tmp_path, capsys):
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    code = main(["generate", "--model", str(model), "--prime", str(broken), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code != 0 and error.count("\n") == 1 and "broken.mid" in error
    assert not (tmp_path / "out").exists()


def test_a_missing_or_incomplete_model_folder_is_one_line(tmp_path, capsys):
    assert main(["generate", "--model", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) != 0
    assert "no such model folder" in capsys.readouterr().err
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text(json.dumps({"format": "melody-model", "version": 1, "family": "lstm",
                                                  "model": {"vocab_size": 10}}))
    assert main(["generate", "--model", str(half), "--out", str(tmp_path / "out")]) != 0
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "incomplete" in error
    assert not (tmp_path / "out").exists()


@needs_default
@pytest.mark.slow
def test_no_cadence_keeps_the_models_own_last_bar_and_the_sidecar_says_which(tmp_path):
    sidecars = {}
    for name, extra in (("closed", ()), ("raw", ("--no-cadence",))):
        result = melody_generate("--seed", "3", "--num", "4", "--bars", "8", "--out", name, *extra, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        sidecars[name] = [json.loads(p.read_text()) for p in sorted((tmp_path / name).glob("*.json"))]
    assert all(s["settings"]["cadence"] == "corpus" for s in sidecars["closed"])
    assert all(s["settings"]["cadence"] == "off" and s["ending"] is None for s in sidecars["raw"])
    redrawn = [s for s in sidecars["closed"] if s["ending"]["last_bar"] != "the model's own"]
    assert redrawn and all(s["ending"]["last_bar"] == "drawn again" for s in redrawn)
    for closed, raw in zip(sidecars["closed"], sidecars["raw"]):
        assert closed["ending"]["aim"] in DEGREE_NAMES
        assert (closed["tokens"] == raw["tokens"]) == (closed["ending"]["last_bar"] == "the model's own")
