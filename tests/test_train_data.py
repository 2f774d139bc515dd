"""The split by piece, random training windows, transposition that stays in range, validation windows."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest

from melody.errors import UsageError
from melody.music.abc import parse_abc
from melody.tokenizers import PAD, get_tokenizer
from melody.training.data import (Transposer, WindowSampler, rng_for_step, split_pieces, transposer_for,
                                  validation_windows)


def fake_pieces(count: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(source=f"/music/set{i % 7}.abc", tune=str(i), ids=np.arange(10 + i, dtype=np.int32))
            for i in range(count)]


def keys(pieces) -> set[tuple[str, str]]:
    return {(p.source, p.tune) for p in pieces}


def test_the_split_is_by_piece_seeded_and_independent_of_file_order() -> None:
    pieces = fake_pieces(500)
    training, validation = split_pieces(pieces, 0.1, seed=3)
    assert keys(training).isdisjoint(keys(validation)) and len(training) + len(validation) == 500
    assert 30 <= len(validation) <= 70  # about a tenth
    shuffled = pieces[:]
    random.Random(1).shuffle(shuffled)
    assert keys(split_pieces(shuffled, 0.1, seed=3)[1]) == keys(validation)
    # A piece keeps its side when other files join the corpus, or the corpus folder moves.
    moved = [SimpleNamespace(source=p.source.replace("/music", "/elsewhere"), tune=p.tune, ids=p.ids)
             for p in pieces[:250]]
    assert {p.tune for p in split_pieces(moved, 0.1, seed=3)[1]} == {p.tune for p in validation if int(p.tune) < 250}
    assert keys(split_pieces(pieces, 0.1, seed=4)[1]) != keys(validation)


def test_a_tiny_corpus_still_holds_out_one_piece_and_trains_on_the_rest() -> None:
    for count in (2, 3, 5):
        training, validation = split_pieces(fake_pieces(count), 0.1)
        assert training and validation and len(training) + len(validation) == count
    with pytest.raises(UsageError, match="at least 2"):
        split_pieces(fake_pieces(1), 0.1)


def test_windows_come_from_training_pieces_weighted_by_length() -> None:
    short, long = np.full(20, 5, dtype=np.int32), np.full(2000, 6, dtype=np.int32)
    sampler = WindowSampler([short, long], window=16, batch_size=2000)
    batch = sampler.batch(rng_for_step(0, 0, 0))
    assert batch.shape == (2000, 17)
    from_short = (batch[:, 0] == 5).mean()
    assert 0.002 < from_short < 0.03  # 20 / 2020 of the tokens
    assert np.array_equal(sampler.batch(rng_for_step(0, 0, 7)), sampler.batch(rng_for_step(0, 0, 7)))
    assert not np.array_equal(sampler.batch(rng_for_step(0, 0, 7)), sampler.batch(rng_for_step(0, 1, 7)))
    padded = WindowSampler([np.arange(1, 6, dtype=np.int32)], window=8, batch_size=1).batch(rng_for_step(0, 0, 0))
    assert padded.tolist() == [[1, 2, 3, 4, 5, PAD, PAD, PAD, PAD]]


def test_validation_windows_score_every_token_once() -> None:
    pieces = [np.arange(1, 40, dtype=np.int32), np.arange(1, 5, dtype=np.int32)]
    windows = validation_windows(pieces, window=16, limit=100)
    targets = windows[:, 1:]
    assert sorted(targets[targets != PAD].tolist()) == sorted(list(range(2, 40)) + [2, 3, 4])
    assert len(validation_windows(pieces, window=16, limit=2)) == 2


def test_transposition_shifts_every_pitch_alike_and_stays_in_the_tokenizer_range(irish_path) -> None:
    tokenizer = get_tokenizer("remi")
    piece = parse_abc(irish_path.read_text(encoding="utf-8").split("\nX:")[0])[0]
    ids = np.asarray(tokenizer.encode(piece), dtype=np.int64)
    transposer = transposer_for(tokenizer, 5)
    assert transposer is not None
    pitch_of = tokenizer.pitch_of_ids()
    low, high = transposer.legal_shifts(ids)
    assert (low, high) == (-5, 5)
    for shift in (-5, -1, 3, 5):
        moved = transposer.apply(ids, shift)
        assert np.array_equal(pitch_of[moved][pitch_of[ids] >= 0], pitch_of[ids][pitch_of[ids] >= 0] + shift)
        assert tokenizer.decode(moved.tolist()).pitch_range() == tuple(p + shift for p in piece.pitch_range())
    # Near the edge of the range only the shifts that keep every pitch inside are drawn.
    edge = Transposer(transposer.pitch_of, transposer.tables, (0, max(piece.pitch_range()) + 2), 5)
    assert edge.legal_shifts(ids) == (-5, 2)
    sampler = WindowSampler([ids], window=len(ids), batch_size=64, transposer=edge)
    for row in sampler.batch(rng_for_step(0, 0, 0)):
        pitches = pitch_of[row[row != PAD]]
        assert pitches.max() <= max(piece.pitch_range()) + 2


def test_a_tokenizer_that_cannot_transpose_token_by_token_turns_augmentation_off() -> None:
    assert transposer_for(get_tokenizer("remi"), 0) is None
    assert transposer_for(SimpleNamespace(name="x"), 5) is None
