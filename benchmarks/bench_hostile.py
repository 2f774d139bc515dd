"""Unlucky machines, as real subprocesses (issue 16): a disk that fills half-way, a file-size
limit, read-only and impossible output places, a dangling link at an output name, two trainings
into one folder, trainings killed while they save. Per case: the exit code, whether a traceback,
a hang or anything new/half-written was left; the totals must all be zero.

    python benchmarks/bench_hostile.py            (about two minutes on a quiet machine)

A full disk cannot be made without root mounts, so it is made two ways: a writer that refuses
after N files (the CLI run in a child process with melody.files' atomic writer replaced), and
RLIMIT_FSIZE, a real kernel limit that fails writes with EFBIG. benchmarks/hostile_inputs.py's
CASES (hostile input files) run here too, so one command runs both.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
IRISH = ROOT / "assets" / "irish.abc"
TIMEOUT = 600
TINY = ["model.d_model=16", "model.layers=1", "model.dropout=0.0", "training.window=32",
        "training.batch_size=4", "training.eval_every=2", "training.eval_batches=1", "training.log_every=1",
        "training.warmup_steps=1", "training.patience=0", "training.checkpoint_every=1", "training.max_steps=6"]
TINY_SET = sum((["--set", s] for s in TINY), [])
ENV = os.environ | {"PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}

# The CLI in a child process whose atomic writer refuses (ENOSPC) from file N+1 on.
REFUSING = """
import errno, os, sys
import melody.files as files
real, count = files._write_atomic, []
def refusing(path, payload, overwrite, durable):
    if len(count) >= {after}:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    count.append(path)
    return real(path, payload, overwrite, durable)
files._write_atomic = refusing
from melody.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass
class Outcome:
    name: str
    code: int | None
    expected: tuple[int, ...]
    traceback: bool
    hung: bool
    leftovers: str  # "" when nothing new or half-written was left

    @property
    def bad(self) -> bool:
        return self.traceback or self.hung or bool(self.leftovers) or self.code not in self.expected


def run(args: list[str], cwd: Path, *, after: int | None = None, fsize: int | None = None,
        timeout: float = TIMEOUT) -> tuple[int | None, str, bool]:
    """Exit code (None when it hung), stderr, hung."""
    command = ([sys.executable, "-c", REFUSING.format(after=after), *args] if after is not None
               else [sys.executable, "-m", "melody", *args])
    limit = (lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))) if fsize else None
    try:
        done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=limit)
    except subprocess.TimeoutExpired as expired:
        return None, (expired.stderr or b"").decode() if isinstance(expired.stderr, bytes) else "", True
    return done.returncode, done.stderr, False


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.endswith((".tmp", ".old"))]


def case(name: str, work: Path, args: list[str], expected: tuple[int, ...], check: Callable[[Path], str],
         **options) -> Outcome:
    where = work / name
    where.mkdir()
    (where / "a-file").write_text("")
    before = set(listing(where))
    code, stderr, hung = run(args, where, **options)
    new = sorted(set(listing(where)) - before)
    left = check(where) if check is not None else ", ".join(new[:3]) + (f" (+{len(new) - 3})" if len(new) > 3 else "")
    return Outcome(name, code, expected, "Traceback" in stderr, hung, left)


def model_consistent(folder: Path) -> str:
    """"" when `folder` is absent or loads with a config describing its weights and no temporaries."""
    if not folder.exists():
        return ""
    from melody.folder_lock import FolderLock

    FolderLock(folder).acquire().release()  # the next writer's open clears a killed run's files
    left = temporaries(folder) + [p.name for p in folder.parent.iterdir() if p.name.endswith((".tmp", ".old"))]
    if left:
        return f"temporaries: {left[:2]}"
    if listing(folder) == [".lock"]:
        return ""  # killed before its first save: an empty folder the next run may use
    if not (folder / "config.json").exists():
        return f"{folder.name} without config.json: {listing(folder)[:3]}"
    from melody.model_folder import load_model

    try:
        model = load_model(folder)
    except Exception as error:  # noqa: BLE001 - what the case measures
        return f"does not load: {error}"
    if model.config.get("weights_sha256") != model.weights_sha256:
        return "config.json describes other weights"
    return ""


