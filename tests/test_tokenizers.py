"""All three tokenizers: any ids decode to a valid piece, save/load, performance and abc-char round trips and grammars."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conftest import DATA, IRISH
from helpers import assert_grammar_accepts, fifo_consistent, sample_grammar
from melody.errors import ModelError, UsageError
from melody.music.io import read
from melody.music.midi import parse_midi
from melody.music.notes import Key, Note, Piece
from melody.tokenizers import EOS, SCHEMES, Constraints, get_tokenizer, load_tokenizer
from melody.tokenizers.common import nearest

TOKENIZERS = {name: get_tokenizer(name) for name in SCHEMES}


@functools.lru_cache(maxsize=1)
def irish() -> list[Piece]:
    """The shipped corpus, read once for the whole module."""
    return read(IRISH)
MIDI_FIXTURES = sorted(DATA.glob("*.mid"))


def assert_valid(piece: Piece) -> None:
    assert isinstance(piece, Piece)
    assert all(n.duration > 0 and 0 <= n.pitch <= 127 and 1 <= n.velocity <= 127 and 0 <= n.program <= 127
               for n in piece.notes)
    assert piece.notes == sorted(piece.notes)
    assert all(0 < t.qpm for t in piece.tempos)
    assert all(ts.numerator > 0 and ts.denominator > 0 for ts in piece.time_signatures)


@pytest.mark.parametrize("name", sorted(SCHEMES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_id_sequence_decodes_to_a_valid_piece(name, data):
    tokenizer = TOKENIZERS[name]
    ids = data.draw(st.lists(st.integers(-5, tokenizer.vocab_size + 5), max_size=3000))
    assert_valid(tokenizer.decode(ids))


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_long_random_sequences_decode(name):
    tokenizer = TOKENIZERS[name]
    rng = np.random.default_rng(0)
    for _ in range(5):
        ids = rng.integers(0, tokenizer.vocab_size, size=4000).tolist()
        assert_valid(tokenizer.decode([i for i in ids if i != EOS]))


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_vocabulary_starts_with_the_special_tokens_and_is_unique(name):
    tokenizer = TOKENIZERS[name]
    assert tokenizer.vocab[:3] == ["<pad>", "<bos>", "<eos>"]
    assert len(set(tokenizer.vocab)) == tokenizer.vocab_size


@pytest.mark.parametrize("name, config", [("remi", {}), ("remi", {"velocities": [], "programs": False}),
                                          ("performance", {"max_shift": 48}), ("abc-char", {})])
def test_save_and_load_round_trip(tmp_path, name, config):
    tokenizer = get_tokenizer(name, **config)
    tokenizer.save(tmp_path / "tokenizer.json")
    loaded = load_tokenizer(tmp_path / "tokenizer.json")
    assert (loaded.name, loaded.config, loaded.vocab) == (tokenizer.name, tokenizer.config, tokenizer.vocab)
    piece = read(DATA / "format0_mixed.mid")[0]
    if name != "abc-char":
        assert loaded.encode(piece) == tokenizer.encode(piece)


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_a_tampered_tokenizer_file_is_refused(tmp_path, name):
    path = tmp_path / "tokenizer.json"
    TOKENIZERS[name].save(path)
    data = json.loads(path.read_text())
    data["vocab"][5], data["vocab"][6] = data["vocab"][6], data["vocab"][5]
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="vocabulary does not match"):
        load_tokenizer(path)


# -- performance ------------------------------------------------------------------------------
PERFORMANCE = TOKENIZERS["performance"]


def on_levels(piece: Piece) -> list[Note]:
    levels = PERFORMANCE.velocities
    return sorted(Note(n.onset, n.pitch, n.duration, levels[nearest(levels, n.velocity)], n.program, n.is_drum)
                  for n in piece.notes)


@pytest.mark.parametrize("path", MIDI_FIXTURES, ids=lambda p: p.name)
def test_performance_round_trip_within_the_grid(path):
    piece = parse_midi(path.read_bytes(), str(path))
    assert PERFORMANCE.decode(PERFORMANCE.encode(piece)).notes == on_levels(piece)


def test_performance_round_trips_irish_tunes_and_keeps_a_final_silence():
    for piece in irish()[:100]:
        back = PERFORMANCE.decode(PERFORMANCE.encode(piece))
        assert back.notes == on_levels(piece), piece.title
        assert back.end_tick == piece.end_tick


def test_performance_events_read_as_documented():
    piece = Piece(notes=[Note(0, 60, 12), Note(12, 60, 12, 100), Note(12, 36, 3, 100, is_drum=True),
                         Note(24, 64, 200, program=5)])
    assert PERFORMANCE.tokens(PERFORMANCE.encode(piece)) == [
        "<bos>", "NoteOn_60", "TimeShift_12", "NoteOff_60", "Velocity_101", "NoteOn_60", "DrumOn_36",
        "TimeShift_3", "DrumOff_36", "TimeShift_9", "NoteOff_60", "Program_5", "Velocity_81", "NoteOn_64",
        "TimeShift_96", "TimeShift_96", "TimeShift_8", "NoteOff_64", "<eos>"]


def test_performance_transposition_table_moves_notes_not_drums():
    piece = Piece(notes=[Note(0, 62, 12), Note(0, 38, 12, is_drum=True)])
    ids = np.array(PERFORMANCE.encode(piece))
    assert PERFORMANCE.decode(PERFORMANCE.transposition_table(-2)[ids].tolist()).notes == on_levels(piece.transposed(-2))


@pytest.mark.parametrize("seed", range(4))
def test_performance_grammar_samples_respect_scale_range_and_bars(seed):
    rng = np.random.default_rng(seed)
    scale = Key(0, 7, "mixolydian").scale
    bars = 1 + seed
    ids = sample_grammar(PERFORMANCE.grammar(Constraints(scale=scale, pitch_range=(50, 90), bars=bars)), rng)
    assert ids[-1] == EOS
    piece = PERFORMANCE.decode(ids)
    assert_valid(piece)
    assert piece.end_tick == bars * 96  # bars of 4/4: performance tokens carry no meter
    assert all(n.pitch % 12 in scale and 50 <= n.pitch <= 90 for n in piece.notes if not n.is_drum)
    # Events at each tick come in the encoder's order: re-encoding gives the same tokens, but
    # for the note-offs of notes still sounding at EOS, which the encoder writes out.
    assert without_closing_offs(PERFORMANCE.encode(piece)) == without_closing_offs(ids)


def without_closing_offs(ids: list[int]) -> list[int]:
    """`ids` without EOS and the note-offs (and their program changes) just before it."""
    ids = ids[:-1]
    while ids and PERFORMANCE.vocab[ids[-1]].startswith(("NoteOff", "DrumOff", "Program")):
        ids = ids[:-1]
    return ids


def test_performance_grammar_offers_note_offs_only_for_sounding_notes():
    grammar = PERFORMANCE.grammar()
    state = grammar.advance(grammar.start(), PERFORMANCE.token_to_id["NoteOn_60"])
    assert not grammar.allowed(state)[PERFORMANCE.token_to_id["NoteOff_60"]]  # not in the same tick
    state = grammar.advance(state, PERFORMANCE.token_to_id["TimeShift_12"])
    mask = grammar.allowed(state)
    offs = [token for token in np.flatnonzero(mask) if PERFORMANCE.vocab[token].startswith("NoteOff")]
    assert [PERFORMANCE.vocab[t] for t in offs] == ["NoteOff_60"]


# -- abc-char ---------------------------------------------------------------------------------
ABC = TOKENIZERS["abc-char"]


def test_abc_char_vocabulary_is_fixed_printable_ascii_and_newline():
    assert ABC.vocab_size == 3 + 96
    assert ABC.vocab[3] == "\n" and ABC.vocab[4] == " " and ABC.vocab[-1] == "~"


def test_abc_char_round_trips_irish_tunes_through_the_abc_writer_and_reader():
    for piece in irish()[:60]:
        back = ABC.decode(ABC.encode(piece))
        assert back.notes == piece.notes, piece.title


def test_abc_char_encodes_raw_text_transliterating_what_it_can():
    ids = ABC.encode_text("T:Caf\u00e9 \u266b\r\nK:D\tx\n")
    assert ABC.text(ids) == "T:Cafe \nK:D x\n"
    assert ids[0] == 1 and ids[-1] == EOS


def test_abc_char_decodes_garbage_to_an_empty_piece():
    assert ABC.decode(ABC.encode_text("no tune here")).notes == []


def test_abc_char_grammar_ends_only_at_a_line_start_after_the_bars():
    grammar = ABC.grammar(Constraints(bars=3))
    prime = ABC.encode_text("X:1\nT:Test\nM:6/8\nK:D\n")[:-1]
    for seed in range(4):
        ids = sample_grammar(grammar, np.random.default_rng(seed), prime=prime)
        text = ABC.text(ids)
        assert ids[-1] == EOS and text.endswith("\n")
        assert ABC.decode(ids).title == "Test" or ABC.decode(ids).notes == []
    state = grammar.start()
    for token in ABC.encode_text("X:1\nK:D\nab|cd|ef|g")[1:-1]:
        state = grammar.advance(state, token)
    assert not grammar.allowed(state)[EOS]  # no end before the bar count is met (counted after this prime)


def test_abc_char_refuses_constraints_it_cannot_enforce():
    with pytest.raises(UsageError, match="key lock"):
        ABC.grammar(Constraints(scale=frozenset({0, 2, 4})))


@pytest.mark.parametrize("name", ["remi", "performance"])
def test_grammar_accepts_every_token_of_encoded_real_music(name):
    tokenizer = TOKENIZERS[name]
    grammar = tokenizer.grammar(Constraints(end_on_bar_line=False))
    pieces = irish()[:40] + [parse_midi(path.read_bytes(), str(path)) for path in MIDI_FIXTURES]
    for piece in pieces:
        assert_grammar_accepts(tokenizer, grammar, tokenizer.encode(piece), (piece.source, piece.title))


@settings(max_examples=80, deadline=None)
@given(notes=st.lists(st.builds(
    lambda onset, pitch, duration, velocity, program, drum: Note(onset, pitch, duration, velocity,
                                                                 0 if drum else program, drum),
    st.integers(0, 1500), st.integers(0, 127), st.integers(1, 500), st.integers(1, 127),
    st.sampled_from([0, 5, 127]), st.booleans()), max_size=40), end=st.none() | st.integers(0, 2500))
def test_performance_round_trips_any_piece_midi_could_say(notes, end):
    assume(fifo_consistent(notes))
    piece = Piece(notes=notes, end=end)
    ids = PERFORMANCE.encode(piece)
    back = PERFORMANCE.decode(ids)
    assert back.notes == on_levels(piece)
    assert back.end_tick == piece.end_tick
    assert PERFORMANCE.encode(back) == ids


@pytest.mark.parametrize("name, config, message", [
    ("remi", {"max_bar_ticks": 48}, "max_bar_ticks"),  # 4/4 must fit
    ("remi", {"velocities": [0, 200]}, "velocities"),
    ("remi", {"programs": "yes"}, "programs"),
    ("remi", {"max_duration": "long"}, "max_duration"),
    ("performance", {"velocities": []}, "at least one"),
    ("performance", {"max_shfit": 48}, "no setting 'max_shfit'"),
    ("abc-char", {"lowercase": True}, "no setting"),
])
def test_bad_tokenizer_settings_are_usage_errors(name, config, message):
    with pytest.raises(UsageError, match=message):
        get_tokenizer(name, **config)


@pytest.mark.parametrize("config", [{"max_bar_ticks": "x"}, {"typo": 1}, ["not", "a", "mapping"]])
def test_a_tokenizer_file_with_a_bad_config_is_a_model_error(tmp_path, config):
    path = tmp_path / "tokenizer.json"
    TOKENIZERS["remi"].save(path)
    data = json.loads(path.read_text())
    data["config"] = config
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError):
        load_tokenizer(path)
