"""`melody train` under real torchrun: two CPU processes with gloo, one folder written once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from melody.model_folder import load_model

TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.mark.slow
def test_two_gloo_processes_train_and_only_rank_zero_writes(tmp_path: Path, irish_path: Path) -> None:
    if not TORCHRUN.exists():
        pytest.skip(reason="torchrun is not installed beside this Python")
    data = tmp_path / "data"
    data.mkdir()
    tunes = irish_path.read_text(encoding="utf-8").split("\nX:")[:10]
    (data / "tunes.abc").write_text("\nX:".join(tunes) + "\n", encoding="utf-8")
    settings = ["model.d_model=16", "model.layers=1", "training.window=32", "training.batch_size=4",
                "training.max_steps=6", "training.eval_every=3", "training.log_every=1",
                "training.eval_batches=2"]
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "melody", "train", str(data),
               "--out", str(tmp_path / "m"), "--device", "cpu", "--workers", "1"]
    command += [part for setting in settings for part in ("--set", setting)]
    env = os.environ | {"MELODY_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # whole: the failing rank's lines come first
    assert done.stdout.splitlines() == [str(tmp_path / "m")]  # one line, from rank 0 only
    assert done.stderr.count("reached max_steps") == 1
    lines = [json.loads(line) for line in (tmp_path / "m" / "metrics.jsonl").read_text().splitlines()]
    kinds = Counter((r["step"], "train_loss" in r) for r in lines)
    assert set(kinds.values()) == {1} and len(lines) == 6 + 2  # each step's record written once
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["result"]["processes"] == 2
    # Each process drew its own batch: twice the tokens of one process's windows went by.
    assert config["result"]["tokens_seen"] > 6 * 4 * 32
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert load_model(tmp_path / "m").family == "lstm"
