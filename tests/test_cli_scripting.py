"""The CLI as people script it: --stdout, --json, --quiet, WAV, typo suggestions, exit codes, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, require_program
from melody.cli import main
from melody.generation import GenerationSettings, batches, generate
from helpers import run_with_stderr_on_a_terminal, tiny_model_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MELODY = [sys.executable, "-m", "melody"]
TUNE = """X:1
T:Scale
M:4/4
L:1/8
K:D
DEFG ABcd|dcBA GFED|]
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_model_folder(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture
def tune(tmp_path) -> Path:
    path = tmp_path / "scale.abc"
    path.write_text(TUNE, encoding="utf-8")
    return path


def generate_args(model: Path, *args: str) -> list[str]:
    return ["generate", "--model", str(model), "--bars", "2", "--seed", "5", *args]


def one_error_line(text: str) -> str:
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text.strip()


def require_wav_rendering() -> None:
    from melody import playback

    require_program("fluidsynth")
    if playback.find_soundfont() is None:
        if os.environ.get("CI"):
            pytest.fail("no General MIDI SoundFont; CI installs fluid-soundfont-gm")
        pytest.skip(reason="no General MIDI SoundFont installed")


def assert_audible_wav(data_or_path) -> None:
    with wave.open(str(data_or_path), "rb") as audio:
        frames = audio.readframes(audio.getnframes())
        assert audio.getnframes() / audio.getframerate() > 0.5
    samples = np.frombuffer(frames, dtype=np.int16).astype(np.float64)
    assert np.sqrt(np.mean(samples**2)) / 32768 > 0.001, "the WAV is silent"


# -- standard output -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["abc", "mid"])
def test_stdout_holds_exactly_the_piece_a_file_would(model, tmp_path, capfdbinary, kind):
    assert main(generate_args(model, "--out", str(tmp_path / "files"), "--format", kind)) == 0
    capfdbinary.readouterr()
    assert main(generate_args(model, "--stdout", "--format", kind)) == 0
    captured = capfdbinary.readouterr()
    assert captured.out == (tmp_path / "files" / f"tiny-5-1.{kind}").read_bytes()
    assert b"seed 5" in captured.err  # the seed goes to stderr, so the piece can be made again
    assert not (tmp_path / "melody-out").exists()


def test_out_dash_is_stdout_and_abc_is_its_default(model, tmp_path, capfdbinary, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(generate_args(model, "-o", "-", "--quiet")) == 0
    captured = capfdbinary.readouterr()
    assert captured.out.startswith(b"X:1\n") and captured.err == b""
    assert list(tmp_path.iterdir()) == []  # no folder named "-"


@pytest.mark.parametrize("args, words", [
    (["--num", "2"], "one piece"),
    (["--format", "mid,abc"], "one format"),
    (["--json"], "pick one"),
])
def test_stdout_refuses_what_would_not_be_one_piece(model, capfdbinary, args, words):
    assert main(generate_args(model, "--stdout", *args)) == 2
    captured = capfdbinary.readouterr()
    assert captured.out == b"" and words in one_error_line(captured.err.decode())


@pytest.mark.slow
def test_stdout_in_a_real_pipe_is_only_the_piece(model, tmp_path):
    result = subprocess.run([*MELODY, *generate_args(model, "--stdout", "--format", "mid")],
                            capture_output=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"MThd") and b"\n" not in result.stderr[:-1]
    import mido
    import io

    assert len(mido.MidiFile(file=io.BytesIO(result.stdout)).tracks) >= 1


# -- --json and --quiet ---------------------------------------------------------------------------
def test_json_prints_one_object_per_piece_with_paths_seeds_and_settings(model, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(generate_args(model, "--num", "3", "--out", str(out), "--json")) == 0
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 3
    for number, record in enumerate(records):
        assert [Path(p).name for p in record["paths"]] == [f"tiny-5-{number + 1}.{kind}" for kind in ("mid", "abc", "json")]
        assert all(Path(p).is_file() for p in record["paths"])
        assert record["seed"] == 5 + number and record["run_seed"] == 5 and record["index"] == number
        assert record["settings"]["bars"] == 2 and record["settings"]["num"] == 3
        assert record["model"]["name"] == "tiny" and "tokens" not in record
        sidecar = json.loads(Path(record["paths"][-1]).read_text())
        assert sidecar["seed"] == record["seed"] and sidecar["settings"] == record["settings"]


def test_quiet_prints_nothing_and_still_writes(model, tmp_path, capfd):
    out = tmp_path / "out"
    assert main(generate_args(model, "--num", "2", "--out", str(out), "--quiet")) == 0
    assert capfd.readouterr() == ("", "")
    assert len(list(out.glob("*.mid"))) == 2
    assert main(generate_args(model, "--num", "0", "--out", str(out), "--quiet")) == 2
    assert "num" in one_error_line(capfd.readouterr().err)  # errors still speak


def test_json_and_quiet_together_is_a_usage_error(model, capsys):
    assert main(generate_args(model, "--json", "--quiet")) == 2
    assert "not allowed with" in one_error_line(capsys.readouterr().err)


# -- batches, progress ------------------------------------------------------------------------------
def test_batches_give_the_pieces_one_batch_gives_byte_for_byte(model):
    from melody.music.io import render

    settings = GenerationSettings(num=5, bars=2, seed=11)
    whole = next(batches(model, settings, size=5))
    parts = [take for batch in batches(model, settings, size=2) for take in batch]
    assert [len(batch) for batch in batches(model, settings, size=2)] == [2, 2, 1]
    assert [t.index for t in parts] == list(range(5)) and [t.seed for t in parts] == [11, 12, 13, 14, 15]
    assert [render(t.piece, "mid") for t in parts] == [render(t.piece, "mid") for t in whole]
    assert [render(t.piece, "abc") for t in parts] == [render(t.piece, "abc") for t in whole]
    assert [t.tokens for t in generate(model, settings)] == [t.tokens for t in whole]


def test_num_above_the_old_limit_of_1024_is_accepted():
    GenerationSettings(num=100_000, seed=1).validate()
    with pytest.raises(Exception, match="seed"):
        GenerationSettings(num=10, seed=2**63 - 5).validate()  # seed + 9 would not fit in 64 bits


@pytest.mark.slow
def test_generate_draws_a_progress_bar_when_stderr_is_a_terminal(model, tmp_path):
    result, drawn = run_with_stderr_on_a_terminal(
        [*MELODY, *generate_args(model, "--num", "3", "--out", str(tmp_path / "o"))], timeout=120)
    assert result.returncode == 0
    assert b"\r\x1b[Kgenerating" in drawn and b"3/3 (100%)" in drawn
    assert len(result.stdout.decode().splitlines()) == 9  # paths only, on stdout


# -- WAV ------------------------------------------------------------------------------------------
def test_generate_format_wav_renders_through_fluidsynth(model, tmp_path, capsys):
    require_wav_rendering()
    out = tmp_path / "out"
    # The tiny untrained model mostly ends bars; the prime makes sure there are notes to hear.
    assert main(generate_args(model, "--format", "wav,mid", "--out", str(out), "--prime-abc", TUNE)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["tiny-5-1.json", "tiny-5-1.mid", "tiny-5-1.wav"]
    assert_audible_wav(out / "tiny-5-1.wav")
    assert json.loads((out / "tiny-5-1.json").read_text())["files"] == ["tiny-5-1.wav", "tiny-5-1.mid"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_convert_to_wav_renders_through_fluidsynth_and_never_overwrites(tune, tmp_path, capsys):
    require_wav_rendering()
    target = tmp_path / "scale.wav"
    assert main(["convert", str(tune), str(target)]) == 0
    assert_audible_wav(target)
    before = target.read_bytes()
    assert main(["convert", str(tune), str(target)]) == 2
    assert "already exists" in one_error_line(capsys.readouterr().err)
    assert target.read_bytes() == before
    assert main(["convert", str(tune), "--out", str(tmp_path / "wavs"), "--to", "wav"]) == 0
    assert_audible_wav(tmp_path / "wavs" / "scale.wav")


def test_wav_without_fluidsynth_names_what_to_install_and_writes_nothing(model, tune, tmp_path, capsys,
                                                                         monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no fluidsynth on it
    assert main(generate_args(model, "--format", "wav", "--out", str(tmp_path / "out"))) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "--format wav" in line and "fluidsynth" in line and "apt install" in line
    assert main(["convert", str(tune), str(tmp_path / "x.wav")]) == 2
    assert "fluidsynth" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.wav").exists()


def test_wav_without_a_soundfont_says_so(model, tmp_path, capsys, monkeypatch):
    require_program("fluidsynth")
    monkeypatch.setenv("MELODY_SOUNDFONT", str(tmp_path / "none.sf2"))
    assert main(generate_args(model, "--format", "wav", "--out", str(tmp_path / "out"))) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "SoundFont" in line and "none.sf2" in line
    assert not (tmp_path / "out").exists()


# -- typos ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, suggestion", [
    (["generate", "--nmu", "3"], "did you mean --num?"),
    (["generat"], "did you mean 'generate'?"),
    (["convert", "a.abc", "--too", "mid"], "did you mean --to?"),
    (["convert", "a.abc", "--out", "o", "--to", "mdi"], "did you mean 'mid'?"),
    (["train", "data", "--model", "transfomer"], "did you mean 'transformer'?"),
    (["inspect", "--jsno", "a.abc"], "did you mean --json?"),
    (["completion", "zhs"], "did you mean 'zsh'?"),
])
def test_a_typo_gets_one_line_naming_the_nearest_command_option_or_choice(argv, suggestion, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert suggestion in line and captured.out == ""
    command = "melody" if argv[0] == "generat" else f"melody {argv[0]}"
    assert line.startswith(f"{command}: ") and f"'{command} --help'" in line


def test_an_option_nothing_like_a_real_one_gets_no_wild_guess(capsys):
    assert main(["inspect", "--zzzzzz", "a.abc"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "unknown option --zzzzzz" in line and "did you mean" not in line


# -- the exit-code table ----------------------------------------------------------------------------
def exit_code_cases(tmp: Path, model: Path, tune: Path) -> list[tuple[list[str], int, str]]:
    """(argv, exit code, words in the one line) for the same kinds of mistake in every command."""
    missing = tmp / "missing.abc"
    no_model = tmp / "no-model"
    no_model.mkdir(exist_ok=True)
    broken = tmp / "broken.abc"
    broken.write_text("X:1\nT:Broken\nM:0/0\nK:D\nABc|\n", encoding="utf-8")
    incomplete = tmp / "incomplete"
    incomplete.mkdir(exist_ok=True)
    (incomplete / "config.json").write_text(json.dumps(
        {"format": "melody-model", "version": 1, "family": "lstm", "model": {"vocab_size": 10}}))
    exists = tmp / "exists.mid"
    exists.write_bytes(b"taken")
    return [
        # 2: usage or missing input
        (["generate", "--model", str(model), "--prime", str(missing)], 2, "no such file"),
        (["generate", "--model", str(tmp / "nowhere")], 2, "no such model folder"),
        (["generate", "--model", str(no_model)], 2, "not a model folder"),
        (["eval", "--model", str(no_model), "--num", "0"], 2, "not a model folder"),
        (["eval", "--model", str(tmp / "nowhere"), "--num", "0"], 2, "no such model folder"),
        (["convert", str(missing), str(tmp / "x.mid")], 2, "no such file"),
        (["convert", str(tune), str(exists)], 2, "already exists"),
        (["inspect", str(missing)], 2, "no such file"),
        (["tokenize", str(tmp / "nowhere"), "--out", str(tmp / "cache")], 2, "no such file"),
        (["train", str(tmp / "nowhere"), "--out", str(tmp / "m")], 2, "no such file"),
        (["tui", "--models", str(tmp / "nowhere")], 2, "no such folder"),
        (["generate", "--num", "0"], 2, "num"),
        # 1: bad music or model content
        (["generate", "--model", str(model), "--prime", str(broken)], 1, "broken.abc"),
        (["generate", "--model", str(incomplete)], 1, "incomplete"),
        (["convert", str(broken), str(tmp / "y.mid")], 1, "broken.abc"),
        (["inspect", str(broken)], 1, "broken.abc"),
    ]


def test_every_command_exits_with_the_documented_code_for_each_kind_of_mistake(model, tune, tmp_path,
                                                                                capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv, code, words in exit_code_cases(tmp_path, model, tune):
        got = main(argv)
        line = one_error_line(capsys.readouterr().err)
        assert (got, words in line) == (code, True), f"melody {' '.join(argv)}: exit {got}, {line!r}"
        assert line.startswith(f"melody {argv[0]}: ")
    assert not (tmp_path / "melody-out").exists() and not (tmp_path / "x.mid").exists()


def test_the_exit_code_table_is_documented_once_in_the_readme_and_the_help(capsys):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code, meaning in [(0, "done"), (1, "bad music or model content"), (2, "usage or missing input"),
                          (130, "interrupted"), (143, "terminated")]:
        assert f"| {code} | {meaning}" in readme
    assert main(["--help"]) == 0
    assert "130 interrupted, 143 terminated" in " ".join(capsys.readouterr().out.split())


@pytest.mark.slow
@pytest.mark.parametrize("sent, code, word", [(signal.SIGINT, 130, "interrupted"),
                                              (signal.SIGTERM, 143, "terminated")])
def test_a_real_signal_mid_run_exits_130_or_143_with_one_line_and_whole_files(model, tmp_path, sent, code,
                                                                             word):
    out = tmp_path / "out"
    # As from a terminal: a run started in the background (`cmd &` in a script, nohup) inherits
    # SIGINT ignored, and the child would rightly ignore Ctrl-C too.
    process = subprocess.Popen([*MELODY, "generate", "--model", str(model), "--num", "1000000",
                                "--bars", "2", "--seed", "1", "--out", str(out), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = json.loads(process.stdout.readline())  # a first batch is written: mid-run now
        time.sleep(0.3)
        process.send_signal(sent)
        rest = process.stdout.read()  # to the end (not communicate(): it skips what readline buffered)
        process.wait(timeout=60)
        error = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == code, error
    assert error.strip() == f"melody generate: {word}"
    records = [first] + [json.loads(line) for line in rest.splitlines()]
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(Path(p).name for record in records for p in record["paths"])  # no half files
    import mido

    for record in records:
        mido.MidiFile(record["paths"][0])


# -- completion ---------------------------------------------------------------------------------------
def complete(line: str, tmp_path: Path, cwd: Path = ROOT) -> list[str]:
    """What the shell would offer after `line` (argcomplete's protocol, in a real process)."""
    answer = tmp_path / "completions"
    env = dict(os.environ, _ARGCOMPLETE="1", _ARGCOMPLETE_IFS="\n", COMP_LINE=line, COMP_POINT=str(len(line)),
               COMP_TYPE="9", _ARGCOMPLETE_STDOUT_FILENAME=str(answer), _ARGCOMPLETE_SUPPRESS_SPACE="1")
    script = ("import sys; from melody.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=cwd, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return answer.read_text().split("\n")


def test_completion_offers_commands_options_choices_models_and_files(tmp_path):
    assert "generate" in complete("melody gen", tmp_path)
    assert "--num" in complete("melody generate --nu", tmp_path)
    assert {"mid", "abc", "wav"} <= set(complete("melody convert x --to ", tmp_path))
    models = complete("melody generate --model ", tmp_path)
    assert "default" in models and "models/default" in models
    (tmp_path / "tunes").mkdir()
    (tmp_path / "tunes" / "reel.abc").write_text(TUNE)
    assert complete("melody inspect tunes/r", tmp_path, cwd=tmp_path) == ["tunes/reel.abc"]


def test_completion_never_imports_torch(tmp_path):
    answer, verdict = tmp_path / "completions", tmp_path / "torch-imported"
    line = "melody generate --model "
    env = dict(os.environ, _ARGCOMPLETE="1", COMP_LINE=line, COMP_POINT=str(len(line)),
               _ARGCOMPLETE_STDOUT_FILENAME=str(answer))
    # argcomplete ends the process with os._exit once it has answered: note torch just before.
    script = (f"import os, sys\n"
              f"real_exit = os._exit\n"
              f"def noted(code):\n"
              f"    open({str(verdict)!r}, 'w').write(str('torch' in sys.modules))\n"
              f"    real_exit(code)\n"
              f"os._exit = noted\n"
              f"from melody.cli import main\n"
              f"main()\n")
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "default" in answer.read_text() and verdict.read_text() == "False"


@pytest.mark.parametrize("shell, words", [("bash", "complete"), ("zsh", "compdef"), ("fish", "complete")])
def test_completion_prints_code_for_each_shell(shell, words, capsys):
    assert main(["completion", shell]) == 0
    code = capsys.readouterr().out
    assert words in code and "melody" in code


def test_a_signal_inside_deferred_signals_arrives_after_the_block():
    from melody.files import deferred_signals

    # Python's own Ctrl-C handler, as in a process started from a terminal (one started in the
    # background inherits SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        finished = []
        with pytest.raises(KeyboardInterrupt):
            with deferred_signals():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # the signal is in: the handler has run by now
                finished.append(True)
        assert finished == [True]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_reader_that_goes_away_keeps_the_pieces_written(model, tmp_path):
    """`melody generate --json | head -1`: exit 0, no message, and every piece written stays whole."""
    out = tmp_path / "out"
    process = subprocess.Popen([*MELODY, "generate", "--model", str(model), "--num", "200", "--bars", "2",
                                "--seed", "1", "--out", str(out), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = json.loads(process.stdout.readline())
    process.stdout.close()  # as `head -1` does after its line
    process.wait(timeout=120)
    assert process.returncode == 0 and process.stderr.read() == ""
    assert all(Path(path).is_file() for path in first["paths"])
    import mido

    for midi in out.glob("*.mid"):
        mido.MidiFile(midi)
