"""Music statistics of pieces, and how far a generated set falls from a real one.

Per-piece features follow MusPy's definitions (Dong et al. 2020) on melody's tick grid; the
comparison of two sets follows Yang and Lerch 2020 ("On the evaluation of generative models
in music"): the real set's own spread is the distribution of distances between its pieces
(intra-set), the generated set's distance to it the distribution of distances from each
generated piece to each real one (inter-set), and their agreement is the overlap area of
the two distributions' Gaussian kernel density estimates (1.0: indistinguishable).

Form statistics (`form.py`) join them. Those that ask a yes-or-no question of each piece
(does a part return?) are rates: a set's figure is the share of its pieces, and the real
set's spread is where that share falls for as many real pieces as were generated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from melody.evaluation import form
from melody.evaluation.form import bar_spans, sounding
from melody.music.notes import TICKS_PER_QUARTER, Key, Note, Piece

# Duration classes in ticks (24 per quarter): 32nd, 16th triplet, 16th, 8th triplet, dotted
# 16th, 8th, quarter triplet, dotted 8th, quarter, dotted quarter, half, dotted half, whole.
# A note falls into the nearest class, so the histogram has a fixed length for any grid.
DURATION_CLASSES = (3, 4, 6, 8, 9, 12, 16, 18, 24, 36, 48, 72, 96)
# numpy 2 renamed trapz; keep both so numpy>=1.24 (pyproject) still works.
_trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")
_SCALES = tuple(Key(0, tonic, mode).scale for tonic in range(12) for mode in ("major", "minor"))


def _pitched(piece: Piece) -> list[Note]:
    return [n for n in piece.notes if not n.is_drum]


def pitch_class_entropy(piece: Piece) -> float:
    """Shannon entropy in bits of the piece's pitch-class histogram (0 for one pitch class)."""
    counts = np.bincount([n.pitch % 12 for n in _pitched(piece)], minlength=12).astype(float)
    if counts.sum() == 0:
        return math.nan
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def scale_consistency(piece: Piece) -> float:
    """The largest share of notes inside one major or minor scale (MusPy)."""
    classes = [n.pitch % 12 for n in _pitched(piece)]
    if not classes:
        return math.nan
    return max(sum(c in scale for c in classes) for scale in _SCALES) / len(classes)


def groove_consistency(piece: Piece) -> float:
    """1 minus the mean Hamming distance between consecutive bars' onset patterns (MusPy).

    A bar's onset pattern marks the ticks (relative to its bar line) where a note starts;
    the distance is normalised by the longer bar's length, so identical bars give 1.0.
    """
    bars = bar_spans(piece)
    if len(bars) < 2:
        return math.nan
    onsets = sorted({n.onset for n in piece.notes})
    patterns: list[set[int]] = []
    index = 0
    for start, end in bars:
        pattern: set[int] = set()
        while index < len(onsets) and onsets[index] < end:
            if onsets[index] >= start:
                pattern.add(onsets[index] - start)
            index += 1
        patterns.append(pattern)
    lengths = [end - start for start, end in bars]
    distances = [len(a ^ b) / max(la, lb)
                 for a, b, la, lb in zip(patterns, patterns[1:], lengths, lengths[1:])]
    return 1.0 - float(np.mean(distances))


