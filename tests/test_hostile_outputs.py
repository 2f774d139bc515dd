"""Unlucky machines (issue 16): a full, read-only or forbidden disk, a name taken half-way, two
runs writing one model folder, a run killed while it saves. Each ends in one line, the
documented exit code, and nothing new (or nothing half-written) left behind."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import melody.files
from melody.cli import main
from melody.errors import FolderBusy, OutputError
from melody.files import OutputBatch
from melody.folder_lock import FolderLock

ROOT = Path(__file__).resolve().parents[1]
TINY_SET = ["model.d_model=16", "model.layers=1", "model.dropout=0.0", "training.window=32",
            "training.batch_size=4", "training.eval_every=2", "training.eval_batches=1",
            "training.log_every=1", "training.warmup_steps=1", "training.patience=0",
            "training.checkpoint_every=1"]


def refuse_after(monkeypatch, count: int, number: int = errno.ENOSPC) -> list[Path]:
    """Make the atomic writer fail like a full (or read-only) disk from file `count + 1` on."""
    real, written = melody.files._write_atomic, []

    def writer(path, payload, overwrite, durable):
        if len(written) >= count:
            raise OSError(number, os.strerror(number), str(path))
        written.append(path)
        return real(path, payload, overwrite, durable)

    monkeypatch.setattr(melody.files, "_write_atomic", writer)
    return written


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize("number, words", [(errno.ENOSPC, "no space left on device"),
                                           (errno.EROFS, "read-only file system"),
                                           (errno.EACCES, "permission denied"),
                                           (errno.EFBIG, "file too large")])
def test_a_batch_refused_half_way_takes_back_what_it_wrote(tmp_path: Path, monkeypatch, number, words) -> None:
    written = refuse_after(monkeypatch, 2, number)
    with pytest.raises(OutputError) as caught, OutputBatch() as batch:
        for name in "abcd":
            batch.write(tmp_path / "new" / f"{name}.txt", name)
    assert len(written) == 2  # two files were really there before the third failed
    assert str(caught.value) == f"{tmp_path / 'new' / 'c.txt'}: {words}" + \
        (" (the disk or a file-size limit refused it)" if number == errno.EFBIG else "") + " (nothing written)"
    assert not (tmp_path / "new").exists()  # the folder the batch made went too


def test_convert_of_a_folder_on_a_disk_that_fills_leaves_nothing(tmp_path: Path, monkeypatch, capsys, irish_path) -> None:
    refuse_after(monkeypatch, 50)
    out = tmp_path / "out"
    assert main(["convert", "-q", str(irish_path), "--out", str(out), "--to", "mid"]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"melody convert: {out}/") and line.endswith("no space left on device (nothing written)")
    assert files_under(tmp_path) == []


def test_generate_on_a_disk_that_fills_leaves_nothing(tmp_path: Path, monkeypatch, capsys, tiny_model,
                                                      one_torch_thread) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("the user's")
    refuse_after(monkeypatch, 7)  # two whole pieces (mid, abc, json) and one file of the third
    code = main(["generate", "--model", str(tiny_model), "--num", "4", "--max-tokens", "40", "--seed", "1",
                 "--out", str(tmp_path / "out"), "-q"])
    assert code == 1
    assert one_line(capsys.readouterr().err).endswith("no space left on device (nothing written)")
    assert files_under(tmp_path) == ["out", "out/mine.txt"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "melody", *args], cwd=cwd, capture_output=True, text=True,
                          env=os.environ | {"PYTHONPATH": str(ROOT)}, timeout=600)


def test_an_output_folder_under_a_file_is_one_line_and_exit_1(tmp_path: Path, irish_path) -> None:
    (tmp_path / "a-file").write_text("")
    done = run_cli("convert", "-q", str(irish_path), "--out", "a-file/tunes", "--to", "abc", cwd=tmp_path)
    assert done.returncode == 1
    assert one_line(done.stderr) == "melody convert: a-file/tunes: a part of the path is not a folder (a file, or " \
                                    "a link that leads nowhere) (nothing written)"
    assert files_under(tmp_path) == ["a-file"]


def test_a_dangling_link_at_the_third_name_is_refused_before_the_first_byte(tmp_path: Path, irish_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "irish-3.abc").symlink_to(tmp_path / "nowhere")
    done = run_cli("convert", "-q", str(irish_path), "--out", "out", "--to", "abc", cwd=tmp_path)
    assert done.returncode == 2
    assert one_line(done.stderr) == "melody convert: out/irish-3.abc: already exists; nothing written " \
                                    "(use --force to replace)"
    assert files_under(out) == ["irish-3.abc"] and not (tmp_path / "nowhere").exists()


def test_tokenize_into_a_cache_it_cannot_write_says_so_and_fails(tmp_path: Path, irish_path) -> None:
    (tmp_path / "a-file").write_text("")
    done = run_cli("tokenize", str(irish_path), "--out", "a-file/cache", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 1
    assert "kept" not in done.stdout
    assert "1 of 1 tokenized files not cached" in one_line(done.stderr)


def test_the_lock_clears_a_killed_runs_temporaries_and_nothing_else(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "checkpoints" / ".step-000004.k2_9xq0a.tmp").mkdir(parents=True)
    ours = [folder / ".model.safetensors.abc_1234.tmp", folder / ".config.json.zz9y8x7w.tmp",
            folder / ".metrics.jsonl.0a1b2c3d.tmp"]
    theirs = [folder / ".notes.tmp", folder / "model.safetensors.bak.tmp", folder / "config.json"]
    for path in ours + theirs:
        path.write_text("x")
    beside = tmp_path / ".model.q1w2e3r4.tmp"
    beside.mkdir()
    with FolderLock(folder):
        assert not any(p.exists() for p in ours) and not beside.exists()
        assert not (folder / "checkpoints" / ".step-000004.k2_9xq0a.tmp").exists()
        assert all(p.exists() for p in theirs)


def test_a_second_writer_of_a_model_folder_is_refused_with_the_first_ones_pid(tmp_path: Path, irish_path) -> None:
    folder = tmp_path / "model"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from melody.folder_lock import FolderLock; "
                               f"FolderLock({str(folder)!r}).acquire(); folder = None; print('held', flush=True); "
                               "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=os.environ | {"PYTHONPATH": str(ROOT)})
    try:
        folder.mkdir()
        assert holder.stdout.readline() == "held\n"
        done = run_cli("train", str(irish_path), "--out", "model", *sum((["--set", s] for s in TINY_SET), []),
                       cwd=tmp_path)
        assert done.returncode == 1
        assert one_line(done.stderr) == (f"melody train: model: another melody run is writing this folder "
                                         f"(pid {holder.pid}); wait for it or choose another --out")
        with pytest.raises(FolderBusy):
            FolderLock(folder).acquire()
    finally:
        holder.communicate("", timeout=60)
    FolderLock(folder).acquire().release()  # the kernel dropped the lock with its process
    assert files_under(folder) == [".lock"]


@pytest.mark.slow
def test_two_trainings_into_one_folder_one_refuses_and_the_other_finishes(tmp_path: Path, irish_path,
                                                                         training_on_one_thread) -> None:
    from melody.model_folder import load_model

    command = [sys.executable, "-m", "melody", "train", str(irish_path), "--out", "model",
               *sum((["--set", s] for s in [*TINY_SET, "training.max_steps=4"]), [])]
    runs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=os.environ | {"PYTHONPATH": str(ROOT)}) for _ in range(2)]
    results = [(run.wait(timeout=600), run.communicate()[1]) for run in runs]
    assert sorted(code for code, _ in results) == [0, 1], results
    refused = next(err for code, err in results if code == 1)
    assert "another melody run is writing this folder" in refused or "already exists" in refused
    assert "Traceback" not in refused
    model = load_model(tmp_path / "model")
    assert model.config["weights_sha256"] == model.weights_sha256
    assert model.config["result"]["step"] == 4


def test_a_run_refused_the_lock_of_a_folder_it_found_missing_leaves_it_alone(tmp_path: Path, irish_path,
                                                                             monkeypatch) -> None:
    """The race CI hit once: two runs both find --out missing, both make it, one takes the lock.
    The one refused must not remove the folder as if it had made it (the other is writing it)."""
    from melody.training.run import train

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.safetensors").write_bytes(b"the other run's")
    real_lexists = os.path.lexists
    monkeypatch.setattr(os.path, "lexists", lambda path: False if Path(path) == folder else real_lexists(path))
    with FolderLock(folder):  # the other run, between its mkdir and its first save
        with pytest.raises(FolderBusy):
            train([irish_path], out=folder, overrides=[*TINY_SET, "training.max_steps=1"])
        assert (folder / "weights.safetensors").read_bytes() == b"the other run's"


@pytest.mark.slow
def test_a_training_killed_at_any_moment_leaves_a_folder_that_loads_consistently(tmp_path: Path, irish_path,
                                                                                training_on_one_thread) -> None:
    """SIGKILL at times spread over whole runs (saves every step): whatever was on disk loads,
    its config describes its weights, and the next run's lock clears the temporary files."""
    from melody.model_folder import load_model

    command = [sys.executable, "-m", "melody", "train", str(irish_path), "--out", "model",
               *sum((["--set", s] for s in [*TINY_SET, "training.max_steps=6"]), [])]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, check=True,
                   timeout=600)
    whole = time.monotonic() - started
    loaded = 0
    for trial in range(8):
        where = tmp_path / f"trial-{trial}"
        where.mkdir()
        run = subprocess.Popen(command, cwd=where, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run.wait(timeout=whole * (0.5 + 0.08 * trial))
        except subprocess.TimeoutExpired:
            run.send_signal(signal.SIGKILL)
            run.wait()
        folder = where / "model"
        if (folder / "config.json").exists():
            model = load_model(folder)
            assert model.config["weights_sha256"] == model.weights_sha256, trial
            loaded += 1
        if folder.exists():
            FolderLock(folder).acquire().release()
            assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")], trial
        assert not [p for p in where.iterdir() if p.name.endswith((".tmp", ".old"))], trial
    assert loaded  # some kills came after the first save
