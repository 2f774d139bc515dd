"""Write benchmarks/REPORT.md: every benchmark's figures and the default model's evaluation.

    python benchmarks/report.py [--budget-minutes M] [--quick] [--model models/default]

1. Runs each benchmark script beside it (bench_abc.py, bench_tokenize.py, bench_train.py,
   bench_sampling.py: each prints its figures beside its baseline) in its own process, and
   quotes what it printed.
2. Evaluates the default model on its held-out tunes (`melody.evaluation.evaluate`, as
   `melody eval` does) beside (a) the Kneser-Ney n-gram baseline on the same tokens and
   (b) the LSTM of the MIT 6.S191 music lab (benchmarks/mit_lab_baseline.toml: abc-char
   tokens), trained here through `melody.training.train` on the same corpus and split for
   the default model's own recorded training time (capped by --budget-minutes). Bits per
   note is the common currency.

--quick shortens everything (benchmarks' own --quick, a 1-minute lab LSTM, 10 pieces at one
temperature) to check the pipeline. --only PART,... re-runs some parts (benchmarks,
evaluation, or single scripts such as bench_train.py) and keeps the other parts' figures,
each with its own date and machine line, from the existing report.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (section title, script, its arguments under --quick: None means its own --quick flag if it has one)
BENCHMARKS = (
    ("ABC reading: tunes/s beside music21", "bench_abc.py", ["--music21-tunes", "10", "--repeat", "1"]),
    ("Tokenizing MIDI to REMI: files/s beside MidiTok", "bench_tokenize.py", None),
    ("Corpus pipeline: cold and cached tokenizing beside a bare loop", "bench_corpus.py", ["--files", "100"]),
    ("Training: tokens/s through melody's loop beside a bare PyTorch loop", "bench_train.py", None),
    ("Training threads: one against all, as found and beside a busy process", "bench_threads.py", ["--seconds", "1"]),
    ("Training to a time budget: defaults on 200 ABC tunes and 20 MIDI songs, and SIGTERM", "bench_budget.py",
     ["--minutes", "1", "--kills", "2"]),
    ("Sampling: tokens/s with and without the cache, batch 1 and 32", "bench_sampling.py", None),
    ("Form: returning parts, endings and a classifier two-sample test", "bench_form.py", ["--num", "20"]),
    ("Length: where a model ends a tune it is left to end", "bench_length.py", ["--num", "20"]),
    ("Notation: held-out tunes at half note values", "bench_notation.py", None),
    ("Infilling: the suffix's use and an infill's time", "bench_infill.py", ["--repeats", "1"]),
    ("Terminal UI in tmux: first frame and key latency", "tui_tmux.py", ["--probes", "5", "--no-train"]),
    ("Hostile files and unlucky machines: tracebacks, hangs and leftovers", "bench_hostile.py", []),
)
METHOD = [
    "How to read it:",
    "",
    "- **Bits per note**: a piece's total negative log-likelihood in bits over every token after "
    "BOS (EOS included) divided by its notes; the set's figure is total bits over total notes. "
    "It compares models with different tokenizers (remi, abc-char) on the same tunes.",
    "- **5-gram KN**: interpolated modified Kneser-Ney (Chen and Goodman, three discounts per "
    "order) on the default model's own training tokens; order 5 scored best on the held-out "
    "tunes among orders 3 to 10 (3: 7.55, 4: 4.08, 5: 3.94, 6: 4.01, 8: 3.94, 10: 4.00 bits per note).",
    "- **Statistics** (MusPy's definitions): each generated piece is as long as the real tunes' "
    "median (repeats expanded). *intra* is the mean distance between two real tunes (the real "
    "set's own spread), *inter* the mean distance from a generated piece to a real one, "
    "*overlap* the overlap area of the two distance densities (Yang and Lerch 2020; 1 = "
    "indistinguishable); *inside* means the generated median lies within the real tunes' 5-95 % "
    "range (for the duration histogram: a typical generated piece is no farther from the real "
    "ones than the 95th percentile of real-to-real distances). Generation uses `melody "
    "generate`'s defaults (top-p 0.95, the model's opening meter and key) at each temperature.",
    "- **Novelty**: transposition-invariant melody (top line) as (interval, duration) per note; "
    "a near-copy shares a run of at least 32 notes with one training tune or more than 80 % of "
    "its 8-note windows with the training set. The real held-out tunes' own figures (the first "
    "novelty line) show the natural level of borrowing in this folk corpus, including tunes "
    "entered twice.",
    "",
]
LAB_RECIPE = ROOT / "benchmarks" / "mit_lab_baseline.toml"
LAB_FOLDER = ROOT / "runs" / "mit-lab-lstm"


def machine() -> str:
    """One line about the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        versions = f"torch {torch.__version__}, {torch.get_num_threads()} torch threads"
    except ImportError:  # pragma: no cover - melody needs torch
        versions = "no torch"
    load = ", load average %.1f %.1f %.1f" % os.getloadavg() if hasattr(os, "getloadavg") else ""
    return f"{cpu}, {os.cpu_count()} logical CPUs{load}; Python {platform.python_version()}, {versions}"