def machine_cases(work: Path) -> list[Outcome]:
    irish = str(IRISH)
    out: list[Outcome] = []
    out.append(case("convert-disk-fills-at-51", work, ["convert", "-q", irish, "--out", "out", "--to", "mid"], (1,),
                    None, after=50))
    out.append(case("generate-disk-fills-at-31", work, ["generate", "--num", "20", "--max-tokens", "120", "-q",
                                                        "--out", "out"], (1,), None, after=30))
    out.append(case("convert-file-size-limit", work, ["convert", "-q", irish, "--out", "out", "--to", "abc"], (1,),
                    None, fsize=1024))
    out.append(case("train-file-size-limit", work, ["train", irish, "--out", "model", *TINY_SET], (1,),
                    lambda where: model_consistent(where / "model"), fsize=32 * 1024))
    out.append(case("tokenize-unwritable-cache", work, ["tokenize", irish, "--workers", "1", "--out", "a-file/c"],
                    (1,), None))
    for command in (["generate", "--num", "3", "--max-tokens", "60", "-q", "--out"],
                    ["convert", "-q", irish, "--to", "mid", "--out"],
                    ["train", irish, *TINY_SET, "--out"]):
        for place in ("/proc/melody-out", "a-file/out"):
            out.append(case(f"{command[0]}-into-{'proc' if place.startswith('/') else 'a-file'}", work,
                            [*command, place], (1,), None))
    where = work / "dangling-link-at-third-name"
    (where / "out").mkdir(parents=True)
    (where / "out" / "irish-3.abc").symlink_to(where / "nowhere")
    code, stderr, hung = run(["convert", "-q", irish, "--out", "out", "--to", "abc"], where)
    out.append(Outcome(where.name, code, (2,), "Traceback" in stderr, hung,
                       ", ".join(p for p in listing(where) if p not in ("out", "out/irish-3.abc"))))
    out.append(two_trainings(work))
    out.extend(killed_trainings(work))
    out.append(eval_into_a_file(work))
    return out


def two_trainings(work: Path) -> Outcome:
    where = work / "two-trainings-one-out"
    where.mkdir()
    command = [sys.executable, "-m", "melody", "train", str(IRISH), "--out", "model", *TINY_SET]
    runs = [subprocess.Popen(command, cwd=where, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [(run.wait(timeout=TIMEOUT), run.communicate()[1]) for run in runs]
    codes = sorted(code for code, _ in results)
    left = model_consistent(where / "model")
    return Outcome(where.name, 0 if codes == [0, 1] else codes[-1], (0,),
                   any("Traceback" in err for _, err in results), False, left)


def killed_trainings(work: Path, trials: int = 6) -> list[Outcome]:
    """SIGKILL at times spread over a whole run that saves every step."""
    base = work / "kill-timing"
    base.mkdir()
    command = [sys.executable, "-m", "melody", "train", str(IRISH), "--out", "model", *TINY_SET]
    started = time.monotonic()
    subprocess.run(command, cwd=base, env=ENV, capture_output=True, timeout=TIMEOUT)
    whole = time.monotonic() - started
    outcomes = []
    for trial in range(trials):
        where = work / f"kill-mid-save-{trial}"
        where.mkdir()
        run = subprocess.Popen(command, cwd=where, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
        try:
            run.wait(timeout=whole * (0.4 + 0.12 * trial))
        except subprocess.TimeoutExpired:
            run.send_signal(signal.SIGKILL)
        stderr = run.communicate()[1]
        outcomes.append(Outcome(where.name, run.returncode, (0, -9), "Traceback" in stderr, False,
                                model_consistent(where / "model")))
    return outcomes


def eval_into_a_file(work: Path) -> Outcome:
    where = work / "eval-json-under-a-file"
    where.mkdir()
    (where / "a-file").write_text("")
    tunes = where / "tunes.abc"
    tunes.write_text(IRISH.read_text(encoding="utf-8")[:3000].rsplit("\nX:", 1)[0] + "\n")
    code, stderr, hung = run(["eval", "--model", str(work / "kill-timing" / "model"), "--num", "0",
                              str(tunes), "--json", "a-file/report.json"], where)
    return Outcome(where.name, code, (1,), "Traceback" in stderr, hung,
                   ", ".join(p for p in listing(where) if p not in ("a-file", "tunes.abc")))


def input_cases(work: Path) -> list[Outcome]:
    """benchmarks/hostile_inputs.py's CASES: the hostile input files (issue 16, parts 1 and 5)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from hostile_inputs import CASES, run_case  # type: ignore[import-not-found]

    outcomes = []
    for name, setup, expected in CASES:
        result = run_case(setup, timeout=300)
        outcomes.append(Outcome(name, result["code"], expected, result["traceback"], result["hang"],
                                ", ".join(result["leftover"])))
    return outcomes


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as folder:
        work = Path(folder)
        outcomes = machine_cases(work) + input_cases(work)
    print(f"{'case':34} {'exit':>5} {'want':>6} {'traceback':>9} {'hang':>5}  leftovers")
    for o in outcomes:
        print(f"{o.name:34} {str(o.code):>5} {'/'.join(map(str, o.expected)):>6} "
              f"{'yes' if o.traceback else 'no':>9} {'yes' if o.hung else 'no':>5}  {o.leftovers or 'no'}")
    totals = {"wrong exit": sum(o.code not in o.expected for o in outcomes),
              "tracebacks": sum(o.traceback for o in outcomes), "hangs": sum(o.hung for o in outcomes),
              "leftovers": sum(bool(o.leftovers) for o in outcomes)}
    print(f"{len(outcomes)} cases; " + ", ".join(f"{k}: {v}" for k, v in totals.items()) + " (all must be 0)")
    return 1 if any(totals.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
