"""`melody train` and melody.training.train: the folder it writes, resume, stop, and bad input."""

from __future__ import annotations

import json
import math
import struct
import threading
import zlib
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from melody.cli import main
from melody.errors import MelodyError, ModelError, UsageError
from melody.model_folder import load_model
from melody.training import TrainEvent, train

TINY = {"model.d_model": 16, "model.layers": 1, "model.heads": 2, "model.context": 32, "model.dropout": 0.0,
        "training.window": 32, "training.batch_size": 4, "training.max_steps": 6, "training.eval_every": 3,
        "training.eval_batches": 2, "training.log_every": 1, "training.warmup_steps": 2,
        "training.checkpoint_every": 100, "training.patience": 0}
TINY_SET = [f"{key}={value}" for key, value in TINY.items()]


def write_tunes(path: Path, irish: Path, count: int, skip: int = 0) -> Path:
    """The first `count` tunes of irish.abc (after `skip`) as one ABC file."""
    tunes = irish.read_text(encoding="utf-8").split("\nX:")
    chosen = tunes[skip:skip + count]
    text = "\n".join(t if t.startswith("X:") else "X:" + t for t in chosen)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, irish_path) -> Path:
    folder = tmp_path_factory.mktemp("tunes")
    write_tunes(folder / "a.abc", irish_path, 6)
    write_tunes(folder / "sub" / "b.abc", irish_path, 6, skip=6)
    return folder


@pytest.fixture(autouse=True)
def _training_on_one_thread(training_on_one_thread):
    """Every test here: conftest's shared token cache and one thread."""


def run(corpus: Path, out: Path, **kwargs) -> tuple:
    events: list[TrainEvent] = []
    kwargs.setdefault("overrides", dict(TINY))
    result = train([corpus], out=out, device="cpu", workers=1, on_event=events.append, **kwargs)
    return result, events


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_training_writes_a_complete_model_folder_that_loads(corpus: Path, tmp_path: Path, family: str) -> None:
    result, events = run(corpus, tmp_path / "m", model=family)
    folder = tmp_path / "m"
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json",
                                                   "metrics.jsonl", "loss.png", "openings.json", "checkpoints"}
    config = json.loads((folder / "config.json").read_text())
    # What generation lets the model open with: the training tunes' meters (each tune once) and
    # keys (once per transposition the augmentation gives it).
    openings = json.loads((folder / "openings.json").read_text())
    training_tunes = config["data"]["split"]["training_pieces"]
    assert sum(openings["meters"].values()) == training_tunes
    assert config["settings"]["training"]["augment_transpose"] > 0
    assert sum(openings["keys"].values()) > training_tunes
    assert set(openings["meters"]) <= {"4/4", "6/8", "2/2", "2/4", "9/8", "3/4"}
    assert "Bar" in openings["tokens"] and "Program_40" not in openings["tokens"]
    assert config["family"] == family and config["tokenizer"]["name"] == "remi"
    assert config["result"]["step"] == 6 and config["result"]["best_step"] == result.best_step
    assert config["result"]["best_validation_bits_per_token"] == pytest.approx(result.best_validation_loss / math.log(2))
    assert config["data"]["split"]["validation_pieces"] >= 1 and config["data"]["corpus"]["pieces"] == 12
    assert config["settings"]["training"]["max_steps"] == 6
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "train_loss" in r] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in records if "validation_loss" in r] == [3, 6]
    # An untrained model guesses uniformly: the first loss is close to ln(vocabulary size).
    vocab = load_model(folder).tokenizer.vocab_size
    assert abs(records[0]["train_loss"] - math.log(vocab)) < 0.15
    assert [e.phase for e in events][-1] == "done" and "start" in [e.phase for e in events]
    assert any(e.phase == "step" and e.tokens_per_second and e.eta_seconds is not None for e in events)
    png = (folder / "loss.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    idat = png[png.index(b"IDAT") + 4:png.index(b"IEND") - 8]
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width)
    model = load_model(folder)
    assert model.family == family and model.net.num_parameters() == result.parameters


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory) -> Path:
    """An uninterrupted 8-step run to compare resumed runs against."""
    out = tmp_path_factory.mktemp("reference") / "m"
    threads = torch.get_num_threads()
    # Bit-identical weights need the same thread count (float sums in the same order) as the runs compared.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        patch.setenv("MELODY_CACHE", str(tmp_path_factory.getbasetemp() / "token-cache"))
        train([corpus], out=out, device="cpu", workers=1, model="transformer",
              overrides=TINY | {"training.max_steps": 8, "model.dropout": 0.1})
    torch.set_num_threads(threads)
    return out