def run_script(script: str, quick_args: list[str] | None, quick: bool, timeout: float) -> tuple[str, float, str, list[str]]:
    """(what the benchmark printed, seconds, status, its arguments) from running it in its own process."""
    path = ROOT / "benchmarks" / script
    if not path.is_file():
        return "", 0.0, "not run: the script does not exist yet", []
    arguments: list[str] = []
    if quick:
        arguments = list(quick_args) if quick_args is not None else (
            ["--quick"] if "--quick" in path.read_text(encoding="utf-8") else [])
    command = [sys.executable, str(path), *arguments]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout.decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        return output, time.perf_counter() - start, f"stopped after {timeout:.0f} s", arguments
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        return done.stdout, seconds, f"failed (exit {done.returncode}): {last}", arguments
    return done.stdout, seconds, "ok", arguments


def training_seconds(config: dict[str, Any]) -> float | None:
    """The training time a model's config.json records (result.train_seconds), in seconds."""
    seconds = (config.get("result") or {}).get("train_seconds")
    return float(seconds) if isinstance(seconds, (int, float)) and seconds > 0 else None


def train_lab_lstm(default: Any, minutes: float, force: bool) -> tuple[Any, str]:
    """The MIT-lab LSTM trained on the default model's corpus and split for `minutes`."""
    from melody.evaluation.data import locate_source, split_settings, training_sources
    from melody.model_folder import load_model

    paths = [locate_source(p, Path(default.folder)) for p in training_sources(default.config)]
    if not paths or any(p is None for p in paths):
        raise RuntimeError("the default model's training data cannot be found")
    split = split_settings(default.config)
    overrides = {"training.max_minutes": float(minutes)}
    if "seed" in split:
        overrides["training.seed"] = int(split["seed"])
    if "validation_fraction" in split:
        overrides["data.validation_fraction"] = float(split["validation_fraction"])
    marker = LAB_FOLDER / "report-budget.json"
    wanted = {"minutes": round(minutes, 3), "data": [str(p) for p in paths], "overrides": overrides}
    if not force and marker.is_file() and (LAB_FOLDER / "model.safetensors").is_file():
        try:
            if json.loads(marker.read_text()) == wanted:
                return load_model(LAB_FOLDER), "reused from an earlier run with the same budget"
        except (OSError, ValueError):
            pass
    from melody.training import train

    # The default recipe (assets/configs/default.toml) is trained pinned to one core (taskset
    # -c 0): on a shared machine that beat two contending torch threads. The lab LSTM gets
    # the same conditions: one core, the same clock budget.
    pinned = hasattr(os, "sched_setaffinity")
    if pinned:
        cpus = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(cpus)})
    start = time.perf_counter()
    try:
        train([str(p) for p in paths], out=str(LAB_FOLDER), config=str(LAB_RECIPE), overrides=overrides,
              force=True, device="cpu")
    finally:
        if pinned:
            os.sched_setaffinity(0, cpus)
    elapsed = time.perf_counter() - start
    marker.write_text(json.dumps(wanted))
    return load_model(LAB_FOLDER), f"trained now on one core, {elapsed / 60:.1f} min wall clock with validation"


def _relative(path: str | Path) -> str:
    path = Path(path)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def fence(text: str) -> str:
    """A script's output for the report: as it is when the script writes Markdown (a heading
    first, as bench_form.py and bench_notation.py do), else as fenced text."""
    if text.lstrip().startswith("## "):
        return text.strip().replace("\n## ", "\n### ").replace("## ", "### ", 1)
    return "```text\n" + text.rstrip() + "\n```"


