"""Listen to a piece: through a MIDI output port, or rendered to WAV with FluidSynth.

Both ways are optional extras, never hard dependencies. A port needs mido and its rtmidi
backend (`pip install "melody[play]"`; without them there are no ports, and the messages say
what to install); rendering needs the `fluidsynth` program and a General MIDI SoundFont, and
hearing the WAV needs a system audio player (aplay, paplay, afplay, ffplay, sox's play).
`play()` picks whichever is there and says what to install when none is (`NothingToPlay`: the
caller may offer to save a WAV instead). A player that starts but fails (aplay's "no soundcards
found") is not playing: `Playback.failure` says so with the player's own last line of error.

Everything here is plain Python so the CLI can use it as well as the terminal UI.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from melody.errors import MelodyError
from melody.music.notes import Piece

# Where Debian/Ubuntu, Fedora, Arch, Homebrew and MacPorts put General MIDI SoundFonts.
SOUNDFONT_PLACES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM2-2.sf2",
    "/usr/share/sounds/sf3/default-GM.sf3",
    "/usr/local/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
    "/opt/local/share/sounds/sf2/FluidR3_GM.sf2",
)
# Players tried in order, each with the arguments that make it play one file and exit quietly.
AUDIO_PLAYERS = (
    ("aplay", ["-q"]),
    ("paplay", []),
    ("pw-play", []),
    ("afplay", []),
    ("ffplay", ["-nodisp", "-autoexit", "-loglevel", "quiet"]),
    ("play", ["-q"]),
)
# mido and its rtmidi backend are the optional `play` extra, not dependencies.
PORT_HINT = "pip install 'melody[play]' (mido and python-rtmidi) to play through a MIDI port"
INSTALL_HINT = (f"{PORT_HINT}, or install fluidsynth with a General MIDI SoundFont (apt install "
                "fluidsynth fluid-soundfont-gm) and an audio player (alsa-utils, pulseaudio-utils or sox)")

Music = Union[Piece, bytes, str, os.PathLike]
PLAYER_ERRORS = "player-errors.txt"  # beside the rendered WAV


class PlaybackError(MelodyError):
    """No way to play, or a player or renderer that failed."""


class NothingToPlay(PlaybackError):
    """No MIDI port and no audio player: the music could still be rendered to a WAV file."""


def midi_data(music: Music) -> bytes:
    """The Standard MIDI File bytes of a piece, of raw bytes, or of a .mid file."""
    if isinstance(music, Piece):
        from melody.music.io import render

        return render(music, "mid")
    if isinstance(music, bytes):
        return music
    from melody.music.io import read_bytes

    return read_bytes(music)


# -- what this machine has ---------------------------------------------------------------
def find_soundfont() -> Path | None:
    """$MELODY_SOUNDFONT if set and present, else the first SoundFont in a common place."""
    chosen = os.environ.get("MELODY_SOUNDFONT")
    if chosen:
        return Path(chosen) if Path(chosen).is_file() else None
    for place in SOUNDFONT_PLACES:
        if Path(place).is_file():
            return Path(place)
    return None


def find_audio_player() -> list[str] | None:
    """The command (without the file) of the first audio player on PATH, or None."""
    for program, arguments in AUDIO_PLAYERS:
        path = shutil.which(program)
        if path:
            return [path, *arguments]
    return None


def has_mido() -> bool:
    """True when mido (the `play` extra) is installed."""
    return importlib.util.find_spec("mido") is not None


def _mido():
    """The mido module, or a PlaybackError saying how to install it."""
    try:
        import mido
    except ImportError:
        raise PlaybackError(f"mido is not installed: {PORT_HINT}") from None
    return mido


def midi_ports() -> list[str]:
    """Names of the MIDI output ports; empty when there are none, or no mido or rtmidi backend."""
    if not has_mido():
        return []
    try:
        return list(_mido().get_output_names())
    except Exception:  # noqa: BLE001 - a missing backend or ALSA/CoreMIDI trouble means no ports
        return []


def can_render() -> bool:
    """True when FluidSynth and a SoundFont are both there."""
    return shutil.which("fluidsynth") is not None and find_soundfont() is not None


def describe() -> str:
    """One line saying how `play` would sound on this machine, or what to install."""
    ports = midi_ports()
    if ports:
        return f"MIDI port {ports[0]}"
    if can_render() and find_audio_player():
        return f"FluidSynth ({find_soundfont()}) through {Path(find_audio_player()[0]).name}"
    return f"no playback: {INSTALL_HINT}"


# -- rendering ---------------------------------------------------------------------------
def render_wav(music: Music, wav_path: str | os.PathLike, *, soundfont: str | os.PathLike | None = None,
               sample_rate: int = 44100, gain: float = 0.6, timeout: float = 600.0) -> Path:
    """Render music to a WAV file with the FluidSynth program; the file appears whole or not at all."""
    program = shutil.which("fluidsynth")
    font = Path(soundfont) if soundfont else find_soundfont()
    if program is None or font is None or not font.is_file():
        missing = render_missing() or f"the SoundFont {font} is not a file"
        raise PlaybackError(f"cannot render audio: {missing}")
    data = midi_data(music)
    wav_path = Path(wav_path)
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="melody-render-") as folder:
        midi_file = Path(folder) / "music.mid"
        midi_file.write_bytes(data)
        # Render beside the target and rename, so a reader never sees a half-written WAV.
        partial = wav_path.with_name(f".{wav_path.name}.partial.wav")
        command = [program, "-ni", "-q", "-F", str(partial), "-T", "wav", "-r", str(sample_rate),
                   "-g", str(gain), str(font), str(midi_file)]
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout, check=False)
            if done.returncode != 0 or not partial.is_file():
                message = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
                raise PlaybackError(f"fluidsynth failed: {message[-1] if message else f'exit {done.returncode}'}")
            os.replace(partial, wav_path)
        except subprocess.TimeoutExpired:
            raise PlaybackError(f"fluidsynth took longer than {timeout:.0f} s") from None
        finally:
            partial.unlink(missing_ok=True)
    return wav_path


def render_missing() -> str | None:
    """What to install before `render_wav` can work, as one line; None when it can."""
    if shutil.which("fluidsynth") is None:
        return ("WAV needs the fluidsynth program and a General MIDI SoundFont: apt install fluidsynth "
                "fluid-soundfont-gm (brew install fluid-synth on macOS)")
    if find_soundfont() is None:
        chosen = os.environ.get("MELODY_SOUNDFONT")
        where = f"$MELODY_SOUNDFONT ({chosen}) is not a file" if chosen else "no General MIDI SoundFont found"
        return (f"WAV needs a General MIDI SoundFont: {where}; apt install fluid-soundfont-gm, or set "
                f"$MELODY_SOUNDFONT to an .sf2 file")
    return None


def wav_bytes(music: Music, **options: object) -> bytes:
    """The WAV of a piece rendered by FluidSynth (render_wav's options), for an atomic writer."""
    with tempfile.TemporaryDirectory(prefix="melody-wav-") as folder:
        return render_wav(music, Path(folder) / "music.wav", **options).read_bytes()


# -- playing -----------------------------------------------------------------------------
@dataclass
class Playback:
    """One piece playing; `stop()` silences it, `wait()` blocks until it ends."""

    how: str  # "port:<name>" or "wav:<player>"
    _thread: threading.Thread | None = None
    _process: subprocess.Popen | None = None
    _stop: threading.Event | None = None
    _folder: tempfile.TemporaryDirectory | None = None
    _errors: list[str] | None = None  # the player's error output (a file's lines, or a port's exception)
    _stopped: bool = False

    @property
    def playing(self) -> bool:
        if self._process is not None and self._process.poll() is None:
            return True
        return self._thread is not None and self._thread.is_alive()

    @property
    def failure(self) -> str | None:
        """Why playing failed, once it has ended: the player's last line of error output, or its
        exit status ("aplay failed: no soundcards found"); None while it plays, when it played
        through quietly, or when `stop()` ended it."""
        if self.playing or self._stopped:
            return None
        self._cleanup()  # reads the error output before the folder goes
        said = next((line for line in reversed(self._errors or []) if line.strip()), "").strip()
        code = self._process.returncode if self._process is not None else 0
        if code == 0 and not said:
            return None
        who = self.how.partition(":")[2] if self.how.startswith("wav:") else f"MIDI port {self.how[5:]!r}"
        return f"{who} failed: {said or f'exit status {code}'}"

    def stop(self) -> None:
        """Stop at once: all notes off on every channel, or the player process killed."""
        self._stopped = True
        if self._stop is not None:
            self._stop.set()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._cleanup()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until playback ends (True) or `timeout` passes (False)."""
        if self._process is not None:
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                return False
        self._cleanup()
        return True

    def _cleanup(self) -> None:
        if self._folder is not None and not self.playing:
            said = Path(self._folder.name) / PLAYER_ERRORS
            if said.is_file():
                self._errors = said.read_text(errors="replace").splitlines()[-20:]
            self._folder.cleanup()
            self._folder = None


def play(music: Music, *, port: str | None = None, soundfont: str | os.PathLike | None = None,
         wav: bool = False, player: list[str] | None = None) -> Playback:
    """Start playing and return at once: through `port` (or the first MIDI port), else FluidSynth.

    `wav=True` skips the MIDI ports and renders with FluidSynth; `player` is the audio player's
    command (the WAV's path is added), else the first of AUDIO_PLAYERS on PATH.
    """
    data = midi_data(music)
    ports = [] if wav else midi_ports()
    if port is not None and port not in ports:
        if not has_mido():
            raise PlaybackError(f"cannot play through MIDI port {port!r}: {PORT_HINT}")
        raise PlaybackError(f"no MIDI output port named {port!r} (ports: {', '.join(ports) or 'none'})")
    if ports:
        return _play_port(data, port or ports[0])
    player = player or find_audio_player()
    if can_render() and player:
        return _play_wav(data, player, soundfont)
    if can_render():
        raise NothingToPlay("no audio player found to play the rendered WAV: install alsa-utils (aplay), "
                            "pulseaudio-utils (paplay), sox (play) or ffmpeg (ffplay)")
    raise NothingToPlay(f"no way to play: {INSTALL_HINT}")


def _play_wav(data: bytes, player: list[str], soundfont: str | os.PathLike | None) -> Playback:
    folder = tempfile.TemporaryDirectory(prefix="melody-play-")
    wav = render_wav(data, Path(folder.name) / "take.wav", soundfont=soundfont)
    # Its error output goes to a file (a pipe nobody reads could fill and stall it), read at the end.
    with open(Path(folder.name) / PLAYER_ERRORS, "wb") as errors:
        process = subprocess.Popen([*player, str(wav)], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=errors)
    return Playback(how=f"wav:{Path(player[0]).name}", _process=process, _folder=folder)


def _play_port(data: bytes, name: str) -> Playback:
    mido = _mido()
    song = mido.MidiFile(file=io.BytesIO(data))
    try:
        output = mido.open_output(name)
    except Exception as error:  # noqa: BLE001 - backend errors have no common type
        raise PlaybackError(f"cannot open MIDI port {name!r}: {error}") from None
    stop = threading.Event()
    errors: list[str] = []

    def feed() -> None:
        try:
            for message in song:  # times in seconds, tempo applied
                # Waiting on the event, not sleeping, lets stop() cut in mid-gap.
                if message.time > 0 and stop.wait(message.time):
                    break
                if not message.is_meta:
                    output.send(message)
        except Exception as error:  # noqa: BLE001 - a backend error ends playback; `failure` says it
            errors.append(f"{type(error).__name__}: {error}")
        finally:
            silence(output)
            output.close()

    thread = threading.Thread(target=feed, name="melody-playback", daemon=True)
    thread.start()
    return Playback(how=f"port:{name}", _thread=thread, _stop=stop, _errors=errors)


def silence(output) -> None:
    """All notes off, sustain off and controllers reset on all 16 channels of an open port."""
    mido = _mido()

    for channel in range(16):
        output.send(mido.Message("control_change", channel=channel, control=64, value=0))
        output.send(mido.Message("control_change", channel=channel, control=123, value=0))
        output.send(mido.Message("control_change", channel=channel, control=121, value=0))
