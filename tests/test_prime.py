"""Openings built from --key/--meter/--tempo: each scheme spells them as its own tokens."""

import pytest

from melody.music.abc import parse_abc
from melody.music.notes import Key, TimeSignature
from melody.tokenizers import BOS, get_tokenizer


@pytest.mark.parametrize("key, meter", [(Key(0, 2, "major"), TimeSignature(0, 6, 8)),
                                        (Key(0, 9, "minor"), TimeSignature(0, 3, 4))])
def test_abc_char_opening_is_whole_header_lines_that_read_back(key, meter):
    # Taking away characters an empty piece shares used to leave scraps such as "6D".
    tokenizer = get_tokenizer("abc-char")
    ids = tokenizer.encode_header(key, meter, None)
    assert ids[0] == BOS
    text = "".join(tokenizer.tokens(ids[1:]))
    assert text.endswith("\n") and f"M:{meter.numerator}/{meter.denominator}\n" in text
    piece = parse_abc(text + "A|\n")[0]
    assert piece.key == key and piece.time_signature == meter


def test_abc_char_opening_leaves_out_what_was_not_given():
    tokenizer = get_tokenizer("abc-char")
    text = "".join(tokenizer.tokens(tokenizer.encode_header(None, TimeSignature(0, 6, 8), None)[1:]))
    assert "M:6/8\n" in text and "K:" not in text and "Q:" not in text


def test_remi_opening_holds_the_meter_and_key_tokens():
    tokenizer = get_tokenizer("remi")
    tokens = tokenizer.tokens(tokenizer.encode_header(Key(0, 2, "major"), TimeSignature(0, 6, 8), None))
    assert "TimeSig_6/8" in tokens and "Key_D_major" in tokens