def _blocks(text: str) -> dict[str, str]:
    """The named blocks of an earlier report (between <!-- begin NAME --> and <!-- end NAME -->)."""
    blocks = {}
    for match in re.finditer(r"<!-- begin (\S+) -->\n(.*?)\n<!-- end \1 -->", text, flags=re.S):
        blocks[match.group(1)] = match.group(0)
    old = blocks.pop("benchmarks", None)
    if old:  # an older report kept every benchmark in one block under one date line
        lines = old.splitlines()[1:-1]
        stamp = lines[0] if lines and lines[0].startswith("_Measured") else ""
        for section in "\n".join(lines).split("\n## ")[1:]:
            script = re.search(r"`python benchmarks/(\S+\.py)", section)
            if script and script.group(1) not in blocks:
                blocks[script.group(1)] = _block(script.group(1), [stamp, "", "## " + section.strip(), ""])
    return blocks


def _block(name: str, lines: list[str]) -> str:
    return "\n".join([f"<!-- begin {name} -->", *lines, f"<!-- end {name} -->"])


def main(argv: list[str] | None = None) -> int:
    scripts = [script for _, script, _ in BENCHMARKS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help="cap on the MIT-lab LSTM's training time (default: the default model's own)")
    parser.add_argument("--quick", action="store_true", help="short runs everywhere, to check the pipeline")
    parser.add_argument("--model", type=Path, default=None, help="model to evaluate (default: models/default)")
    parser.add_argument("--num", type=int, default=None, help="generated pieces per temperature (default 100)")
    parser.add_argument("--retrain", action="store_true", help="train the lab LSTM even if a matching one exists")
    parser.add_argument("--only", default=None, metavar="PART,...",
                        help="run only these parts (benchmarks, evaluation, or script names such as "
                             "bench_train.py); the others keep their figures from the existing report")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds each benchmark script may run (default 600; 300 with --quick)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "REPORT.md")
    args = parser.parse_args(argv)
    wanted = set(scripts) | {"evaluation"}
    if args.only:
        wanted = set()
        for part in args.only.split(","):
            part = part.strip()
            if part == "benchmarks":
                wanted |= set(scripts)
            elif part == "evaluation" or part in scripts:
                wanted.add(part)
            else:
                parser.error(f"--only: unknown part {part!r} (benchmarks, evaluation, {', '.join(scripts)})")

    started = time.perf_counter()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/report.py" + (" --quick" if args.quick else "") + (
        f" --budget-minutes {args.budget_minutes:g}" if args.budget_minutes is not None else "") + (
        f" --only {args.only}" if args.only else "")
    stamp = f"_Measured {now} by `{command}` on: {machine()}._"
    blocks: dict[str, str] = {}
    timeout = args.timeout or (300 if args.quick else 600)
    for title, script, quick_args in BENCHMARKS:
        if script not in wanted:
            continue
        print(f"report: running {script}", file=sys.stderr)
        output, seconds, status, used = run_script(script, quick_args, args.quick, timeout=timeout)
        blocks[script] = _block(script, [stamp, "", f"## {title}", "",
                                         f"`python benchmarks/{' '.join([script, *used])}` ({status}, {seconds:.0f} s):",
                                         "", fence(output) if output.strip() else "_no output_", ""])
    if "evaluation" in wanted:
        summary: list[str] = []
        evaluation = evaluation_section(args, summary)
        blocks["evaluation"] = _block("evaluation", [*evaluation[:2], stamp, "", *evaluation[2:]])
        blocks["summary"] = _block("summary", ["## Summary", "", stamp, "", *summary, ""])
    # Read the earlier report only now: another part may have been written meanwhile.
    earlier = _blocks(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    missing = "_Not measured yet: run `python benchmarks/report.py`._"

    def part(name: str, heading: str = "") -> str:
        return blocks.get(name) or earlier.get(name) or _block(name, [heading, "", missing] if heading else [missing])

    parts = ["# melody: benchmark and evaluation report", "",
             "Each part below says when, how and on which machine it was measured; every benchmark "
             "prints its own baseline beside it, measured in the same process, so ratios hold even "
             "on a busy machine where absolute figures drift.", "",
             part("summary", "## Summary"), ""]
    # Hand-written blocks (a model compared with its predecessor, say) are kept where they stand.
    known = {"summary", "evaluation", *(script for _, script, _ in BENCHMARKS)}
    parts += [block + "\n" for name, block in earlier.items() if name not in known]
    for title, script, _ in BENCHMARKS:
        parts += [part(script, f"## {title}"), ""]
    parts += [part("evaluation", "## Evaluation of the default model"), "",
              f"_The last run (`{command}`) took {(time.perf_counter() - started) / 60:.1f} minutes._", ""]
    from melody.files import write_atomic

    write_atomic(args.out, "\n".join(parts).encode("utf-8"), overwrite=True)
    print(f"wrote {args.out}")
    return 0


def evaluation_section(args: argparse.Namespace, summary: list[str]) -> list[str]:
    """The default model beside the n-gram baseline and the MIT-lab LSTM, as Markdown lines."""
    from melody.errors import MelodyError

    lines = ["## Evaluation of the default model", ""]
    try:
        from melody.evaluation.data import held_out_and_training
        from melody.evaluation.evaluate import evaluate, generation_sampler
        from melody.evaluation.likelihood import evaluate_likelihood
        from melody.generation import resolve_model
    except ImportError as error:
        return lines + [f"Not run: {error} (a part of melody it needs does not exist yet).", ""]
    try:
        model = resolve_model(str(args.model) if args.model else "default")
    except MelodyError as error:
        return lines + [f"Not run: {error}", ""]
    split = held_out_and_training(model)
    if split is None:
        return lines + [f"Not run: the training data of {model.folder} cannot be found.", ""]
    num = args.num if args.num is not None else (10 if args.quick else 100)
    temperatures = (1.0,) if args.quick else (0.8, 1.0, 1.2)
    print(f"report: evaluating {model.folder} ({num} pieces per temperature)", file=sys.stderr)
    report = evaluate(model, split.held_out, split.training, sample=generation_sampler(model), num=num,
                      temperatures=temperatures, name=model.name,
                      data=f"its {len(split.held_out)} held-out tunes ({', '.join(_relative(p) for p in split.paths)})")
    # The MIT-lab LSTM: same corpus and split, the default model's training time.
    recorded = training_seconds(model.config)
    minutes = (recorded / 60) if recorded else 10.0
    if args.budget_minutes is not None:
        minutes = min(minutes, args.budget_minutes)
    if args.quick:
        minutes = min(minutes, 1.0)
    lab_note = ""
    try:
        print(f"report: training the MIT-lab LSTM for {minutes:.1f} min", file=sys.stderr)
        lab, how = train_lab_lstm(model, minutes, args.retrain)
        lab_split = held_out_and_training(lab)
        if lab_split is None:
            raise RuntimeError("its held-out split cannot be rebuilt")
        report.likelihood["MIT-lab LSTM (abc-char)"] = evaluate_likelihood(lab, lab_split.held_out)
        lab_result = lab.config.get("result") or {}
        lab_note = (f"MIT-lab LSTM (`benchmarks/mit_lab_baseline.toml`): "
                    f"{sum(p.numel() for p in lab.net.parameters()):,} parameters, budget {minutes:.1f} min "
                    f"(the default model's recorded training time: {(recorded or 0) / 60:.1f} min); it ran "
                    f"{lab_result.get('step', '?')} steps in {float(lab_result.get('train_seconds') or 0) / 60:.1f} "
                    f"min of training ({how}), scored on the same {len(lab_split.held_out)} held-out tunes.")
    except Exception as error:  # noqa: BLE001 - the report says what failed and goes on
        lab_note = f"MIT-lab LSTM: not evaluated ({type(error).__name__}: {error})."
    lines += [f"`melody eval` figures of `{_relative(model.folder)}` "
              f"({model.family}, {sum(p.numel() for p in model.net.parameters()):,} parameters, "
              f"{model.tokenizer.name} tokens) on {report.data}.", "", lab_note, "",
              fence(report.format()), "", *METHOD]
    # Headline figures for the summary.
    results = report.likelihood
    first = next(iter(results.values()))
    summary.append("| model | tokens | bits/token | bits/note (held-out) |")
    summary.append("|---|---|---:|---:|")
    for name, result in results.items():
        scheme = "abc-char" if "abc-char" in name else model.tokenizer.name
        summary.append(f"| {name} | {scheme} | {result.bits_per_token:.3f} | {result.bits_per_note:.3f} |")
    best = min(results, key=lambda n: results[n].bits_per_note if not math.isnan(results[n].bits_per_note) else math.inf)
    summary.append("")
    summary.append(f"Lowest bits per note: **{best}**" + (" (the default model)." if results[best] is first else "."))
    for t in report.temperatures:
        summary.append(f"- temperature {t.temperature:g}: {t.copies} near-copies in {len(t.novelty)} pieces; "
                       f"{t.inside} of {len(t.comparisons)} music statistics inside the real set's spread.")
    return lines


if __name__ == "__main__":
    sys.exit(main())
