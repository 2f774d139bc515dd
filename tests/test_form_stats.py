"""Form statistics on small hand-made pieces with known values, and on the real corpus."""

from __future__ import annotations

import math

import numpy as np
import pytest

from melody.evaluation import form, stats
from melody.music.notes import Key, Note, Piece, TimeSignature

Q = 24  # ticks per quarter
BAR = 4 * Q  # a 4/4 bar
D_MAJOR = Key(0, 2, "major")


def bars_of(bars: list[list[tuple[int, int, int]]], meter=(4, 4), keys=(D_MAJOR,), bar=BAR) -> Piece:
    """A piece from per-bar (onset in the bar, pitch, duration) lists."""
    notes = [Note(index * bar + onset, pitch, duration)
             for index, content in enumerate(bars) for onset, pitch, duration in content]
    return Piece(notes=notes, time_signatures=[TimeSignature(0, *meter)], keys=list(keys), end=len(bars) * bar)


def quarters(*pitches: int) -> list[tuple[int, int, int]]:
    return [(i * Q, p, Q) for i, p in enumerate(pitches)]


def distinct_bars(count: int, low: int = 50) -> list[list[tuple[int, int, int]]]:
    """Bars no two of which are equal, even up to transposition (each returns to `low`)."""
    return [quarters(low + i + 1, low, low + 2 * i + 2, low) for i in range(count)]


# -- returning part ----------------------------------------------------------------------------

def test_a_four_bar_part_played_twice_returns():
    part = distinct_bars(4)
    piece = bars_of(part + part)
    assert form.returning_part(piece) == 1.0
    assert form.returning_part_transposed(piece) == 1.0


def test_eight_different_bars_have_no_returning_part():
    piece = bars_of(distinct_bars(8))
    assert form.returning_part(piece) == 0.0
    assert form.returning_part_transposed(piece) == 0.0


def test_a_part_that_returns_a_fifth_higher_returns_only_up_to_transposition():
    part = distinct_bars(4)
    higher = [[(o, p + 7, d) for o, p, d in bar] for bar in part]
    piece = bars_of(part + distinct_bars(2, low=80) + higher)
    assert form.returning_part(piece) == 0.0
    assert form.returning_part_transposed(piece) == 1.0


def test_a_part_that_returns_with_one_note_moved_in_its_bar_does_not_return():
    part = distinct_bars(4)
    moved = [list(bar) for bar in part]
    moved[2][1] = (Q + 12, moved[2][1][1], Q)  # same pitch and duration, an eighth later
    assert form.returning_part(bars_of(part + moved)) == 0.0


def test_a_part_that_returns_with_one_note_longer_does_not_return():
    part = distinct_bars(4)
    longer = [list(bar) for bar in part]
    longer[3][3] = (3 * Q, longer[3][3][1], Q + 12)
    assert form.returning_part(bars_of(part + longer)) == 0.0


def test_overlapping_blocks_do_not_count_but_eight_equal_bars_do():
    # Seven equal bars: every 4-bar block is equal, but two of them never lie apart.
    same = quarters(60, 62, 64, 65)
    assert form.returning_part(bars_of([same] * 7 + distinct_bars(1, low=80))) == 0.0
    assert form.returning_part(bars_of([same] * 8)) == 1.0


def test_silent_blocks_are_not_parts():
    silence: list[list[tuple[int, int, int]]] = [[] for _ in range(8)]
    piece = bars_of(silence + distinct_bars(1))
    assert form.returning_part(piece) == 0.0


def test_a_piece_shorter_than_eight_bars_has_no_answer():
    assert math.isnan(form.returning_part(bars_of(distinct_bars(7))))


def test_drums_are_not_part_of_a_returning_part():
    part = distinct_bars(4)
    piece = bars_of(part + part)
    drums = [Note(i * Q, 36, Q, is_drum=True) for i in range(4)]  # a kick in the first bar only
    assert form.returning_part(piece.replace(notes=piece.notes + drums)) == 1.0


# -- tonic ending ------------------------------------------------------------------------------

