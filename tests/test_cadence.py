"""melody.music.cadence and melody.generation.cadence on hand-made pieces."""

from __future__ import annotations

import pytest

from melody.errors import UsageError
from melody.generation.cadence import candidate_seeds, needs_closing
from melody.generation.settings import GenerationSettings
from melody.music.abc import parse_abc
from melody.music.cadence import ends_on_tonic, final_note, key_at


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


def test_cadence_is_a_yes_or_no_setting():
    GenerationSettings(cadence=False).validate()
    with pytest.raises(UsageError, match="cadence must be true or false"):
        GenerationSettings(cadence="no").validate()
