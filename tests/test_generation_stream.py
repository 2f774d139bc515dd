"""generation.stream: the notes it reports as they finish are exactly the finished piece's notes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from melody.generation import BarEvent, DoneEvent, NoteEvent, stream
from melody.model_folder import save_model
from melody.nn import build_model
from melody.tokenizers import get_tokenizer


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_remi_model(folder: Path, family: str) -> Path:
    """A small untrained remi model (the LSTM's raised Bar logit keeps its bars short)."""
    tokenizer = get_tokenizer("remi")
    sizes = {"vocab_size": tokenizer.vocab_size, "d_model": 32, "hidden": 0, "layers": 1, "heads": 2,
             "context": 64, "dropout": 0.0}
    torch.manual_seed(0)
    net = build_model(family, sizes)
    if family == "lstm":
        with torch.no_grad():
            net.output_bias[tokenizer.token_to_id["Bar"]] = 2.0
    return save_model(folder, net, tokenizer, {"family": family, "model": sizes})


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_streamed_notes_are_the_final_pieces_notes(family, tmp_path):
    folder = tiny_remi_model(tmp_path / family, family)
    reported = 0
    for seed in (1, 2):
        # (cadence=False: closing on the tonic may draw a last bar again after it streamed.)
        events = list(stream(folder, num=2, bars=2, seed=seed, key="D", meter="6/8", cadence=False))
        done = events[-1]
        assert isinstance(done, DoneEvent) and not done.cancelled
        for take in done.takes:
            streamed = [e.note for e in events if isinstance(e, NoteEvent) and e.index == take.index]
            # Each note once, as it finished: in onset order, a chord in the tokens' order.
            assert sorted(streamed) == take.piece.notes
            assert [n.onset for n in streamed] == sorted(n.onset for n in streamed)
            # Bar events rise by bar, each before the first note in its bar.
            bars = [e.bar for e in events if isinstance(e, BarEvent) and e.index == take.index]
            assert bars == sorted(set(bars))
            starts = take.piece.bar_starts()
            first_bars = sorted({sum(1 for tick in starts if tick <= note.onset) - 1 for note in streamed})
            assert bars == first_bars
            reported += len(streamed)
    assert reported > 20  # the pieces have notes to compare


def test_a_note_lengthened_by_a_second_duration_is_finished_once_at_its_full_length():
    tokenizer = get_tokenizer("remi")
    ids = tokenizer.token_to_id
    decoder = tokenizer.decoder()
    for token in [ids["Bar"], ids["Position_0"], ids["Pitch_62"], ids["Duration_96"]]:
        decoder.feed(token)
    assert decoder.notes == []  # a full-length Duration may be followed by more
    decoder.feed(ids["Duration_24"])  # a shorter one ends the note
    assert [(n.onset, n.pitch, n.duration) for n in decoder.notes] == [(0, 62, 120)]
    decoder.feed(ids["Duration_12"])  # out of place: skipped, as decode skips it
    tokens = [ids["Bar"], ids["Position_0"], ids["Pitch_62"], ids["Duration_96"], ids["Duration_24"],
              ids["Duration_12"]]
    assert decoder.piece().notes == decoder.notes == tokenizer.decode(tokens).notes


def test_the_incremental_decoder_reads_every_corpus_tune_as_decode_does(irish_path):
    from melody.music.io import read

    tokenizer = get_tokenizer("remi")
    for piece in read(irish_path)[:8]:
        tokens = tokenizer.encode(piece)
        decoder = tokenizer.decoder()
        for count, token in enumerate(tokens, 1):
            decoder.feed(token)
            if count % 13 == 0:
                # Finished notes are the decoded prefix's notes, all but at most the one still open.
                decoded = tokenizer.decode(tokens[:count]).notes
                assert all(note in decoded for note in decoder.notes)
                assert len(decoded) - len(decoder.notes) in (0, 1)
        assert decoder.piece() == tokenizer.decode(tokens)


def tiny_model(folder: Path, tokenizer_name: str) -> Path:
    """A small untrained LSTM over another tokenizer's tokens."""
    tokenizer = get_tokenizer(tokenizer_name)
    sizes = {"vocab_size": tokenizer.vocab_size, "d_model": 32, "hidden": 0, "layers": 1, "dropout": 0.0}
    torch.manual_seed(0)
    net = build_model("lstm", sizes)
    return save_model(folder, net, tokenizer, {"family": "lstm", "model": sizes})


def test_performance_streams_each_note_once_at_its_final_length(tmp_path):
    # The decoder reads each token once; a note is reported at its NoteOff, or at the end.
    folder = tiny_model(tmp_path / "performance", "performance")
    reported = 0
    for seed in (1, 2, 3):
        events = list(stream(folder, num=2, max_tokens=160, seed=seed, temperature=1.5))
        for take in events[-1].takes:
            streamed = [e.note for e in events if isinstance(e, NoteEvent) and e.index == take.index]
            assert sorted(streamed) == sorted(take.piece.notes)
            reported += len(streamed)
    assert reported > 10


def test_abc_text_streams_each_note_once_at_its_final_length(irish_path):
    # abc-char text is decoded again on every character, and a note is reported only once a
    # later one has started: a duration digit, a tie or a '>' can still change it until then.
    from melody.generation.streaming import NoteTracker
    from melody.music.io import read

    tokenizer = get_tokenizer("abc-char")
    for piece in list(read(irish_path))[:12]:
        tokens = tokenizer.encode(piece)[:-1]  # without EOS: the sampler's sequence
        tracker = NoteTracker(tokenizer, 1)
        streamed = []
        for count in range(1, len(tokens) + 1):
            streamed += [e.note for e in tracker.update(0, tokens[:count]) if isinstance(e, NoteEvent)]
        streamed += [e.note for e in tracker.finish(0, tokens) if isinstance(e, NoteEvent)]
        assert sorted(streamed) == sorted(tokenizer.decode(tokens).notes)


def test_the_performance_decoder_reads_every_prefix_as_decode_does(irish_path):
    from melody.music.io import read

    tokenizer = get_tokenizer("performance")
    for piece in list(read(irish_path))[:40]:
        tokens = tokenizer.encode(piece)
        decoder = tokenizer.decoder()
        for count, token in enumerate(tokens, start=1):
            decoder.feed(token)
            if count % 17 == 0:
                assert decoder.piece() == tokenizer.decode(tokens[:count])
        assert decoder.piece() == tokenizer.decode(tokens)


def test_with_the_cadence_only_a_redrawn_last_bar_differs_from_what_streamed(tmp_path):
    folder = tiny_remi_model(tmp_path / "lstm", "lstm")
    events = list(stream(folder, num=4, bars=3, seed=9, key="D", meter="6/8"))
    done = events[-1]
    for take in done.takes:
        streamed = sorted(e.note for e in events if isinstance(e, NoteEvent) and e.index == take.index)
        last = take.piece.bar_starts()[-1]
        assert head(streamed, last) == head(take.piece.notes, last)
        if take.ending is None:
            assert streamed == take.piece.notes


def head(notes, end: int) -> list[tuple[int, int, int]]:
    """Onset, pitch and length up to `end` of the notes starting before it (a note held over
    the last bar line is cut there when the last bar is drawn again)."""
    return [(n.onset, n.pitch, min(n.duration, end - n.onset)) for n in notes if n.onset < end]