def test_a_tune_in_d_ending_on_d_ends_on_the_tonic():
    assert form.tonic_ending(bars_of([quarters(66, 69, 64, 74)])) == 1.0
    assert form.tonic_ending(bars_of([quarters(66, 69, 64, 62 + 12 * 2)])) == 1.0  # any octave


def test_a_tune_ending_on_the_fifth_does_not():
    assert form.tonic_ending(bars_of([quarters(66, 69, 64, 69)])) == 0.0


def test_the_highest_note_of_a_closing_chord_is_the_last_note():
    root_on_top = bars_of([quarters(66, 69, 64) + [(3 * Q, 57, Q), (3 * Q, 62, Q)]])  # A under D
    third_on_top = bars_of([quarters(66, 69, 64) + [(3 * Q, 62, Q), (3 * Q, 66, Q)]])  # D under F#
    assert form.tonic_ending(root_on_top) == 1.0
    assert form.tonic_ending(third_on_top) == 0.0


def test_the_latest_onset_decides_not_the_latest_end():
    # The held D starts first and ends last; the last note to start is the E.
    piece = bars_of([[(0, 62, 4 * Q), (2 * Q, 64, Q)]])
    assert form.tonic_ending(piece) == 0.0


def test_the_key_in_force_at_the_last_note_decides():
    modulating = bars_of([quarters(66, 69, 64, 62), quarters(67, 69, 71, 67)],
                         keys=(D_MAJOR, Key(BAR, 7, "major")))  # to G major in bar two
    assert form.tonic_ending(modulating) == 1.0


def test_a_modal_key_uses_its_own_tonic():
    a_dorian = bars_of([quarters(69, 71, 72, 69)], keys=(Key(0, 9, "dorian"),))
    assert form.tonic_ending(a_dorian) == 1.0


def test_drums_do_not_end_a_tune():
    piece = bars_of([quarters(66, 69, 64, 62)])
    kick = Note(3 * Q + 12, 36, 12, is_drum=True)
    assert form.tonic_ending(piece.replace(notes=piece.notes + [kick])) == 1.0


def test_a_piece_without_a_key_has_no_tonic_ending():
    assert math.isnan(form.tonic_ending(bars_of([quarters(62, 64, 66, 62)], keys=())))


# -- empty first bar, padded bars, meter fill, length ---------------------------------------------

def test_a_pickup_is_not_an_empty_first_bar_but_a_silent_bar_is():
    pickup = bars_of([[(3 * Q, 69, Q)], quarters(62, 64, 66, 67)])
    silent_first = bars_of([[], quarters(62, 64, 66, 67)])
    assert form.empty_first_bar(pickup) == 0.0
    assert form.empty_first_bar(silent_first) == 1.0
    assert math.isnan(form.empty_first_bar(Piece()))


def test_a_bar_ending_in_a_half_rest_is_padded_and_one_ending_in_a_quarter_rest_is_not():
    half_rest = [(0, 62, Q), (Q, 64, Q)]
    quarter_rest = quarters(62, 64, 66)
    full = quarters(62, 64, 66, 67)
    piece = bars_of([full, half_rest, quarter_rest, full, half_rest])  # the last bar left out
    assert form.padded_bar_rate(piece) == pytest.approx(1 / 4)


def test_a_held_note_keeps_a_bar_from_being_padded():
    piece = bars_of([[(0, 62, 2 * Q), (2 * Q, 64, 2 * Q + Q)], [(Q, 66, 3 * Q)], quarters(62, 64, 66, 67)])
    assert form.padded_bar_rate(piece) == 0.0  # the E sounds through bar one's end into bar two


def test_padded_bars_need_two_bars():
    assert math.isnan(form.padded_bar_rate(bars_of([quarters(62)])))


def test_meter_fill_allows_rests_shorter_than_a_beat():
    full = quarters(62, 64, 66, 67)
    eighth_rest = [(0, 62, Q), (Q + 12, 64, 12), (2 * Q, 66, 2 * Q)]
    quarter_rest = [(0, 62, Q), (2 * Q, 66, 2 * Q)]
    piece = bars_of([[], full, eighth_rest, quarter_rest, []])  # first and last bars left out
    assert form.meter_fill(piece) == pytest.approx(2 / 3)


