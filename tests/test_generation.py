"""generation: settings, prime, constraints, streaming events, takes and their files."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from helpers import PRIME_ABC, tiny_model_folder
from melody.errors import MelodyError, MusicError, UsageError
from melody.generation import (BarEvent, DoneEvent, GenerationSettings, NoteEvent, Take, generate,
                               stream, write_take)
from melody.music.io import render
from melody.music.notes import Key
from melody.tokenizers import get_tokenizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def lstm_folder(tmp_path_factory) -> Path:
    return tiny_model_folder(tmp_path_factory.mktemp("models") / "tiny-lstm")


@pytest.fixture(scope="module")
def transformer_folder(tmp_path_factory) -> Path:
    return tiny_model_folder(tmp_path_factory.mktemp("models") / "tiny-transformer", "transformer")


def bars_after(take: Take) -> int:
    """Bars from the take's prime end to its end."""
    return sum(1 for tick in take.piece.bar_starts() if tick >= take.prime_end)


def test_every_take_has_exactly_the_bars_asked_for(lstm_folder):
    takes = generate(lstm_folder, num=4, bars=3, seed=1, temperature=1.5, meter="3/4")
    assert [t.seed for t in takes] == [1, 2, 3, 4]
    pickups = 0
    for take in takes:
        assert take.complete
        assert take.piece.time_signature.numerator == 3
        # A first bar whose first note comes after the bar line is a pickup: 3 bars follow it.
        pickup = min(n.onset for n in take.piece.notes) > 0
        pickups += pickup
        assert bars_after(take) == 3 + pickup
        assert take.piece.end_tick == (3 + pickup) * take.piece.time_signature.bar_ticks
        assert len(take.piece.time_signatures) == 1  # the meter asked for holds throughout
    assert 0 < pickups < len(takes)  # both kinds were drawn


def test_key_lock_keeps_every_pitch_in_the_scale(lstm_folder):
    takes = generate(lstm_folder, num=6, bars=4, seed=3, temperature=2.0, key="Bb", key_lock=True)
    scale = Key(0, 10, "major").scale
    pitches = [n.pitch for t in takes for n in t.piece.notes if not n.is_drum]  # drums have no key
    assert len(pitches) >= 10 and all(p % 12 in scale for p in pitches)
    assert all(t.piece.key == Key(0, 10, "major") for t in takes)


def test_pitch_range_is_a_hard_limit(lstm_folder):
    takes = generate(lstm_folder, num=6, bars=4, seed=5, temperature=2.0, pitch_range=(60, 67))
    pitches = [n.pitch for t in takes for n in t.piece.notes if not n.is_drum]
    assert len(pitches) >= 10 and min(pitches) >= 60 and max(pitches) <= 67


def test_the_same_seed_gives_the_same_tokens_and_midi_bytes(transformer_folder):
    first = generate(transformer_folder, num=2, max_tokens=120, seed=42)
    second = generate(transformer_folder, num=2, max_tokens=120, seed=42)
    assert [t.tokens for t in first] == [t.tokens for t in second]
    assert [render(t.piece, "mid") for t in first] == [render(t.piece, "mid") for t in second]
    # Piece 1 of seed 42 is piece 0 of seed 43: a piece's seed is its own.
    assert generate(transformer_folder, num=1, max_tokens=120, seed=43)[0].tokens == first[1].tokens


def test_stream_yields_each_note_once_then_done(lstm_folder):
    events = list(stream(lstm_folder, GenerationSettings(num=2, bars=2, seed=9)))
    assert isinstance(events[-1], DoneEvent) and not events[-1].cancelled
    takes = events[-1].takes
    for index in range(2):
        streamed = [e.note for e in events if isinstance(e, NoteEvent) and e.index == index]
        assert sorted(streamed) == sorted(takes[index].piece.notes)
        bars = [e.bar for e in events if isinstance(e, BarEvent) and e.index == index]
        assert bars == sorted(set(bars))


