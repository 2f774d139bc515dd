"""melody.music.cadence and melody.generation.cadence on hand-made pieces."""

from __future__ import annotations

import pytest

from melody.errors import UsageError
from melody.generation.cadence import (POOL_MIN, aimed_degree, candidate_seeds, closable, ending_counts, needs_closing,
                                       scale_degrees)
from melody.generation.settings import GenerationSettings
from melody.music.abc import parse_abc
from melody.music.cadence import degree_name, ends_on_tonic, final_degree, final_note, key_at


def tune(body: str, key: str = "D") -> object:
    return parse_abc(f"X:1\nM:4/4\nL:1/4\nK:{key}\n{body}\n")[0]


def test_the_final_note_is_the_top_of_the_last_onset_and_drums_do_not_count():
    piece = tune("DEFG | A2 [DFA]2 |]")
    assert final_note(piece).pitch == 81 - 12  # the A of the closing chord
    assert ends_on_tonic(piece) is False
    assert ends_on_tonic(tune("DEFG | A2 [AFd]2 |]")) is True
    assert ends_on_tonic(tune("ABcB | A4 |]", key="Ador")) is True  # the mode's own tonic


def test_the_key_in_force_at_the_end_decides():
    piece = tune("DEFG | A4 | [K:A] cBAG | A4 |]")
    assert key_at(piece, final_note(piece).onset).tonic == 9
    assert ends_on_tonic(piece) is True


def test_no_key_or_no_note_has_no_answer_and_is_never_closed():
    keyless = tune("DEFG | A4 |]").replace(keys=[])
    silent = tune("DEFG | A4 |]").replace(notes=[])
    for piece in (keyless, silent):
        assert ends_on_tonic(piece) is None
        assert not needs_closing(piece)


def test_a_one_bar_tune_is_left_alone_and_a_tune_off_its_tonic_is_closed():
    assert not needs_closing(tune("DEFG |]"))
    assert needs_closing(tune("DEFG | A4 |]"))
    assert not needs_closing(tune("DEFG | d4 |]"))


def test_candidate_seeds_depend_on_the_piece_seed_only():
    assert candidate_seeds(7) == candidate_seeds(7)
    assert candidate_seeds(7) != candidate_seeds(8)
    assert len(set(candidate_seeds(7))) == len(candidate_seeds(7))
    assert not set(candidate_seeds(7)) & set(range(7, 7 + 1000))  # apart from run_seed + i


def test_cadence_is_one_of_three_and_the_old_yes_or_no_still_reads():
    for cadence in ("corpus", "tonic", "off"):
        GenerationSettings(cadence=cadence).validate()
    assert GenerationSettings(cadence=True).cadence == "tonic"  # sidecars of 2026-11-30
    assert GenerationSettings(cadence=False).cadence == "off"
    with pytest.raises(UsageError, match="cadence must be one of corpus, tonic, off"):
        GenerationSettings(cadence="no").validate()


def test_the_aim_is_the_tonic_or_a_draw_from_the_endings_of_tunes_of_about_its_length():
    openings = {"endings": {"0": 600, "7": 50, "2": 50, "5": 36},
                "endings_by_bars": {"16": {"0": 20, "2": 19}, "31": {"0": 50, "7": 10}, "34": {"0": 30, "7": 10}}}
    assert aimed_degree(5, "off", openings, 32) == (None, "")
    assert aimed_degree(5, "tonic", openings, 32) == (0, "the key's tonic")
    assert aimed_degree(5, "corpus", None, 32) == (0, "the key's tonic")  # a folder without the record
    assert aimed_degree(5, "corpus", {"endings": {"7": 0}}, 32)[0] == 0
    assert aimed_degree(5, "corpus", {"endings": {"7": 3}}, 32) == (7, "all 3 training tunes")
    assert ending_counts(openings, 32) == ({0: 80, 7: 20}, "100 training tunes of 28..36 bars")
    assert 39 < POOL_MIN and ending_counts(openings, 16) == ({0: 600, 7: 50, 2: 50, 5: 36}, "all 736 training tunes")
    aims = [aimed_degree(seed, "corpus", openings, 32)[0] for seed in range(4000)]
    assert aims == [aimed_degree(seed, "corpus", openings, 32)[0] for seed in range(4000)]
    assert set(aims) == {0, 7}
    assert abs(aims.count(0) / len(aims) - 0.8) < 0.03
    aims = [aimed_degree(seed, "corpus", openings, 16)[0] for seed in range(4000)]
    assert set(aims) == {0, 2, 5, 7}
    assert abs(aims.count(5) / len(aims) - 36 / 736) < 0.015


def test_a_tune_already_on_its_aim_is_left_alone():
    on_the_fifth = tune("DEFG | A4 |]")
    assert final_degree(on_the_fifth) == 7 and degree_name(7) == "fifth"
    assert needs_closing(on_the_fifth, aim=0)
    assert not needs_closing(on_the_fifth, aim=7)
    assert needs_closing(tune("DEFG | d4 |]"), aim=7)


def test_only_the_endings_inside_the_pieces_scale_are_aimed_at():
    openings = {"endings": {"0": 50, "10": 40, "11": 10}}  # major tunes on the leading note, modal on the flat seventh
    major = frozenset({0, 2, 4, 5, 7, 9, 11})
    aims = {aimed_degree(seed, "corpus", openings, 32, major)[0] for seed in range(400)}
    assert aims == {0, 11}
    assert aimed_degree(1, "corpus", {"endings": {"10": 5}}, 32, major) == (0, "the key's tonic")
    assert scale_degrees(tune("DEFG | A4 |]", key="Ador")) == frozenset({0, 2, 3, 5, 7, 9, 10})


def test_a_piece_without_a_key_or_of_one_bar_is_not_closable():
    assert closable(tune("DEFG | A4 |]"))
    assert not closable(tune("DEFG |]"))
    assert not closable(tune("DEFG | A4 |]").replace(keys=[]))