def test_the_beat_is_the_meters_own():
    assert form.beat_ticks(TimeSignature(0, 4, 4)) == Q
    assert form.beat_ticks(TimeSignature(0, 2, 2)) == 2 * Q
    assert form.beat_ticks(TimeSignature(0, 6, 8)) == 3 * Q // 2
    assert form.beat_ticks(TimeSignature(0, 3, 8)) == Q // 2
    assert form.beat_ticks(TimeSignature(0, 4, 8)) == Q // 2
    # A quarter rest is half a beat in 2/2, and fills; the same bar in 4/4 does not.
    bar = [(0, 62, Q), (2 * Q, 66, 2 * Q)]
    assert form.meter_fill(bars_of([[], bar, []], meter=(2, 2))) == 1.0
    assert form.meter_fill(bars_of([[], bar, []], meter=(4, 4))) == 0.0


def test_meter_fill_needs_an_inner_bar():
    assert math.isnan(form.meter_fill(bars_of([quarters(62), quarters(64)])))


def test_length_in_bars_counts_the_bars():
    assert form.length_in_bars(bars_of(distinct_bars(5))) == 5.0
    assert math.isnan(form.length_in_bars(Piece()))


# -- the set comparison --------------------------------------------------------------------------

def test_the_band_of_a_share_is_where_the_share_of_n_pieces_falls():
    values = np.array([1.0] * 75 + [0.0] * 25)
    low, high = stats.mean_band(values, 100)
    # The binomial(100, 0.75) 5..95% quantiles are 68% and 82%.
    assert 0.67 <= low <= 0.69 and 0.81 <= high <= 0.83
    assert stats.mean_band(np.ones(10), 50) == (1.0, 1.0)


def test_rates_print_as_shares_beside_the_real_share_and_its_band():
    part = distinct_bars(4)
    real = [bars_of(part + part) for _ in range(20)]
    generated = [bars_of(distinct_bars(8)) for _ in range(20)]
    by_name = {c.name: c for c in stats.compare_all(generated, real)}
    returning = by_name["returning part"]
    assert (returning.real_mean, returning.generated_mean, returning.kind) == (1.0, 0.0, "rate")
    assert (returning.real_low, returning.real_high) == (1.0, 1.0) and not returning.inside
    table = stats.format_table(list(by_name.values()))
    row = next(line for line in table.splitlines() if line.startswith("returning part "))
    assert row.split()[2:6] == ["100%", "0%", "100%..100%", "-"] and row.endswith("NO")
    assert "among 20 real pieces" in table


def test_padded_bars_judge_a_set_by_its_mean_not_its_median():
    full = quarters(62, 64, 66, 67)
    real = [bars_of([full] * 8) for _ in range(20)]
    # Most generated pieces are fine, a few are padded throughout: the median hides them.
    padded = [bars_of([[(0, 62, Q)]] * 8) for _ in range(4)]
    by_name = {c.name: c for c in stats.compare_all(real[:16] + padded, real)}
    assert by_name["padded bars"].generated_mean == pytest.approx(4 / 20 * 7 / 7)
    assert not by_name["padded bars"].inside and not by_name["meter fill"].inside


# -- the real corpus --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def irish(irish_path) -> list[Piece]:
    from melody.music.io import read

    return read(irish_path)


def shares(pieces: list[Piece], function) -> float:
    values = np.array([function(p) for p in pieces])
    return float(values[~np.isnan(values)].mean())


def test_the_real_tunes_have_returning_parts_and_end_on_the_tonic(irish):
    # Measured for issue 11 on the 802 tunes: 89% return a part, 75% end on the tonic.
    assert len(irish) == 802
    assert shares(irish, form.returning_part) == pytest.approx(0.89, abs=0.02)
    assert shares(irish, form.returning_part_transposed) >= shares(irish, form.returning_part)
    assert shares(irish, form.tonic_ending) == pytest.approx(0.75, abs=0.02)


def test_the_real_tunes_start_at_once_and_fill_their_bars(irish):
    assert shares(irish, form.empty_first_bar) == pytest.approx(0.014, abs=0.01)
    assert shares(irish, form.padded_bar_rate) < 0.005
    assert shares(irish, form.meter_fill) > 0.99
