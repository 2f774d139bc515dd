"""Files melody writes: the atomic writer itself, and the modes the user's umask asks for.

mkstemp makes 0600 files, so a writer that forgot `make_readable` would leave every generated
tune unreadable to the user's group; these tests run the real commands under two umasks.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IRISH
from helpers import tiny_model_folder
from melody.errors import MelodyError
from melody.files import write_atomic

# umask -> the mode of a new file and of a new folder under it
MODES = {0o022: (0o644, 0o755), 0o077: (0o600, 0o700)}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextlib.contextmanager
def umask(mask: int):
    """This process's umask set to `mask` for the block."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def melody(*args: str, mask: int, cwd: Path) -> subprocess.CompletedProcess:
    """`melody ARGS` in a fresh process started under `mask`, as a user's shell would start it."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "melody", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, preexec_fn=lambda: os.umask(mask))


def leftovers(folder: Path) -> list[str]:
    """Temporary files write_atomic would leave (it names them .<name>.<random>.tmp)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# -- write_atomic itself ---------------------------------------------------------------------------

@pytest.mark.parametrize("mask", MODES, ids=oct)
def test_write_atomic_gives_the_umask_mode_and_creates_the_folder(tmp_path: Path, mask: int) -> None:
    file_mode, folder_mode = MODES[mask]
    with umask(mask):
        path = write_atomic(tmp_path / "new" / "tune.abc", "X:1\nK:D\nABcd|\n")
    assert path.read_text() == "X:1\nK:D\nABcd|\n"
    assert mode_of(path) == file_mode
    assert mode_of(path.parent) == folder_mode
    assert leftovers(path.parent) == []


def test_a_replaced_file_takes_the_umask_mode_not_the_old_files(tmp_path: Path) -> None:
    path = tmp_path / "tune.mid"
    path.write_bytes(b"old")
    path.chmod(0o600)
    with umask(0o022):
        write_atomic(path, b"new", overwrite=True)
    assert path.read_bytes() == b"new" and mode_of(path) == 0o644


def test_write_atomic_refuses_to_replace_without_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "tune.abc"
    path.write_text("the user's own tune\n")
    before = path.stat()
    with pytest.raises(MelodyError, match=r"tune\.abc: already exists \(use --force"):
        write_atomic(path, "a generated tune\n")
    assert path.read_text() == "the user's own tune\n"
    assert path.stat().st_ino == before.st_ino  # the same file, not a copy put back
    assert leftovers(tmp_path) == []
    write_atomic(path, "a generated tune\n", overwrite=True)
    assert path.read_text() == "a generated tune\n"


def test_write_atomic_does_not_follow_a_symlink_in_the_way(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me\n")
    (tmp_path / "tune.abc").symlink_to(target)
    with pytest.raises(MelodyError, match="already exists"):
        write_atomic(tmp_path / "tune.abc", "new\n")
    assert target.read_text() == "keep me\n"


@pytest.mark.parametrize("existing", [False, True], ids=["new name", "replacing"])
def test_a_failed_write_leaves_no_temporary_file_and_the_old_file_intact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool) -> None:
    path = tmp_path / "model.safetensors"
    if existing:
        path.write_bytes(b"old weights")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, b"new weights", overwrite=True, durable=True)
    assert leftovers(tmp_path) == []
    if existing:
        assert path.read_bytes() == b"old weights"
    else:
        assert not path.exists()


def test_durable_flushes_the_data_to_disk_before_the_file_takes_its_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.json"
    real_fsync = os.fsync
    synced: list[tuple[int, bool]] = []

    def recording_fsync(fd: int) -> None:
        # What the file descriptor holds on disk at the moment of the sync, and whether the
        # final name already shows it (it must not: the rename comes after the sync).
        synced.append((os.fstat(fd).st_size, path.exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    write_atomic(path, b"{}\n" * 100, durable=True)
    assert synced == [(300, False)]
    assert path.read_bytes() == b"{}\n" * 100
    synced.clear()
    write_atomic(tmp_path / "take.json", b"{}\n")  # not durable: no sync, the rename alone
    assert synced == []


# -- the files the commands and the terminal UI write ----------------------------------------------

@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_model_folder(tmp_path_factory.mktemp("models") / "tiny")


@pytest.mark.slow  # a fresh process that imports torch, twice
@pytest.mark.parametrize("mask", MODES, ids=oct)
def test_melody_generate_writes_files_with_the_umask_mode(tmp_path: Path, model: Path, mask: int) -> None:
    file_mode, folder_mode = MODES[mask]
    result = melody("generate", "--model", str(model), "--bars", "1", "--seed", "3", "--out", "out",
                    mask=mask, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = sorted((tmp_path / "out").iterdir())
    assert sorted(p.suffix for p in written) == [".abc", ".json", ".mid"]
    assert {p.name: oct(mode_of(p)) for p in written} == {p.name: oct(file_mode) for p in written}
    assert mode_of(tmp_path / "out") == folder_mode


@pytest.mark.parametrize("mask", MODES, ids=oct)
def test_melody_convert_writes_files_with_the_umask_mode(tmp_path: Path, mask: int) -> None:
    file_mode, folder_mode = MODES[mask]
    one = melody("convert", str(IRISH), "one.mid", "--tune", "1", mask=mask, cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    many = melody("convert", str(IRISH), "--out", "tunes", "--to", "abc", "-q", mask=mask, cwd=tmp_path)
    assert many.returncode == 0, many.stderr
    written = [tmp_path / "one.mid", *sorted((tmp_path / "tunes").iterdir())]
    assert len(written) > 10
    assert {p.name: oct(mode_of(p)) for p in written} == {p.name: oct(file_mode) for p in written}
    assert mode_of(tmp_path / "tunes") == folder_mode
    assert leftovers(tmp_path) == leftovers(tmp_path / "tunes") == []


def irish_take():
    """The first tune of assets/irish.abc as a take, as the terminal UI holds one."""
    from melody.generation import GenerationSettings, Take
    from melody.music.io import read

    piece = read(IRISH)[0]
    return Take(piece=piece, prime_end=0, tokens=[1, 2], seed=5, settings=GenerationSettings(seed=5, bars=8),
                model_name="tiny", model_sha256="0" * 64)


@pytest.mark.parametrize("mask", MODES, ids=oct)
def test_the_terminal_uis_export_and_autosave_write_files_with_the_umask_mode(tmp_path: Path, mask: int) -> None:
    # ctrl+s in the UI calls generation.write_take (tui/screens/take_actions.py: export), and
    # every take is autosaved through Session.save: the same calls, under the umask.
    from melody.generation import write_take
    from melody.tui.session import Session

    file_mode, folder_mode = MODES[mask]
    with umask(mask):
        exported = write_take(irish_take(), tmp_path / "melody-out", stem="my-tune")
        session = Session(tmp_path / "state" / "sessions" / "now")
        session.add(irish_take(), name="kept")
    autosaved = sorted(session.folder.iterdir())
    assert [p.name for p in exported] == ["my-tune.mid", "my-tune.abc", "my-tune.json"]
    assert [p.name for p in autosaved] == ["take-1.json", "take-1.mid"]
    assert {p.name: oct(mode_of(p)) for p in [*exported, *autosaved]} == \
        {p.name: oct(file_mode) for p in [*exported, *autosaved]}
    assert mode_of(tmp_path / "melody-out") == folder_mode
