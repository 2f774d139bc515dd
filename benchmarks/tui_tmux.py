"""`melody tui` driven in tmux as a person would: first frame, key latency, a take exported.

Runs the real command in a detached tmux session (`tmux new-session -d -x 120 -y 40`),
types with `send-keys` and reads the screen with `capture-pane`, then reports:

    first screen    seconds from starting the command until the compose screen is drawn,
                    beside a bare Textual app with a header and footer (same harness, same process)
    key latency     ms from a key (ctrl+r: a new random seed, drawn in the form) to the change
                    on screen, idle (the baseline) and while a long generation runs
    typing          ms from typing a letter into the train form (and deleting it) to the change on
                    screen, idle (the baseline) and while a tiny model trains
    export          the take appears in the takes list, ctrl+s exports it, the .mid loads with mido
    footer          the compose screen's footer at 80x24 (F1/F2/F3 must be on it) and F3 opening training

    python benchmarks/tui_tmux.py [--model DIR] [--probes 20] [--bars 200] [--no-train]

Without --model it uses models/default when that exists, else it trains a tiny model first
(a few irish.abc tunes, `melody train`, tiny settings). Aims: first screen under 2 s, keys
answered within 100 ms while a generation runs.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MELODY = [sys.executable, "-m", "melody"]
POLL = 0.005  # seconds between screen captures
TINY = ["model.d_model=32", "model.layers=1", "training.batch_size=8", "training.window=64",
        "training.max_steps=30", "training.warmup_steps=5", "training.eval_every=10",
        "training.eval_batches=2", "training.patience=0"]
BARE_APP = ("from textual.app import App\n"
            "from textual.widgets import Header, Footer\n"
            "class Bare(App):\n"
            "    TITLE = 'melody'\n"
            "    def compose(self):\n"
            "        yield Header()\n"
            "        yield Footer()\n"
            "Bare().run()\n")


class Tmux:
    """One detached tmux session running a command in a fixed-size terminal."""

    def __init__(self, command: str, *, width: int, height: int, cwd: Path, env: dict[str, str]) -> None:
        self.name = f"melody-bench-{os.getpid()}-{time.monotonic_ns()}"
        # A tmux server of its own (-S): a session started while the previous one's server was
        # still shutting down failed with exit 1, and the user's own tmux stays out of it.
        self.socket = Path(tempfile.gettempdir()) / f"{self.name}.sock"
        self.tmux = ["tmux", "-S", str(self.socket)]
        exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
        # `; sleep` keeps the pane readable after the app exits, so a crash can be shown.
        script = f"cd {shlex.quote(str(cwd))} && env {exports} {command}; echo EXITED $?; sleep 30"
        self.started = time.perf_counter()
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
                        script], check=True)

    def screen(self) -> str:
        done = subprocess.run([*self.tmux, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True)
        return done.stdout

    def keys(self, *keys: str) -> float:
        """Send keys; the time they were sent."""
        sent = time.perf_counter()
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)
        return sent

    def click_field(self, label: str, column: int = 16) -> None:
        """Click (an SGR mouse press and release) into the form field on the line that starts with `label`."""
        lines = self.screen().splitlines()
        row = next(i for i, line in enumerate(lines, 1) if line.strip().startswith(label + " "))
        for end in "Mm":
            self.keys("-l", f"\x1b[<0;{column};{row}{end}")
        time.sleep(0.2)

    def press(self, *keys: str, gap: float = 0.15) -> None:
        """Keys one at a time, as a person types: Textual moves focus a moment after a Tab, and
        characters sent in the same instant would still reach the field being left."""
        for key in keys:
            self.keys(key)
            time.sleep(gap)

    def wait_for(self, test, timeout: float = 30.0, what: str = "") -> tuple[float, str]:
        """Poll the screen until test(screen) holds; (time it held, screen). TimeoutError otherwise."""
        deadline = time.perf_counter() + timeout
        while True:
            screen = self.screen()
            now = time.perf_counter()
            if test(screen):
                return now, screen
            if "failed:" in screen:
                raise RuntimeError(f"melody reported a failure while waiting for {what}:\n{screen}")
            if now > deadline:
                raise TimeoutError(f"timed out waiting for {what or 'the screen'}; it shows:\n{screen}")
            time.sleep(POLL)

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
        self.socket.unlink(missing_ok=True)


@dataclass
class Figures:
    first_screen_s: float = 0.0
    bare_first_screen_s: float = 0.0
    model_ready_s: float = 0.0
    idle_key_ms: list[float] = field(default_factory=list)
    busy_key_ms: list[float] = field(default_factory=list)
    idle_typing_ms: list[float] = field(default_factory=list)
    train_key_ms: list[float] = field(default_factory=list)
    exported: list[str] = field(default_factory=list)
    exported_notes: int = 0


def seed_value(screen: str) -> str | None:
    match = re.search(r"^\s*seed\s+(\d+)", screen, re.MULTILINE)
    return match.group(1) if match else None


def probe_seed(tmux: Tmux, count: int, busy_check=None) -> list[float]:
    """ctrl+r draws a new seed into the form: ms until the new number is on screen."""
    latencies = []
    for _ in range(count):
        before = seed_value(tmux.screen())
        sent = tmux.keys("C-r")
        seen, screen = tmux.wait_for(lambda s: seed_value(s) not in (None, before), 10, "a new seed")
        if busy_check is not None and not busy_check(screen):
            break  # the run finished: later probes would not measure a busy app
        latencies.append((seen - sent) * 1000)
        time.sleep(0.05)
    return latencies


def probe_typing(tmux: Tmux, count: int, field: str, value: str, busy_check=None) -> list[float]:
    """Type a letter into a form field and delete it again: ms until each shows."""
    latencies = []
    shown = re.compile(rf"^\s*{field}\s+{re.escape(value)}x\b", re.MULTILINE)
    for _ in range(count):
        sent = tmux.keys("-l", "x")
        seen, screen = tmux.wait_for(lambda s: shown.search(s), 10, "the typed letter")
        latencies.append((seen - sent) * 1000)
        sent = tmux.keys("BSpace")
        seen, screen = tmux.wait_for(lambda s: not shown.search(s), 10, "the letter to go")
        latencies.append((seen - sent) * 1000)
        if busy_check is not None and not busy_check(screen):
            break
        time.sleep(0.05)
    return latencies


def first_screen(command: str, ready, folder: Path, env: dict[str, str], size: tuple[int, int]) -> float:
    tmux = Tmux(command, width=size[0], height=size[1], cwd=folder, env=env)
    try:
        seen, _ = tmux.wait_for(ready, 30, "the first screen")
        return seen - tmux.started
    finally:
        tmux.close()


def tiny_model(folder: Path) -> Path:
    """Train a tiny model on a few shipped tunes (seconds), for when no model is given."""
    corpus = folder / "corpus"
    corpus.mkdir()
    tunes = [t.strip() + "\n" for t in (ROOT / "assets" / "irish.abc").read_text(encoding="utf-8").split("\n\n")
             if t.strip()][:12]
    for index, tune in enumerate(tunes):
        (corpus / f"tune{index}.abc").write_text(tune, encoding="utf-8")
    out = folder / "models" / "tiny"
    command = [*MELODY, "train", str(corpus), "--out", str(out), "--device", "cpu"]
    for setting in TINY:
        command += ["--set", setting]
    subprocess.run(command, check=True, capture_output=True, cwd=folder)
    return out


def prepare(folder: Path, model: Path | None, log=print) -> tuple[Path, dict[str, str], str]:
    """(model, environment, command) for `melody tui` in `folder`, picking only `model` (models/default
    when None and it exists, else a tiny one trained here)."""
    env = {"MELODY_STATE_DIR": str(folder / "state"), "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    if model is None:
        default = ROOT / "models" / "default"
        model = default if (default / "config.json").is_file() else None
    if model is None:
        log("training a tiny model for the benchmark…")
        model = tiny_model(folder)
    models_dir = folder / "picker"
    models_dir.mkdir()
    (models_dir / model.name).symlink_to(model.resolve())
    env["MELODY_MODEL"] = str(model.resolve())  # the picker preselects "the default": make it this one
    command = " ".join(shlex.quote(part) for part in [*MELODY, "tui", "--models", str(models_dir)])
    return model, env, command


def small_terminal_footer(model: Path | None, size: tuple[int, int] = (80, 24), log=print) -> tuple[str, bool]:
    """The compose screen's footer line at `size` (80x24: F3 must still be on it), and whether F3
    then opens the train screen."""
    with tempfile.TemporaryDirectory(prefix="melody-tui-small-") as temporary:
        folder = Path(temporary)
        model, env, command = prepare(folder, model, log)
        tmux = Tmux(command, width=size[0], height=size[1], cwd=folder, env=env)
        try:
            _, screen = tmux.wait_for(lambda s: "Generate" in s and model.name in s, 30, "the compose screen")
            footer = screen.rstrip("\n").splitlines()[-1]
            tmux.keys("F3")
            _, screen = tmux.wait_for(lambda s: "corpus files" in s, 10, "the train screen")
            return footer, "melody — train" in screen
        finally:
            tmux.close()


def run(model: Path | None, probes: int, bars: int, train: bool, size: tuple[int, int] = (120, 40),
        log=print) -> Figures:
    """The whole session; returns the figures (raises if a step does not happen)."""
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="melody-tui-bench-") as temporary:
        folder = Path(temporary)
        model, env, command = prepare(folder, model, log)
        bare = folder / "bare.py"
        bare.write_text(BARE_APP, encoding="utf-8")
        figures.bare_first_screen_s = first_screen(f"{shlex.quote(sys.executable)} {bare}",
                                                   lambda s: "melody" in s and "palette" in s, folder, env, size)
        tmux = Tmux(command, width=size[0], height=size[1], cwd=folder, env=env)
        try:
            seen, _ = tmux.wait_for(lambda s: "melody" in s and "Generate" in s and model.name in s, 30,
                                    "the compose screen")
            figures.first_screen_s = seen - tmux.started
            # The model loads (torch imports) in a worker after the first frame; typing before it is
            # ready works but lags while the import holds the interpreter, so wait for "ready".
            seen, _ = tmux.wait_for(lambda s: "· ready" in s, 120, "the model to load")
            figures.model_ready_s = seen - tmux.started
            figures.idle_key_ms = probe_seed(tmux, probes)

            # A long take: click the bar count, replace its value, generate.
            tmux.click_field("bars")
            tmux.press("C-a", "C-k")
            tmux.keys("-l", str(bars))
            tmux.wait_for(lambda s: re.search(rf"^\s*bars\s+{bars}\b", s, re.MULTILINE), 10, "the bar count")
            tmux.keys("C-g")
            # A short take can be done before the first look at the screen: then there is no
            # busy time to probe (the training below probes keys under load too).
            _, screen = tmux.wait_for(lambda s: "generating" in s or "take 1 ·" in s, 60, "the generation")
            if "generating" in screen:
                figures.busy_key_ms = probe_seed(tmux, probes, busy_check=lambda s: "generating" in s)
            _, screen = tmux.wait_for(lambda s: "kept take 1" in s or "take 1 ·" in s, 300, "the take")

            tmux.keys("C-s")
            tmux.wait_for(lambda s: "Export the selected take" in s, 10, "the export dialog")
            tmux.keys("Enter")
            tmux.wait_for(lambda s: "exported 3 files" in s, 20, "the export")
            figures.exported = sorted(p.name for p in (folder / "melody-out").iterdir())
            import mido

            song = mido.MidiFile(folder / "melody-out" / "take-1.mid")
            figures.exported_notes = sum(1 for track in song.tracks for message in track
                                         if message.type == "note_on" and message.velocity > 0)

            if train:
                corpus = folder / "train-corpus"
                corpus.mkdir()
                tunes = [t.strip() + "\n" for t in
                         (ROOT / "assets" / "irish.abc").read_text(encoding="utf-8").split("\n\n") if t.strip()][:8]
                for index, tune in enumerate(tunes):
                    (corpus / f"tune{index}.abc").write_text(tune, encoding="utf-8")
                tmux.keys("F3")
                tmux.wait_for(lambda s: "Scan" in s and "corpus files" in s, 10, "the train screen")
                time.sleep(0.3)
                tmux.keys("-l", str(corpus))  # the corpus path has the focus
                tmux.click_field("steps")
                tmux.keys("-l", "400")
                tmux.click_field("name")
                tmux.press("End")
                figures.idle_typing_ms = probe_typing(tmux, max(2, probes // 2), "name", "my-model")
                tmux.keys("C-g")
                tmux.wait_for(lambda s: "training ·" in s or "validating" in s, 120, "training to start")
                figures.train_key_ms = probe_typing(tmux, max(2, probes // 2), "name", "my-model",
                                                    busy_check=lambda s: "training ·" in s or "validating" in s)
                tmux.keys("Escape")
                tmux.wait_for(lambda s: "stopped:" in s or "done:" in s, 120, "training to stop")
            tmux.keys("C-q")
            tmux.wait_for(lambda s: "EXITED 0" in s, 20, "melody to quit")
        finally:
            tmux.close()
    return figures


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(values):6.1f} ms  p95 {p95:6.1f} ms  max {max(values):6.1f} ms  (n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model folder (default: models/default, else a tiny one)")
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--bars", type=int, default=200, help="length of the take generated while probing")
    parser.add_argument("--no-train", action="store_true", help="skip the training part")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed", file=sys.stderr)
        return 1
    figures = run(args.model, args.probes, args.bars, not args.no_train)
    print(f"first screen        melody tui {figures.first_screen_s:5.2f} s   bare Textual app "
          f"{figures.bare_first_screen_s:5.2f} s   ratio {figures.first_screen_s / figures.bare_first_screen_s:4.2f}"
          f"   (aim < 2 s)")
    print(f"model ready         {figures.model_ready_s:5.2f} s after start (torch and the weights load in a worker)")
    print(f"key latency idle    {summary(figures.idle_key_ms)}")
    print(f"key latency busy    {summary(figures.busy_key_ms)}   (while generating; aim < 100 ms)")
    if figures.idle_key_ms and figures.busy_key_ms:
        print(f"busy / idle median  {statistics.median(figures.busy_key_ms) / statistics.median(figures.idle_key_ms):4.2f}")
    if not args.no_train:
        print(f"typing idle         {summary(figures.idle_typing_ms)}   (a letter typed and deleted)")
        print(f"typing, training    {summary(figures.train_key_ms)}   (the same while a tiny model trains)")
    print(f"exported            {', '.join(figures.exported)} ({figures.exported_notes} notes in the MIDI file)")
    footer, opened = small_terminal_footer(args.model)
    print(f"footer at 80x24     {footer.strip()!r}   (F3 {'opens' if opened else 'does NOT open'} the train screen)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
