"""One training run, step by step: the Trainer behind melody.training.train."""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load as load_safetensors
from torch.nn import functional as F

from melody import __version__
from melody.corpus.openings import OPENINGS_FILE, openings_of
from melody.errors import MelodyError, ModelError, Terminated, UsageError
from melody.files import write_atomic
from melody.model_folder import (CONFIG_FILE, FORMAT, FORMAT_VERSION, LOSS_PLOT_FILE, METRICS_FILE,
                                 TOKENIZER_FILE, WEIGHTS_FILE, WEIGHTS_HASH, config_bytes, load_weights,
                                 read_config, save_model)
from melody.nn import build_model, check_fits
from melody.nn.sizes import TRAINING_COPIES
from melody.tokenizers import PAD, get_tokenizer, load_tokenizer
from melody.nn.likelihood import evaluate_likelihood
from melody.nn.threads import cap_threads, intra_op_threads
from melody.training.budget import Budget, budget_minutes, device_kind, measure_throughput, plan, steps_left
from melody.training.checkpoint import checkpoint_files, load_checkpoint, save_checkpoint
from melody.training.events import STOP_REASONS, TrainEvent, TrainResult, format_seconds
from melody.training.metrics import loss_plot, read_metrics
from melody.training.optim import learning_rate, make_optimizer
from melody.training.runtime import Runtime, SignalStop, stop_on_signals
from melody.training.settings import Settings, model_config, validate
from melody.training.data import (BatchPrefetcher, WindowSampler, rng_for_step, split_pieces, split_summary,
                                  transposer_for, validation_windows)


HELD_OUT_PIECES = 64  # pieces scored in bits per note at the end (a cap: it must stay cheap)
REPORT_FILE = "report.jsonl"  # the corpus report, one line per file, beside the model
THREAD_PROBE_SECONDS = 2.0  # per thread count measured (at most 1% of the budget)
THREAD_MARGIN = 1.1  # one thread must train this much faster to be chosen over all of them


