"""parse_abc on damaged and hostile input: pieces or MusicError, never another exception, and fast."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import IRISH
from melody.errors import MusicError
from melody.music.abc import parse_abc

TUNES = [block if block.startswith("X:") else "X:" + block
         for block in IRISH.read_text(encoding="utf-8").split("\nX:") if block.strip()]
ABC_CHARS = "ABCDEFGabcdefgzxZ^_=,'/0123456789|:[]()<>-{}!+\"%\\ \nKLMQVTXw.~H"


def _parse_or_music_error(text: str) -> None:
    started = time.perf_counter()
    try:
        pieces = parse_abc(text, source="fuzz.abc", on_warning=lambda error: None)
    except MusicError as error:
        assert str(error)
    else:
        assert pieces and all(piece.notes for piece in pieces)
    assert time.perf_counter() - started < 5.0  # generous: CI machines are shared


@st.composite
def mutated_tune(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(TUNES[:80]))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(("insert", "delete", "replace", "truncate")))
        character = draw(st.sampled_from(ABC_CHARS))
        if action == "insert":
            text = text[:position] + character + text[position:]
        elif action == "delete":
            text = text[:position] + text[position + 1:]
        elif action == "replace":
            text = text[:position] + character + text[position + 1:]
        else:
            text = text[:position]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_tune())
def test_mutated_real_tunes_parse_or_raise_music_error(text: str) -> None:
    _parse_or_music_error(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(ABC_CHARS), max_size=400))
def test_random_abc_like_text_parses_or_raises_music_error(text: str) -> None:
    _parse_or_music_error("X:1\nK:C\n" + text)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_parse_or_raise_music_error(data: bytes) -> None:
    _parse_or_music_error(data.decode("latin-1"))


@pytest.mark.parametrize("body, message", [
    ("A999999999 B|", "impossible note length"),
    ("A/999999999|", "impossible note length"),
    ("Z999999|", "multi-bar rest"),
])
def test_huge_lengths_are_errors(body: str, message: str) -> None:
    with pytest.raises(MusicError, match=message):
        parse_abc(f"X:1\nK:C\n{body}\n")


@pytest.mark.parametrize("text", [
    "X:1\nK:C\nA" + "9" * 5000 + "|\n", "X:1\nK:C\nA/" + "9" * 5000 + "|\n",
    "X:1\nK:C\nC|" + "1" * 5000 + " A|\n", "X:1\nK:C\n(" + "3" * 5000 + "ABC|\n",
    "X:1\nL:1/" + "9" * 5000 + "\nK:C\nC|\n", "X:1\nQ:" + "9" * 5000 + "\nK:C\nC|\n",
    "X:1\nP:A" + "9" * 5000 + "\nK:C\nP:A\nC|\n",
], ids=["length", "divisor", "ending", "tuplet", "unit", "tempo", "parts"])
def test_thousands_of_digits_are_music_errors_with_short_messages(text: str) -> None:
    warnings: list[MusicError] = []
    try:
        parse_abc(text, on_warning=warnings.append)
    except MusicError as error:
        warnings.append(error)
    assert all(len(str(w)) < 200 for w in warnings)


@pytest.mark.parametrize("header", ["L:0/0", "M:0/4", "L:1/0"])
def test_impossible_unit_or_meter_makes_the_tune_unusable(header: str) -> None:
    with pytest.raises(MusicError, match="impossible"):
        parse_abc(f"X:1\n{header}\nK:C\nCDEF|\n")


def test_an_unusable_tune_is_skipped_with_a_warning_when_others_are_usable() -> None:
    warnings: list[MusicError] = []
    pieces = parse_abc("X:1\nL:0/0\nK:C\nCDEF|\n\nX:2\nK:C\nGABc|\n", source="two.abc",
                       on_warning=warnings.append)
    assert [piece.tune for piece in pieces] == ["2"]
    assert any("tune skipped" in str(w) and "(tune 1)" in str(w) for w in warnings)


@pytest.mark.slow
@pytest.mark.parametrize("body", [
    "|:" * 1_000_000,
    ":|" * 1_000_000,
    "::" * 500_000 + "C",
    "C|" * 200_000,
    "|:" + "C" * 10 + ":|" + "[1C:|" * 100_000,
], ids=["open-repeats", "close-repeats", "double-repeats", "bars", "endings"])
def test_a_million_repeat_marks_finish_quickly(body: str) -> None:
    started = time.perf_counter()
    try:
        parse_abc(f"X:1\nK:C\n{body}\n")
    except MusicError:
        pass
    assert time.perf_counter() - started < 10


@pytest.mark.slow
def test_expansion_beyond_the_note_cap_is_an_error() -> None:
    line = "|:" + "C" * 1000 + ":|"
    with pytest.raises(MusicError, match="more than"):
        parse_abc("X:1\nK:C\n" + "\n".join([line] * 600) + "\n")


@pytest.mark.parametrize("text", [
    "X:1\nP:" + "(" * 5000 + "\nK:C\nC|\n",
    "X:1\nQ:" + "1/2 " * 50000 + "\nK:C\nC|\n",
    "X:1\nM:" + "1 " * 50000 + "\nK:C\nC|\n",
    "X:1\nK:C\n" + "|[|]" * 50000 + "C\n",
    "X:1\nK:C\n" + "[K:" * 50000 + "\n",
    "X:1\nK:C\n" + "!a" * 50000 + "\n",
    "X:1\nK:C\n" + "(3:" * 50000 + "C\n",
    "X:1\nK:C\n" + "".join(f"[V:{i}]C" for i in range(5000)) + "\n",
], ids=["part-nesting", "tempo", "meter", "bar-runs", "inline-fields", "decorations", "tuplets", "voices"])
def test_hostile_runs_stay_linear(text: str) -> None:
    started = time.perf_counter()
    try:
        parse_abc(text)
    except MusicError:
        pass
    assert time.perf_counter() - started < 5
