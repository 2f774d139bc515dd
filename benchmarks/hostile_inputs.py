"""Hostile inputs, each through the real CLI under a 1 GiB address-space limit and a timeout.

    python benchmarks/hostile_inputs.py [--timeout 300] [--only NAME]

Each case in `CASES` is (name, setup): `setup(folder)` writes its input into an empty folder and
returns the `melody` arguments to run there. A case passes when melody ends (no hang), prints
no traceback, and leaves no file behind in that folder. The per-case table says, for each:
the exit code, and yes/no for traceback, hang and leftover files; the totals line counts the
yeses, and every total must be 0. (Issue 16, parts 1 and 5; benchmarks/bench_hostile.py covers
parts 3 and 4.)
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

ONE_GIB = 1024 ** 3
HEADER = "X:1\nT:hostile\nM:4/4\nL:1/8\nK:C\n"
TUNE = HEADER + "|: CDEF GABc | cBAG FEDC :|\n"

Setup = Callable[[Path], list[str]]


def _huge_line(folder: Path) -> list[str]:
    """A one-line tune of 60 MB: under the 64 MiB file cap, 60 million notes."""
    (folder / "huge.abc").write_text(HEADER + "C" * 60_000_000 + "\n", encoding="ascii")
    return ["inspect", "huge.abc"]


def _million_repeats(folder: Path) -> list[str]:
    (folder / "repeats.abc").write_text(HEADER + "|: CDEF GABc :|" * 1_000_000 + "\n", encoding="ascii")
    return ["inspect", "repeats.abc"]


def _many_lines(folder: Path) -> list[str]:
    """Twenty million comment lines: no notes, but each line a string if split naively."""
    (folder / "lines.abc").write_text(TUNE + "%\n" * 20_000_000, encoding="ascii")
    return ["tokenize", "lines.abc", "--out", os.environ["MELODY_CACHE"], "--workers", "1"]


def _loop(folder: Path) -> None:
    os.symlink("lb.abc", folder / "la.abc")
    os.symlink("la.abc", folder / "lb.abc")
    (folder / "good.abc").write_text(TUNE, encoding="ascii")


def _loop_input(command: str) -> Setup:
    def setup(folder: Path) -> list[str]:
        _loop(folder)
        return {"inspect": ["inspect", "la.abc", "good.abc"],
                "tokenize": ["tokenize", "la.abc", "good.abc", "--out", os.environ["MELODY_CACHE"], "--workers", "1"],
                "convert": ["convert", "la.abc", "out.mid"],
                "train": ["train", "la.abc", "--out", "m", "--device", "cpu", "--workers", "1"]}[command]
    return setup


def _loop_out(command: str) -> Setup:
    def setup(folder: Path) -> list[str]:
        _loop(folder)
        if command == "train":
            return ["train", "good.abc", "--out", "la.abc", "--device", "cpu", "--workers", "1",
                    "--set", "training.max_steps=1"]
        return ["generate", "--out", "la.abc", "--num", "1", "--max-bars", "2", "--seed", "1"]
    return setup


def _unreadable_file(folder: Path) -> list[str]:
    """A file with mode 000 (root reads it all the same: then it is simply read)."""
    (folder / "locked.abc").write_text(TUNE, encoding="ascii")
    (folder / "locked.abc").chmod(0)
    return ["inspect", "locked.abc"]


def _unreadable_folder(folder: Path) -> list[str]:
    (folder / "songs" / "locked").mkdir(parents=True)
    (folder / "songs" / "good.abc").write_text(TUNE, encoding="ascii")
    (folder / "songs" / "locked" / "x.abc").write_text(TUNE, encoding="ascii")
    (folder / "songs" / "locked").chmod(0)
    return ["inspect", "songs"]


# (name, setup, the exit codes that are right): a refused file is 1, a run with nothing left to
# do 2 (usage: nothing to train on), a batch that skips the bad file and keeps the rest 0; root
# reads a mode-000 file, so there 0 is right too.
CASES: list[tuple[str, Setup, tuple[int, ...]]] = [
    ("60MB one-line tune", _huge_line, (1,)),
    ("10^6 repeats", _million_repeats, (1,)),
    ("20M comment lines", _many_lines, (1,)),
    ("symlink loop in: inspect", _loop_input("inspect"), (1,)),
    ("symlink loop in: tokenize", _loop_input("tokenize"), (0,)),
    ("symlink loop in: convert", _loop_input("convert"), (1,)),
    ("symlink loop in: train", _loop_input("train"), (2,)),
    ("symlink loop as --out: train", _loop_out("train"), (1,)),
    ("symlink loop as --out: generate", _loop_out("generate"), (1,)),
    ("unreadable file (mode 000)", _unreadable_file, (0, 1)),
    ("unreadable folder (mode 000)", _unreadable_folder, (0, 1)),
]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ONE_GIB, ONE_GIB))


def _files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def run_case(setup: Setup, timeout: float) -> dict:
    """Run one case in a fresh folder: exit code, traceback, hang, leftover files, the last line."""
    with tempfile.TemporaryDirectory(prefix="melody-hostile-") as temporary:
        folder = Path(temporary) / "case"
        folder.mkdir()
        env = dict(os.environ, MELODY_CACHE=str(Path(temporary) / "cache"))
        os.environ["MELODY_CACHE"] = env["MELODY_CACHE"]
        argv = setup(folder)
        before = _files(folder)
        try:
            done = subprocess.run([sys.executable, "-m", "melody", *argv], cwd=folder, env=env,
                                  capture_output=True, text=True, timeout=timeout, preexec_fn=_limit_memory)
            code, stderr, hang = done.returncode, done.stderr, False
        except subprocess.TimeoutExpired as expired:
            code, hang = None, True
            stderr = expired.stderr.decode(errors="replace") if isinstance(expired.stderr, bytes) else expired.stderr or ""
        left = sorted(_files(folder) - before)
        for path in folder.rglob("*"):  # let the folder be removed whatever a case chmodded
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        lines = [line for line in stderr.splitlines() if line.strip()]
        return {"code": code, "traceback": "Traceback" in stderr, "hang": hang, "leftover": left,
                "last": lines[-1] if lines else ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=300, help="seconds before a case counts as a hang")
    parser.add_argument("--only", help="run only the cases whose name contains this")
    args = parser.parse_args()
    totals = {"wrong exit": 0, "traceback": 0, "hang": 0, "leftover": 0}
    print(f"{'case':34} {'exit':>4} {'want':>4}  traceback  hang  leftover  last line of stderr")
    for name, setup, expected in CASES:
        if args.only and args.only not in name:
            continue
        result = run_case(setup, args.timeout)
        result["wrong exit"] = result["code"] not in expected
        for key in totals:
            totals[key] += bool(result[key])
        yes = {key: "yes" if result[key] else "no" for key in totals}
        want = "/".join(map(str, expected))
        print(f"{name:34} {str(result['code']):>4} {want:>4}  {yes['traceback']:9}  {yes['hang']:4}  {yes['leftover']:8}  "
              f"{result['last'][:110]}", flush=True)
    print(f"totals: wrong exit {totals['wrong exit']}, traceback {totals['traceback']}, hang {totals['hang']}, "
          f"leftover files {totals['leftover']} (each must be 0)")
    return 0 if not any(totals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
