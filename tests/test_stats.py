"""Music statistics on small hand-made pieces whose values are known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from melody.evaluation import stats
from melody.music.notes import Note, Piece, TimeSignature

Q = 24  # ticks per quarter


def melody_of(pitches, duration=Q, meter=(4, 4)) -> Piece:
    notes = [Note(i * duration, p, duration) for i, p in enumerate(pitches)]
    return Piece(notes=notes, time_signatures=[TimeSignature(0, *meter)])


def test_one_pitch_class_has_zero_entropy():
    assert stats.pitch_class_entropy(melody_of([60, 72, 48, 60])) == 0.0


def test_twelve_equally_used_pitch_classes_have_log2_12_bits():
    assert stats.pitch_class_entropy(melody_of(range(60, 72))) == pytest.approx(math.log2(12))


def test_melody_inside_a_major_scale_has_scale_consistency_one():
    d_major = [62, 64, 66, 67, 69, 71, 73, 74]
    assert stats.scale_consistency(melody_of(d_major)) == 1.0


def test_chromatic_melody_scale_consistency_is_seven_twelfths():
    assert stats.scale_consistency(melody_of(range(60, 72))) == pytest.approx(7 / 12)


def test_identical_bars_have_groove_consistency_one():
    bar = [(0, 60, 12), (12, 62, 12), (24, 64, 24), (48, 65, 48)]
    notes = [Note(b * 96 + o, p, d) for b in range(4) for o, p, d in bar]
    piece = Piece(notes=notes, time_signatures=[TimeSignature(0, 4, 4)])
    assert stats.groove_consistency(piece) == 1.0


def test_groove_consistency_counts_onsets_that_differ_between_bars():
    # Bar 1 has onsets at 0 and 48, bar 2 only at 0: one differing tick of 96.
    notes = [Note(0, 60, 48), Note(48, 62, 48), Note(96, 64, 96)]
    piece = Piece(notes=notes, time_signatures=[TimeSignature(0, 4, 4)])
    assert stats.groove_consistency(piece) == pytest.approx(1 - 1 / 96)


def test_notes_on_every_beat_leave_no_empty_beat():
    assert stats.empty_beat_rate(melody_of([60] * 8)) == 0.0


def test_a_rest_of_one_beat_in_four_is_a_quarter_of_empty_beats():
    notes = [Note(0, 60, Q), Note(Q, 62, Q), Note(3 * Q, 64, Q)]
    assert stats.empty_beat_rate(Piece(notes=notes)) == pytest.approx(1 / 4)


def test_a_held_note_fills_its_beats():
    assert stats.empty_beat_rate(Piece(notes=[Note(0, 60, 4 * Q)])) == 0.0


def test_triad_has_polyphony_three():
    triad = Piece(notes=[Note(0, 60, Q), Note(0, 64, Q), Note(0, 67, Q)])
    assert stats.polyphony(triad) == 3.0


def test_monophonic_melody_has_polyphony_one():
    assert stats.polyphony(melody_of([60, 62, 64])) == 1.0


def test_notes_per_bar_and_pitch_range():
    piece = melody_of([60, 62, 64, 65, 67, 69, 71, 72], duration=Q // 2)  # 8 eighths: one bar
    assert stats.notes_per_bar(piece) == 8.0
    assert stats.pitch_range(piece) == 12.0


def test_duration_histogram_puts_each_note_in_its_class():
    piece = Piece(notes=[Note(0, 60, 12), Note(12, 62, 12), Note(24, 64, 24), Note(48, 65, 36)])
    histogram = stats.duration_histogram(piece)
    classes = dict(zip(stats.DURATION_CLASSES, histogram))
    assert classes[12] == 0.5 and classes[24] == 0.25 and classes[36] == 0.25
    assert histogram.sum() == pytest.approx(1.0)


def test_empty_piece_gives_no_value_and_is_left_out_of_a_set():
    empty = Piece()
    assert math.isnan(stats.pitch_class_entropy(empty))
    values = stats.features([empty, melody_of([60, 64])], stats.STATISTICS[0])
    assert values.shape == (1,)


def test_overlap_of_a_sample_with_itself_is_one_and_of_disjoint_samples_near_zero():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 300)
    assert stats.overlap_area(a, a) == pytest.approx(1.0, abs=0.01)
    assert stats.overlap_area(a, a + 50) < 0.01


def test_generated_copies_of_the_real_set_fall_inside_its_spread():
    rng = np.random.default_rng(2)
    real = [melody_of(rng.integers(55, 80, 32), duration=12) for _ in range(30)]
    for comparison in stats.compare_all(real, real):
        if comparison.generated_count == 0:
            continue  # undefined for these pieces: four bars leave no room for a part to return, no key
        assert comparison.inside, comparison.name
        if comparison.kind != "rate":  # a rate has shares, no distance densities to overlap
            assert comparison.overlap > 0.8, comparison.name


def test_a_set_far_from_the_real_one_falls_outside():
    rng = np.random.default_rng(3)
    real = [melody_of(rng.choice([62, 64, 66, 67, 69, 71, 73], 32), duration=12) for _ in range(30)]
    noise = [melody_of(rng.integers(20, 110, 32), duration=int(rng.integers(1, 96))) for _ in range(30)]
    by_name = {c.name: c for c in stats.compare_all(noise, real)}
    assert not by_name["pitch range"].inside
    assert not by_name["scale consistency"].inside
    assert by_name["pitch range"].overlap < 0.2
    table = stats.format_table(list(by_name.values()))
    assert "pitch range" in table and "NO" in table
