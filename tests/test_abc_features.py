"""parse_abc feature by feature, on small tunes whose notes are known."""

from __future__ import annotations

import pytest

from melody.errors import MusicError
from melody.music.abc import parse_abc

Q = 24  # ticks per quarter note


def notes(body: str, header: str = "M:4/4\nL:1/4\nK:C") -> list[tuple[int, int, int]]:
    """(onset, pitch, duration) of a one-tune ABC text with L:1/4 (a quarter is 24 ticks)."""
    piece = parse_abc(f"X:1\nT:t\n{header}\n{body}\n")[0]
    return [(n.onset, n.pitch, n.duration) for n in piece.notes]


def pitches(body: str, header: str = "M:4/4\nL:1/4\nK:C") -> list[int]:
    return [pitch for _, pitch, _ in notes(body, header)]


# -- keys ----------------------------------------------------------------------------------
@pytest.mark.parametrize("key, expected", [
    ("D Major", [62, 64, 66, 67, 69, 71, 73]),
    ("Ador", [62, 64, 66, 67, 69, 71, 72]),  # A dorian has G major's F#
    ("Edor", [62, 64, 66, 67, 69, 71, 73]),
    ("F#m", [62, 64, 66, 68, 69, 71, 73]),
    ("D mix", [62, 64, 66, 67, 69, 71, 72]),
    ("E phrygian", [62, 64, 65, 67, 69, 71, 72]),
    ("F lydian", [62, 64, 65, 67, 69, 71, 72]),
    ("B loc", [62, 64, 65, 67, 69, 71, 72]),
    ("A aeolian", [62, 64, 65, 67, 69, 71, 72]),
    ("G ionian", [62, 64, 66, 67, 69, 71, 72]),
    ("Bb", [62, 63, 65, 67, 69, 70, 72]),
    ("c MINOR", [62, 63, 65, 67, 68, 70, 72]),
    ("bass", [62, 64, 65, 67, 69, 71, 72]),
    ("D exp ^f ^c", [62, 64, 66, 67, 69, 71, 73]),
    ("D exp ^f", [62, 64, 66, 67, 69, 71, 72]),
    ("D ^g", [62, 64, 66, 68, 69, 71, 73]),
    ("none", [62, 64, 65, 67, 69, 71, 72]),
    ("HP", [62, 64, 66, 67, 69, 71, 73]),
    ("Hp", [62, 64, 66, 67, 69, 71, 73]),
])
def test_key_signatures_and_modes(key: str, expected: list[int]) -> None:
    assert pitches("DEFGABc", f"L:1/4\nK:{key}") == expected


def test_key_event_names_tonic_and_mode() -> None:
    piece = parse_abc("X:1\nK:F#m\nA\n")[0]
    assert (piece.key.tonic, piece.key.mode) == (6, "minor")
    piece = parse_abc("X:1\nK:A Mixolydian\nA\n")[0]
    assert (piece.key.tonic, piece.key.mode) == (9, "mixolydian")


def test_inline_key_change() -> None:
    assert pitches("F [K:G] F | F") == [65, 66, 66]


# -- pitches and accidentals ------------------------------------------------------------------
def test_octaves_and_accidentals() -> None:
    assert pitches("C, C c c' ^C _D =E ^^F __B") == [48, 60, 72, 84, 61, 61, 64, 67, 69]


def test_accidentals_hold_to_the_end_of_the_bar() -> None:
    assert pitches("^F F f F, | F", "L:1/4\nK:C") == [66, 66, 78, 54, 65]


def test_natural_cancels_the_key_signature_for_the_bar() -> None:
    assert pitches("=F F | F", "L:1/4\nK:G") == [65, 65, 66]


def test_tie_carries_its_accidental_across_the_bar_line() -> None:
    assert notes("^c4- | c2 c2") == [(0, 73, 6 * Q), (6 * Q, 72, 2 * Q)]


# -- lengths ---------------------------------------------------------------------------------
def test_note_lengths() -> None:
    assert [d for _, _, d in notes("A2 A/2 A/ A// A3/2 A3/ A/4")] == [48, 12, 12, 6, 36, 36, 6]


