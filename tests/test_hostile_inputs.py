"""Hostile files and unlucky paths through the real CLI: huge tunes stop at the caps as they are
read, within 1 GiB of address space; symlink loops and unreadable paths are one line each."""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from melody.cli import main

ONE_GIB = 1024 ** 3
HEADER = "X:1\nT:hostile\nM:4/4\nL:1/8\nK:C\n"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ONE_GIB, ONE_GIB))


def melody_limited(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m melody ARGS` in a child that cannot map more than 1 GiB."""
    return subprocess.run([sys.executable, "-m", "melody", *args], cwd=cwd, capture_output=True, text=True,
                          preexec_fn=_limit_memory, timeout=600)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize("body, column, words", [
    ("C" * 60_000_000, 1_000_001, "more than 1,000,000 notes"),  # 60 MB, under the 64 MiB file cap
    ("|: CDEF GABc :|" * 1_000_000, None, "more than 100,000 bar lines"),
], ids=["60MB-one-line", "million-repeats"])
def test_a_huge_tune_stops_at_the_cap_within_1_gib(tmp_path: Path, body: str, column: int | None, words: str) -> None:
    (tmp_path / "huge.abc").write_text(HEADER + body + "\n", encoding="ascii")
    done = melody_limited("inspect", "huge.abc", cwd=tmp_path)
    line = one_line(done.stderr)
    assert done.returncode == 1 and words in line, line
    # The file, then where reading stopped (line 6 holds the body).
    assert line.startswith(f"melody inspect: huge.abc:6:{column if column else ''}"), line


def test_written_repeats_under_the_caps_still_stop_when_played(tmp_path: Path) -> None:
    # 90,000 bar lines and 480,000 notes written, played twice: the player's own cap, placed at
    # the note it had reached.
    (tmp_path / "twice.abc").write_text(HEADER + "|: CDEF GABc | CDEF GABc :|" * 30_000 + "\n", encoding="ascii")
    line = one_line(melody_limited("inspect", "twice.abc", cwd=tmp_path).stderr)
    assert "twice.abc:6:" in line and "expands to more than 100,000 bars" in line, line


@pytest.mark.slow  # inspect tokenizes 2,000,000 notes three ways: ~30 s
def test_many_tunes_in_one_file_are_read_up_to_the_file_cap_with_a_warning(tmp_path: Path) -> None:
    tune = "M:4/4\nL:1/8\nK:C\n" + "CDEFGABc|" * 4000 + "\n\n"  # 32,000 notes each
    (tmp_path / "many.abc").write_text("".join(f"X:{n}\n{tune}" for n in range(1, 80)), encoding="ascii")
    done = melody_limited("inspect", "--json", "many.abc", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(done.stdout.splitlines()) == 62  # 62 x 32,000 notes fit in 2,000,000
    assert "(tune 63) this tune and the 16 after it skipped" in done.stderr


def test_control_changes_spread_over_tracks_are_capped_for_the_file(tmp_path: Path) -> None:
    def track(body: bytes) -> bytes:
        return b"MTrk" + struct.pack(">I", len(body)) + body

    note = b"\x00\x90\x3c\x40\x10\x80\x3c\x00"
    # 40 tracks of 400,000 sustain-pedal changes each: under the cap per track, 16 million in all.
    controls = b"\x00\xb0\x40\x7f" + b"\x00\x40\x00" * 399_990
    data = b"MThd" + struct.pack(">IHHH", 6, 1, 40, 96) + track(note + controls + b"\x00\xff\x2f\x00") * 40
    (tmp_path / "pedal.mid").write_bytes(data)
    line = one_line(melody_limited("inspect", "pedal.mid", cwd=tmp_path).stderr)
    assert "pedal.mid: more than 500000 control changes" in line, line


# -- symlink loops and unreadable paths --------------------------------------------------------
@pytest.fixture
def loop(tmp_path: Path, irish_path: Path, monkeypatch) -> Path:
    """tmp_path with a symlink loop la.abc <-> lb.abc, songs/ holding one link into it beside a
    real tune, and good.abc; the working folder."""
    os.symlink("lb.abc", tmp_path / "la.abc")
    os.symlink("la.abc", tmp_path / "lb.abc")
    (tmp_path / "songs").mkdir()
    os.symlink("../la.abc", tmp_path / "songs" / "x.abc")
    tunes = irish_path.read_text(encoding="utf-8").split("\nX:")
    (tmp_path / "good.abc").write_text("\n".join(tunes[:3]) + "\n", encoding="utf-8")
    (tmp_path / "songs" / "y.abc").write_text("\n".join(tunes[:3]) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


LOOP = "la.abc: cannot read: Too many levels of symbolic links"


def error_lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if not line.startswith("warning:")]


def test_inspect_reports_a_symlink_loop_and_goes_on(loop: Path, capsys) -> None:
    assert main(["inspect", "la.abc"]) == 1
    assert error_lines(capsys) == [f"melody inspect: {LOOP}"]
    assert main(["inspect", "la.abc", "good.abc"]) == 1  # one bad file of two: said, and the other read
    assert error_lines(capsys) == [f"melody inspect: {LOOP}"]
    assert main(["inspect", "songs"]) == 1
    printed = capsys.readouterr()
    assert "songs/x.abc: cannot read: Too many levels" in printed.err and "songs/y.abc: " in printed.out


def test_tokenize_skips_a_symlink_loop_in_its_report(loop: Path, capsys) -> None:
    assert main(["tokenize", "songs", "--out", "cache", "--workers", "1"]) == 0
    printed = capsys.readouterr()
    assert "Traceback" not in printed.err
    assert "skipped: cannot read: Too many levels of symbolic links (1)" in printed.out
    report = (loop / "cache" / "report.jsonl").read_text()
    assert '"songs/x.abc"' in report and "Too many levels" in report
    assert main(["tokenize", "la.abc", "--out", "cache2", "--workers", "1"]) == 1
    assert error_lines(capsys)[-1].startswith("melody tokenize: no file could be tokenized (1 skipped")


@pytest.mark.parametrize("args", [["la.abc", "out.mid"], ["la.abc", "good.abc", "--out", "outs", "--to", "mid"]],
                         ids=["file", "folder"])
def test_convert_refuses_a_symlink_loop_and_writes_nothing(loop: Path, capsys, args: list[str]) -> None:
    assert main(["convert", *args]) == 1
    assert error_lines(capsys) == [f"melody convert: {LOOP}"]
    assert not (loop / "out.mid").exists() and not (loop / "outs").exists()


def test_train_skips_a_looping_input_and_refuses_a_looping_out(loop: Path, capsys) -> None:
    assert main(["train", "la.abc", "--out", "m", "--device", "cpu", "--workers", "1"]) == 2
    lines = error_lines(capsys)
    assert lines[-2:] == ["skipped la.abc: cannot read: Too many levels of symbolic links",
                          "melody train: nothing to train on: all 1 music file were skipped (see the report above)"]
    assert main(["train", "good.abc", "--out", "la.abc", "--device", "cpu", "--workers", "1"]) == 1
    assert error_lines(capsys) == ["melody train: la.abc: too many levels of symbolic links (a link loop) "
                                   "(nothing written)"]
    assert main(["train", "good.abc", "--out", "good.abc", "--device", "cpu", "--workers", "1"]) == 2
    assert error_lines(capsys) == ["melody train: good.abc: is a file, not a model folder; pick another --out"]
    assert sorted(path.name for path in loop.iterdir()) == ["good.abc", "la.abc", "lb.abc", "songs"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file and folder whatever its mode")
def test_unreadable_files_and_folders_are_reported_and_skipped(loop: Path, capsys) -> None:
    (loop / "songs" / "y.abc").chmod(0)
    locked = loop / "songs" / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        assert main(["inspect", "songs"]) == 1
        err = error_lines(capsys)
        assert "melody inspect: songs/y.abc: cannot read: Permission denied" in err
        assert "melody inspect: songs/locked: cannot read: Permission denied" in err
    finally:
        locked.chmod(0o755)
