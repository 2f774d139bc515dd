"""`melody tui` in a real terminal (tmux), as a person uses it: start, generate, export, train, quit.

Runs benchmarks/tui_tmux.py's session with few probes. It checks what happens, not how fast:
the timings it prints are figures for the report (the benchmark script), never pass/fail.
"""

from __future__ import annotations

import shutil
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import tui_tmux  # noqa: E402


@pytest.mark.slow
def test_a_take_generated_in_tmux_shows_exports_and_loads_as_midi(tiny_model, capsys):
    if shutil.which("tmux") is None:
        pytest.skip(reason="tmux is not installed")
    figures = tui_tmux.run(tiny_model, probes=3, bars=2, train=True, log=lambda *_: None)
    assert figures.exported == ["take-1.abc", "take-1.json", "take-1.mid"]
    assert figures.exported_notes > 0
    assert figures.first_screen_s > 0 and len(figures.idle_key_ms) == 3
    assert figures.busy_key_ms or figures.train_key_ms, "keys were answered while melody worked"
    with capsys.disabled():
        print(f"\ntmux: first screen {figures.first_screen_s:.2f} s (bare Textual {figures.bare_first_screen_s:.2f} s), "
              f"key latency idle {tui_tmux.summary(figures.idle_key_ms)}, busy {tui_tmux.summary(figures.busy_key_ms)}")


@pytest.mark.slow
def test_the_footer_shows_f3_at_80x24_in_tmux_and_f3_opens_training(tiny_model):
    if shutil.which("tmux") is None:
        pytest.skip(reason="tmux is not installed")
    footer, opened = tui_tmux.small_terminal_footer(tiny_model, (80, 24), log=lambda *_: None)
    assert "F1 Help" in footer and "F2 Compose" in footer and "F3 Train" in footer, footer
    assert footer.rstrip().endswith("▏^p palette"), footer
    assert opened