def test_default_unit_follows_the_meter() -> None:
    assert notes("A", "M:2/4\nK:C")[0][2] == 6  # 2/4 < 3/4: L is 1/16
    assert notes("A", "M:3/4\nK:C")[0][2] == 12
    assert notes("A", "M:6/8\nK:C")[0][2] == 12
    assert notes("A", "K:C")[0][2] == 12


def test_rests_take_time() -> None:
    assert notes("C z D x E") == [(0, 60, Q), (2 * Q, 62, Q), (4 * Q, 64, Q)]


def test_multi_bar_rests() -> None:
    assert notes("C4 | Z2 | D4", "M:4/4\nL:1/4\nK:C")[1][0] == 12 * Q
    assert notes("C3 | Z | D", "M:3/4\nL:1/4\nK:C")[1][0] == 6 * Q


def test_broken_rhythm() -> None:
    assert notes("C>D E<F G>>A") == [(0, 60, 36), (36, 62, 12), (48, 64, 12), (60, 65, 36),
                                      (96, 67, 42), (138, 69, 6)]


def test_broken_rhythm_between_chords() -> None:
    assert notes("[CE]>G") == [(0, 60, 36), (0, 64, 36), (36, 67, 12)]


@pytest.mark.parametrize("body, header, durations", [
    ("(3CDE F", "M:4/4\nL:1/8\nK:C", [8, 8, 8, 12]),
    ("(3:2:4CDEF G", "M:4/4\nL:1/8\nK:C", [8, 8, 8, 8, 12]),
    ("(2CD E", "M:6/8\nL:1/8\nK:C", [18, 18, 12]),
    # compound meter: 5 in the time of 3 (7.2 ticks each, onsets rounded to the grid)
    ("(5CDEFG", "M:6/8\nL:1/8\nK:C", [7, 7, 8, 7, 7]),
    ("(3::2CD E", "M:4/4\nL:1/8\nK:C", [8, 8, 12]),
    ("(3C2D2E2", "M:4/4\nL:1/8\nK:C", [16, 16, 16]),
])
def test_tuplets(body: str, header: str, durations: list[int]) -> None:
    assert [d for _, _, d in notes(body, header)] == durations


def test_chords_take_the_first_notes_length_times_the_multiplier() -> None:
    assert notes("[CEG]2 [C2E2] [CE2] G") == [
        (0, 60, 48), (0, 64, 48), (0, 67, 48), (48, 60, 48), (48, 64, 48),
        (96, 60, 24), (96, 64, 24), (120, 67, 24)]


# -- ties --------------------------------------------------------------------------------------
def test_ties_join_notes_also_across_bar_lines() -> None:
    assert notes("C2-C2-|C D-E") == [(0, 60, 120), (120, 62, 24), (144, 64, 24)]


def test_tied_chord() -> None:
    assert notes("[CE]4-|[CE]") == [(0, 60, 120), (0, 64, 120)]


# -- repeats -------------------------------------------------------------------------------------
@pytest.mark.parametrize("body, expected", [
    ("|:C D:|E", "CDCDE"),
    ("C|D:|E|F:|", "CDCDEFEF"),  # the second ':|' with no '|:' repeats from the first
    ("C|D||E|F:|", "CDEFCDEF"),  # as abc2midi: back to the start, not to '||'
    ("|:C|1D:|2E|]", "CDCE"),
    ("|:C|[1D:|[2E|]", "CDCE"),
    ("|:C:|:D:|", "CCDD"),
    ("|:C::D:|", "CCDD"),
    ("|:C|[1,3D:|[2E:|[4F|]", "CDCECDCF"),
    ("|:C|1D:|2E||F|", "CDCEF"),
])
def test_repeats_expand_in_playing_order(body: str, expected: str) -> None:
    names = {60: "C", 62: "D", 64: "E", 65: "F"}
    assert "".join(names[p] for p in pitches(body)) == expected


# -- fields in the body ---------------------------------------------------------------------------
def test_inline_fields_change_meter_length_and_tempo() -> None:
    piece = parse_abc("X:1\nM:4/4\nL:1/4\nQ:1/4=100\nK:C\nC D E F|[M:3/4][L:1/8][Q:1/4=60] G A B|\n")[0]
    assert [(s.tick, s.numerator, s.denominator) for s in piece.time_signatures] == [(0, 4, 4), (96, 3, 4)]
    assert [(t.tick, t.qpm) for t in piece.tempos] == [(0, 100.0), (96, 60.0)]
    assert [n.duration for n in piece.notes][-3:] == [12, 12, 12]


