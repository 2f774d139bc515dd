"""Hostile model folders (issue 16): every file of a model folder is read through one checked
reader, so a FIFO, a link to /dev/zero, 100,000 brackets, a 5,000-digit number, a field of the
wrong type, a checkpoint pointer out of the folder or a config.json asking for a network the
weights do not hold is one ModelError line naming the file and field, never a traceback, a hang
or gigabytes allocated. Ends with the hypothesis fuzz of config, tokenizer and openings JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import SIZES, make_net, tiny_model_folder
from melody import model_folder
from melody.cli import main
from melody.corpus.openings import read_openings
from melody.errors import MelodyError, ModelError, UsageError
from melody.model_folder import load_model, read_config
from melody.nn import build_model, parameter_count
from melody.nn.sizes import check_fits, memory_bytes
from melody.safe_read import MAX_JSON_DEPTH, field, parse_json, read_regular
from melody.tokenizers import load_tokenizer
from melody.training.checkpoint import latest_checkpoint
from melody.training.metrics import read_metrics

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MELODY = [sys.executable, "-m", "melody"]
DEEP = "[" * 100_000 + "]" * 100_000
HUGE = "9" * 5_000


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    folder = tiny_model_folder(tmp_path_factory.mktemp("models") / "tiny")
    (folder / "openings.json").write_text(json.dumps(
        {"meters": {"6/8": 3}, "keys": {"G_major": 2}, "tokens": ["Bar", "Pitch_62"]}), encoding="utf-8")
    return folder


@pytest.fixture
def folder(pristine: Path, tmp_path: Path) -> Path:
    """A fresh copy of a loadable model folder, for one test to break."""
    return Path(shutil.copytree(pristine, tmp_path / "model"))


def edit(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def cli_error(capsys, argv: list[str]) -> tuple[int, str]:
    """The exit code and error line of `melody argv` run in this process: stderr ends in the
    one error line (after any progress lines), with no traceback."""
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    assert [line for line in err if line.startswith(f"melody {argv[0]}: ")] == err[-1:], err
    return code, err[-1]


# -- config.json ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    (DEEP, f"nested deeper than {MAX_JSON_DEPTH} levels"),
    ('{"format": "melody-model", "version": 1, "family": "lstm", "model": {"d_model": ' + HUGE + "}}",
     "an integer of 5000 digits"),
    ('{"format": "melody-model", "version": 1, "family": "lstm", "model": {}, "settings": "x"}',
     "field 'settings' must be an object, not a string"),
    ('{"format": "melody-model", "version": 1, "family": "lstm", "model": {"layers": "2"}}',
     "field 'model.layers' must be an integer, not a string"),
    ('{"format": "melody-model", "version": 1, "family": "lstm", "model": {"dropout": NaN}}',
     "NaN is not a number melody reads here"),
    ('{"format": "melody-model", "version": 1, "family": "lstm", "model": {"d_model": 1e999}}',
     "out of range"),
    ('{"format": "melody-model", "version": 1, "family": "lstm", "model": {"d_model": 1000000}}',
     "field 'model.d_model' must be from 1 to 65536, not 1000000"),
])
def test_a_hostile_config_json_is_one_model_error_naming_the_file(folder: Path, text: str, message: str) -> None:
    (folder / "config.json").write_text(text, encoding="utf-8")
    with pytest.raises(ModelError, match="config.json") as error:
        read_config(folder)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_settings_of_the_wrong_type_stop_train_resume_in_one_line(folder: Path, capsys) -> None:
    edit(folder / "config.json", lambda config: config.update(settings="x"))
    code, line = cli_error(capsys, ["train", "--resume", str(folder)])
    assert code == 1 and "config.json: field 'settings' must be an object, not a string" in line


def test_config_json_linked_to_dev_zero_is_refused_before_reading(folder: Path) -> None:
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to("/dev/zero")
    with pytest.raises(ModelError, match="refused: a link to /dev/zero, outside"):
        read_config(folder)
    with pytest.raises(ModelError, match="refused: a character device, not a regular file"):
        read_regular("/dev/zero", limit=1024)  # without a folder to stay in: still no endless read


def test_a_link_inside_the_folder_still_reads(folder: Path) -> None:
    (folder / "real.json").write_bytes((folder / "config.json").read_bytes())
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to("real.json")
    assert read_config(folder)["family"] == "lstm"


def test_a_fifo_config_json_fails_generate_at_once_instead_of_hanging(folder: Path, tmp_path: Path) -> None:
    (folder / "config.json").unlink()
    os.mkfifo(folder / "config.json")
    result = subprocess.run([*MELODY, "generate", "--model", str(folder), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"melody generate: {folder / 'config.json'}: refused: a FIFO, not a regular file"]
    assert not (tmp_path / "out").exists()


def test_an_oversized_config_json_is_refused_by_its_size(folder: Path) -> None:
    with open(folder / "config.json", "ab") as stream:
        stream.truncate(model_folder.CONFIG_LIMIT + 1)  # sparse: no disk is spent
    with pytest.raises(ModelError, match=r"refused: 4 MiB, more than the 4 MiB"):
        read_config(folder)


# -- sizes against the weights -------------------------------------------------------------

@pytest.mark.parametrize("family", ["lstm", "transformer"])
@pytest.mark.parametrize("sizes", [{}, {"hidden": 24, "layers": 3}, {"layers": 2, "heads": 4}])
def test_parameter_count_is_exactly_what_the_network_saves(family: str, sizes: dict) -> None:
    config = {"vocab_size": 50, **SIZES, **sizes}
    net = build_model(family, config)
    assert parameter_count(family, config) == sum(t.numel() for t in net.state_dict().values())


@pytest.mark.parametrize("change", [{"d_model": 60_000}, {"layers": 4_000}])
def test_sizes_the_weights_do_not_hold_are_refused_before_building(folder: Path, monkeypatch, change) -> None:
    edit(folder / "config.json", lambda config: config["model"].update(change))

    def never(*args, **kwargs):
        raise AssertionError("the network was built before its sizes were checked")

    monkeypatch.setattr("melody.nn.build_model", never)
    with pytest.raises(ModelError, match=r"model.safetensors: weights do not match the model in config.json "
                                         r"\(it describes [\d,]+ parameters, the file holds [\d,]+\)"):
        load_model(folder)


def test_a_truncated_weights_file_is_refused_from_its_header(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:-10])
    with pytest.raises(ModelError, match="not a readable safetensors file"):
        load_model(folder)
    (folder / "model.safetensors").write_bytes(b"\xff" * 8 + data[8:])
    with pytest.raises(ModelError, match="no valid header"):
        load_model(folder)


def test_a_network_this_machine_cannot_hold_is_refused_with_the_bound() -> None:
    memory = memory_bytes()
    assert memory is not None
    with pytest.raises(UsageError, match=r"needs [\d,.]+ GiB to train it; this machine allows [\d,.]+ GiB "
                                         r"\(half of its"):
        check_fits("lstm", {"vocab_size": 1000, "d_model": 1_000_000, "hidden": 0, "layers": 2},
                   copies=4, purpose="to train")
    assert check_fits("lstm", {"vocab_size": 1000, "d_model": 16, "hidden": 0, "layers": 1}) > 0


def test_train_set_of_a_huge_width_is_one_usage_error_before_allocating(tmp_path: Path, irish_path: Path,
                                                                          capsys) -> None:
    tunes = irish_path.read_text(encoding="utf-8").split("\nX:")[:3]
    corpus = tmp_path / "tunes.abc"
    corpus.write_text("\nX:".join(tunes) + "\n", encoding="utf-8")
    code, line = cli_error(capsys, ["train", str(corpus), "--out", str(tmp_path / "m"), "--workers", "1",
                                    "--set", "model.d_model=1000000"])
    assert code == 2 and "GiB to" in line and "this machine allows" in line  # refused before any build
    assert not (tmp_path / "m").exists()


# -- tokenizer.json ------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda t: t.update(config=None), "field 'config' must be an object, not null"),
    (lambda t: t.update(name=["remi"]), "field 'name' must be a string, not a list"),
    (lambda t: t["config"].update(velocities=[[16]]), "field 'config.velocities' must be an integer, not a list"),
    (lambda t: t["config"].update(max_duration="96"), "field 'config.max_duration' must be an integer"),
    (lambda t: t["config"].update(max_bar_ticks=10**9), "field 'config.max_bar_ticks' must be from 0 to 65536"),
    (lambda t: t["config"].update(programs=1), "field 'config.programs' must be true or false, not an integer"),
    (lambda t: t.update(vocab={}), "field 'vocab' must be a list, not an object"),
])
def test_a_tokenizer_json_of_wrong_types_names_the_field(folder: Path, change, message: str) -> None:
    edit(folder / "tokenizer.json", change)
    with pytest.raises(ModelError, match="tokenizer.json") as error:
        load_model(folder)
    assert message in str(error.value)
    assert "unhashable" not in str(error.value)


# -- openings.json -------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ('{"keys": 12345}', "field 'keys' must be an object, not an integer"),
    ('{"keys": null}', "field 'keys' must be an object, not null"),
    ('{"meters": {"6/8": "many"}}', "field 'meters.6/8' must be an integer, not a string"),
    ('{"meters": ["6/8"]}', "field 'meters' must be an object, not a list"),
    ('{"tokens": "Bar"}', "field 'tokens' must be a list, not a string"),
    ('{"tokens": [1, 2]}', "field 'tokens' must hold token names (strings), not an integer"),
    ("[]", "must be a JSON object, not a list"),
    ("null", "must be a JSON object, not null"),
    ("not json", "not valid JSON"),
])
def test_a_malformed_openings_json_is_a_model_error_and_a_missing_one_no_restriction(
        folder: Path, text: str, message: str, capsys, tmp_path: Path) -> None:
    assert read_openings(folder)["keys"] == {"G_major": 2}
    (folder / "openings.json").write_text(text, encoding="utf-8")
    with pytest.raises(ModelError, match="openings.json") as error:
        read_openings(folder)
    assert message in str(error.value)
    (folder / "openings.json").unlink()
    assert read_openings(folder) is None


def test_generate_with_a_malformed_openings_json_is_one_line(folder: Path, tmp_path: Path, capsys) -> None:
    (folder / "openings.json").write_text('{"keys": 12345}', encoding="utf-8")
    code, line = cli_error(capsys, ["generate", "--model", str(folder), "--out", str(tmp_path / "o"),
                                    "--max-tokens", "8"])
    assert code == 1 and line.endswith("openings.json: field 'keys' must be an object, not an integer")
    assert not (tmp_path / "o").exists()


# -- metrics.jsonl and the checkpoint pointer ----------------------------------------------

def test_metrics_skip_only_a_torn_last_line_and_name_any_other_bad_line(folder: Path) -> None:
    path = folder / "metrics.jsonl"
    path.write_text('{"step": 1, "train_loss": 2.0}\n{"step": 2, "validation_loss": NaN}\n{"step": 3, "tr',
                    encoding="utf-8")
    assert [r["step"] for r in read_metrics(folder)] == [1, 2]
    assert [r["step"] for r in read_metrics(folder, until_step=1)] == [1]
    path.write_text(f'{{"step": 1}}\n{DEEP}\n{{"step": 3}}\n', encoding="utf-8")
    with pytest.raises(ModelError, match=r"metrics.jsonl:2: refused: JSON nested deeper"):
        read_metrics(folder)
    path.write_text('{"step": "one"}\n{"step": 2}\n', encoding="utf-8")
    with pytest.raises(ModelError, match=r"metrics.jsonl:1: field 'step' must be an integer, not a string"):
        read_metrics(folder)


@pytest.mark.parametrize("pointer", ["../../other/step-000001", "/tmp/step-000001", "step-000001/../../..",
                                     "step-000001/../../../other/step-000002"])
def test_a_checkpoint_pointer_out_of_the_folder_is_refused(folder: Path, tmp_path: Path, pointer: str) -> None:
    for place in (tmp_path / "other" / "step-000001", folder / "checkpoints" / "step-000001"):
        place.mkdir(parents=True, exist_ok=True)
        (place / "trainer_state.pt").write_bytes(b"not a state")
    (folder / "checkpoints" / "latest").write_text(pointer + "\n", encoding="utf-8")
    with pytest.raises(ModelError, match="checkpoints/latest: refused: it names"):
        latest_checkpoint(folder)


def test_a_step_folder_linked_out_of_the_model_folder_is_refused(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "trainer_state.pt").write_bytes(b"x")
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "step-000001").symlink_to(outside)
    (folder / "checkpoints" / "latest").write_text("step-000001\n", encoding="utf-8")
    with pytest.raises(ModelError, match="refused"):
        latest_checkpoint(folder)


def test_the_checked_json_reader_keeps_ordinary_json_as_json_loads_reads_it() -> None:
    text = '{"a": [1, -2, 3.5, "x\\"]", {"b": null}], "c": true}'
    assert parse_json(text, "f") == json.loads(text)
    assert parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, "f") is not None
    assert field({"x": 1}, "x", float, "f") == 1
    with pytest.raises(ModelError, match="f: field 'x' must be a number, not true or false"):
        field({"x": True}, "x", float, "f")


# -- the fuzz ------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12)


def mutations(path: Path) -> st.SearchStrategy[str]:
    """A model folder file with one field (at any depth) set to a random JSON value, or removed;
    or random JSON; or the file's own text cut short."""
    original = json.loads(path.read_text(encoding="utf-8"))

    def paths(value, prefix=()):
        yield prefix
        if isinstance(value, dict):
            for key, inner in value.items():
                yield from paths(inner, (*prefix, key))

    places = list(paths(original))

    @st.composite
    def mutated(draw) -> str:
        kind = draw(st.sampled_from(["set", "drop", "random", "cut"]))
        if kind == "random":
            return json.dumps(draw(JSON_VALUES))
        text = json.dumps(original)
        if kind == "cut":
            return text[:draw(st.integers(0, len(text)))]
        data = json.loads(text)
        place = draw(st.sampled_from(places[1:]))
        parent = data
        for key in place[:-1]:
            parent = parent[key]
        if kind == "set":
            parent[place[-1]] = draw(JSON_VALUES)
        else:
            del parent[place[-1]]
        return json.dumps(data)

    return mutated()


def assert_model_error_or_loads(call) -> None:
    """`call()` either returns or raises MelodyError in one line: never another exception."""
    try:
        call()
    except MelodyError as error:
        assert str(error) and "\n" not in str(error)


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json", "openings.json"])
def test_fuzz_model_folder_files(pristine: Path, tmp_path_factory, name: str) -> None:
    folder = Path(shutil.copytree(pristine, tmp_path_factory.mktemp("fuzz") / "m"))
    readers = {"config.json": lambda: read_config(folder),
               "tokenizer.json": lambda: load_tokenizer(folder / "tokenizer.json", within=folder),
               "openings.json": lambda: read_openings(folder)}

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutations(pristine / name))
    def fuzz(text: str) -> None:
        (folder / name).write_text(text, encoding="utf-8")
        assert_model_error_or_loads(readers[name])
        if name == "config.json":  # sizes too: the header check and the build see what got past
            assert_model_error_or_loads(lambda: load_model(folder))

    fuzz()


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_bytes_as_json(data: bytes) -> None:
    assert_model_error_or_loads(lambda: parse_json(data, "f"))
