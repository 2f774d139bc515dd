"""openings.json: the meters, keys and tokens of a model's training tunes, and how generation uses them."""

from __future__ import annotations

import numpy as np
import pytest

from melody.music.notes import Key, Note, Piece, TimeSignature
from melody.corpus.openings import opening_priors, openings_of, restrict_openings
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
    assert openings["keys_written"] == {"G_major": 1}  # as the tune was written
    assert {f"Pitch_{p}" for p in range(65, 72)} <= set(openings["tokens"])


def test_a_free_key_slot_narrows_to_the_opening_keys_and_a_fixed_one_is_left_alone() -> None:
    remi = get_tokenizer("remi")
    keys = np.array([token.startswith("Key_") for token in remi.vocab])
    fixed = np.zeros(remi.vocab_size, dtype=bool)
    fixed[remi.token_to_id["Key_E_minor"]] = True
    narrowed = restrict_openings(remi, [keys, fixed], {"meters": {}, "keys": {"G_major": 3, "D_major": 1}})
    assert sorted(remi.vocab[i] for i in np.flatnonzero(narrowed[0])) == ["Key_D_major", "Key_G_major"]
    assert np.array_equal(narrowed[1], fixed)


def test_endings_count_the_degree_each_tune_ends_on_whatever_its_transposition() -> None:
    remi = get_tokenizer("remi")
    tunes = [tune(Key(0, 7, "major"), TimeSignature(0, 4, 4), [67, 71, 74, 67]),  # G major, on G
             tune(Key(0, 2, "major"), TimeSignature(0, 4, 4), [62, 66, 69, 62, 64, 69]),  # D major, on A: the fifth
             tune(Key(0, 9, "dorian"), TimeSignature(0, 4, 4), [69, 72, 81])]  # A dorian, on A
    openings = openings_of(remi, [remi.encode(piece) for piece in tunes], transposer_for(remi, 2))
    assert openings["endings"] == {"0": 2, "7": 1}
    assert openings["endings_by_bars"] == {"1": {"0": 2}, "2": {"7": 1}}


def test_a_malformed_endings_record_is_a_model_error_naming_the_field(tmp_path) -> None:
    import json

    import pytest

    from melody.corpus.openings import read_openings
    from melody.errors import ModelError

    for endings, said in (({"12": 3}, "not a scale degree"), ({"0": -1}, "endings.0"), ([0, 7], "endings")):
        (tmp_path / "openings.json").write_text(json.dumps({"endings": endings}))
        with pytest.raises(ModelError, match=said):
            read_openings(tmp_path)
    for by_bars, said in (({"x": {"0": 1}}, "not a number of bars"), ({"\u00b2": {"0": 1}}, "not a number of bars"),
                          ({"8": {"13": 1}}, "endings_by_bars.8")):
        (tmp_path / "openings.json").write_text(json.dumps({"endings_by_bars": by_bars}))
        with pytest.raises(ModelError, match=said):
            read_openings(tmp_path)
    (tmp_path / "openings.json").write_text(json.dumps({"endings": {"0": 5, "7": 1}}))
    assert read_openings(tmp_path)["endings"] == {"0": 5, "7": 1}


def test_a_free_key_slot_is_weighted_toward_the_keys_as_written_and_others_get_nothing() -> None:
    remi = get_tokenizer("remi")
    keys = np.array([token.startswith("Key_") for token in remi.vocab])
    meters = np.array([token.startswith("TimeSig_") for token in remi.vocab])
    openings = {"keys": {"G_major": 10, "D_major": 10, "Ab_major": 10},
                "keys_written": {"G_major": 3, "D_major": 1}}
    narrowed = restrict_openings(remi, [meters, keys], openings)
    priors = opening_priors(remi, narrowed, openings)
    assert priors[0] is None  # the meter slot
    weights = {remi.vocab[i]: w for i, w in enumerate(priors[1]) if np.isfinite(w)}
    assert weights == pytest.approx({"Key_G_major": np.log(0.3), "Key_D_major": np.log(0.1)})
    assert priors[1][remi.token_to_id["Key_Ab_major"]] == -np.inf
    assert opening_priors(remi, narrowed, {"keys": openings["keys"]}) == [None, None]  # an older folder
    assert opening_priors(remi, narrowed, {"keys_written": {"E_minor": 4}}) == [None, None]  # none of the slot's


def test_a_prior_moves_the_draw_and_never_leaves_a_row_nothing(tiny_model) -> None:
    from melody.generation.prime import header_plan
    from melody.generation.sampling import BatchSampler, SamplingOptions
    from melody.model_folder import load_model
    from melody.tokenizers.base import Constraints

    model = load_model(tiny_model)
    remi = model.tokenizer
    prime, schedule = header_plan(remi, None, None, None)
    slot = next(i for i, mask in enumerate(schedule) if mask[remi.token_to_id["Key_D_major"]])

    def opening_keys(prior: np.ndarray, seeds: list[int]) -> set[str]:
        priors = [None] * len(schedule)
        priors[slot] = prior
        sampler = BatchSampler(model.net.eval(), remi.grammar(Constraints(bars=1)), prime, seeds,
                               SamplingOptions(1.5, 0, 1.0), schedule=schedule, priors=priors,
                               max_new_tokens=len(schedule))
        for _ in range(len(schedule)):
            sampler.step()
        return {remi.vocab[sequence[sampler.prime_length + slot]] for sequence in sampler.sequences}

    only_d = np.full(remi.vocab_size, -np.inf)
    only_d[remi.token_to_id["Key_D_major"]] = 0.0
    assert opening_keys(only_d, list(range(16))) == {"Key_D_major"}
    assert len(opening_keys(np.zeros(remi.vocab_size), list(range(16)))) > 1  # the model alone: several
    nowhere = np.full(remi.vocab_size, -np.inf)
    nowhere[remi.token_to_id["Pitch_60"]] = 0.0  # no key at all: the schedule's mask stands
    assert all(key.startswith("Key_") for key in opening_keys(nowhere, [1, 2]))
