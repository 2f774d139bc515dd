"""Reader bugs of issue 14, each played against abc2midi (the reference) where it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from melody.music.abc import parse_abc
from melody.music.abc.fields import parse_key
from conftest import require_program
from abc_reference import _abc2midi_notes, _melody_notes


def _both(text: str, tmp_path: Path) -> tuple[list, list]:
    """(abc2midi's first-voice notes, melody's), as (onset, pitch, duration) from the first note."""
    expected = _abc2midi_notes(require_program("abc2midi"), text, "1", tmp_path, "tune")
    return expected, _melody_notes(text)


def _pitches(text: str) -> list[int]:
    return [note.pitch for note in parse_abc(text)[0].notes]


PARTS_ENDING_IN_DOUBLE_REPEAT = "X:1\nT:parts\nM:1/4\nL:1/8\nP:ABA\nK:C\nP:A\nCD|GA::\nP:B\nEF|Bc|]\n"


def test_a_part_ending_in_double_repeat_does_not_repeat_the_next_part(tmp_path: Path) -> None:
    a, b = [60, 62, 67, 69], [64, 65, 71, 72]
    assert _pitches(PARTS_ENDING_IN_DOUBLE_REPEAT) == a + a + b + a + a
    expected, actual = _both(PARTS_ENDING_IN_DOUBLE_REPEAT, tmp_path)
    assert actual == expected


MULTI_VOICE_PARTS = """X:1
T:voices in parts
M:4/4
L:1/4
P:BA
V:1
V:2
K:C
P:A
V:1
CDEF|
V:2
C,,D,,E,,F,,|
P:B
V:1
GABc|
V:2
G,,A,,B,,C,|
"""


def test_a_multi_voice_tune_plays_its_parts_in_the_header_order(tmp_path: Path) -> None:
    top = sorted(n for n in parse_abc(MULTI_VOICE_PARTS)[0].notes if n.pitch >= 60)
    assert [n.pitch for n in top] == [67, 69, 71, 72, 60, 62, 64, 65]
    expected, actual = _both(MULTI_VOICE_PARTS, tmp_path)
    first_voice = [note for note in actual if note[1] >= 60]
    assert first_voice == [note for note in expected if note[1] >= 60]


HEADER_TEXT = "X:1\nT:text\nM:4/4\nN bars 13\nL:1/8\nK:D\ncdef|\n"


def test_free_text_in_the_header_is_skipped_not_played(tmp_path: Path) -> None:
    warnings = []
    piece = parse_abc(HEADER_TEXT, on_warning=warnings.append)[0]
    assert [n.pitch for n in piece.notes] == [73, 74, 76, 78]
    assert piece.key is not None and piece.key.tonic == 2
    assert any("text" in w.message and w.line == 4 for w in warnings)
    expected, actual = _both(HEADER_TEXT, tmp_path)
    assert actual == expected


def test_a_tune_without_k_still_plays_its_music() -> None:
    assert _pitches("X:1\nT:no key\nM:4/4\nCDEF|\n") == [60, 62, 64, 65]


@pytest.mark.parametrize("key, body", [("Dmix=c", "cdefg|"), ("Ddor=f", "cdefg|"), ("Amin^g", "efgab|"),
                                       ("Dmix =c", "cdefg|")])
def test_explicit_accidentals_glued_to_the_mode_are_applied(key: str, body: str, tmp_path: Path) -> None:
    text = f"X:1\nT:glued\nM:4/4\nL:1/8\nK:{key}\n{body}\n"
    expected, actual = _both(text, tmp_path)
    assert actual == expected
    assert parse_key("Ddor=f").signature == {"F": 0}
    assert parse_key("Dmix^g").mode == "mixolydian"


def test_settings_after_the_key_are_not_taken_for_accidentals() -> None:
    assert parse_key("G clef=treble transpose=-2").signature == {"F": 1}
    assert parse_key("clef=bass").signature is None


@pytest.mark.parametrize("body, length", [("G2{A}-G", 36), ("G>-G", 24), ("G2 -G", 36), ("G2!trill!-G", 36),
                                          ('G2 "C"-G', 36), ("[GB]2 -[GB]", 36), ("^G2 -G", 36)])
def test_a_tie_not_glued_to_its_note_still_ties(body: str, length: int, tmp_path: Path) -> None:
    text = f"X:1\nT:tie\nM:4/4\nL:1/8\nK:C\n{body}|\n"
    piece = parse_abc(text)[0]
    assert {n.duration for n in piece.notes} == {length}
    expected, actual = _both(text, tmp_path)
    assert actual == expected


@pytest.mark.parametrize("body", ["^G2|-G", "G2 z -G"])
def test_a_late_tie_ties_only_what_abc2midi_ties(body: str, tmp_path: Path) -> None:
    text = f"X:1\nT:tie\nM:4/4\nL:1/8\nK:C\n{body}|\n"
    assert len(parse_abc(text)[0].notes) == 2
    expected, actual = _both(text, tmp_path)
    assert actual == expected
