"""The model folder: saving, loading, refusing broken or hostile folders, surviving a kill mid-save."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import SIZES, config_for, make_net
from melody import model_folder as models
from melody.training.checkpoint import load_state, save_checkpoint, latest_checkpoint
from melody.errors import ModelError
from melody.model_folder import (CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, list_models, load_model,
                           save_model, update_config)
from melody.nn import build_model
from melody.tokenizers import get_tokenizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    net, tokenizer = make_net("transformer")
    folder = tmp_path / "m"
    save_model(folder, net, tokenizer, config_for(net, "transformer"))
    return folder, net


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_a_saved_model_loads_with_the_same_outputs_and_the_hash_of_its_weights(tmp_path: Path, family: str) -> None:
    net, tokenizer = make_net(family)
    folder = save_model(tmp_path / family, net, tokenizer, config_for(net, family))
    model = load_model(folder)
    tokens = torch.randint(0, net.vocab_size, (2, 10))
    net.eval()
    assert torch.equal(model.net(tokens), net(tokens))
    assert model.family == family and model.tokenizer.name == "remi"
    assert model.weights_sha256 == hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()
    assert model.config["parameters"] == net.num_parameters()
    assert not model.net.training


def test_list_models_reads_config_json_only_and_skips_broken_folders(tmp_path: Path, saved) -> None:
    folder, net = saved
    update_config(folder, {"result": {"best_validation_bits_per_token": 2.5},
                           "evaluation": {"bits_per_note": 7.25}})
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / CONFIG_FILE).write_text("{not json")
    (tmp_path / "not-a-model").mkdir()
    [info] = list_models([tmp_path, tmp_path / "missing"])
    assert (info.name, info.family, info.tokenizer) == ("m", "transformer", "remi")
    assert info.parameters == net.num_parameters()
    assert (info.bits_per_token, info.bits_per_note) == (2.5, 7.25)
    # The picker must not pay for torch: list_models works in a process that never imports it.
    code = ("import sys; from melody.model_folder import list_models, DEFAULT_MODEL_DIR; "
            f"print(len(list_models([{str(tmp_path)!r}]))); print('torch' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["1", "False"]


def test_the_default_model_dir_is_the_repository_models_default_unless_melody_model_says(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("MELODY_MODEL", raising=False)
    assert models.default_model_dir() == Path(__file__).resolve().parent.parent / "models" / "default"
    monkeypatch.setenv("MELODY_MODEL", str(tmp_path))
    assert models.default_model_dir() == tmp_path


def test_a_missing_folder_or_a_missing_file_is_a_model_error(tmp_path: Path, saved) -> None:
    folder, _ = saved
    with pytest.raises(ModelError, match="no such model folder"):
        load_model(tmp_path / "nowhere")
    for name in (WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE):
        copy = tmp_path / f"without-{name}"
        copy.mkdir()
        for other in (WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE):
            if other != name:
                (copy / other).write_bytes((folder / other).read_bytes())
        with pytest.raises(ModelError, match=f"no {name}|not a model folder"):
            load_model(copy)


def test_truncated_tampered_or_foreign_files_are_model_errors(saved) -> None:
    folder, _ = saved
    weights = (folder / WEIGHTS_FILE).read_bytes()
    (folder / WEIGHTS_FILE).write_bytes(weights[: len(weights) // 2])
    with pytest.raises(ModelError, match="not a readable safetensors file"):
        load_model(folder)
    # Weights of another shape (a foreign model's file) are refused by name and shape.
    other, tokenizer = make_net("lstm")
    (folder / WEIGHTS_FILE).write_bytes(models.weights_bytes(other))
    with pytest.raises(ModelError, match="weights do not match the model in config.json"):
        load_model(folder)
    (folder / CONFIG_FILE).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ModelError, match="not a melody model config"):
        load_model(folder)


def test_a_model_whose_vocabulary_differs_from_its_tokenizer_is_refused(tmp_path: Path) -> None:
    tokenizer = get_tokenizer("remi")
    net = build_model("lstm", {"vocab_size": tokenizer.vocab_size + 1, **SIZES})
    folder = save_model(tmp_path / "m", net, tokenizer, {"family": "lstm", "model": {"vocab_size": net.vocab_size, **SIZES}})
    with pytest.raises(ModelError, match="tokens but tokenizer.json has"):
        load_model(folder)


class Payload:
    """A pickle that would run a shell command when loaded with plain pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_trainer_state_carrying_a_pickle_payload_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "trainer_state.pt"
    torch.save({"format": "melody-trainer-state", "step": 1, "evil": Payload(marker)}, path)
    with pytest.raises(ModelError, match="refused"):
        load_state(path)
    assert not marker.exists()


def test_a_checkpoint_moves_latest_only_once_complete_and_keeps_one(tmp_path: Path, saved) -> None:
    folder, net = saved
    save_checkpoint(folder, 10, net, {"step": 10})
    save_checkpoint(folder, 20, net, {"step": 20})
    assert latest_checkpoint(folder).name == "step-000020"
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["latest", "step-000020"]
    assert load_state(latest_checkpoint(folder) / "trainer_state.pt")["step"] == 20


