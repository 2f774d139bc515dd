"""remi's countdown: `BarsLeft_n` before every bar of a tune but the first, so a model reads
where the end is, and the grammar that keeps it true (given a bar count, or once the model
has chosen it)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import sample_grammar
from melody.music.io import read
from melody.music.notes import Note, Piece, TimeSignature
from melody.tokenizers import BOS, EOS, Constraints, get_tokenizer, tokenizer_from_dict
from melody.tokenizers.remi_form import MAX_COUNTDOWN, unit_bars

REMI = get_tokenizer("remi")
PLAIN = get_tokenizer("remi", countdown=False)


def bars_of(count: int, meter: tuple[int, int] = (4, 4)) -> Piece:
    """`count` bars of 4/4, each a different run of quarter notes (nothing for copies to find)."""
    notes = [Note(bar * 96 + beat * 24, 40 + 2 * bar + beat, 24) for bar in range(count) for beat in range(4)]
    return Piece(notes=notes, time_signatures=[TimeSignature(0, *meter)], end=count * 96)


def countdown_of(ids: list[int]) -> list[tuple[str, str]]:
    """(countdown, the token after it) for every countdown in `ids`."""
    names = REMI.tokens(ids)
    return [(name, names[index + 1]) for index, name in enumerate(names) if name.startswith("BarsLeft_")]


def assert_counts_down(ids: list[int]) -> None:
    """Every bar or copy with 1..8 bars to go (after the first bar) has its true countdown
    before it, and no other token is a countdown."""
    units = unit_bars(REMI, ids)
    total = units[-1][1]
    expected = {index: total - bars for index, bars in units[:-1] if 1 <= total - bars <= MAX_COUNTDOWN}
    said = {index + 1: int(REMI.vocab[token].split("_")[1]) for index, token in enumerate(ids)
            if REMI.vocab[token].startswith("BarsLeft_")}
    assert said == expected


def walk(grammar, ids):
    state = grammar.start()
    for index, token in enumerate(ids[1:]):
        assert grammar.allowed(state)[token], (index, REMI.vocab[token])
        state = grammar.advance(state, token)
    return state


def test_every_bar_but_the_first_counts_down_and_a_long_piece_from_64_bars_before_its_end():
    ids = REMI.encode(bars_of(12))
    assert countdown_of(ids) == [(f"BarsLeft_{n}", "Bar") for n in range(11, 0, -1)]
    assert REMI.tokens(ids)[-2:] != ["BarsLeft_1", "<eos>"]  # the last bar follows its countdown
    short = REMI.encode(bars_of(3))
    assert countdown_of(short) == [("BarsLeft_2", "Bar"), ("BarsLeft_1", "Bar")]  # not before bar 1
    assert countdown_of(REMI.encode(bars_of(1))) == []
    long = REMI.encode(bars_of(70))
    assert countdown_of(long) == [(f"BarsLeft_{n}", "Bar") for n in range(MAX_COUNTDOWN, 0, -1)]
    assert REMI.tokens(long)[:-1].count("Bar") == 70


def test_a_copy_counts_as_the_bars_it_plays():
    three = bars_of(3)  # an opening bar (it holds the meter: never copied), then A A of 2 bars
    again = [Note(n.onset + 192, n.pitch, n.duration) for n in three.notes if n.onset >= 96]
    piece = Piece(notes=three.notes + again, time_signatures=three.time_signatures, end=5 * 96)
    names = REMI.tokens(REMI.encode(piece))
    assert [n for n in names if n.startswith(("Bar", "Copy", "<"))] == [
        "<bos>", "Bar", "BarsLeft_4", "Bar", "BarsLeft_3", "Bar", "BarsLeft_2", "CopyFrom_2", "CopyBars_2", "<eos>"]


def test_the_countdown_adds_nothing_to_the_music(irish_path):
    for piece in read(irish_path)[:120]:
        ids, plain = REMI.encode(piece), PLAIN.encode(piece)
        assert [t for t in REMI.tokens(ids) if not t.startswith("BarsLeft_")] == PLAIN.tokens(plain)
        assert REMI.decode(ids) == PLAIN.decode(plain), piece.title
        assert REMI.bar_count(ids) == PLAIN.bar_count(plain)


def test_a_reel_counts_down_through_its_copies(irish_path):
    tune = next(p for p in read(irish_path) if p.title == "Alexander's")  # AABB, 32 bars and a pickup
    ids = REMI.encode(tune)
    assert_counts_down(ids)
    values = [int(name.split("_")[1]) for name, _ in countdown_of(ids)]
    assert values[0] == REMI.bar_count(ids) - 1 and values[-1] in (1, 8)  # the last copy may be the B part
    walk(REMI.grammar(Constraints()), ids)


def test_every_shipped_tune_is_grammatical_with_its_countdown(irish_path):
    grammar = REMI.grammar(Constraints())
    checked = 0
    for piece in read(irish_path):
        ids = REMI.encode(piece)
        if any(t.startswith("TimeSig") for t in REMI.tokens(ids)[3:]):
            continue  # meter changes: banned in sampling, and two tunes cut a bar with one
        walk(grammar, ids)
        checked += 1
    assert checked > 750


@pytest.mark.parametrize("bars", [1, 2, 5, 8, 9, 16])
def test_a_bar_count_forces_the_true_countdown(bars):
    rng = np.random.default_rng(bars)
    header = REMI.prime_tokens(Piece(time_signatures=[TimeSignature(0, 4, 4)], end=0))
    for _ in range(4):
        ids = sample_grammar(REMI.grammar(Constraints(bars=bars)), rng, prime=header)
        assert ids[-1] == EOS
        total = REMI.bar_count(ids)
        assert total in (bars, bars + 1)  # + 1: a pickup
        assert_counts_down(ids)


def test_without_a_bar_count_the_model_starts_the_countdown_and_it_fixes_the_end():
    grammar = REMI.grammar(Constraints())
    first = REMI.token_to_id["BarsLeft_1"] - 1  # BarsLeft_n is first + n
    state = walk(grammar, REMI.prime_tokens(bars_of(5)))  # five bars in, the countdown not begun
    assert not grammar.allowed(state)[EOS]  # a piece of two bars or more ends counted down
    allowed = np.flatnonzero(grammar.allowed(state))
    assert first + MAX_COUNTDOWN in allowed and first + 3 not in allowed  # after a bar: at 8
    assert REMI.token_to_id["Bar"] in allowed  # or not yet
    state = grammar.advance(state, first + MAX_COUNTDOWN)
    bar = REMI.token_to_id["Bar"]
    for left in range(MAX_COUNTDOWN, 0, -1):
        mask = grammar.allowed(state)
        if left < MAX_COUNTDOWN:
            assert np.flatnonzero(mask[first + 1:first + MAX_COUNTDOWN + 1]).tolist() == [left - 1]
            assert not mask[bar] and not mask[EOS]  # the count must be said before the bar
            state = grammar.advance(state, first + left)
        assert grammar.allowed(state)[bar]
        state = grammar.advance(state, bar)
    assert grammar.allowed(state)[EOS] and not grammar.allowed(state)[bar]


def test_max_bars_makes_the_countdown_begin_in_time():
    rng = np.random.default_rng(3)
    header = REMI.prime_tokens(Piece(time_signatures=[TimeSignature(0, 4, 4)], end=0))
    for _ in range(6):
        ids = sample_grammar(REMI.grammar(Constraints(max_bars=12)), rng, prime=header)
        assert ids[-1] == EOS and REMI.bar_count(ids) <= 13
        assert countdown_of(ids)
        assert_counts_down(ids)


def test_a_prime_that_holds_a_countdown_does_not_end_the_piece_there():
    prime = REMI.encode(bars_of(4))[:-1]  # fed raw: its countdown said where the prime ended
    ids = sample_grammar(REMI.grammar(Constraints(bars=3)), np.random.default_rng(0), prime=prime)
    assert REMI.bar_count(ids) == 7


def test_a_prime_is_written_without_its_countdown():
    piece = bars_of(10)
    assert countdown_of(REMI.encode(piece))
    prime = REMI.prime_tokens(piece)
    assert prime[0] == BOS and EOS not in prime and not countdown_of(prime)
    assert [t for t in REMI.encode(piece)[:-1] if not REMI.vocab[t].startswith("BarsLeft_")] == prime


def test_a_prime_with_known_bars_to_follow_counts_down_as_the_whole_piece_will():
    prime = REMI.prime_tokens(bars_of(10), then=3)  # 13 bars in all
    assert [int(name.split("_")[1]) for name, _ in countdown_of(prime)] == list(range(12, 3, -1))
    assert countdown_of(prime)[-1] == ("BarsLeft_4", "Bar")
    ids = sample_grammar(REMI.grammar(Constraints(bars=3)), np.random.default_rng(2), prime=prime)
    assert REMI.bar_count(ids) == 13
    assert_counts_down(ids)  # the sampled bars go on counting: 3, 2, 1
    assert PLAIN.prime_tokens(bars_of(10), then=3) == PLAIN.encode(bars_of(10))[:-1]


def test_an_infill_has_no_countdown():
    ids = REMI.encode(bars_of(12))
    prime, middle = REMI.infill_prime(ids, 8, 10)
    assert not countdown_of(prime) and not countdown_of(middle)
    grammar = REMI.grammar(Constraints(bars=3))
    state = grammar.start()
    for token in prime[1:]:
        state = grammar.advance(state, token)
    for token in middle + [EOS]:
        mask = grammar.allowed(state)
        assert mask[token]
        assert not mask[REMI.token_to_id["BarsLeft_1"]:REMI.token_to_id["BarsLeft_8"] + 1].any()
        state = grammar.advance(state, token)


def test_a_tokenizer_saved_before_the_countdown_loads_without_it():
    saved = json.loads(json.dumps(PLAIN.to_dict()))
    del saved["config"]["countdown"]
    old = tokenizer_from_dict(saved)
    assert not old.countdown and old.vocab == PLAIN.vocab
    assert not countdown_of(old.encode(bars_of(12)))
