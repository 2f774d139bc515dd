"""A time budget as the way to say how long to train, and a recipe sized to fit it.

`melody train DATA --minutes N` (the setting `training.max_minutes`) is a budget for the
whole run after the corpus is read: the probe below, the training steps, the evaluations,
the saves and the final bits-per-note score. Without one, and without a fixed
`training.max_steps`, the device's default applies (DEFAULT_MINUTES: 15 on a CPU, 30 on a
GPU). With a budget:

- the settings the user did not fix are sized to it (`plan`): the network's width and depth
  (together, from LADDERS) and the batch. Real training steps of each size, from the
  smallest up, measure this machine's throughput (a few percent of the budget in all); the
  largest size that can see TOKENS_PER_PARAMETER tokens per parameter in the budget (and has
  no more parameters than PARAMETERS_PER_TOKEN times the training tokens, so a small corpus
  gets a small network) is chosen;
- unless `training.max_steps` was fixed, the step count is an estimate that the loop
  re-estimates from the measured rate as it goes (`steps_left`), so the progress bar and the
  learning-rate schedule end when the time does; the run itself ends on the clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from melody.errors import UsageError
from melody.training.settings import Settings

DEFAULT_MINUTES = {"cpu": 15.0, "mps": 15.0, "cuda": 30.0}
DEFAULT_BATCH = {"cpu": 16, "mps": 16, "cuda": 64}
TOKENS_PER_PARAMETER = 20  # the compute-optimal rule of thumb (Hoffmann et al., 2022)
PARAMETERS_PER_TOKEN = 20  # at most this many parameters per training token (augmentation multiplies the data)
EVALUATIONS = 12  # validations per run when eval_every is not fixed
SIZE_KEYS = ("model.d_model", "model.hidden", "model.layers", "model.heads")
# (d_model, layers, heads) from small to large; heads only matter to the Transformer (32 dims each).
LADDERS = {
    "lstm": [(64, 2, 2), (96, 2, 2), (128, 2, 4), (192, 2, 4), (256, 2, 4), (384, 2, 4), (512, 3, 4),
             (768, 3, 4)],
    "transformer": [(64, 2, 2), (96, 3, 2), (128, 4, 4), (192, 4, 4), (256, 6, 8), (384, 6, 8),
                    (512, 8, 16)],
}
PROBE_SHARE = 0.04  # of the budget, at most, spent measuring throughput before training
PROBE_SECONDS = 30.0  # ...and never more than this


@dataclass
class Budget:
    """How long a run may take and what was sized to fit it (config.json's "budget")."""

    seconds: float
    auto_steps: bool  # steps re-estimated from the measured rate (max_steps was not fixed)
    chosen: dict[str, Any] = field(default_factory=dict)  # "section.key" -> value the plan set
    probe_tokens_per_second: float | None = None
    probe_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"minutes": round(self.seconds / 60, 4), "steps": "estimated" if self.auto_steps else "fixed",
                "chosen": self.chosen, "probe_tokens_per_second": self.probe_tokens_per_second,
                "probe_seconds": round(self.probe_seconds, 2)}


def device_kind(device: Any) -> str:
    kind = getattr(device, "type", str(device))
    return kind if kind in DEFAULT_MINUTES else "cpu"


def budget_minutes(settings: Settings, explicit: Iterable[str], device: Any) -> float | None:
    """The run's budget in minutes: max_minutes, else the device's default unless max_steps was fixed."""
    if settings.training.max_minutes > 0:
        return settings.training.max_minutes
    if "training.max_steps" in set(explicit):
        return None
    return DEFAULT_MINUTES[device_kind(device)]


def measure_throughput(step: Callable[[], int], seconds: float, sync: Callable[[], None] = lambda: None) -> float:
    """Tokens per second of `step()` (which trains one batch and returns its tokens): one
    untimed warm-up step, then steps until `seconds` have passed (at least one)."""
    step()
    sync()
    started = time.perf_counter()
    tokens = 0
    while True:
        tokens += step()
        sync()
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return tokens / elapsed


