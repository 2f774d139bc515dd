"""Near-copy detection: copies and transposed copies are flagged, unrelated music is not."""

from __future__ import annotations

import numpy as np

from melody.evaluation.novelty import NoveltyIndex, _SuffixAutomaton, melody_line, melody_symbols
from melody.music.notes import Note, Piece


def random_tune(rng: np.random.Generator, notes: int = 64) -> Piece:
    """A stepwise random melody in eighths and quarters, like a folk tune's surface."""
    pitch, onset, out = 67, 0, []
    for _ in range(notes):
        pitch = int(np.clip(pitch + rng.choice([-4, -2, -1, 1, 2, 3, 5]), 55, 84))
        duration = int(rng.choice([12, 12, 12, 24, 6]))
        out.append(Note(onset, pitch, duration))
        onset += duration
    return Piece(notes=out)


def training_set(seed: int = 0, count: int = 40) -> list[Piece]:
    rng = np.random.default_rng(seed)
    return [random_tune(rng) for _ in range(count)]


def test_copy_of_a_training_piece_is_flagged():
    training = training_set()
    result = NoveltyIndex.build(training).check(training[7])
    assert result.is_copy
    assert result.longest_run == 64 and result.ngram_share == 1.0


def test_transposed_copy_is_flagged():
    training = training_set()
    result = NoveltyIndex.build(training).check(training[3].transposed(5))
    assert result.is_copy and result.longest_run == 64


def test_unrelated_random_piece_is_not_flagged():
    index = NoveltyIndex.build(training_set())
    result = index.check(random_tune(np.random.default_rng(99)))
    assert not result.is_copy
    assert result.longest_run < 12 and result.ngram_share < 0.2


def test_a_borrowed_phrase_counts_as_a_run_but_not_a_copy():
    training = training_set()
    new = random_tune(np.random.default_rng(123), notes=48)
    phrase = training[0].notes[10:30]  # 20 notes, moved to follow the new tune
    shift = new.end_tick - phrase[0].onset
    borrowed = Piece(notes=new.notes + [Note(n.onset + shift, n.pitch - 2, n.duration) for n in phrase])
    result = NoveltyIndex.build(training).check(borrowed)
    assert result.longest_run >= 20 and not result.is_copy


def test_runs_never_span_two_training_pieces():
    a = Piece(notes=[Note(i * 12, 60 + i, 12) for i in range(10)])
    b = Piece(notes=[Note(i * 12, 70 + i, 12) for i in range(10)])
    both = Piece(notes=[Note(i * 12, 60 + i, 12) for i in range(20)])  # a then b, joined
    result = NoveltyIndex.build([a, b]).check(both)
    assert result.longest_run == 10


def test_melody_line_keeps_the_top_note_of_a_chord():
    piece = Piece(notes=[Note(0, 60, 24), Note(0, 67, 24), Note(0, 64, 24), Note(24, 62, 24)])
    assert melody_line(piece) == [(67, 24), (62, 24)]
    assert melody_symbols(piece) == [(-5, 24)]


def test_suffix_automaton_finds_the_longest_common_substring():
    automaton = _SuffixAutomaton()
    for symbol in [1, 2, 3, 4, 5, 1, 2, 9]:
        automaton.extend(symbol)
    assert automaton.longest_common([7, 3, 4, 5, 1, 2, 7]) == 5
    assert automaton.longest_common([8, 8]) == 0


def test_real_tunes_copy_flagged_and_other_tunes_not(irish_path):
    from melody.music.io import read

    tunes = read(irish_path)[:120]
    index = NoveltyIndex.build(tunes[:100])
    assert index.check(tunes[10]).is_copy
    assert index.check(tunes[10].transposed(-3)).is_copy
    others = [index.check(t) for t in tunes[100:]]
    # Real tunes share stock phrases (runs of 7-18 notes here) but are not near-copies.
    assert not any(r.is_copy for r in others)
    assert max(r.longest_run for r in others) >= 6