class Killed(BaseException):
    """Stands for the process dying: nothing after it runs, not even `except Exception`."""


@pytest.mark.parametrize("fail_at", range(5))
def test_a_kill_during_an_update_leaves_the_previous_model_or_the_new_one(tmp_path: Path, saved, monkeypatch,
                                                                          fail_at: int) -> None:
    folder, old_net = saved
    new_net, tokenizer = make_net("transformer", seed=1)
    real_replace = os.replace
    calls = []

    def dying_replace(source, target):
        calls.append(target)
        if len(calls) > fail_at:
            raise Killed
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", dying_replace)
    extra = {"metrics.jsonl": b'{"step": 1}\n', "loss.png": b"png"}
    try:
        save_model(folder, new_net, tokenizer, config_for(new_net, "transformer"), extra=extra)
    except Killed:
        pass
    monkeypatch.setattr(os, "replace", real_replace)
    # Four renames: metrics, plot, the weights, then config.json; the new model exists once the
    # weights are in place, and a kill before config.json loads the config the weights carry.
    loaded = load_model(folder)
    expected = new_net if fail_at >= 3 else old_net
    assert all(torch.equal(loaded.net.state_dict()[name], tensor) for name, tensor in expected.state_dict().items())
    assert loaded.config["weights_sha256"] == loaded.weights_sha256  # the config describes these weights
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]  # temp files cleaned up


@pytest.mark.parametrize("fail_at", range(3))
def test_a_kill_while_creating_or_replacing_a_folder_never_leaves_half_of_one(tmp_path: Path, saved, monkeypatch,
                                                                               fail_at: int) -> None:
    folder, old_net = saved
    new_net, tokenizer = make_net("lstm", seed=2)
    real_write = Path.write_bytes
    writes = []

    def dying_write(self, data):
        writes.append(self)
        if len(writes) > fail_at:
            raise Killed
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", dying_write)
    for target, replace in ((tmp_path / "fresh", False), (folder, True)):
        writes.clear()
        with pytest.raises(Killed):
            save_model(target, new_net, tokenizer, config_for(new_net, "lstm"),
                       extra={"metrics.jsonl": b"", "loss.png": b""}, replace=replace)
    monkeypatch.setattr(Path, "write_bytes", real_write)
    assert not (tmp_path / "fresh").exists()  # never half a folder under the real name
    assert load_model(folder).family == "transformer"  # the replaced folder is still the old one
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # temporary folders cleaned


def test_a_process_killed_mid_save_leaves_a_loadable_folder(tmp_path: Path, saved) -> None:
    folder, _ = saved
    before = load_model(folder).weights_sha256
    # A child process saves new weights with each write slowed down, and is killed midway.
    script = f"""
import os, sys, time, torch
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).parent)!r})
import helpers as t
from melody import model_folder as models
real = models.write_atomic
def slow(path, data, **options):
    time.sleep(0.3)
    real(path, data, **options)
    print("wrote", path.name, flush=True)
models.write_atomic = slow
net, tok = t.make_net("transformer", seed=3)
print("start", flush=True)
models.save_model(Path({str(folder)!r}), net, tok, t.config_for(net, "transformer"),
                  extra={{"metrics.jsonl": b"", "loss.png": b""}})
print("done", flush=True)
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    lines = []
    while True:
        line = child.stdout.readline()
        lines.append(line)
        if line.startswith("wrote"):
            break
        assert line, "the child ended before it wrote anything"
    child.kill()
    child.wait()
    assert "done\n" not in lines
    model = load_model(folder)
    assert model.weights_sha256 == before  # the weights go last: the old model, with new side files


def test_weights_stored_in_half_precision_load_into_a_float_model(tmp_path: Path) -> None:
    net, tokenizer = make_net("transformer")
    folder = save_model(tmp_path / "half", net, tokenizer, config_for(net, "transformer"), dtype="float16")
    full = save_model(tmp_path / "full", net, tokenizer, config_for(net, "transformer"))
    assert (folder / WEIGHTS_FILE).stat().st_size < 0.6 * (full / WEIGHTS_FILE).stat().st_size
    model = load_model(folder)
    assert all(p.dtype == torch.float32 for p in model.net.parameters())
    tokens = torch.randint(0, net.vocab_size, (1, 8))
    net.eval()
    assert torch.allclose(model.net(tokens), net(tokens), atol=1e-2)


def test_an_lstm_loads_with_the_input_scale_it_was_saved_with(tmp_path: Path) -> None:
    net, tokenizer = make_net("lstm")
    recorded = net.config.to_dict()
    assert recorded["input_scale"] == pytest.approx(16 ** 0.5 / 2)  # sqrt(d_model) / 2
    folder = save_model(tmp_path / "scaled", net, tokenizer, config_for(net, "lstm") | {"model": recorded | {"input_scale": 0.5}})
    assert load_model(folder).net.input_scale == 0.5
    # A config from before the scale was recorded (the shipped default's) gets sqrt(d_model) / 2.
    older = save_model(tmp_path / "older", net, tokenizer, config_for(net, "lstm"))
    assert "input_scale" not in json.loads((older / CONFIG_FILE).read_text())["model"]
    assert load_model(older).net.input_scale == pytest.approx(2.0)