def plan(settings: Settings, explicit: Iterable[str], *, minutes: float, device: Any,
         parameters_of: Callable[[Settings], int], throughput_of: Callable[[Settings, float], float],
         training_tokens: int, validation_tokens: int) -> tuple[Settings, Budget]:
    """`settings` with what the user left open sized to `minutes`, and the Budget.

    `parameters_of(settings)` counts a network's parameters; `throughput_of(settings,
    seconds)` trains that network for about `seconds` and returns tokens per second.
    Raises UsageError when the budget cannot hold one training step and one validation.
    """
    explicit = set(explicit)
    kind = device_kind(device)
    budget_s = minutes * 60
    chosen: dict[str, Any] = {}
    if "training.batch_size" not in explicit and settings.training.batch_size != DEFAULT_BATCH[kind]:
        chosen["training.batch_size"] = DEFAULT_BATCH[kind]
    sizing = not explicit & set(SIZE_KEYS)
    ladder = LADDERS[settings.model.family]
    if kind == "cpu":
        ladder = ladder[:5]  # past 256 wide, a CPU sees too few tokens in any budget worth waiting for
    base = _with(settings, chosen)
    probe_s = min(PROBE_SECONDS, PROBE_SHARE * budget_s)
    started = time.perf_counter()
    final = base
    if not sizing:
        rate = throughput_of(base, probe_s / 2)
    else:
        # Measured, not extrapolated: from the smallest size up, each for a share of the probe
        # time, while the budget lets the size see enough tokens. (Cost does not grow smoothly
        # with size on every CPU: some widths fall off a fast path and run ten times slower.)
        rate = 0.0
        for candidate in (_sized(base, size) for size in ladder):
            parameters = parameters_of(candidate)
            spent = time.perf_counter() - started
            if rate and (parameters > PARAMETERS_PER_TOKEN * max(training_tokens, 1)
                         or spent + 2 * _step_seconds(candidate, rate * parameters_of(final) / parameters) > probe_s):
                break
            measured = throughput_of(candidate, probe_s / 4)
            left = budget_s - (time.perf_counter() - started)
            if rate and measured * left * 0.8 < TOKENS_PER_PARAMETER * parameters:
                break
            final, rate = candidate, measured
        for name in SIZE_KEYS:
            if final.get(name) != settings.get(name):
                chosen[name] = final.get(name)
    spent = time.perf_counter() - started
    training = final.training
    step_s = training.batch_size * training.window / rate
    eval_tokens = min(validation_tokens, training.eval_batches * training.batch_size * training.window)
    eval_s = eval_tokens / (3 * rate)  # a forward pass is about a third of a training step's work
    # One step, one validation and the final score must fit. (Measuring is left out: on a
    # machine that was busy while it measured, the run goes on with its smallest network and
    # at least one step rather than refusing after the wait.)
    needed = step_s + 2 * eval_s
    if needed > budget_s:
        raise UsageError(f"a budget of {minutes:g} minutes is too short here: one training step and one "
                         f"validation take about {needed:.0f} s (give at least --minutes "
                         f"{max((needed + spent) * 1.5 / 60, 0.1):.1f})")
    steps = max(1, int((budget_s - spent - 2 * eval_s) / step_s))
    auto_steps = "training.max_steps" not in explicit
    if auto_steps:
        chosen["training.max_steps"] = steps
        if "training.eval_every" not in explicit:
            chosen["training.eval_every"] = max(training.log_every, steps // EVALUATIONS)
        if "training.warmup_steps" not in explicit:
            chosen["training.warmup_steps"] = min(training.warmup_steps, max(1, steps // 10))
        if "training.checkpoint_every" not in explicit:
            chosen["training.checkpoint_every"] = max(training.log_every, steps // EVALUATIONS)
    chosen["training.max_minutes"] = minutes
    return _with(settings, chosen), Budget(seconds=budget_s, auto_steps=auto_steps, chosen=chosen,
                                           probe_tokens_per_second=round(rate, 1), probe_seconds=spent)


def steps_left(spent: float, budget_s: float, reserve: float, seconds_per_step: float) -> int:
    """How many more steps fit before the budget, keeping `reserve` seconds for the end."""
    if seconds_per_step <= 0:
        return 0
    return max(0, int((budget_s - reserve - spent) / seconds_per_step))


def _step_seconds(settings: Settings, rate: float) -> float:
    return settings.training.batch_size * settings.training.window / max(rate, 1e-9)


def _with(settings: Settings, values: dict[str, Any]) -> Settings:
    for name, value in values.items():
        section, key = name.split(".", 1)
        settings = settings.with_values(section, {key: value})
    return settings


def _sized(settings: Settings, size: tuple[int, int, int]) -> Settings:
    d_model, layers, heads = size
    return _with(settings, {"model.d_model": d_model, "model.hidden": 0, "model.layers": layers,
                            "model.heads": heads})