def test_a_set_stop_event_ends_the_stream_at_once_with_what_exists(lstm_folder):
    stop = threading.Event()
    events = []
    for event in stream(lstm_folder, GenerationSettings(num=1, bars=64, seed=2), stop=stop):
        events.append(event)
        if isinstance(event, NoteEvent):
            stop.set()
    done = events[-1]
    assert isinstance(done, DoneEvent) and done.cancelled
    assert not done.takes[0].complete
    assert sum(isinstance(e, NoteEvent) for e in events) <= 3  # ended within one step


def test_a_prime_sets_key_meter_and_opening_bars(lstm_folder):
    takes = generate(lstm_folder, prime_abc=PRIME_ABC, prime_bars=2, bars=2, seed=4)
    take = takes[0]
    bar = take.piece.time_signature.bar_ticks
    assert (take.piece.time_signature.numerator, take.piece.time_signature.denominator) == (6, 8)
    assert take.piece.key == Key(0, 7, "major")
    assert take.prime_end == 2 * bar
    opening = [n.pitch for n in take.piece.notes if n.onset < take.prime_end]
    assert opening == [67, 69, 71, 72, 74, 76, 74, 72, 71, 69]
    assert bars_after(take) == 2
    assert take.prime == {"source": "abc", "text": PRIME_ABC, "bars": 2}


def test_a_prime_file_is_read_through_melody_io(lstm_folder, tmp_path):
    path = tmp_path / "prime.abc"
    path.write_text(PRIME_ABC)
    take = generate(lstm_folder, prime=str(path), bars=1, seed=4)[0]
    assert take.prime["source"] == str(path) and take.prime["bars"] == 4
    assert take.prime_end == 4 * take.piece.time_signature.bar_ticks


def test_write_take_writes_midi_abc_and_sidecar_and_never_overwrites(lstm_folder, tmp_path):
    take = generate(lstm_folder, bars=2, seed=11)[0]
    first = write_take(take, tmp_path / "out")
    assert [p.name for p in first] == ["tiny-lstm-11-1.mid", "tiny-lstm-11-1.abc", "tiny-lstm-11-1.json"]
    sidecar = json.loads(first[2].read_text())
    assert sidecar["seed"] == 11 and sidecar["settings"]["seed"] == 11
    assert sidecar["model"]["weights_sha256"] == take.model_sha256 and len(take.model_sha256) == 64
    assert sidecar["tokenizer"]["name"] == "remi"
    assert sidecar["settings"]["bars"] == 2 and sidecar["tokens"] == take.tokens
    before = first[0].read_bytes()
    second = write_take(take, tmp_path / "out")
    assert [p.name for p in second] == ["tiny-lstm-11-1 (2).mid", "tiny-lstm-11-1 (2).abc", "tiny-lstm-11-1 (2).json"]
    assert second[0].read_bytes() == before
    forced = write_take(take, tmp_path / "out", formats=("mid",), force=True)
    assert [p.name for p in forced] == ["tiny-lstm-11-1.mid", "tiny-lstm-11-1.json"]


def test_a_drawn_seed_is_recorded_and_makes_the_piece_again(lstm_folder):
    take = generate(lstm_folder, bars=2)[0]
    assert take.settings.seed == take.seed
    assert generate(lstm_folder, bars=2, seed=take.seed)[0].tokens == take.tokens


@pytest.mark.parametrize("overrides, message", [
    ({"temperature": -1.0}, "temperature"),
    ({"top_p": 0.0}, "top-p"),
    ({"top_p": 1.01}, "top-p"),
    ({"top_k": -3}, "top-k"),
    ({"num": 0}, "num"),
    ({"num": -2}, "num"),
    ({"bars": 0}, "bars"),
    ({"bars": 4, "max_tokens": 100}, "either"),
    ({"key": "H#"}, "key"),
    ({"meter": "7/5"}, "meter"),
    ({"tempo": -30}, "tempo"),
    ({"key_lock": True}, "key-lock"),
    ({"pitch_range": (80, 40)}, "pitch range"),
    ({"colour": "blue"}, "unknown"),
])
def test_bad_settings_are_usage_errors(lstm_folder, overrides, message):
    with pytest.raises(UsageError, match=message):
        generate(lstm_folder, **overrides)