def test_meter_field_in_the_middle_of_a_music_line() -> None:
    piece = parse_abc("X:1\nM:3/4\nL:1/8\nK:C\nM:3/4 C2D2E2| M:4/4 F2G2A2B2|\n")[0]
    assert [(s.tick, s.numerator) for s in piece.time_signatures] == [(0, 3), (72, 4)]
    assert [n.pitch for n in piece.notes] == [60, 62, 64, 65, 67, 69, 71]


def test_field_lines_comments_and_directives_in_the_body_are_skipped() -> None:
    body = "C D % comment\nw: la la\nW:words\nN:note\nR:reel\n%%MIDI program 1\nI:linebreak $\nE F|\n"
    assert pitches(body) == [60, 62, 64, 65]


def test_line_continuation_and_line_breaks() -> None:
    assert pitches("C D \\\nE F|!\nG$A|") == [60, 62, 64, 65, 67, 69]


def test_decorations_annotations_grace_notes_and_slurs_are_dropped() -> None:
    body = '"Am"C !trill!D +fermata+E ~F .G HA TB uc vd "^text"e {/g}f {ga}g (ab) y`c\''
    assert pitches(body) == [60, 62, 64, 65, 67, 69, 71, 72, 74, 76, 77, 79, 81, 83, 84]


def test_exclamation_at_the_end_of_a_line_is_a_line_break_not_a_decoration() -> None:
    assert pitches("C D|!\nE F|!\n") == [60, 62, 64, 65]


def test_every_voice_is_kept_and_they_play_together() -> None:
    text = "X:1\nL:1/4\nV:1\nV:2\nK:C\n[V:1] C D|\n[V:2] E, F,|\nV:1\nG A|\nV:2\nB, C|\n"
    notes = parse_abc(text)[0].notes
    assert [(n.onset, n.pitch) for n in notes] == [(0, 52), (0, 60), (24, 53), (24, 62), (48, 59), (48, 67),
                                                   (72, 60), (72, 69)]


# -- pickups ------------------------------------------------------------------------------------
def test_pickup_sits_at_the_end_of_bar_zero() -> None:
    piece = parse_abc("X:1\nM:4/4\nL:1/8\nK:G\nGA|B8|c8|\n")[0]
    assert [(n.onset, n.duration) for n in piece.notes] == [(72, 12), (84, 12), (96, 96), (192, 96)]
    assert piece.bar_starts() == [0, 96, 192]


def test_a_full_first_bar_is_not_shifted() -> None:
    assert notes("CDEF|G") [0][0] == 0


# -- tunes and files ------------------------------------------------------------------------------
def test_file_header_applies_to_every_tune_and_tunes_split_at_blank_lines() -> None:
    text = "%abc-2.1\nM:6/8\nL:1/8\n\nX:1\nT:One\nK:D\nABc|\n\nX:1\nT:Two\nK:D\ndef|\n"
    pieces = parse_abc(text, source="set.abc")
    assert [(p.title, p.tune, p.source) for p in pieces] == [("One", "1", "set.abc"), ("Two", "2", "set.abc")]
    assert pieces[0].time_signature.numerator == 6
    assert [n.duration for n in pieces[1].notes] == [12, 12, 12]


def test_a_tune_without_x_is_read() -> None:
    assert [p.tune for p in parse_abc("T:No number\nK:C\nCDE|\n")] == ["1"]


@pytest.mark.parametrize("field, expected", [
    ("Q:1/4=120", 120.0), ("Q:120", 60.0), ('Q:"Allegro" 1/4=132', 132.0), ("Q:3/8=60", 90.0),
    ("Q:C=90", 45.0), ("Q:1/8 3/8=40", 80.0),
])
def test_tempo_forms(field: str, expected: float) -> None:
    assert parse_abc(f"X:1\nL:1/8\n{field}\nK:C\nC\n")[0].qpm == pytest.approx(expected)


@pytest.mark.parametrize("field, numerator, denominator", [
    ("M:C", 4, 4), ("M:C|", 2, 2), ("M:2+3/8", 5, 8), ("M:9/8", 9, 8)])