def empty_beat_rate(piece: Piece) -> float:
    """Share of beats (quarter notes, as MusPy's resolution) during which no note sounds."""
    end = piece.end_tick
    if end <= 0 or not piece.notes:
        return math.nan
    beats = -(-end // TICKS_PER_QUARTER)
    per_tick = np.zeros(beats * TICKS_PER_QUARTER, dtype=np.int64)
    per_tick[:end] = sounding(piece, end)
    return float((per_tick.reshape(beats, TICKS_PER_QUARTER).max(axis=1) == 0).mean())


def polyphony(piece: Piece) -> float:
    """Mean number of notes sounding together, over the ticks where at least one sounds."""
    if not piece.notes:
        return math.nan
    counts = sounding(piece, piece.end_tick)
    active = counts[counts > 0]
    return float(active.mean()) if active.size else math.nan


def notes_per_bar(piece: Piece) -> float:
    """Notes divided by bars."""
    if not piece.notes:
        return math.nan
    return len(piece.notes) / max(1, len(bar_spans(piece)))


def pitch_range(piece: Piece) -> float:
    """Highest minus lowest pitch, in semitones."""
    span = piece.pitch_range()
    return math.nan if span is None else float(span[1] - span[0])


def duration_histogram(piece: Piece) -> np.ndarray:
    """Share of notes in each of `DURATION_CLASSES` (nearest class on a log scale)."""
    notes = _pitched(piece) or piece.notes
    if not notes:
        return np.full(len(DURATION_CLASSES), np.nan)
    logs = np.log2(np.asarray(DURATION_CLASSES, dtype=float))
    durations = np.log2(np.maximum(1, np.asarray([n.duration for n in notes], dtype=float)))
    nearest = np.abs(durations[:, None] - logs[None, :]).argmin(axis=1)
    return np.bincount(nearest, minlength=len(DURATION_CLASSES)) / len(notes)


@dataclass(frozen=True)
class Statistic:
    """One feature of a piece: a name, its unit and its function (scalar or vector).

    A "rate" statistic answers yes (1.0) or no (0.0) per piece, and a set is summed up by
    the share of its pieces that say yes. A "mean" statistic is a share of bars that is 0 or
    1 for most pieces, and a set is judged by its mean, as a rate is by its share.
    """

    name: str
    unit: str
    function: Callable[[Piece], float | np.ndarray]
    kind: str = "value"  # "value", "rate" (yes or no per piece) or "mean" (a set judged by its mean)


SURFACE_STATISTICS: tuple[Statistic, ...] = (
    Statistic("pitch-class entropy", "bits", pitch_class_entropy),
    Statistic("scale consistency", "share", scale_consistency),
    Statistic("groove consistency", "share", groove_consistency),
    Statistic("empty-beat rate", "share", empty_beat_rate),
    Statistic("polyphony", "notes", polyphony),
    Statistic("notes per bar", "notes", notes_per_bar),
    Statistic("pitch range", "semitones", pitch_range),
    Statistic("duration histogram", "distance", duration_histogram),
)
FORM_STATISTICS: tuple[Statistic, ...] = (
    Statistic("returning part", "share of pieces", form.returning_part, "rate"),
    Statistic("returning part, transposed", "share of pieces", form.returning_part_transposed, "rate"),
    Statistic("tonic ending", "share of pieces", form.tonic_ending, "rate"),
    Statistic("empty first bar", "share of pieces", form.empty_first_bar, "rate"),
    Statistic("padded bars", "share of bars", form.padded_bar_rate, "mean"),
    Statistic("meter fill", "share of bars", form.meter_fill, "mean"),
    Statistic("length in bars", "bars", form.length_in_bars),
)
STATISTICS: tuple[Statistic, ...] = SURFACE_STATISTICS + FORM_STATISTICS
# The statistics whose distance densities `melody eval --plots` draws: a rate's distances
# are only 0 or 1, which a density plot does not show any better than the two shares.
PLOTTED: tuple[Statistic, ...] = tuple(s for s in STATISTICS if s.kind != "rate")


def features(pieces: Sequence[Piece], statistic: Statistic) -> np.ndarray:
    """The statistic of each piece with a defined value: shape [N] or [N, D]."""
    values = [np.asarray(statistic.function(p), dtype=float) for p in pieces]
    values = [v for v in values if not np.isnan(v).any()]
    if not values:
        return np.zeros((0,), dtype=float)
    return np.stack(values)


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances between every row of a and every row of b (absolute or Euclidean)."""
    a2 = a.reshape(len(a), -1)
    b2 = b.reshape(len(b), -1)
    return np.sqrt(((a2[:, None, :] - b2[None, :, :]) ** 2).sum(axis=2))


def intra_distances(values: np.ndarray) -> np.ndarray:
    """Distances between every pair of distinct pieces of one set."""
    if len(values) < 2:
        return np.zeros(0)
    matrix = _pairwise(values, values)
    return matrix[np.triu_indices(len(values), k=1)]


def inter_distances(generated: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Distances from every generated piece to every real piece."""
    if len(generated) == 0 or len(real) == 0:
        return np.zeros(0)
    return _pairwise(generated, real).ravel()


def _bandwidth(samples: np.ndarray) -> float:
    # Scott's rule, with a floor so that a set of identical distances still has a density.
    spread = float(samples.std()) if samples.size > 1 else 0.0
    return max(spread * samples.size ** (-1 / 5), 1e-3 * max(1.0, float(np.abs(samples).max(initial=0.0))), 1e-6)


def kde(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A Gaussian kernel density estimate of `samples` evaluated on `grid`."""
    if samples.size == 0:
        return np.zeros_like(grid)
    if samples.size > 4000:  # a random but fixed subsample keeps the cost bounded
        samples = np.random.default_rng(0).choice(samples, 4000, replace=False)
    h = _bandwidth(samples)
    z = (grid[:, None] - samples[None, :]) / h
    return np.exp(-0.5 * z * z).sum(axis=1) / (samples.size * h * math.sqrt(2 * math.pi))


def density_grid(*sets: np.ndarray, points: int = 512) -> np.ndarray:
    """A grid covering every set plus three bandwidths either side."""
    joined = np.concatenate([s for s in sets if s.size] or [np.zeros(1)])
    pad = 3 * max(_bandwidth(s) for s in sets if s.size) if any(s.size for s in sets) else 1.0
    return np.linspace(joined.min() - pad, joined.max() + pad, points)


def overlap_area(a: np.ndarray, b: np.ndarray) -> float:
    """Area under the smaller of the two samples' density estimates (0 disjoint, 1 identical)."""
    if a.size == 0 or b.size == 0:
        return math.nan
    grid = density_grid(a, b)
    return float(_trapezoid(np.minimum(kde(a, grid), kde(b, grid)), grid))


@dataclass
class Comparison:
    """One statistic of a generated set beside the real set."""

    name: str
    unit: str
    real_mean: float
    real_std: float
    generated_mean: float
    generated_std: float
    real_low: float  # 5th percentile of the real set's values (or of its intra-set distances)
    real_high: float  # 95th percentile
    intra_mean: float  # mean distance between two real pieces: the real set's own spread
    inter_mean: float  # mean distance from a generated piece to a real one
    overlap: float  # overlap area of the intra-set and inter-set distance densities
    inside: bool  # the generated set's typical value lies inside the real set's spread
    generated_count: int
    kind: str = "value"  # "rate" and "mean": real_low..real_high is the band of a set's mean
    intra: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    inter: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    def to_dict(self) -> dict:
        """Plain JSON-able numbers (the raw distances left out)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in self.__dict__.items() if k not in ("intra", "inter")}


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    if values.size == 0:
        return math.nan, math.nan
    if values.ndim == 1:
        return float(values.mean()), float(values.std())
    return math.nan, math.nan  # a histogram has no scalar mean; its distances tell instead


BOOTSTRAP_DRAWS = 2000


def mean_band(values: np.ndarray, count: int, low: float = 5, high: float = 95) -> tuple[float, float]:
    """The `low` and `high` percentiles of the mean of `count` values drawn (with replacement)
    from `values`: where a set of `count` real pieces would put its mean (or, for 0/1
    values, its share). A fixed seed keeps reports reproducible."""
    if count <= 0 or values.size == 0:
        return math.nan, math.nan
    draws = np.random.default_rng(0).choice(values, size=(BOOTSTRAP_DRAWS, count), replace=True)
    band = np.percentile(draws.mean(axis=1), [low, high])
    return float(band[0]), float(band[1])


def _compare_rate(g: np.ndarray, r: np.ndarray, statistic: Statistic) -> Comparison:
    """A rate: the share of each set, and the real share's 5..95% band for as many pieces as
    were generated (the spread a real set of that size would show)."""
    real_share = float(r.mean()) if r.size else math.nan
    gen_share = float(g.mean()) if g.size else math.nan
    low, high = mean_band(r, len(g) or len(r))
    return Comparison(
        name=statistic.name, unit=statistic.unit, real_mean=real_share, real_std=math.nan,
        generated_mean=gen_share, generated_std=math.nan, real_low=low, real_high=high,
        intra_mean=math.nan, inter_mean=math.nan, overlap=math.nan,
        inside=bool(g.size and low <= gen_share <= high), generated_count=int(len(g)), kind="rate")


def compare(generated: Sequence[Piece], real: Sequence[Piece], statistic: Statistic) -> Comparison:
    """The statistic of both sets, the real set's spread, and where the generated set falls."""
    g = features(generated, statistic)
    r = features(real, statistic)
    if statistic.kind == "rate":
        return _compare_rate(g, r, statistic)
    intra = intra_distances(r)
    inter = inter_distances(g, r)
    real_mean, real_std = _mean_std(r)
    gen_mean, gen_std = _mean_std(g)
    if statistic.kind == "mean":
        # A share of bars, mostly 0 or 1 per piece: a median would hide the pieces that go
        # wrong, so the generated mean must fall where the mean of as many real pieces does.
        low, high = mean_band(r, len(g) or len(r))
        inside = bool(g.size and low <= gen_mean <= high)
    elif r.ndim == 1:
        # A scalar: the generated set's median inside the real values' 5..95 percentile band.
        low, high = (np.percentile(r, [5, 95]) if r.size else (math.nan, math.nan))
        inside = bool(g.size and low <= float(np.median(g)) <= high)
    else:
        # A histogram: a typical generated piece no farther from the real ones than a real
        # piece's 95th-percentile distance to another real piece.
        low, high = (np.percentile(intra, [5, 95]) if intra.size else (math.nan, math.nan))
        per_piece = _pairwise(g, r).mean(axis=1) if g.size else np.zeros(0)
        inside = bool(per_piece.size and float(np.median(per_piece)) <= high)
    return Comparison(
        name=statistic.name, unit=statistic.unit, real_mean=real_mean, real_std=real_std,
        generated_mean=gen_mean, generated_std=gen_std, real_low=float(low), real_high=float(high),
        intra_mean=float(intra.mean()) if intra.size else math.nan,
        inter_mean=float(inter.mean()) if inter.size else math.nan,
        overlap=overlap_area(intra, inter), inside=inside, generated_count=int(len(g)),
        kind=statistic.kind, intra=intra, inter=inter)


def compare_all(generated: Sequence[Piece], real: Sequence[Piece],
                statistics: Sequence[Statistic] = STATISTICS) -> list[Comparison]:
    """Every statistic in `statistics` (default: all of them), generated beside real."""
    return [compare(generated, real, statistic) for statistic in statistics]


def _number(value: float, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _percent(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.0f}%"


def format_table(comparisons: Sequence[Comparison]) -> str:
    """An aligned plain-text table of comparisons, one statistic per row (rates in percent,
    explained in a line under the table)."""
    header = ("statistic", "real mean±sd", "generated mean±sd", "real 5-95%", "intra", "inter",
              "overlap", "inside")
    rows = [header]
    rates = [c for c in comparisons if c.kind == "rate"]
    means = [c for c in comparisons if c.kind == "mean"]
    for c in comparisons:
        if c.kind == "rate":
            rows.append((c.name, _percent(c.real_mean), _percent(c.generated_mean),
                         f"{_percent(c.real_low)}..{_percent(c.real_high)}", "-", "-", "-",
                         "yes" if c.inside else "NO"))
            continue
        digits = 3 if c.kind == "mean" else 2  # shares of bars near 0 or 1 need the third digit
        rows.append((c.name,
                     f"{_number(c.real_mean, digits)}±{_number(c.real_std, digits)}" if not math.isnan(c.real_mean) else "-",
                     f"{_number(c.generated_mean, digits)}±{_number(c.generated_std, digits)}"
                     if not math.isnan(c.generated_mean) else "-",
                     f"{_number(c.real_low, digits)}..{_number(c.real_high, digits)}",
                     _number(c.intra_mean), _number(c.inter_mean), _number(c.overlap),
                     "yes" if c.inside else "NO"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    if rates or means:
        count = (rates or means)[0].generated_count
        among = f"{count} real pieces, as many as were generated" if count else "as many real pieces"
        which = " and ".join(c.name for c in means)
        lines.append("(a % row is a rate: the share of pieces with that property. For rates"
                     + (f", and for {which} (judged by the set's mean)" if means else "")
                     + f", real 5-95% is where the real set's share or mean falls among {among}.)")
    return "\n".join(lines)
