"""One evaluation of a model: likelihood beside the n-gram baseline, music statistics per
temperature against the real pieces, and novelty against the training pieces.

`evaluate(...)` takes everything already loaded (the model, the real and training pieces,
and a `sample(temperature, num, bars, seed)` function that returns generated pieces), so
`melody eval`, benchmarks/report.py and tests all share it without knowing how models are
found or pieces generated.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from melody.evaluation.likelihood import LikelihoodResult, ScoredPiece, evaluate_likelihood, format_results
from melody.evaluation.ngram import DEFAULT_ORDER, NGramModel, evaluate_ngram
from melody.evaluation.novelty import NoveltyIndex, NoveltyResult
from melody.evaluation.stats import Comparison, compare_all, density_grid, format_table, kde
from melody.music.notes import Piece

DEFAULT_NUM = 50
DEFAULT_TEMPERATURES = (0.8, 1.0, 1.2)
MAX_BARS = 64

Sampler = Callable[[float, int, int, int], list[Piece]]  # (temperature, num, bars, seed) -> pieces
Progress = Callable[[str], None]


@dataclass
class TemperatureResult:
    """Generated pieces at one temperature: their statistics and novelty."""

    temperature: float
    pieces: int
    empty: int  # pieces with no notes (left out of the statistics)
    seconds: float
    comparisons: list[Comparison]
    novelty: list[NoveltyResult] = field(default_factory=list)

    @property
    def copies(self) -> int:
        return sum(r.is_copy for r in self.novelty)

    @property
    def inside(self) -> int:
        return sum(c.inside for c in self.comparisons)

    def to_dict(self) -> dict[str, Any]:
        runs = [r.longest_run for r in self.novelty]
        shares = [r.ngram_share for r in self.novelty]
        return {"temperature": self.temperature, "pieces": self.pieces, "empty": self.empty,
                "seconds": self.seconds, "statistics": [c.to_dict() for c in self.comparisons],
                "novelty": _novelty_summary(self.novelty) | {"runs": runs, "shares": shares}}


def _novelty_summary(results: Sequence[NoveltyResult]) -> dict[str, Any]:
    if not results:
        return {"pieces": 0}
    runs = np.array([r.longest_run for r in results], dtype=float)
    shares = np.array([r.ngram_share for r in results], dtype=float)
    return {"pieces": len(results), "copies": int(sum(r.is_copy for r in results)),
            "longest_run_median": float(np.median(runs)), "longest_run_p95": float(np.percentile(runs, 95)),
            "longest_run_max": int(runs.max()), "ngram_share_median": float(np.median(shares)),
            "ngram_share_p95": float(np.percentile(shares, 95)), "ngram_share_max": float(shares.max())}


@dataclass
class EvalReport:
    """Everything `melody eval` measured, printable and JSON-able."""

    model: str
    tokenizer: str
    data: str
    likelihood: dict[str, LikelihoodResult]
    real_novelty: list[NoveltyResult]
    thresholds: tuple[int, float]
    temperatures: list[TemperatureResult]
    bars: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "tokenizer": self.tokenizer, "data": self.data, "bars": self.bars,
                "likelihood": {name: r.to_dict() for name, r in self.likelihood.items()},
                "novelty_thresholds": {"longest_run": self.thresholds[0], "ngram_share": self.thresholds[1]},
                "real_novelty": _novelty_summary(self.real_novelty),
                "temperatures": [t.to_dict() for t in self.temperatures]}

    def format(self) -> str:
        """The plain-text tables `melody eval` prints."""
        lines = [f"model {self.model} ({self.tokenizer}) on {self.data}", "",
                 "likelihood (lower is better; bits/note compares tokenizers):",
                 format_results(self.likelihood)]
        for name, result in self.likelihood.items():
            if result.method:
                lines.append(f"  {name}: {result.method}")
        run, share = self.thresholds
        real = _novelty_summary(self.real_novelty)
        if real["pieces"]:
            lines += ["", f"novelty of the real pieces against the training pieces (the natural level): "
                          f"longest shared run median {real['longest_run_median']:.0f}, 95% {real['longest_run_p95']:.0f}, "
                          f"max {real['longest_run_max']} notes; 8-gram share median {real['ngram_share_median']:.2f}, "
                          f"95% {real['ngram_share_p95']:.2f}; {real['copies']} of {real['pieces']} over the thresholds"]
        for t in self.temperatures:
            lines += ["", f"temperature {t.temperature:g}: {t.pieces} pieces of {self.bars} bars "
                          f"({t.empty} empty) in {t.seconds:.1f} s; "
                          f"{t.inside} of {len(t.comparisons)} statistics inside the real set's spread",
                      format_table(t.comparisons)]
            if t.novelty:
                s = _novelty_summary(t.novelty)
                lines.append(f"novelty: {t.copies} of {len(t.novelty)} near-copies (run >= {run} notes or "
                             f"8-gram share > {share:g}); longest run median {s['longest_run_median']:.0f}, "
                             f"max {s['longest_run_max']}; 8-gram share median {s['ngram_share_median']:.2f}, "
                             f"max {s['ngram_share_max']:.2f}")
        return "\n".join(lines)


def generation_sampler(model: Any, **options: Any) -> Sampler:
    """A Sampler that draws pieces with `melody.generation.generate` (its default top-p etc.)."""

    def sample(temperature: float, num: int, bars: int, seed: int) -> list[Piece]:
        from melody.generation import GenerationSettings, generate

        settings = GenerationSettings(num=num, temperature=temperature, seed=seed, bars=bars, **options)
        return [take.piece for take in generate(model, settings)]

    return sample


def typical_bars(pieces: Sequence[Piece]) -> int:
    """The median number of bars of the real pieces (generated pieces are made as long)."""
    counts = [len(p.bar_starts()) for p in pieces if p.notes]
    return int(min(MAX_BARS, max(1, round(float(np.median(counts)))))) if counts else 16


def evaluate(model: Any, real: Sequence[ScoredPiece], training: Sequence[ScoredPiece], *,
             sample: Sampler | None = None, num: int = DEFAULT_NUM,
             temperatures: Sequence[float] = DEFAULT_TEMPERATURES, seed: int = 0,
             ngram_order: int = DEFAULT_ORDER, name: str = "model", data: str = "",
             bars: int | None = None, progress: Progress | None = None) -> EvalReport:
    """Likelihood, music statistics and novelty of `model` against `real` (and `training`).

    Generated pieces are `bars` long (default: the real pieces' median, so length-bound
    statistics such as pitch range compare like with like).
    """
    say = progress or (lambda message: None)
    tokenizer = model.tokenizer
    say(f"likelihood of {len(real)} pieces")
    likelihood = {name: evaluate_likelihood(model, real)}
    if training:
        say(f"fitting the {ngram_order}-gram baseline on {len(training)} training pieces")
        ngram = NGramModel.fit((p.ids for p in training), tokenizer.vocab_size, ngram_order)
        likelihood[f"{ngram_order}-gram KN"] = evaluate_ngram(ngram, real)
    real_pieces = [tokenizer.decode([int(t) for t in p.ids]) for p in real]
    index = None
    real_novelty: list[NoveltyResult] = []
    if training:
        say("indexing the training melodies")
        index = NoveltyIndex.build(tokenizer.decode([int(t) for t in p.ids]) for p in training)
        real_novelty = [index.check(p) for p in real_pieces]
    bars = bars or typical_bars(real_pieces)
    results = []
    for temperature in (temperatures if sample is not None and num > 0 else ()):
        say(f"generating {num} pieces of {bars} bars at temperature {temperature:g}")
        start = time.perf_counter()
        generated = sample(temperature, num, bars, seed)
        seconds = time.perf_counter() - start
        results.append(TemperatureResult(
            temperature=temperature, pieces=len(generated), empty=sum(not p.notes for p in generated),
            seconds=seconds, comparisons=compare_all(generated, real_pieces),
            novelty=[index.check(p) for p in generated] if index is not None else []))
    thresholds = (index.max_run, index.max_share) if index is not None else (0, math.nan)
    return EvalReport(model=name, tokenizer=tokenizer.name, data=data or f"{len(real)} pieces",
                      likelihood=likelihood, real_novelty=real_novelty, thresholds=thresholds,
                      temperatures=results, bars=bars)


def statistic_plots(report: EvalReport) -> dict[str, bytes]:
    """One PNG per statistic: the density of real-vs-real distances beside generated-vs-real
    at each temperature (Yang and Lerch's figure); file stem -> PNG bytes."""
    from melody.charts import line_plot, safe_name

    plots: dict[str, bytes] = {}
    if not report.temperatures:
        return plots
    for position, first in enumerate(report.temperatures[0].comparisons):
        if first.kind == "rate":
            continue  # two shares: nothing a density plot shows better (stats.PLOTTED)
        intra = first.intra
        inters = [(t.temperature, t.comparisons[position].inter) for t in report.temperatures]
        grid = density_grid(intra, *[inter for _, inter in inters], points=256)
        series = [("real vs real", grid, kde(intra, grid))]
        series += [(f"generated t={temperature:g} vs real", grid, kde(inter, grid)) for temperature, inter in inters]
        overlaps = ", ".join(f"t={t.temperature:g}: {t.comparisons[position].overlap:.2f}" for t in report.temperatures)
        plots[safe_name(first.name)] = line_plot(
            series, title=f"{first.name}: distance densities (overlap {overlaps})",
            x_label=f"distance between two pieces ({first.unit})", y_label="density", width=720)
    return plots
