"""A classifier two-sample test: how often can a simple classifier tell generated tunes from real ones?

If two sets of tunes come from the same distribution, no classifier does better than chance
on pieces it was not fitted on (Lopez-Paz and Oquab 2017, "Revisiting classifier two-sample
tests"). Here the classifier is an L2-regularised logistic regression on a few interpretable
feature groups of each tune's first bars, fitted and scored with k-fold cross-validation; the
accuracy per feature group says *what* gives the generated tunes away (50%: nothing).

Features, from the first `bars` bars (`generation.prime.first_bars`):
- intervals: histogram of the melody's steps (the top note at each onset, drums left out),
  -12..+12 semitones and one bin each for larger leaps down and up;
- durations: `stats.duration_histogram`;
- pitch classes: histogram of each pitched note's pitch class relative to the tonic of the
  key in force at its onset (the key's own tonic, so modes compare by their final);
- form: the per-piece form statistics (`form.py`) other than length, NaN (no answer) as 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from melody.evaluation import form
from melody.evaluation.stats import duration_histogram
from melody.music.cadence import key_at
from melody.music.notes import Piece

DEFAULT_BARS = 32
DEFAULT_FOLDS = 5
MAX_STEP = 12
FORM_FEATURES = (form.returning_part, form.returning_part_transposed, form.tonic_ending,
                 form.empty_first_bar, form.padded_bar_rate, form.meter_fill)
GROUPS = ("intervals", "durations", "pitch classes", "form")


def interval_histogram(piece: Piece) -> np.ndarray:
    """Share of the melody's steps per interval: -12..+12, then 'down more' and 'up more'."""
    top: dict[int, int] = {}
    for note in piece.notes:
        if not note.is_drum:
            top[note.onset] = max(top.get(note.onset, note.pitch), note.pitch)
    pitches = [top[onset] for onset in sorted(top)]
    steps = np.diff(np.asarray(pitches, dtype=int))
    counts = np.zeros(2 * MAX_STEP + 3)
    for step in steps:
        index = MAX_STEP + step if abs(step) <= MAX_STEP else (2 * MAX_STEP + 1 if step < 0 else 2 * MAX_STEP + 2)
        counts[index] += 1
    return counts / max(1, len(steps))


def tonic_pitch_classes(piece: Piece) -> np.ndarray:
    """Share of pitched notes per pitch class above the tonic of the key at their onset (C for no key)."""
    counts = np.zeros(12)
    for note in piece.notes:
        if not note.is_drum:
            key = key_at(piece, note.onset)
            counts[(note.pitch - (key.tonic if key else 0)) % 12] += 1
    return counts / max(1.0, counts.sum())


def form_features(piece: Piece) -> np.ndarray:
    """The form statistics (`FORM_FEATURES`), a piece without an answer at 0.5."""
    values = np.array([function(piece) for function in FORM_FEATURES], dtype=float)
    return np.where(np.isnan(values), 0.5, values)


def tune_features(piece: Piece, bars: int = DEFAULT_BARS) -> dict[str, np.ndarray]:
    """Every feature group of the piece's first `bars` bars."""
    from melody.generation.prime import first_bars

    head, _ = first_bars(piece, bars)
    durations = duration_histogram(head)
    return {"intervals": interval_histogram(head), "durations": np.nan_to_num(durations),
            "pitch classes": tonic_pitch_classes(head), "form": form_features(head)}


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 25) -> np.ndarray:
    """Weights (bias last) of an L2-regularised logistic regression, by Newton's method.

    The objective is convex, so a few Newton steps reach its minimum; the penalty keeps the
    Hessian invertible when the features outnumber the pieces or separate them perfectly.
    """
    design = np.hstack([x, np.ones((len(x), 1))])
    weights = np.zeros(design.shape[1])
    penalty = l2 * np.eye(design.shape[1])
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-design @ weights))
        gradient = design.T @ (p - y) + penalty @ weights
        hessian = (design * (p * (1 - p))[:, None]).T @ design + penalty + 1e-9 * np.eye(len(weights))
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-8:
            break
    return weights


def predict(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """1 where the fitted regression says 'class 1' (probability over a half)."""
    return (np.hstack([x, np.ones((len(x), 1))]) @ weights > 0).astype(int)


def cross_validated_accuracy(x: np.ndarray, y: np.ndarray, folds: int = DEFAULT_FOLDS, seed: int = 0,
                             l2: float = 1.0) -> float:
    """Share of pieces classified right by a regression fitted on the other folds.

    Folds are stratified (each class dealt round-robin after a seeded shuffle), and features
    are standardised with the training folds' mean and deviation only.
    """
    rng = np.random.default_rng(seed)
    fold_of = np.zeros(len(y), dtype=int)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        fold_of[members] = np.arange(len(members)) % folds
    correct = 0
    for fold in range(folds):
        train, test = fold_of != fold, fold_of == fold
        mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
        weights = fit_logistic((x[train] - mean) / std, y[train], l2)
        correct += int((predict(weights, (x[test] - mean) / std) == y[test]).sum())
    return correct / len(y)


@dataclass
class TwoSampleResult:
    """Cross-validated accuracy telling real from generated: overall and per feature group."""

    accuracy: float
    by_group: dict[str, float]
    real: int
    generated: int
    folds: int
    bars: int

    @property
    def chance_high(self) -> float:
        """The 95th percentile of the accuracy of a classifier that only guesses (normal approximation)."""
        n = self.real + self.generated
        return 0.5 + 1.645 * math.sqrt(0.25 / n) if n else math.nan


def two_sample_test(real: Sequence[Piece], generated: Sequence[Piece], *, bars: int = DEFAULT_BARS,
                    folds: int = DEFAULT_FOLDS, seed: int = 0) -> TwoSampleResult:
    """How well a logistic regression on each feature group (and on all) tells the two sets apart."""
    if min(len(real), len(generated)) < folds:
        raise ValueError(f"a {folds}-fold test needs at least {folds} pieces of each set")
    features = [tune_features(p, bars) for p in [*real, *generated]]
    y = np.array([0] * len(real) + [1] * len(generated))
    by_group = {group: cross_validated_accuracy(np.stack([f[group] for f in features]), y, folds, seed)
                for group in GROUPS}
    everything = np.stack([np.concatenate([f[group] for group in GROUPS]) for f in features])
    return TwoSampleResult(accuracy=cross_validated_accuracy(everything, y, folds, seed), by_group=by_group,
                           real=len(real), generated=len(generated), folds=folds, bars=bars)
