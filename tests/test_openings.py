"""openings.json: the meters, keys and tokens of a model's training tunes, and how generation uses them."""

from __future__ import annotations

import numpy as np

from melody.music.notes import Key, Note, Piece, TimeSignature
from melody.corpus.openings import openings_of, restrict_openings
from melody.tokenizers import get_tokenizer
from melody.training.data import transposer_for


def tune(key: Key, meter: TimeSignature, pitches: list[int]) -> Piece:
    notes = [Note(24 * i, pitch, 24) for i, pitch in enumerate(pitches)]
    return Piece(notes=notes, keys=[key], time_signatures=[meter])


def test_openings_count_each_tune_once_and_list_every_token_used() -> None:
    remi = get_tokenizer("remi")
    tunes = [tune(Key(0, 7, "major"), TimeSignature(0, 6, 8), [67, 71, 74]),
             tune(Key(0, 2, "major"), TimeSignature(0, 6, 8), [62, 66]),
             tune(Key(0, 9, "dorian"), TimeSignature(0, 4, 4), [69, 72])]
    openings = openings_of(remi, [remi.encode(piece) for piece in tunes])
    assert openings["meters"] == {"6/8": 2, "4/4": 1}
    assert openings["keys"] == {"G_major": 1, "D_major": 1, "A_dorian": 1}
    assert {"Pitch_67", "Pitch_62", "Pitch_72", "Bar"} <= set(openings["tokens"])
    assert "Pitch_60" not in openings["tokens"]


def test_with_transposition_the_shifted_keys_and_pitches_count_as_seen() -> None:
    remi = get_tokenizer("remi")
    ids = remi.encode(tune(Key(0, 7, "major"), TimeSignature(0, 3, 4), [67, 69]))
    openings = openings_of(remi, [ids], transposer_for(remi, 2))
    assert openings["meters"] == {"3/4": 1}  # a shift leaves the meter alone
    assert set(openings["keys"]) == {"F_major", "F#_major", "G_major", "Ab_major", "A_major"}
    assert {f"Pitch_{p}" for p in range(65, 72)} <= set(openings["tokens"])


def test_a_free_key_slot_narrows_to_the_opening_keys_and_a_fixed_one_is_left_alone() -> None:
    remi = get_tokenizer("remi")
    keys = np.array([token.startswith("Key_") for token in remi.vocab])
    fixed = np.zeros(remi.vocab_size, dtype=bool)
    fixed[remi.token_to_id["Key_E_minor"]] = True
    narrowed = restrict_openings(remi, [keys, fixed], {"meters": {}, "keys": {"G_major": 3, "D_major": 1}})
    assert sorted(remi.vocab[i] for i in np.flatnonzero(narrowed[0])) == ["Key_D_major", "Key_G_major"]
    assert np.array_equal(narrowed[1], fixed)
