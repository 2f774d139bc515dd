"""The classifier two-sample test: its features, its regression, and what it can and cannot tell."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from melody.evaluation import discriminator
from melody.music.notes import Key, Note, Piece, TimeSignature


def test_interval_histogram_follows_the_top_note_of_each_onset():
    # C, then a chord whose top is E (up 4), then G (up 3), then a leap down of 19 semitones.
    piece = Piece(notes=[Note(0, 60, 24), Note(24, 55, 24), Note(24, 64, 24), Note(48, 67, 24), Note(72, 48, 24)])
    histogram = discriminator.interval_histogram(piece)
    middle = discriminator.MAX_STEP
    assert histogram[middle + 4] == histogram[middle + 3] == histogram[-2] == pytest.approx(1 / 3)
    assert histogram.sum() == pytest.approx(1.0)


def test_pitch_classes_are_counted_from_the_tonic_of_the_key_in_force():
    piece = Piece(notes=[Note(0, 62, 24), Note(24, 69, 24), Note(48, 67, 24)],
                  keys=[Key(0, 2), Key(48, 7)])  # D major, then G major for the last note
    histogram = discriminator.tonic_pitch_classes(piece)
    assert histogram[0] == pytest.approx(2 / 3) and histogram[7] == pytest.approx(1 / 3)


def test_the_regression_separates_separable_points_and_predicts_new_ones():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(-2, 1, (50, 3)), rng.normal(2, 1, (50, 3))])
    y = np.array([0] * 50 + [1] * 50)
    weights = discriminator.fit_logistic(x, y)
    assert (discriminator.predict(weights, np.array([[-3.0, -3, -3], [3.0, 3, 3]])) == [0, 1]).all()


def test_cross_validation_tells_apart_what_differs_and_not_what_does_not():
    rng = np.random.default_rng(1)
    y = np.array([0] * 100 + [1] * 100)
    apart = np.vstack([rng.normal(0, 1, (100, 4)), rng.normal(3, 1, (100, 4))])
    same = rng.normal(0, 1, (200, 4))
    assert discriminator.cross_validated_accuracy(apart, y) > 0.95
    assert abs(discriminator.cross_validated_accuracy(same, y) - 0.5) < 0.12


@pytest.fixture(scope="module")
def tunes(irish_path) -> list[Piece]:
    from melody.music.io import read

    pieces = read(irish_path)
    return [pieces[i] for i in np.random.default_rng(0).choice(len(pieces), 80, replace=False)]


def test_tunes_moved_a_tritone_away_from_their_key_are_told_by_pitch_class_alone(tunes):
    # The same tunes, every note a tritone up but the key left as written: the intervals,
    # durations and form are the same, only the pitch classes above the tonic give it away.
    moved = [dataclasses.replace(t, notes=[dataclasses.replace(n, pitch=n.pitch + 6) for n in t.notes])
             for t in tunes]
    result = discriminator.two_sample_test(tunes[:40] + moved[40:], moved[:40] + tunes[40:])
    # Each side is half moved: no group can tell the two sets apart.
    assert result.accuracy < result.chance_high + 0.05
    result = discriminator.two_sample_test(tunes, moved)
    assert result.by_group["pitch classes"] > 0.9
    assert result.by_group["intervals"] < 0.6 and result.by_group["durations"] < 0.6
    assert result.accuracy > 0.9


def test_a_test_needs_a_piece_per_fold():
    piece = Piece(notes=[Note(0, 60, 24)], time_signatures=[TimeSignature(0, 4, 4)])
    with pytest.raises(ValueError, match="5-fold"):
        discriminator.two_sample_test([piece] * 4, [piece] * 10)