def final_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "checkpoints" / "step-000008" / "model.safetensors")


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_a_stopped_run_resumed_to_the_end_matches_an_uninterrupted_one(corpus: Path, tmp_path: Path, reference) -> None:
    stop = threading.Event()
    out = tmp_path / "m"

    def stop_at_four(event: TrainEvent) -> None:
        if event.phase == "step" and event.step == 4:
            stop.set()

    overrides = TINY | {"training.max_steps": 8, "model.dropout": 0.1}
    result = train([corpus], out=out, device="cpu", workers=1, model="transformer", overrides=overrides,
                   stop=stop, on_event=stop_at_four)
    assert (result.stopped, result.step) == ("interrupted", 4)
    assert load_model(out).config["result"]["stopped"] == "interrupted"
    assert (out / "checkpoints" / "step-000004").is_dir()
    resumed = train(resume=out, device="cpu", workers=1)  # data, model and settings from config.json
    assert resumed.step == 8
    assert_same_weights(final_weights(out), final_weights(reference))
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
             if "train_loss" in line]
    assert steps == list(range(1, 9))  # no step logged twice across the resume


def test_ctrl_c_saves_a_checkpoint_that_resumes_to_the_same_weights(corpus: Path, tmp_path: Path, reference) -> None:
    out = tmp_path / "m"
    messages = []

    def interrupt_at_five(event: TrainEvent) -> None:
        messages.append(event.message)
        if event.phase == "step" and event.step == 5:
            raise KeyboardInterrupt

    overrides = TINY | {"training.max_steps": 8, "model.dropout": 0.1}
    with pytest.raises(KeyboardInterrupt):
        train([corpus], out=out, device="cpu", workers=1, model="transformer", overrides=overrides,
              on_event=interrupt_at_five)
    assert (out / "checkpoints" / "step-000005").is_dir()
    assert any(f"melody train --resume {out}" in m for m in messages)
    assert main(["train", "--resume", str(out), "--device", "cpu", "--workers", "1"]) == 0
    assert_same_weights(final_weights(out), final_weights(reference))


