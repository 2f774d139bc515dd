"""`scale_note_values`: the same music written at half (or double) note values."""

from __future__ import annotations

from fractions import Fraction

import pytest

from melody.music.notes import (TICKS_PER_QUARTER, Key, Note, Piece, Tempo, TimeSignature,
                                scale_note_values)

Q = TICKS_PER_QUARTER


def seconds(piece: Piece) -> float:
    """How long the piece lasts, at its (single) tempo."""
    return piece.end_tick / TICKS_PER_QUARTER * 60 / piece.qpm


@pytest.fixture(scope="module")
def irish(irish_path) -> list[Piece]:
    from melody.music.io import read

    return read(irish_path)


def first_in(pieces: list[Piece], meter: tuple[int, int]) -> Piece:
    return next(p for p in pieces if (p.time_signature.numerator, p.time_signature.denominator) == meter
                and len(p.time_signatures) == 1 and len(p.tempos) <= 1)


@pytest.mark.parametrize(("meter", "halved"), [((4, 4), (4, 8)), ((6, 8), (6, 16)), ((2, 2), (2, 4)),
                                               ((9, 8), (9, 16))])
def test_halving_a_real_tune_halves_the_meter_and_keeps_bars_notes_and_seconds(irish, meter, halved):
    tune = first_in(irish, meter)
    half = scale_note_values(tune, Fraction(1, 2))
    assert (half.time_signature.numerator, half.time_signature.denominator) == halved
    assert len(half.bar_starts()) == len(tune.bar_starts())
    assert [(n.onset, n.duration) for n in half.notes] == [(n.onset // 2, n.duration // 2) for n in tune.notes]
    assert [n.pitch for n in half.notes] == [n.pitch for n in tune.notes]
    assert half.keys == tune.keys  # key changes at tick 0 stay there
    assert seconds(half) == pytest.approx(seconds(tune))


def test_halving_then_doubling_gives_the_piece_back(irish):
    tune = first_in(irish, (6, 8))
    again = scale_note_values(scale_note_values(tune, 0.5), 2)
    assert again.notes == tune.notes and again.time_signatures == tune.time_signatures
    assert again.keys == tune.keys and again.end == tune.end
    assert again.qpm == pytest.approx(tune.qpm)


def test_every_event_tick_is_scaled():
    piece = Piece(notes=[Note(0, 60, 48), Note(96, 62, 24)],
                  time_signatures=[TimeSignature(0, 4, 4), TimeSignature(96, 3, 4)],
                  tempos=[Tempo(0, 100.0), Tempo(96, 80.0)], keys=[Key(0, 0), Key(96, 7)], end=240)
    half = scale_note_values(piece, Fraction(1, 2))
    assert half.time_signatures == [TimeSignature(0, 4, 8), TimeSignature(48, 3, 8)]
    assert half.tempos == [Tempo(0, 50.0), Tempo(48, 40.0)]
    assert half.keys == [Key(0, 0), Key(48, 7)] and half.end == 120
    assert half.bar_starts() == [0, 48, 84]


def test_a_piece_without_meter_or_tempo_keeps_the_implied_ones_as_heard():
    half = scale_note_values(Piece(notes=[Note(0, 60, 96), Note(96, 62, 96)]), Fraction(1, 2))
    assert half.time_signatures == [TimeSignature(0, 4, 8)] and half.qpm == 60.0
    assert half.bar_starts() == [0, 48]


def test_a_32nd_note_cannot_be_halved():
    piece = Piece(notes=[Note(0, 60, 3), Note(3, 62, 21)])
    with pytest.raises(ValueError, match="the 3-tick note 60 at tick 0 would not be a whole number of ticks"):
        scale_note_values(piece, Fraction(1, 2))


def test_only_powers_of_two_scale_note_values():
    piece = Piece(notes=[Note(0, 60, 24)])
    for factor in (3, Fraction(2, 3), 0, -2):
        with pytest.raises(ValueError, match="power of two"):
            scale_note_values(piece, factor)
    assert scale_note_values(piece, 1) is piece


def test_a_whole_note_meter_cannot_be_doubled():
    piece = Piece(notes=[Note(0, 60, 96)], time_signatures=[TimeSignature(0, 3, 1)])
    with pytest.raises(ValueError, match="3/1"):
        scale_note_values(piece, 2)


def test_the_remi_tokenizer_carries_a_halved_tune_unchanged(irish):
    from melody.tokenizers import get_tokenizer

    tokenizer = get_tokenizer("remi")
    half = scale_note_values(first_in(irish, (4, 4)), Fraction(1, 2))
    back = tokenizer.decode(tokenizer.encode(half))
    assert [(n.onset, n.pitch, n.duration) for n in back.notes] == [(n.onset, n.pitch, n.duration) for n in half.notes]
    assert back.time_signatures == half.time_signatures
