"""Playback: FluidSynth rendering for real, MIDI-port note-offs, and the message when nothing can play."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import wave
from pathlib import Path

import mido
import numpy as np
import pytest

from conftest import IRISH, require_program


def optional_program(name: str) -> str:
    """An optional extra's program: its tests run where it is installed and skip elsewhere."""
    import shutil

    path = shutil.which(name)
    if path is None:
        pytest.skip(reason=f"{name} is not installed (an optional extra)")
    return path
from melody import playback
from melody.errors import MelodyError


@pytest.fixture(scope="module")
def tune_midi(tmp_path_factory) -> Path:
    """The first tune of the shipped corpus as MIDI, made by abc2midi (the reference tool)."""
    require_program("abc2midi")
    folder = tmp_path_factory.mktemp("midi")
    text = IRISH.read_text(encoding="utf-8").split("\n\n")[0] + "\n"
    (folder / "tune.abc").write_text(text, encoding="utf-8")
    subprocess.run(["abc2midi", "tune.abc", "-o", "tune.mid"], cwd=folder, check=True, capture_output=True)
    return folder / "tune.mid"


def test_render_wav_writes_an_audible_file(tune_midi, tmp_path):
    optional_program("fluidsynth")
    if playback.find_soundfont() is None:
        pytest.skip(reason="no General MIDI SoundFont installed")
    wav_path = playback.render_wav(tune_midi, tmp_path / "take.wav", sample_rate=22050)
    with wave.open(str(wav_path)) as wav:
        assert wav.getframerate() == 22050
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / wav.getframerate()
    samples = np.frombuffer(frames, dtype=np.int16).astype(np.float64)
    rms = np.sqrt(np.mean(samples**2)) / 32768
    assert seconds > 10  # the hornpipe lasts about a minute
    assert rms > 0.005, f"rendered WAV is silent (rms {rms:.5f})"
    assert not list(tmp_path.glob(".*partial*")), "no temporary file left behind"


def test_render_wav_rejects_a_missing_soundfont(tune_midi, tmp_path):
    optional_program("fluidsynth")
    with pytest.raises(playback.PlaybackError, match="SoundFont"):
        playback.render_wav(tune_midi, tmp_path / "x.wav", soundfont=tmp_path / "none.sf2")
    assert not (tmp_path / "x.wav").exists()


def test_soundfont_comes_from_the_environment_first(tmp_path, monkeypatch):
    font = tmp_path / "mine.sf2"
    font.write_bytes(b"RIFF")
    monkeypatch.setenv("MELODY_SOUNDFONT", str(font))
    assert playback.find_soundfont() == font
    monkeypatch.setenv("MELODY_SOUNDFONT", str(tmp_path / "missing.sf2"))
    assert playback.find_soundfont() is None


def test_nothing_to_play_with_says_what_to_install(tune_midi, monkeypatch):
    monkeypatch.setattr(playback, "midi_ports", lambda: [])
    monkeypatch.setattr(playback.shutil, "which", lambda name: None)
    with pytest.raises(playback.PlaybackError) as caught:
        playback.play(tune_midi)
    assert isinstance(caught.value, MelodyError)
    assert "python-rtmidi" in str(caught.value) and "fluidsynth" in str(caught.value)
    assert "no playback" in playback.describe()


class RecordingPort(mido.ports.BaseOutput):
    """A real mido output port that keeps what it was sent."""

    def _open(self, **kwargs) -> None:
        self.sent: list[mido.Message] = []

    def _send(self, message: mido.Message) -> None:
        self.sent.append(message)


def test_stopping_a_port_sends_all_notes_off_on_every_channel(tune_midi, monkeypatch):
    port = RecordingPort()
    monkeypatch.setattr(playback, "midi_ports", lambda: ["Synth"])
    monkeypatch.setattr(mido, "open_output", lambda name: port)
    started = playback.play(tune_midi)
    assert started.how == "port:Synth"
    time.sleep(0.3)
    assert started.playing
    began = time.perf_counter()
    started.stop()
    assert time.perf_counter() - began < 0.5, "stop cuts in between notes, not after the next one"
    assert not started.playing
    notes_on = [m for m in port.sent if m.type == "note_on" and m.velocity > 0]
    assert notes_on, "some notes were played before stop"
    all_off = {m.channel for m in port.sent if m.type == "control_change" and m.control == 123}
    assert all_off == set(range(16))
    assert port.closed


def test_unknown_port_is_a_user_error(tune_midi, monkeypatch):
    monkeypatch.setattr(playback, "midi_ports", lambda: ["Synth"])
    with pytest.raises(playback.PlaybackError, match="no MIDI output port named 'Nope'"):
        playback.play(tune_midi, port="Nope")


def test_stop_kills_the_audio_player(tune_midi, monkeypatch):
    optional_program("fluidsynth")
    if playback.find_soundfont() is None:
        pytest.skip(reason="no General MIDI SoundFont installed")
    # A stand-in player that would run for a minute: stop() must end it at once.
    monkeypatch.setattr(playback, "midi_ports", lambda: [])
    monkeypatch.setattr(playback, "find_audio_player",
                        lambda: [sys.executable, "-c", "import time; time.sleep(60)"])
    started = playback.play(tune_midi)
    assert started.how.startswith("wav:") and started.playing
    started.stop()
    assert not started.playing


def fake_player(folder: Path, name: str, body: str) -> Path:
    """A real executable standing in for an audio player: a shell script named `name` in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def need_rendering() -> None:
    optional_program("fluidsynth")
    if playback.find_soundfont() is None:
        pytest.skip(reason="no General MIDI SoundFont installed")


def test_a_player_that_fails_is_reported_with_its_own_last_line(tune_midi, tmp_path, monkeypatch):
    need_rendering()
    # What aplay prints on a machine without a sound card, first on PATH.
    fake_player(tmp_path / "bin", "aplay", "echo \"ALSA lib confmisc.c:855: cannot find card '0'\" >&2\n"
                                           "echo 'aplay: main:850: audio open error: no soundcards found' >&2\n"
                                           "exit 1")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    started = playback.play(tune_midi, wav=True)
    assert started.how == "wav:aplay"
    assert started.wait(timeout=60)
    assert not started.playing
    assert started.failure == "aplay failed: aplay: main:850: audio open error: no soundcards found"


def test_a_silent_non_zero_exit_is_a_failure_and_a_clean_or_stopped_run_is_not(tune_midi, tmp_path):
    need_rendering()
    quiet_failure = fake_player(tmp_path, "quietfail", "exit 3")
    started = playback.play(tune_midi, wav=True, player=[str(quiet_failure)])
    assert started.wait(timeout=60) and started.failure == "quietfail failed: exit status 3"

    fine = fake_player(tmp_path, "fine", "exit 0")
    started = playback.play(tune_midi, wav=True, player=[str(fine)])
    assert started.wait(timeout=60) and started.failure is None

    long = fake_player(tmp_path, "long", "exec sleep 60")
    started = playback.play(tune_midi, wav=True, player=[str(long)])
    assert started.playing and started.failure is None
    started.stop()  # killed by us: not the player's failure
    assert not started.playing and started.failure is None


def test_no_audio_player_at_all_is_nothing_to_play(tune_midi, tmp_path, monkeypatch):
    need_rendering()
    # A PATH holding only fluidsynth: it can render, nothing can play the WAV.
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "fluidsynth").symlink_to(optional_program("fluidsynth"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(playback.NothingToPlay, match="no audio player found"):
        playback.play(tune_midi, wav=True)