class Trainer:
    """Holds one run's state; `run()` trains until a stop condition and writes the folder."""

    def __init__(self, *, data: list, settings: Settings, out: Path, runtime: Runtime,
                 explicit: frozenset[str] = frozenset(), asked: frozenset[str] = frozenset(),
                 previous: dict[str, Any] | None, on_event: Callable[[TrainEvent], None] | None,
                 stop: threading.Event | None, workers: int | None, compile: bool,
                 cache_dir: Path | None, replace: bool) -> None:
        self.data = [str(p) for p in data]
        self.settings = settings
        self.training = settings.training
        self.out = out
        self.runtime = runtime
        self.previous = previous
        self._on_event = on_event
        self.explicit = explicit
        self.asked = asked
        # The caller's stop event (the terminal UI's stop button), and the one signals set.
        self.stop = stop
        self.signalled = threading.Event()
        self.signals: SignalStop | None = None
        self.budget: Budget | None = None
        self.workers = workers
        self.compile = compile
        self.cache_dir = cache_dir
        self.replace = replace
        self.created = previous is not None  # the folder exists and belongs to this run
        # The hash of the weights on disk, which every config.json this run writes records.
        self.weights_sha256: str | None = (previous or {}).get(WEIGHTS_HASH)
        self.step = 0
        self.best_loss: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self.tokens_seen = 0
        self.seconds_before = 0.0  # training seconds of earlier sessions (a resumed run)
        self.clock_start: float | None = None  # when this session's budgeted time began
        self.end_reserve = 0.0  # seconds kept for the final validation, save and score
        self.stopped = "max_steps"  # or STOP_REASONS' other keys
        self.report_saved = False
        self.held_out: dict[str, Any] | None = None  # bits per note of the held-out pieces, at the end
        self.metrics: list[dict[str, Any]] = []
        self.paused = 0.0  # seconds of evaluation and saving since the last log line
        self.last_log_time = time.perf_counter()
        self.session_first_step = 0

    # -- time ---------------------------------------------------------------------------------
    @property
    def train_seconds(self) -> float:
        """Real seconds spent training, over every session: from the corpus read to now."""
        running = time.perf_counter() - self.clock_start if self.clock_start is not None else 0.0
        return self.seconds_before + running

    # -- reporting ---------------------------------------------------------------------------
    def emit(self, phase: str, **fields: Any) -> None:
        if self._on_event is not None and self.runtime.is_main:
            fields = {"step": self.step, "max_steps": self.training.max_steps,
                      "best_validation_loss": self.best_loss} | fields
            self._on_event(TrainEvent(phase=phase, **fields))

    # -- setting up ----------------------------------------------------------------------------
    def _tokenizer(self):
        name = self.settings.data.tokenizer
        if self.previous is not None:
            tokenizer = load_tokenizer(self.out / TOKENIZER_FILE, within=self.out)
            if tokenizer.name != name:
                raise ModelError(f"cannot resume: {self.out} was trained with the {tokenizer.name} "
                                 f"tokenizer, not {name}")
            return tokenizer
        return get_tokenizer(name)

    def _corpus(self, tokenizer):
        from melody.corpus import build_corpus

        def progress(done: int, total: int, path: str) -> None:
            self.emit("corpus", files_done=done, files_total=total, message=f"tokenizing {path}")

        # Rank 0 tokenizes first; the others then find every file in the cache.
        corpus = None
        if self.runtime.is_main:
            corpus = build_corpus(self.data, tokenizer, cache_dir=self.cache_dir, workers=self.workers,
                                  progress=progress)
        self.runtime.barrier()
        if corpus is None:
            corpus = build_corpus(self.data, tokenizer, cache_dir=self.cache_dir, workers=1)
        self.emit("corpus", message=corpus.summary())
        for line in corpus.problems():
            self.emit("corpus", message=line)
        if not corpus.pieces:
            if corpus.files == 0:
                raise UsageError(f"no .abc, .mid or .midi files in {', '.join(self.data)}")
            raise UsageError(f"nothing to train on: all {corpus.files} music file"
                             f"{'s' if corpus.files != 1 else ''} were skipped (see the report above)")
        return corpus

    def setup(self) -> None:
        settings = self.settings
        self.tokenizer = tokenizer = self._tokenizer()
        self.corpus = corpus = self._corpus(tokenizer)
        fraction = settings.data.validation_fraction
        train_pieces, valid_pieces = split_pieces(corpus.pieces, fraction, self.training.seed)
        self.train_pieces, self.valid_pieces = train_pieces, valid_pieces
        self.split = split_summary(train_pieces, valid_pieces, self.training.seed, fraction)
        self.transposer = transposer_for(tokenizer, self.training.augment_transpose)
        if self.training.augment_transpose and self.transposer is None:
            self.emit("corpus", message=f"transposition off: the {tokenizer.name} tokenizer cannot "
                                        f"shift pitches token by token")
        # What generation lets the model open with, and the tokens it ever saw (melody.corpus.openings).
        self.openings = config_bytes(openings_of(tokenizer, (p.ids for p in train_pieces), self.transposer))
        self.emit("corpus", message=f"split by tune: {len(train_pieces)} training pieces "
                                    f"({self.split['training_tokens']:,} tokens), {len(valid_pieces)} "
                                    f"validation pieces ({self.split['validation_tokens']:,} tokens, "
                                    f"{self.split['validation_share']:.1%})")
        cuda = self.runtime.device.type == "cuda"
        self.autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if cuda
                         else torch.autocast("cpu", enabled=False))
        # The budget counts from here: the corpus is read, everything after it is the run's.
        self.clock_start = time.perf_counter()
        self._choose_threads()
        if self.previous is None:
            self._plan_budget()
        settings, training = self.settings, self.training
        self.sampler = self._sampler(settings)
        windows = validation_windows([p.ids for p in valid_pieces], training.window,
                                     training.eval_batches * training.batch_size)
        self.valid_windows = torch.from_numpy(windows[self.runtime.rank::self.runtime.world_size])

        torch.manual_seed(training.seed)  # the same initial weights on every process
        sizes = model_config(settings, tokenizer.vocab_size)
        # Weights, gradients and Adam's two moments must fit: refused before anything is allocated.
        check_fits(settings.model.family, sizes, copies=TRAINING_COPIES, purpose="to train")
        self.net = build_model(settings.model.family, sizes)
        # Every size the network was built with, defaults included (the LSTM's input scale):
        # config.json then rebuilds this network even if a default changes later.
        self.model_config = self.net.config.to_dict()
        if self.previous is not None:
            state = load_checkpoint(self.out, self.net)
        self.net.to(self.runtime.device)
        self.optimizer = make_optimizer(self.net, training)
        if self.previous is not None:
            self._restore(state)
            if training.max_minutes > 0:
                self.budget = Budget(seconds=training.max_minutes * 60,
                                     auto_steps=bool(state.get("auto_steps", False))
                                     and "training.max_steps" not in self.asked)
        else:
            torch.manual_seed(training.seed * 1_000_003 + self.runtime.rank)
        self.parameters = self.net.num_parameters()
        self.train_net: Any = self.net
        if self.runtime.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.runtime.device.index] if self.runtime.device.type == "cuda" else None
            self.train_net = DistributedDataParallel(self.net, device_ids=ids)
        if self.compile:
            self.train_net = torch.compile(self.train_net)

    def _sampler(self, settings: Settings) -> WindowSampler:
        training = settings.training
        return WindowSampler([p.ids for p in self.train_pieces], training.window, training.batch_size,
                             self.transposer, self.tokenizer, infill_rate=training.infill_rate,
                             halve_rate=training.augment_halve)

    def _plan_budget(self) -> None:
        """Size what the user left open to the time budget (melody.training.budget), if there is one."""
        minutes = budget_minutes(self.settings, self.explicit, self.runtime.device)
        if minutes is None:
            return
        default = "" if self.settings.training.max_minutes > 0 else (
            f" (the {device_kind(self.runtime.device).upper()} default; --minutes N to change it)")
        if self.runtime.distributed:
            # Each process would measure its own rate and choose differently: under torchrun the
            # budget only ends the run (every process agrees on the clock at each log line).
            self.settings = self.settings.with_values("training", {"max_minutes": minutes})
            self.training = self.settings.training
            self.budget = Budget(seconds=minutes * 60, auto_steps=False, chosen={"training.max_minutes": minutes})
            self.emit("corpus", message=f"time budget: {minutes:g} minutes{default}")
            return
        settings, self.budget = plan(
            self.settings, self.explicit, minutes=minutes, device=self.runtime.device,
            parameters_of=self._parameters_of, throughput_of=self._throughput,
            training_tokens=self.split["training_tokens"], validation_tokens=self.split["validation_tokens"])
        self.settings, self.training = validate(settings), settings.training
        model, training = self.settings.model, self.training
        shape = f"{model.d_model} wide x {model.layers} layers" + (
            f", {model.heads} heads" if model.family == "transformer" else "")
        self.emit("corpus", message=f"time budget: {minutes:g} minutes{default}; {model.family} "
                                    f"{shape} ({self._parameters_of(self.settings):,} parameters), batch "
                                    f"{training.batch_size} x {training.window}, about {training.max_steps:,} "
                                    f"steps at {self.budget.probe_tokens_per_second:,.0f} tokens/s measured here")

    def _choose_threads(self) -> None:
        """On a CPU, train on one thread or on all this process may use, whichever trains
        faster here, measured (THREAD_PROBE_SECONDS each on the run's network).

        torch's threads wait for each other at every operation, spinning: on an idle 2-core
        machine two threads train an LSTM 1.7-1.9 times as fast as one, beside one busy
        process half as fast, and on a busier machine up to 200 times slower
        (benchmarks/bench_threads.py). Only a measurement tells which, on the run's own network."""
        self.threads = None
        if (self.runtime.device.type != "cpu" or self.runtime.distributed or torch.get_num_threads() <= 1
                or os.environ.get("OMP_NUM_THREADS")):  # the user's own count is kept as given
            return
        many = torch.get_num_threads()
        minutes = budget_minutes(self.settings, self.explicit, self.runtime.device)
        seconds = THREAD_PROBE_SECONDS if minutes is None else min(THREAD_PROBE_SECONDS, 0.01 * 60 * minutes)
        rates = {many: self._throughput(self.settings, seconds)}
        with intra_op_threads(1):
            rates[1] = self._throughput(self.settings, seconds)
        chosen = 1 if rates[1] > THREAD_MARGIN * rates[many] else many
        if chosen == 1:
            cap_threads(1)
        self.threads = {"chosen": chosen, "tokens_per_second": {str(n): round(r, 1) for n, r in rates.items()}}
        self.emit("corpus", message=f"CPU threads: {chosen} ({rates[1]:,.0f} tokens/s on 1, {rates[many]:,.0f} "
                                    f"on {many}" + ("; the machine is busy" if rates[1] > 2 * rates[many] else "")
                                    + ")")

    def _parameters_of(self, settings: Settings) -> int:
        key = tuple(sorted(model_config(settings, self.tokenizer.vocab_size).items()))
        cache = self.__dict__.setdefault("_parameter_counts", {})
        if key not in cache:
            cache[key] = build_model(settings.model.family, dict(key)).num_parameters()
        return cache[key]

    def _throughput(self, settings: Settings, seconds: float) -> float:
        """Window positions per second training `settings`' network here on real batches (drawn
        as the loop draws them, augmentation included) for about `seconds`."""
        vocab = self.tokenizer.vocab_size
        net = build_model(settings.model.family, model_config(settings, vocab)).to(self.runtime.device)
        optimizer = make_optimizer(net, settings.training)
        training = settings.training
        rows, width = training.batch_size, training.window
        sampler = self._sampler(settings)
        drawn = iter(range(1 << 30))

        def step() -> int:
            windows = sampler.batch(rng_for_step(training.seed + 1, self.runtime.rank, next(drawn)))
            batch = torch.from_numpy(windows).to(self.runtime.device)
            with self.autocast:
                logits = net(batch[:, :-1])
            loss = F.cross_entropy(logits.float().view(-1, vocab), batch[:, 1:].reshape(-1), ignore_index=PAD)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return rows * width

        sync = torch.cuda.synchronize if self.runtime.device.type == "cuda" else (lambda: None)
        return measure_throughput(step, seconds, sync)

    def _restore(self, state: dict[str, Any]) -> None:
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.step = int(state["step"])
            self.best_loss = state.get("best_loss")
            self.best_step = state.get("best_step")
            self.bad_evals = int(state.get("bad_evals", 0))
            self.tokens_seen = int(state.get("tokens_seen", 0))
            self.seconds_before = float(state.get("train_seconds", 0.0))
            if self.runtime.rank == 0 and isinstance(state.get("torch_rng"), torch.Tensor):
                torch.set_rng_state(state["torch_rng"])
            else:  # other ranks' dropout streams were not saved: start a fresh one per (rank, step)
                torch.manual_seed(self.training.seed * 1_000_003 + self.runtime.rank + 7919 * self.step)
            if torch.cuda.is_available() and state.get("cuda_rng") is not None and self.runtime.rank == 0:
                torch.cuda.set_rng_state(state["cuda_rng"], self.runtime.device)
        except (KeyError, ValueError, TypeError, RuntimeError) as error:
            raise ModelError(f"{self.out}: checkpoint does not fit this model ({error})") from None
        self.metrics = read_metrics(self.out, self.step)

    # -- the loop --------------------------------------------------------------------------------
    def evaluate(self) -> float:
        """Mean validation loss per token (nats), summed over every process's share of the windows."""
        net = self.net
        net.eval()
        total, count = 0.0, 0.0
        batch = self.training.batch_size
        with torch.no_grad(), self.autocast:
            for start in range(0, len(self.valid_windows), batch):
                rows = self.valid_windows[start:start + batch].to(self.runtime.device)
                logits = net(rows[:, :-1])
                total += F.cross_entropy(logits.float().flatten(0, 1), rows[:, 1:].flatten(),
                                         ignore_index=PAD, reduction="sum").item()
                count += int((rows[:, 1:] != PAD).sum())
        net.train()
        total, count = self.runtime.all_sum([total, count])
        return total / max(count, 1.0)

    def run(self) -> TrainResult:
        self.setup()
        training = self.training
        where = str(self.runtime.device)
        if self.runtime.distributed:
            where += f" x {self.runtime.world_size} processes"
        self.emit("start", message=f"{self.settings.model.family} model, {self.parameters:,} "
                                   f"parameters, {self.tokenizer.name} tokens (vocabulary "
                                   f"{self.tokenizer.vocab_size}), on {where}"
                                   + (f", from step {self.step}" if self.step else ""),
                  eta_seconds=self._budget_left())
        workers = min(4, (os.cpu_count() or 1) - 1) if self.runtime.device.type == "cuda" else 0
        self.batches = BatchPrefetcher(self.sampler, training.seed, self.runtime.rank, workers)
        try:
            with stop_on_signals(self.signalled) as self.signals:
                self._loop()
                if self.signals is not None and self.signals.signum is not None:
                    self.emit("checkpoint", message=f"interrupted ({self.signals.name}) at step "
                                                    f"{self.step}: checkpoint and model saved; continue with: melody train "
                                                    f"--resume {self.out}")
                    self.signals.reraise()
        except KeyboardInterrupt:
            # Raised elsewhere than by our handlers (another thread's caller, or a signal before
            # they were installed): save what there is, as on Ctrl-C.
            if self.signals is None or self.signals.signum is None:
                self.stopped = "signal" if isinstance(sys.exc_info()[1], Terminated) else "interrupted"
                if self.runtime.is_main:
                    self.save(best=False)
                    self.emit("checkpoint", message=f"interrupted at step {self.step}: checkpoint saved; "
                                                    f"continue with: melody train --resume {self.out}")
            raise
        except torch.cuda.OutOfMemoryError:
            raise MelodyError(
                f"out of GPU memory with training.batch_size={training.batch_size}, "
                f"training.window={training.window}, model.d_model={self.settings.model.d_model}: "
                f"lower one of them (e.g. --set training.batch_size={max(1, training.batch_size // 2)})"
            ) from None
        finally:
            self.batches.close()
        result = TrainResult(folder=self.out, step=self.step, best_step=self.best_step,
                             best_validation_loss=self.best_loss, stopped=self.stopped,
                             parameters=self.parameters, tokens_seen=self.tokens_seen,
                             seconds=self.train_seconds,
                             bits_per_note=(self.held_out or {}).get("bits_per_note"))
        self.emit("done", message=self._done_message())
        return result

    def _done_message(self) -> str:
        best = (f"; best validation loss {self.best_loss:.4f} nats/token "
                f"({self.best_loss / math.log(2):.4f} bits) at step {self.best_step}"
                if self.best_loss is not None else "")
        if self.held_out:
            best += f"; {self.held_out['bits_per_note']:.3f} bits/note on {self.held_out['pieces']} held-out pieces"
        return (f"{STOP_REASONS[self.stopped]} at step {self.step} after {format_seconds(self.train_seconds)}"
                f"{best}; model in {self.out}")

    def _budget_left(self) -> float | None:
        if self.budget is None:
            return None
        return max(0.0, self.budget.seconds - self.train_seconds)

    def _loop(self) -> None:
        training, runtime = self.training, self.runtime
        device = runtime.device
        vocab = self.tokenizer.vocab_size
        session_start = time.perf_counter()
        session_first_step = self.session_first_step = self.step
        self.last_log_time, last_log_tokens = session_start, self.tokens_seen
        running, running_count = torch.zeros((), device=device), 0
        last_eval_step = self.step if self.best_step == self.step else None
        if self.step and self.seconds_before:
            # Resumed with a budget (perhaps a new --minutes): the steps that fit at the old rate.
            self._reestimate(self.seconds_before / self.step)
        while self.step < self.max_steps():
            if self._should_stop():
                break
            max_steps = self.max_steps()
            lr = learning_rate(self._schedule_step(max_steps), training.lr, training.warmup_steps,
                               max_steps, training.min_lr_ratio)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            windows = self.batches.batch(self.step)
            tokens = int((windows[:, 1:] != PAD).sum())
            batch = torch.from_numpy(windows).to(device, non_blocking=True)
            with self.autocast:
                logits = self.train_net(batch[:, :-1])
            loss = F.cross_entropy(logits.float().view(-1, vocab), batch[:, 1:].reshape(-1), ignore_index=PAD)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if training.clip > 0:
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), training.clip)
            self.optimizer.step()
            self.step += 1
            self.tokens_seen += tokens * runtime.world_size
            running += loss.detach()
            running_count += 1
            if self.step % training.log_every == 0 or self.step == max_steps:
                now = time.perf_counter()
                # Every process logs at the same steps, so this all-reduce lines up across them.
                loss_sum, loss_count = runtime.all_sum([running.item(), float(running_count)])
                train_loss = loss_sum / loss_count
                running.zero_()
                running_count = 0
                # Evaluations and saves are part of training time, not of the stepping rate.
                stepping = max(now - self.last_log_time - self.paused, 1e-9)
                rate = (self.tokens_seen - last_log_tokens) / stepping
                self.last_log_time, last_log_tokens, self.paused = now, self.tokens_seen, 0.0
                per_step = (now - session_start) / max(1, self.step - session_first_step)
                self._reestimate(per_step)
                eta = per_step * (self.max_steps() - self.step)
                if self.budget is not None:
                    eta = max(0.0, min(eta, self.budget.seconds - self.train_seconds))
                self.metrics.append({"step": self.step, "train_loss": round(train_loss, 6), "lr": lr,
                                     "tokens_per_second": round(rate, 1), "elapsed": round(self.train_seconds, 2)})
                self.emit("step", train_loss=train_loss, tokens_per_second=rate, eta_seconds=eta,
                          learning_rate=lr)
            if self.step % training.eval_every == 0 or self.step == self.max_steps():
                self._evaluate_and_save()
                last_eval_step = self.step
                if self.stopped == "early stop":
                    break
            elif self.step % training.checkpoint_every == 0:
                self._checkpoint()
        if self.stopped in ("interrupted", "signal"):
            # A scheduler's grace period is short: save now, with no validation and no score.
            if self.runtime.is_main:
                self.save(best=not self.created)
            return
        if last_eval_step != self.step:
            self._evaluate_and_save(final=True)
        self._score_held_out()

    def max_steps(self) -> int:
        return self.training.max_steps

    def _reestimate(self, seconds_per_step: float) -> None:
        """With a budget and steps not fixed: the steps that still fit, from the rate measured so far.

        (One process only: under torchrun the processes' clocks differ, and their step counts must not.)"""
        if self.budget is None or not self.budget.auto_steps or self.runtime.distributed:
            return
        steps = self.step + steps_left(self.train_seconds, self.budget.seconds, self.end_reserve, seconds_per_step)
        steps = max(steps, self.step + 1)
        if steps != self.training.max_steps:
            self.settings = self.settings.with_values("training", {"max_steps": steps})
            self.training = self.settings.training

    def _schedule_step(self, max_steps: int) -> float:
        """Where the learning-rate schedule stands: the step, or, with a time budget that will
        end the run first, the same share of `max_steps` as of the budget spent, so the decay
        ends when the time does instead of being cut off at a high rate. (One process only:
        under torchrun each process's clock differs, and their rates must not.)"""
        if self.budget is None or self.runtime.distributed:
            return self.step
        usable = max(self.budget.seconds - self.end_reserve, 1e-9)
        return max(float(self.step), min(1.0, self.train_seconds / usable) * max_steps)

    def _should_stop(self) -> bool:
        # Each session takes at least one step, so a run always moves.
        timed_out = (self.budget is not None and self.step > self.session_first_step
                     and self.train_seconds + self.end_reserve >= self.budget.seconds)
        requested = self.stop is not None and self.stop.is_set()
        signalled = self.signalled.is_set()
        if self.runtime.distributed:
            # Every process must agree, or one would wait forever in the next all-reduce.
            if self.step % self.training.log_every:
                return False
            requested, timed_out = self.runtime.any(requested), self.runtime.any(timed_out)
            signalled = self.runtime.any(signalled)
        if signalled:
            self.stopped = (self.signals.reason if self.signals is not None and self.signals.reason
                            else "signal")
        elif requested:
            self.stopped = "interrupted"
        elif timed_out:
            self.stopped = "time budget"
        return requested or timed_out or signalled

    def _score_held_out(self) -> None:
        """Bits per note of the best model on the held-out pieces (at most HELD_OUT_PIECES),
        recorded in config.json so every model in the picker is in the same unit."""
        if not self.runtime.is_main or not self.valid_pieces:
            return
        started = time.perf_counter()
        pieces = self.valid_pieces[:HELD_OUT_PIECES]
        if self.best_step is not None and self.best_step != self.step:
            load_weights(self.net, load_safetensors((self.out / WEIGHTS_FILE).read_bytes()),
                         str(self.out / WEIGHTS_FILE))
        with self.autocast:
            result = evaluate_likelihood(self.net, pieces)
        self.held_out = {"data": "held-out pieces of the training split", "bits_per_note": result.bits_per_note,
                         "bits_per_token": result.bits_per_token, "nats_per_token": result.nats_per_token,
                         "pieces": result.pieces, "of_pieces": len(self.valid_pieces), "notes": result.notes,
                         "method": result.method, "step": self.best_step}
        header = {"format": FORMAT, "version": FORMAT_VERSION}
        write_atomic(self.out / CONFIG_FILE, config_bytes(header | self.config()), overwrite=True, durable=True)
        self.paused += time.perf_counter() - started

    def _evaluate_and_save(self, final: bool = False) -> None:
        started = time.perf_counter()
        try:
            self._evaluate_and_save_now(final)
        finally:
            took = time.perf_counter() - started
            self.paused += took
            # The end of a budgeted run holds one more validation and save, and the held-out
            # score (its tokens at the validation's rate, read whole: twice as slow): keep room
            # for them, with a margin.
            scored = sum(len(p.ids) for p in self.valid_pieces[:HELD_OUT_PIECES])
            self.end_reserve = 2 * took + 2 * scored / getattr(self, "eval_rate", float("inf"))

    def _evaluate_and_save_now(self, final: bool) -> None:
        started = time.perf_counter()
        loss = self.evaluate()
        # Held-out tokens scored per second: how long the final bits-per-note score will take.
        self.eval_rate = max(1, len(self.valid_windows) * self.training.window) / max(time.perf_counter() - started, 1e-9)
        improved = self.best_loss is None or loss < self.best_loss
        if improved:
            self.best_loss, self.best_step, self.bad_evals = loss, self.step, 0
        else:
            self.bad_evals += 1
        record = {"step": self.step, "validation_loss": round(loss, 6),
                  "validation_bits_per_token": round(loss / math.log(2), 6)}
        self.metrics.append(record)
        self.emit("eval", validation_loss=loss)
        patience = self.training.patience
        if not final and patience and self.bad_evals >= patience and self.step < self.training.max_steps:
            self.stopped = "early stop"
        if self.runtime.is_main:
            self.save(best=improved)
            self.emit("checkpoint", message=f"saved step {self.step}" + (" (best so far)" if improved else ""))

    def _checkpoint(self) -> None:
        started = time.perf_counter()
        if self.runtime.is_main:
            self.save(best=False)
        self.paused += time.perf_counter() - started
        if self.runtime.is_main:
            self.emit("checkpoint", message=f"saved step {self.step}")

    # -- saving --------------------------------------------------------------------------------
    def trainer_state(self) -> dict[str, Any]:
        state = {"step": self.step, "optimizer": self.optimizer.state_dict(), "best_loss": self.best_loss,
                 "best_step": self.best_step, "bad_evals": self.bad_evals, "tokens_seen": self.tokens_seen,
                 "train_seconds": self.train_seconds, "torch_rng": torch.get_rng_state(),
                 "auto_steps": bool(self.budget is not None and self.budget.auto_steps),
                 "cuda_rng": torch.cuda.get_rng_state(self.runtime.device)
                 if self.runtime.device.type == "cuda" else None}
        return state

    def config(self) -> dict[str, Any]:
        corpus = self.corpus
        best = self.best_loss
        return {
            "melody_version": __version__,
            "family": self.settings.model.family,
            "model": self.model_config,
            "parameters": self.parameters,
            "tokenizer": {"name": self.tokenizer.name, "config": self.tokenizer.config},
            "settings": self.settings.to_dict(),
            # Absolute, so that `--resume` finds the data from any folder (older folders
            # recorded the paths as typed: `model_folder.locate_source` still finds those).
            "data": {"sources": [os.path.abspath(path) for path in self.data],
                     "corpus": {"files": corpus.files, "kept": corpus.kept, "skipped": corpus.skipped,
                                "pieces": len(corpus.pieces), "tokens": corpus.tokens,
                                "summary": corpus.summary()},
                     "split": self.split},
            "result": {"step": self.step, "best_step": self.best_step,
                       "best_validation_loss_nats": best,
                       "best_validation_bits_per_token": None if best is None else best / math.log(2),
                       "tokens_seen": self.tokens_seen, "train_seconds": round(self.train_seconds, 2),
                       "stopped": self.stopped,
                       "signal": self.signals.name if self.signals is not None else None,
                       "held_out_bits_per_note": (self.held_out or {}).get("bits_per_note"),
                       "device": str(self.runtime.device), "processes": self.runtime.world_size},
            **({"budget": self.budget.to_dict()} if self.budget is not None else {}),
            **({"cpu_threads": self.threads} if getattr(self, "threads", None) else {}),
            **({"evaluation": self.held_out} if self.held_out else {}),
            **({WEIGHTS_HASH: self.weights_sha256} if self.weights_sha256 else {}),
        }

    def save(self, *, best: bool) -> None:
        """Write the checkpoint, the history, and (when `best`) the root model; see melody.model_folder."""
        history = {METRICS_FILE: "".join(json.dumps(r) + "\n" for r in self.metrics).encode(),
                   LOSS_PLOT_FILE: loss_plot(self.metrics)}
        config = self.config()
        if not self.created:
            files = history | {OPENINGS_FILE: self.openings, REPORT_FILE: self.corpus.report_bytes()} | checkpoint_files(self.step, self.net,
                                                                                 self.trainer_state())
            # The folder holds only the run's lock so far: build it whole beside and swap it in,
            # so a kill before this save ends leaves no half folder.
            save_model(self.out, self.net, self.tokenizer, config, extra=files,
                       replace=self.replace or not (self.out / CONFIG_FILE).exists())
            self.created = self.report_saved = True
            self.weights_sha256 = read_config(self.out).get(WEIGHTS_HASH)
            return
        save_checkpoint(self.out, self.step, self.net, self.trainer_state())
        if not self.report_saved:  # a resumed run read the corpus again: its report replaces the old one
            write_atomic(self.out / REPORT_FILE, self.corpus.report_bytes(), overwrite=True, durable=True)
            self.report_saved = True
        if best:
            save_model(self.out, self.net, self.tokenizer, config, extra=history | {OPENINGS_FILE: self.openings})
            self.weights_sha256 = read_config(self.out).get(WEIGHTS_HASH)
            return
        for name, data in history.items():
            write_atomic(self.out / name, data, overwrite=True, durable=True)
        header = {"format": FORMAT, "version": FORMAT_VERSION}
        write_atomic(self.out / CONFIG_FILE, config_bytes(header | config), overwrite=True, durable=True)
