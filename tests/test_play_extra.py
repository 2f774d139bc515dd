"""Without the optional `play` extra (mido, python-rtmidi) playback still works through
FluidSynth where it can, and otherwise says what to install: never an ImportError."""

from __future__ import annotations

import sys

import pytest

from melody import playback
from melody.errors import MelodyError
from melody.music.io import render
from melody.music.notes import Note, Piece


@pytest.fixture
def without_mido(monkeypatch):
    # None in sys.modules makes `import mido` raise ImportError, as on a machine without it.
    monkeypatch.setitem(sys.modules, "mido", None)


@pytest.fixture
def tune_midi() -> bytes:
    return render(Piece(notes=[Note(onset=24 * i, pitch=60 + i, duration=24) for i in range(4)]), "mid")


def test_without_mido_there_are_no_ports(without_mido):
    assert not playback.has_mido()
    assert playback.midi_ports() == []


def test_asking_for_a_port_without_mido_says_what_to_install(without_mido, tune_midi):
    with pytest.raises(playback.PlaybackError) as caught:
        playback.play(tune_midi, port="Synth")
    assert isinstance(caught.value, MelodyError)
    assert "pip install 'melody[play]'" in str(caught.value)


def test_nothing_to_play_with_and_no_mido_names_the_extra(without_mido, tune_midi, monkeypatch):
    monkeypatch.setattr(playback.shutil, "which", lambda name: None)
    with pytest.raises(playback.PlaybackError, match=r"melody\[play\]"):
        playback.play(tune_midi)
    assert "melody[play]" in playback.describe()


def test_a_port_opened_without_mido_is_a_playback_error(without_mido):
    with pytest.raises(playback.PlaybackError, match="mido is not installed"):
        playback.silence(object())