def test_a_prime_that_does_not_parse_is_a_music_error(lstm_folder, tmp_path):
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd not really")
    with pytest.raises(MusicError, match="broken.mid"):
        generate(lstm_folder, prime=str(broken))
    with pytest.raises(MelodyError):
        generate(lstm_folder, prime_abc="X:1\nK:D\n")  # no notes


def test_a_missing_or_incomplete_model_folder_is_refused(tmp_path):
    with pytest.raises(MelodyError, match="no such model folder"):
        generate(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text('{"format": "melody-model", "version": 1, '
                                                   '"family": "lstm", "model": {}}')
    with pytest.raises(MelodyError):
        generate(tmp_path / "half")


def test_reject_copies_draws_a_flagged_piece_again_with_a_recorded_seed(lstm_folder):
    from melody.evaluation.novelty import NoveltyIndex
    from melody.generation import new_music, reject_copies

    settings = GenerationSettings(num=2, bars=4, seed=20, temperature=1.5, key="D", meter="6/8")
    takes = generate(lstm_folder, settings)
    assert len(takes[0].piece.notes) >= 5
    # An index holding piece 0's own music flags piece 0 (and only it) as a near-copy.
    index = NoveltyIndex.build([new_music(takes[0])], max_run=3, max_share=0.5)
    lines: list[str] = []
    kept = reject_copies(lstm_folder, settings, list(takes), index=index, on_retry=lines.append)
    assert kept[1].tokens == takes[1].tokens and kept[1].attempts == 1
    assert kept[0].tokens != takes[0].tokens and kept[0].attempts >= 2
    assert kept[0].seed == 20 + (kept[0].attempts - 1) * 2 + 0  # run seed + attempt * num + index
    assert kept[0].novelty is not None and not kept[0].novelty["is_copy"]
    assert lines and lines[0].startswith("piece 1: near-copy")
    again = reject_copies(lstm_folder, settings, generate(lstm_folder, settings), index=index)
    assert [t.tokens for t in again] == [t.tokens for t in kept]  # the same command, the same pieces


def test_without_key_or_meter_the_model_opens_with_one_of_each_from_its_openings(lstm_folder, tmp_path):
    import shutil

    folder = tmp_path / "with-openings"
    shutil.copytree(lstm_folder, folder)
    takes = generate(folder, num=4, bars=2, seed=8, temperature=2.0)
    assert all(t.piece.time_signatures and t.piece.key for t in takes)  # chosen by the model
    (folder / "openings.json").write_text('{"meters": {"9/8": 3}, "keys": {"A_dorian": 5}}')
    for take in generate(folder, num=4, bars=2, seed=8, temperature=2.0):
        meter = take.piece.time_signature
        assert (meter.numerator, meter.denominator) == (9, 8)
        assert take.piece.key == Key(0, 9, "dorian")


def test_tokens_the_training_data_never_held_are_never_sampled(lstm_folder, tmp_path):
    import shutil

    folder = tmp_path / "with-vocabulary"
    shutil.copytree(lstm_folder, folder)
    vocab = get_tokenizer("remi").vocab
    used = ["<bos>", "<eos>", "Bar", "TimeSig_6/8", "Key_G_major"]
    used += [t for t in vocab if t.startswith(("Position_", "Duration_"))]
    used += [f"Pitch_{p}" for p in range(60, 80)]  # and no BarsLeft: the countdown is never banned
    (folder / "openings.json").write_text(json.dumps({"meters": {"6/8": 1}, "keys": {"G_major": 1},
                                                      "tokens": used}))
    takes = generate(folder, num=6, bars=3, seed=2, temperature=2.0)
    sampled = {vocab[t] for take in takes for t in take.tokens}
    countdown = {t for t in sampled if t.startswith("BarsLeft_")}
    # The grammar's, never banned: 3 bars count down from 2 (from 3 after a pickup).
    assert {"BarsLeft_1", "BarsLeft_2"} <= countdown <= {"BarsLeft_1", "BarsLeft_2", "BarsLeft_3"}
    assert sampled - countdown <= set(used)  # no Program, Drum, Velocity, Tempo or far-off pitch
    assert any(t.startswith("Pitch_") for t in sampled)