def test_meter_forms(field: str, numerator: int, denominator: int) -> None:
    signature = parse_abc(f"X:1\n{field}\nK:C\nC\n")[0].time_signature
    assert (signature.numerator, signature.denominator) == (numerator, denominator)


def test_free_meter_has_no_time_signature() -> None:
    assert parse_abc("X:1\nM:none\nK:C\nC\n")[0].time_signatures == []


# -- errors and warnings --------------------------------------------------------------------------
def test_warnings_name_file_tune_line_and_column() -> None:
    warnings: list[MusicError] = []
    parse_abc("X:7\nK:C\nCD\nE & F\nG # A ] ;\nC Y\n", source="bad.abc", on_warning=warnings.append)
    assert [str(w) for w in warnings] == ["bad.abc:6:3: (tune 7) unexpected character 'Y' ignored"]


def test_an_error_names_file_tune_line_and_column() -> None:
    with pytest.raises(MusicError) as caught:
        parse_abc("X:3\nK:C\nCDE|\nF A99999 G|\n", source="long.abc")
    assert str(caught.value) == "long.abc:4:3: (tune 3) impossible note length '99999'"


def test_a_file_with_no_tunes_raises() -> None:
    with pytest.raises(MusicError, match="no ABC tunes"):
        parse_abc("just some text\nwith no music\n", source="notes.txt")


def test_repeated_x_numbers_fall_back_to_the_tune_index() -> None:
    pieces = parse_abc("X:1\nK:C\nC\n\nX:1\nK:C\nD\n\nX:5\nK:C\nE\n")
    assert [p.tune for p in pieces] == ["1", "2", "5"]


# -- a real file through melody.music.io ------------------------------------------------------
def test_fixture_file_reads_through_the_io_door() -> None:
    from conftest import DATA
    from melody.music import io

    pieces = io.read(DATA / "set.abc")
    assert [(p.tune, p.title) for p in pieces] == [
        ("1", "First, with a pickup"), ("2", "Second, in parts"), ("3", "Third, two voices")]
    first, second, third = pieces
    assert first.qpm == pytest.approx(150.0)  # 3/8=100 is 150 quarters a minute
    assert (first.key.tonic, first.key.mode) == (4, "dorian")
    assert first.notes[0].onset == 60  # the pickup B ends bar 0 of 6/8 (72 ticks)
    assert [n.pitch for n in first.notes][:4] == [71, 64, 71, 71]
    # parts A, B, A: B is in D major; A sounds as written (in G) both times.
    assert [n.pitch for n in second.notes] == [67, 69, 71, 72, 74, 66, 67, 69, 71, 73, 67, 69, 71, 72, 74]
    assert [n.pitch for n in third.notes] == [48, 60, 62, 64, 65, 67, 69]  # both voices
    assert third.time_signature.numerator == 3


def test_octave_clefs_shift_notes_as_abc2midi_does() -> None:
    assert pitches("C [K:treble+8] C [K:clef=treble] C [K:bass-8] C", "L:1/4\nK:C treble-8") == [48, 72, 72, 48]


def test_microtonal_accidentals_sound_at_the_natural_pitch() -> None:
    assert pitches("^c ^/c ^3/4c _/d d") == [73, 72, 72, 74, 74]


def test_text_blocks_and_continued_header_fields_are_not_music() -> None:
    text = "X:1\nT:A long \\\ntitle\nK:C\n%%begintext\nThese words are not notes.\n%%endtext\nCDE|\n"
    piece = parse_abc(text)[0]
    assert piece.title == "A long title"
    assert [n.pitch for n in piece.notes] == [60, 62, 64]


def test_header_key_applies_when_a_body_key_field_only_names_a_clef() -> None:
    assert pitches("F [K:clef=bass] F", "L:1/4\nK:G") == [66, 66]


def test_every_block_before_the_first_tune_is_file_header() -> None:
    piece = parse_abc("%abc-2.1\n%%pagewidth 21cm\n\nM:6/8\nL:1/8\n\nX:1\nK:G\nGAB|\n")[0]
    assert piece.time_signature.numerator == 6
    assert [n.duration for n in piece.notes] == [12, 12, 12]