def one_line_error(capsys, argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


def test_an_existing_out_folder_is_kept_unless_forced(corpus: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "m"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    code, line = one_line_error(capsys, ["train", str(corpus), "--out", str(out)] + sum(
        (["--set", s] for s in TINY_SET), []))
    assert code != 0 and "already exists" in line and "--force" in line
    assert (out / "mine.txt").read_text() == "keep me"
    assert main(["train", str(corpus), "--out", str(out), "--force", "--device", "cpu", "--workers", "1"]
                + sum((["--set", s] for s in TINY_SET), [])) == 0
    assert not (out / "mine.txt").exists() and load_model(out).family == "lstm"
    printed = capsys.readouterr()
    assert printed.out.strip() == str(out)  # stdout: just the folder, for scripts
    for expected in ("2 files: 2 kept (12 pieces", "split by tune:", "parameters, remi tokens",
                     "step 3: validation loss", "reached max_steps at step 6"):
        assert expected in printed.err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the old folder was removed


@pytest.mark.parametrize("argv, message", [
    (["--set", "training.learning_rate=1"], "unknown setting training.learning_rate"),
    (["--set", "training.lr=fast"], "training.lr must be a number, not 'fast'"),
    (["--set", "training.max_steps=2.5"], "training.max_steps must be an integer"),
    (["--set", "lr=1"], "needs a section"),
    (["--set", "model.family=gru"], "model.family must be one of lstm, transformer"),
    (["--model", "transformer", "--set", "training.window=64", "--set", "model.context=32"],
     "longer than the Transformer's model.context"),
])
def test_bad_settings_are_one_line_usage_errors(corpus: Path, tmp_path: Path, capsys, argv, message) -> None:
    code, line = one_line_error(capsys, ["train", str(corpus), "--out", str(tmp_path / "m")] + argv)
    assert code == 2 and message in line and line.startswith("melody train: ")
    assert not (tmp_path / "m").exists()


def test_a_toml_config_sets_sections_and_names_its_bad_keys(corpus: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text("[model]\nfamily = 'transformer'\nd_model = 16\nlayers = 1\nheads = 2\ncontext = 32\n"
                      "[training]\nwindow = 32\nbatch_size = 4\nmax_steps = 2\neval_every = 2\neval_batches = 1\n")
    result = train([corpus], out=tmp_path / "m", config=config, device="cpu", workers=1)
    settings = json.loads((tmp_path / "m" / "config.json").read_text())["settings"]
    assert result.step == 2 and settings["model"]["family"] == "transformer" and settings["training"]["window"] == 32
    config.write_text("[training]\nbatch_size = 'big'\n")
    code, line = one_line_error(capsys, ["train", str(corpus), "--config", str(config), "--out", str(tmp_path / "x")])
    assert code == 2 and "training.batch_size must be an integer" in line and str(config) in line
    config.write_text("[optimizer]\nlr = 1\n")
    code, line = one_line_error(capsys, ["train", str(corpus), "--config", str(config), "--out", str(tmp_path / "x")])
    assert code == 2 and "unknown section [optimizer]" in line


def test_bad_corpora_are_one_line_errors(tmp_path: Path, irish_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, line = one_line_error(capsys, ["train", str(empty), "--out", str(tmp_path / "m")])
    assert code != 0 and "no .abc, .mid or .midi files" in line
    code, line = one_line_error(capsys, ["train", str(tmp_path / "missing"), "--out", str(tmp_path / "m")])
    assert code != 0 and "no such file or folder" in line
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "noise.mid").write_bytes(b"MThd garbage")
    (broken / "empty.abc").write_text("")
    code = main(["train", str(broken), "--out", str(tmp_path / "m"), "--workers", "1"])
    err = capsys.readouterr().err
    assert code != 0 and "2 files: 0 kept" in err and "all 2 music files were skipped" in err.splitlines()[-1]
    single = write_tunes(tmp_path / "one" / "one.abc", irish_path, 1)
    code, line = one_line_error(capsys, ["train", str(single.parent), "--out", str(tmp_path / "m"), "--workers", "1"])
    assert code != 0 and "at least 2" in line
    assert not (tmp_path / "m").exists()


def test_unknown_model_or_tokenizer_through_the_api_is_a_usage_error(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="model.family must be one of"):
        train([corpus], model="gru", out=tmp_path / "m")
    with pytest.raises(UsageError, match="unknown tokenizer 'bpe'"):
        train([corpus], tokenizer="bpe", out=tmp_path / "m")
    with pytest.raises(UsageError, match="unknown device"):
        train([corpus], device="tpu", out=tmp_path / "m", overrides=dict(TINY))


def test_resume_refuses_another_tokenizer_or_model_shape(reference: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(ModelError, match="data.tokenizer = 'remi', not 'abc-char'"):
        train(resume=reference, tokenizer="abc-char")
    with pytest.raises(ModelError, match="model.d_model = 16, not 32"):
        train(resume=reference, overrides={"model.d_model": 32})
    with pytest.raises(ModelError, match="model.family = 'transformer', not 'lstm'"):
        train(resume=reference, model="lstm")
    code, line = one_line_error(capsys, ["train", "--resume", str(tmp_path / "nothing")])
    assert code != 0 and "no such model folder" in line


def test_running_out_of_gpu_memory_names_the_settings_to_lower(corpus: Path, tmp_path: Path) -> None:
    def out_of_memory(event: TrainEvent) -> None:
        if event.phase == "step":  # raised where the loop runs, as a real CUDA allocation failure is
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(MelodyError, match=r"out of GPU memory .*training.batch_size=4.*lower one of them"):
        train([corpus], out=tmp_path / "m", device="cpu", workers=1, overrides=dict(TINY), on_event=out_of_memory)


def test_resume_finds_recorded_relative_data_beside_the_models_folder(tmp_path: Path, monkeypatch) -> None:
    from melody.model_folder import locate_source

    (tmp_path / "project" / "tunes").mkdir(parents=True)
    folder = tmp_path / "project" / "models" / "m"
    monkeypatch.chdir(tmp_path)  # not where training ran
    assert locate_source("tunes", folder) == (tmp_path / "project" / "tunes").resolve()
    assert locate_source(str(tmp_path / "project"), folder) == tmp_path / "project"
    assert locate_source("/no/such/tunes", folder) is None
    assert locate_source("gone", folder) is None  # train passes it on as written: build_corpus names it


def test_resume_from_another_folder_finds_the_data_named_relative_to_where_training_ran(
        corpus: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    project = tmp_path / "p"
    (project / "assets").mkdir(parents=True)
    write_tunes(project / "assets" / "tunes.abc", corpus / "a.abc", 6)
    monkeypatch.chdir(tmp_path)
    tiny = sum((["--set", s] for s in TINY_SET), [])
    assert main(["train", "p/assets/tunes.abc", "--out", "p/models/x", "--device", "cpu", "--workers", "1",
                 *tiny, "--set", "training.max_steps=2"]) == 0
    recorded = load_model(project / "models" / "x").config["data"]["sources"]
    assert recorded == [str(project / "assets" / "tunes.abc")]  # absolute: found from anywhere
    monkeypatch.chdir(project)  # where `p/assets/tunes.abc` does not lead
    capsys.readouterr()
    assert main(["train", "--resume", "models/x", "--device", "cpu", "--workers", "1",
                 "--set", "training.max_steps=4"]) == 0, capsys.readouterr().err
    assert load_model(project / "models" / "x").config["result"]["step"] == 4


def test_an_old_folder_with_data_recorded_relative_to_its_training_folder_still_resumes(
        corpus: Path, tmp_path: Path, monkeypatch) -> None:
    """Folders written before sources were stored absolute: as typed, found from the models/ folder's parent."""
    project = tmp_path / "p"
    write_tunes(project / "assets" / "tunes.abc", corpus / "a.abc", 6)
    monkeypatch.chdir(project)
    train(["assets/tunes.abc"], out="models/x", device="cpu", workers=1, overrides=TINY | {"training.max_steps": 2})
    config_path = project / "models" / "x" / "config.json"
    config = json.loads(config_path.read_text())
    config["data"]["sources"] = ["assets/tunes.abc"]
    config_path.write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    result = train(resume=project / "models" / "x", device="cpu", workers=1, overrides={"training.max_steps": 4})
    assert result.step == 4


def test_a_time_budget_ends_the_run_between_log_lines_with_the_model_saved(corpus: Path, tmp_path: Path) -> None:
    overrides = TINY | {"training.max_minutes": 0.05, "training.log_every": 10_000, "training.max_steps": 100_000}
    result, events = run(corpus, tmp_path / "m", overrides=overrides)
    assert result.stopped == "time budget" and 1 <= result.step < 100_000
    config = load_model(tmp_path / "m").config
    assert config["result"]["stopped"] == "time budget"
    assert "time budget spent" in events[-1].message
