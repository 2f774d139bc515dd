"""Listening on the compose screen: ctrl+l plays the selected take and, pressed again while it
renders or plays, stops it. What happened is said truthfully: "playing" only once the player is
still running a moment after it started, a player that fails with its own message, and when
nothing here can play (no MIDI port, no audio player, or one that failed) the take is offered as
a WAV file instead. A mixin of `ComposeScreen`; the work is `melody.playback`'s.
"""

from __future__ import annotations

import threading
from typing import Any

from textual import work
from textual.widgets import Select

from melody.errors import MelodyError
from melody.tui.screens.dialogs import ConfirmScreen
from melody.tui.screens.take_actions import EXPORT_DIR, file_stem
from melody.tui.session import SessionTake

# A player that cannot open the sound card fails at once: wait this long before saying "playing",
# so that it is not said first and taken back a moment later.
STARTING_SECONDS = 0.5


class Listening:
    """The listen action and its worker; `player` is the Playback while one runs."""

    player: Any = None
    listening: threading.Event | None = None  # set to stop; None when nothing renders or plays

    def action_listen(self) -> None:
        """Play the selected take, or stop what is rendering or playing."""
        if self.listening is not None:
            self.stop_listening()
            self.notify("playback stopped")
            return
        item = self._need_take()
        if item is not None:
            self.listening = threading.Event()
            self.notify(f"rendering {item.name}…")
            self.play(item, str(self.query_one("#port", Select).value), self.listening)

    def stop_listening(self) -> None:
        """Stop the render (nothing will play) or the player, whichever is under way."""
        if self.listening is not None:
            self.listening.set()
            self.listening = None
        if self.player is not None:
            self.player.stop()
            self.player = None

    @work(thread=True, group="play", exit_on_error=False)
    def play(self, item: SessionTake, how: str, stop: threading.Event) -> None:
        """The worker: render, start the player, wait for it to end, then say how it went."""
        from melody import playback

        try:
            port = how[5:] if how.startswith("port:") else None
            player = playback.play(item.piece, port=port, wav=how == "wav")
        except playback.NothingToPlay as error:
            self.app.call_from_thread(self._cannot_play, item, str(error), stop)
            return
        except MelodyError as error:
            self.app.call_from_thread(self._listen_failed, item, str(error), stop, False)
            return
        except Exception as error:  # noqa: BLE001 - shown as a notification, never a traceback
            self.app.call_from_thread(self._listen_failed, item, f"cannot play: {error}", stop, False)
            return
        self.player = player  # before looking at `stop`: stop_listening sets it, then stops self.player
        if stop.is_set():  # ctrl+l pressed again while it rendered
            player.stop()
            return
        if not player.wait(STARTING_SECONDS):
            self.app.call_from_thread(self.notify, f"playing {item.name} ({player.how}); ctrl+l stops")
            player.wait()
        failure = player.failure
        if failure:
            self.app.call_from_thread(self._listen_failed, item, failure, stop, True)
        else:
            self.app.call_from_thread(self._listen_ended, stop)

    def _listen_ended(self, stop: threading.Event) -> None:
        if stop is self.listening:  # not one already stopped by ctrl+l
            self.listening = self.player = None

    def _listen_failed(self, item: SessionTake, message: str, stop: threading.Event, offer_wav: bool) -> None:
        """Say why it did not play, under the roll and as a notification; a player that failed
        means nothing here can play, so the WAV is offered."""
        if stop is not self.listening:
            return
        self.listening = self.player = None
        self.say(message, error=True)
        self.notify(message, severity="error", timeout=10)
        if offer_wav:
            self._offer_wav(item, message)

    def _cannot_play(self, item: SessionTake, message: str, stop: threading.Event) -> None:
        from melody import playback

        if stop is not self.listening:
            return
        self.listening = None
        self.say(message, error=True)
        if playback.can_render():
            self._offer_wav(item, message)
        else:
            self.notify(message, severity="error", timeout=10)

    def _offer_wav(self, item: SessionTake, reason: str) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.save_wav(item)

        self.app.push_screen(ConfirmScreen(f"Nothing can play here ({reason}). Save {item.name} as a WAV "
                                           f"file in {EXPORT_DIR}/ instead?", "Save WAV", "Cancel"), answered)

    @work(thread=True, group="wav", exit_on_error=False)
    def save_wav(self, item: SessionTake) -> None:
        """Render the take to EXPORT_DIR/<name>.wav (a free name) with its JSON sidecar."""
        from melody import playback
        from melody.generation import write_take

        try:
            written = write_take(item.titled_take, EXPORT_DIR, formats=("wav",), stem=file_stem(item.name),
                                 renderers={"wav": playback.wav_bytes})
        except MelodyError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error", timeout=10)
            return
        except OSError as error:
            self.app.call_from_thread(self.notify, f"{EXPORT_DIR}: cannot write: {error.strerror or error}",
                                      severity="error", timeout=10)
            return
        self.app.call_from_thread(self.notify, f"saved {written[0]}")
