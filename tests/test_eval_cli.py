"""`melody eval` end to end on a tiny model trained here, and its bad-input messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from melody.cli import main
from melody.evaluation.stats import PLOTTED

TUNES = 24


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, irish_path) -> Path:
    """The first tunes of the shipped corpus as one ABC file."""
    text = irish_path.read_text(encoding="utf-8")
    blocks = ["X:" + block for block in text.split("\nX:")[1:TUNES + 1]]
    path = tmp_path_factory.mktemp("corpus") / "tunes.abc"
    path.write_text(text.split("\nX:")[0] + "\n" + "\n".join(blocks), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, corpus) -> Path:
    """A few steps of a tiny LSTM on the corpus: enough to have a model folder and a split."""
    from melody.training import train

    out = tmp_path_factory.mktemp("models") / "tiny"
    cache = tmp_path_factory.mktemp("cache")
    train([str(corpus)], out=str(out), device="cpu", workers=1, cache_dir=str(cache),
          overrides={"model.family": "lstm", "model.d_model": 16, "model.layers": 1,
                     "training.max_steps": 4, "training.batch_size": 2, "training.window": 32,
                     "training.eval_every": 2, "training.eval_batches": 1, "training.warmup_steps": 0,
                     "training.log_every": 1, "training.checkpoint_every": 100,
                     "data.validation_fraction": 0.25})
    return out


@pytest.mark.slow  # trains a tiny model once for the module (~10 s)
def test_eval_scores_the_held_out_split_beside_the_ngram_and_writes_json_and_plots(tiny_model, tmp_path, capsys):
    report, plots = tmp_path / "eval.json", tmp_path / "plots"
    code = main(["eval", "--model", str(tiny_model), "--num", "3", "--temperatures", "1.0", "--bars", "2",
                 "--json", str(report), "--plots", str(plots)])
    out = capsys.readouterr().out
    assert code == 0
    assert "bits/note" in out and "5-gram KN" in out and "pitch-class entropy" in out
    figures = json.loads(report.read_text())
    model, ngram = figures["likelihood"]["tiny"], figures["likelihood"]["5-gram KN"]
    assert model["pieces"] == ngram["pieces"] >= 1 and model["notes"] == ngram["notes"] > 0
    # The held-out pieces are exactly the ones training held out.
    split = json.loads((tiny_model / "config.json").read_text())["data"]["split"]
    assert model["pieces"] == split["validation_pieces"]
    assert model["tokens"] + model["pieces"] == split["validation_tokens"]  # all tokens but each BOS
    assert 0 < model["bits_per_note"] and 0 < ngram["bits_per_note"]
    assert figures["temperatures"][0]["pieces"] == 3 and figures["bars"] == 2
    pngs = sorted(p.name for p in plots.iterdir())
    assert "pitch-class-entropy.png" in pngs and "meter-fill.png" in pngs and len(pngs) == len(PLOTTED)
    assert all((plots / name).read_bytes().startswith(b"\x89PNG") for name in pngs)


@pytest.mark.slow  # trains a tiny model once for the module (~10 s)
def test_eval_of_data_files_and_record_in_the_model_card(tiny_model, corpus, tmp_path, capsys):
    import shutil

    copy = tmp_path / "tiny"
    shutil.copytree(tiny_model, copy)
    code = main(["eval", "--model", str(copy), str(corpus), "--num", "0", "--record"])
    assert code == 0
    assert f"{TUNES} pieces from" in capsys.readouterr().out
    evaluation = json.loads((copy / "config.json").read_text())["evaluation"]
    assert evaluation["pieces"] == TUNES and evaluation["bits_per_note"] > 0


@pytest.mark.slow  # trains a tiny model once for the module (~10 s)
def test_eval_refuses_to_replace_an_existing_json(tiny_model, tmp_path, capsys):
    report = tmp_path / "eval.json"
    report.write_text("keep me")
    assert main(["eval", "--model", str(tiny_model), "--num", "0", "--json", str(report)]) != 0
    assert "already exists" in capsys.readouterr().err
    assert report.read_text() == "keep me"


@pytest.mark.parametrize("case", ["no folder", "not a model", "empty data", "token cache", "bad temperature",
                                  "bad file"])
def test_bad_input_is_one_line_and_a_non_zero_exit(case, tmp_path, capsys):
    args = ["eval", "--model", str(tmp_path / "missing"), "--num", "0"]
    if case == "not a model":
        args[2] = str(tmp_path)
    elif case == "empty data":
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "notes.txt").write_text("not music")
        args.append(str(tmp_path / "empty"))
    elif case == "token cache":
        cache = tmp_path / "tokens" / "abc-char-0123"
        cache.mkdir(parents=True)
        (cache / "identity.json").write_text(json.dumps({"tokenizer": "abc-char"}))
        args.append(str(tmp_path / "tokens"))
    elif case == "bad temperature":
        args += ["--temperatures", "0.8,hot"]
    elif case == "bad file":
        args.append(str(tmp_path / "absent.abc"))
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("melody eval: ")
    expected = {"no folder": "no such model folder", "not a model": "not a model folder",
                "empty data": "no .abc, .mid or .midi files", "token cache": "a token cache of the abc-char",
                "bad temperature": "'hot' is not a number", "bad file": "absent.abc"}[case]
    assert expected in err


@pytest.mark.slow  # trains a tiny model once for the module (~10 s)
def test_data_where_every_file_fails_is_refused(tiny_model, tmp_path, capsys):
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06 not really")
    assert main(["eval", "--model", str(tiny_model), str(broken), "--num", "0"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no usable pieces" in err


def test_a_real_process_prints_one_line_without_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "melody", "eval", "--model", str(tmp_path / "nope")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
