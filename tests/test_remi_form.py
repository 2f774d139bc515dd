"""remi's form tokens: copies of returning bars (lossless, grammatical) and infill sequences."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from melody.music.io import read
from melody.music.notes import Note, Piece, TimeSignature
from melody.tokenizers import EOS, Constraints, get_tokenizer, tokenizer_from_dict
from melody.tokenizers.remi_form import infill_parts

REMI = get_tokenizer("remi")
PLAIN = get_tokenizer("remi", copies=False, infill=False, countdown=False)


@pytest.fixture(scope="module")
def tunes(irish_path):
    return read(irish_path)


def walk(grammar, ids, prime=()):
    """The grammar's state after the `prime` (fed unchecked, as sampling feeds one) and then
    `ids`, asserting each token of `ids` was allowed."""
    state = grammar.start()
    for token in prime[1:]:
        state = grammar.advance(state, token)
    for index, token in enumerate(ids if prime else ids[1:]):
        assert grammar.allowed(state)[token], (index, REMI.vocab[token])
        state = grammar.advance(state, token)
    return state


def aabb() -> Piece:
    """Two 2-bar parts, each played twice: A A B B."""
    a = [Note(0, 60, 48), Note(48, 62, 48), Note(96, 64, 96)]
    b = [Note(0, 67, 24), Note(24, 65, 72), Note(96, 60, 96)]
    notes = [dataclasses.replace(n, onset=n.onset + start) for start, part in ((0, a), (192, a), (384, b), (576, b))
             for n in part]
    return Piece(notes=notes, time_signatures=[TimeSignature(0, 4, 4)], end=768)


def test_a_returning_part_is_one_copy_and_decodes_note_for_note():
    piece = aabb()
    ids = REMI.encode(piece)
    names = REMI.tokens(ids)
    assert names.count("CopyFrom_2") == 1 and names.count("CopyBars_2") == 1  # the second B
    assert REMI.decode(ids).notes == piece.notes
    assert REMI.expand_copies(ids) == PLAIN.encode(piece)


def test_copies_are_lossless_and_halve_the_tokens_of_the_shipped_tunes(tunes):
    copied = plain = 0
    for piece in tunes[:200]:
        ids, written = REMI.encode(piece), PLAIN.encode(piece)
        assert REMI.expand_copies(ids) == written, piece.title
        assert REMI.decode(ids) == PLAIN.decode(written), piece.title
        copied, plain = copied + len(ids), plain + len(written)
    assert copied < 0.6 * plain


def test_the_grammar_accepts_every_copy_the_encoder_writes(tunes):
    grammar = REMI.grammar(Constraints(end_on_bar_line=True))
    for piece in tunes[:150]:
        ids = REMI.encode(piece)
        if "TimeSig" in " ".join(REMI.tokens(ids[3:])):
            continue  # a meter change inside a tune: sampling never writes one
        assert grammar.finished(walk(grammar, ids)), piece.title


def test_sampled_copies_respect_the_bar_count_and_the_key_lock():
    rng = np.random.default_rng(3)
    scale = frozenset({0, 2, 4, 5, 7, 9, 11})
    grammar = REMI.grammar(Constraints(scale=scale, bars=12))
    copy_ids = {REMI.token_to_id[f"CopyBars_{k}"] for k in range(2, 17)}
    prime = REMI.encode(Piece(notes=[Note(0, 61, 96)], time_signatures=[TimeSignature(0, 4, 4)], end=96))[:-1]
    copies = 0
    for _ in range(20):
        state = grammar.start()
        for token in prime[1:]:
            state = grammar.advance(state, token)
        ids = list(prime)
        while True:
            mask = grammar.allowed(state)
            # Prefer copies (and the countdown before one) so the test sees many.
            wanted = [t for t in np.flatnonzero(mask) if REMI.vocab[t].startswith(("Copy", "BarsLeft"))]
            token = int(rng.choice(wanted if wanted and rng.random() < 0.5 else np.flatnonzero(mask)))
            ids.append(token)
            state = grammar.advance(state, token)
            if token == EOS:
                break
        copies += sum(token in copy_ids for token in ids)
        piece = REMI.decode(ids)
        assert len(piece.bar_starts()) == 13  # the prime's bar and exactly 12 new ones
        assert all(n.pitch % 12 in scale for n in piece.notes if n.onset >= 96 and not n.is_drum)  # the prime's C# is never copied
    assert copies > 10


def test_infill_parts_give_a_prime_whose_middle_the_grammar_accepts_with_exact_bars(tunes):
    rng = np.random.default_rng(0)
    for piece in tunes[:120]:
        ids = REMI.encode(piece)
        bars = len(piece.bar_starts())
        first = int(rng.integers(0, bars - 1))
        last = int(rng.integers(first, min(bars, first + 8)))
        prime, middle, count = infill_parts(REMI, ids, first, last)
        assert count == bars
        assert REMI.tokens(prime).count("Infill_Suffix") == 1 and prime[-1] == REMI.token_to_id["Infill_Middle"]
        grammar = REMI.grammar(Constraints(bars=last - first + 1))
        if "TimeSig" in " ".join(REMI.tokens(middle)):
            continue
        state = walk(grammar, middle, prime=prime)
        mask = grammar.allowed(state)  # the range is complete: the end, or more in its last bar
        assert mask[EOS] and not mask[REMI.token_to_id["Bar"]] and not mask[REMI.token_to_id["CopyFrom_1"]], piece.title
        # The sequence decodes to the prefix and the middle: the tune up to the end of the range.
        end = piece.bar_starts(until=piece.end_tick + 1)[last + 1] if last + 1 < bars else piece.end_tick
        decoded = REMI.decode([*prime, *middle, EOS])
        kept = sorted((n.onset, n.pitch) for n in piece.notes if n.onset < end)
        assert sorted((n.onset, n.pitch) for n in decoded.notes if n.onset < end) == kept, piece.title
        assert REMI.infill_prime(ids, first, last) == (prime, middle)  # the contract's way in


def test_a_tokenizer_file_from_before_copies_keeps_its_vocabulary():
    saved = PLAIN.to_dict()
    saved["config"] = {k: v for k, v in saved["config"].items() if k not in ("copies", "infill")}
    old = tokenizer_from_dict(saved)  # as melody wrote it before copies and infilling existed
    assert not old.copies and not old.infill
    assert old.vocab == PLAIN.vocab and len(REMI.vocab) > len(old.vocab)
