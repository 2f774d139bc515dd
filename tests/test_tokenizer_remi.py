"""The remi tokenizer: lossless round trips on real music, its grammar, and its constraints."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import DATA, IRISH
from helpers import assert_grammar_accepts, sample_grammar
from melody.errors import MusicError
from melody.music.io import read
from melody.music.midi import parse_midi
from melody.music.notes import Key, Note, Piece, Tempo, TimeSignature
from melody.tokenizers import EOS, Constraints, get_tokenizer
from melody.tokenizers.common import DYNAMICS, METRONOME, nearest, nearest_log

REMI = get_tokenizer("remi")
MIDI_FIXTURES = sorted(DATA.glob("*.mid"))


def binned(piece: Piece) -> tuple[list[Note], list[Tempo]]:
    """The notes and tempos remi is meant to give back: velocity and tempo on their grids."""
    notes = sorted(Note(n.onset, n.pitch, n.duration, DYNAMICS[nearest(DYNAMICS, n.velocity)], n.program,
                        n.is_drum) for n in piece.notes)
    tempos = [Tempo(t.tick, float(METRONOME[nearest_log(METRONOME, t.qpm)])) for t in piece.tempos]
    return notes, tempos


def assert_round_trip(piece: Piece) -> None:
    ids = REMI.encode(piece)
    back = REMI.decode(ids)
    notes, tempos = binned(piece)
    assert back.notes == notes
    assert back.tempos == tempos
    assert back.time_signatures == piece.time_signatures
    assert back.keys == piece.keys
    assert len(back.bar_starts()) == len(piece.bar_starts())
    assert REMI.encode(back) == ids  # decoding gives the canonical piece: encoding is stable


@pytest.mark.parametrize("path", MIDI_FIXTURES, ids=lambda p: p.name)
def test_midi_to_remi_to_midi_is_identical_on_the_grid(path):
    assert_round_trip(parse_midi(path.read_bytes(), str(path)))


def test_every_irish_tune_round_trips_through_remi():
    pieces = read(IRISH)
    assert len(pieces) > 800
    for piece in pieces:
        ids = REMI.encode(piece)
        back = REMI.decode(ids)
        # ABC velocities and tempos are on remi's grids already: everything comes back exactly.
        assert (back.notes, back.time_signatures, back.keys, back.tempos) == (
            piece.notes, piece.time_signatures, piece.keys, piece.tempos), (piece.tune, piece.title)
        assert len(back.bar_starts()) == len(piece.bar_starts()), piece.title


def test_token_stream_reads_as_documented():
    piece = Piece(notes=[Note(0, 62, 12), Note(12, 66, 12, 100), Note(12, 69, 12, 100, program=40),
                         Note(24, 36, 6, 100, is_drum=True), Note(96, 62, 96 * 2 + 5)],
                  keys=[Key(0, 2, "dorian")], time_signatures=[TimeSignature(0, 4, 4)], tempos=[Tempo(0, 120)])
    assert REMI.tokens(REMI.encode(piece)) == [
        "<bos>", "Bar", "TimeSig_4/4", "Position_0", "Key_D_dorian", "Tempo_120", "Pitch_62", "Duration_12",
        "Position_12", "Pitch_66", "Velocity_96", "Duration_12", "Program_40", "Pitch_69", "Duration_12",
        "Position_24", "Drum_36", "Duration_6",
        "BarsLeft_3", "Bar", "Position_0", "Program_0", "Pitch_62", "Velocity_80", "Duration_96", "Duration_96",
        "Duration_5", "BarsLeft_2", "Bar", "BarsLeft_1", "Bar", "<eos>"]
    assert_round_trip(piece)


def test_meter_change_in_mid_bar_cuts_the_bar_and_survives():
    piece = Piece(notes=[Note(0, 60, 24), Note(60, 62, 12), Note(72, 64, 36)],
                  time_signatures=[TimeSignature(0, 4, 4), TimeSignature(60, 3, 8)])
    assert piece.bar_starts() == [0, 60, 96]
    assert "TimeSig_3/8" in REMI.tokens(REMI.encode(piece))
    assert_round_trip(piece)


def test_long_notes_and_empty_pieces():
    assert REMI.encode(Piece()) == [1, EOS]
    assert REMI.decode([1, EOS]).notes == []
    longest = REMI.max_duration * REMI.max_duration_tokens
    capped = REMI.decode(REMI.encode(Piece(notes=[Note(0, 60, longest + 50)])))
    assert capped.notes == [Note(0, 60, longest)]  # stated: longer notes are cut to the longest


def test_decoded_pieces_stay_within_the_length_remi_can_encode_again():
    ids = [REMI.token_to_id["Bar"], REMI.token_to_id["TimeSig_16/4"]] + [REMI.token_to_id["Bar"]] * 5000
    piece = REMI.decode([1, *ids, REMI.token_to_id["Position_0"], REMI.token_to_id["Pitch_60"],
                         REMI.token_to_id["Duration_4"], EOS])
    assert piece.end_tick <= 2**20 and len(piece.notes) == 1
    assert REMI.decode(REMI.encode(piece)).notes == piece.notes


def test_a_meter_remi_cannot_write_is_a_music_error():
    with pytest.raises(MusicError, match="17/16"):
        REMI.encode(Piece(notes=[Note(0, 60, 6)], time_signatures=[TimeSignature(0, 17, 16)]))


def test_transposition_table_moves_pitches_and_keys_not_drums():
    piece = Piece(notes=[Note(0, 62, 12), Note(0, 38, 12, is_drum=True)], keys=[Key(0, 2, "major")])
    ids = np.array(REMI.encode(piece))
    moved = REMI.decode(REMI.transposition_table(3)[ids].tolist())
    assert moved.notes == piece.transposed(3).notes
    assert moved.keys == [Key(0, 5, "major")]
    pitch_of = REMI.pitch_of_ids()
    assert sorted(pitch_of[ids][pitch_of[ids] >= 0]) == [62]
    assert REMI.pitch_range == (0, 127)


@pytest.mark.parametrize("seed", range(6))
def test_grammar_samples_decode_in_scale_range_and_exact_bars(seed):
    rng = np.random.default_rng(seed)
    scale = Key(0, 9, "minor").scale
    bars = 1 + seed % 3
    ids = sample_grammar(REMI.grammar(Constraints(scale=scale, pitch_range=(57, 81), bars=bars)), rng, limit=60000)
    assert ids[-1] == EOS
    piece = REMI.decode(ids)
    assert len(piece.bar_starts()) == bars
    assert piece.end_tick == piece.end  # nothing rings past the last bar line
    pitched = [n for n in piece.notes if not n.is_drum]
    assert all(n.pitch % 12 in scale and 57 <= n.pitch <= 81 for n in pitched)
    assert all(n.duration > 0 for n in piece.notes)
    assert REMI.encode(piece) == ids  # a grammatical sequence is the one encoding of its piece


def test_grammar_counts_bars_after_the_prime():
    tune = read(DATA / "abc2midi_alexanders.mid")[0]
    prime = REMI.encode(tune)[:-1]
    grammar = REMI.grammar(Constraints(bars=2))
    rng = np.random.default_rng(1)
    ids = sample_grammar(grammar, rng, prime=prime)
    assert len(REMI.decode(ids).bar_starts()) == len(REMI.decode(prime).bar_starts()) + 2
    # A header prime (bar, meter, key, no notes): its open bar is the first new one.
    header = REMI.encode(Piece(keys=[Key(0, 2)], time_signatures=[TimeSignature(0, 6, 8)], end=0))[:-1]
    assert REMI.tokens(header) == ["<bos>", "Bar", "TimeSig_6/8", "Position_0", "Key_D_major"]
    assert len(REMI.decode(sample_grammar(grammar, rng, prime=header)).bar_starts()) == 2
    # A prime whose last bar is a bar's rest still ends there: two new bars follow it.
    resting = REMI.encode(Piece(notes=[Note(0, 62, 48)], end=2 * 96))[:-1]
    assert REMI.tokens(resting)[-1] == "Bar"
    assert len(REMI.decode(sample_grammar(grammar, rng, prime=resting)).bar_starts()) == 4


@pytest.mark.parametrize("path", MIDI_FIXTURES[:4], ids=lambda p: p.name)
def test_grammar_accepts_every_encoded_piece(path):
    ids = REMI.encode(parse_midi(path.read_bytes(), str(path)))
    assert_grammar_accepts(REMI, REMI.grammar(Constraints(end_on_bar_line=False)), ids, path.name)


@settings(max_examples=80, deadline=None)
@given(notes=st.lists(st.builds(
           lambda onset, pitch, duration, velocity, program, drum: Note(onset, pitch, duration, velocity,
                                                                        0 if drum else program, drum),
           st.integers(0, 2000), st.integers(0, 127), st.integers(1, 700), st.integers(1, 127),
           st.sampled_from([0, 5, 40, 127]), st.booleans()), max_size=40),
       meters=st.dictionaries(st.integers(0, 2000), st.sampled_from([(4, 4), (3, 8), (7, 8), (6, 4), (1, 32)]),
                              max_size=3),
       keys=st.dictionaries(st.integers(0, 2000), st.tuples(st.integers(0, 11), st.sampled_from(["major", "locrian"])),
                            max_size=3),
       tempos=st.dictionaries(st.integers(0, 2000), st.floats(20, 400), max_size=3),
       end=st.none() | st.integers(0, 2500))
def test_any_piece_round_trips_on_the_grid(notes, meters, keys, tempos, end):
    """Meter changes anywhere (cutting bars), keys and tempos at any tick, chords, drums, long notes."""
    piece = Piece(notes=notes, time_signatures=[TimeSignature(t, *m) for t, m in meters.items()],
                  keys=[Key(t, *k) for t, k in keys.items()], tempos=[Tempo(t, q) for t, q in tempos.items()],
                  end=end)
    ids = REMI.encode(piece)
    back = REMI.decode(ids)
    expected_notes, expected_tempos = binned(piece)
    assert back.notes == expected_notes
    assert back.tempos == expected_tempos
    assert back.keys == piece.keys
    assert back.time_signatures == piece.time_signatures
    assert back.end_tick >= piece.end_tick
    assert REMI.encode(back) == ids
