"""A one-line progress display for long jobs (tokenizing a corpus, training).

On a terminal the line is redrawn in place, a few times a second at most; when the stream is
not a terminal (a log file, CI) it prints a plain line now and then instead, so logs stay
readable and small. No dependency: a bar, a count, a rate, an ETA and free text.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import Callable, TextIO


def format_duration(seconds: float) -> str:
    """Seconds as 'M:SS' or 'H:MM:SS'."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def is_interactive(stream: TextIO) -> bool:
    """True when `stream` is a terminal that understands carriage returns."""
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # a closed or fake stream
        return False


class Progress:
    """Progress of `done` out of `total` things, drawn on `stream` (stderr by default)."""

    def __init__(
        self,
        total: int | None = None,
        *,
        label: str = "",
        unit: str = "",
        stream: TextIO | None = None,
        interactive: bool | None = None,
        plain_every: float = 15.0,
        min_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = is_interactive(self.stream) if interactive is None else interactive
        # In a log, a line every few seconds is noise; on a terminal, redraws past ~10/s are waste.
        self.plain_every = plain_every
        self.min_interval = min_interval
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.text = ""
        self.eta_override: float | None = None  # the caller knows better (a time budget)
        self._last_draw = float("-inf")
        self._drawn = False
        unicode = _can_encode(self.stream, "█░…")
        self._bar, self._ellipsis = ("█░", "…") if unicode else ("#-", "~")

    def __call__(self, done: int, total: int | None = None, text: str = "") -> None:
        """Same as `update`, so a Progress can be passed where a callback is expected."""
        self.update(done, total, text)

    def update(self, done: int, total: int | None = None, text: str = "", eta: float | None = None) -> None:
        """Record progress and redraw if it is time to; `eta` (seconds) replaces the rate's guess."""
        self.done = done
        self.eta_override = eta
        if total is not None:
            self.total = total
        self.text = text
        now = self.clock()
        if self.interactive:
            finished = self.total is not None and done >= self.total
            if now - self._last_draw >= self.min_interval or finished:
                self._draw(now)
        # In a log a quick job says nothing (the caller prints its own summary); a long one
        # prints a plain line every `plain_every` seconds.
        elif now - (self._last_draw if self._drawn else self.started) >= self.plain_every:
            self._draw(now)

    def rate(self, now: float | None = None) -> float:
        """Things per second since the start."""
        elapsed = (self.clock() if now is None else now) - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left at the rate so far (or as the caller said), or None while unknown."""
        if self.eta_override is not None:
            return self.eta_override
        rate = self.rate(now)
        if self.total is None or rate <= 0:
            return None
        return max(0.0, (self.total - self.done) / rate)

    def line(self, now: float | None = None, width: int = 80) -> str:
        """The progress line as it would be drawn, at most `width` characters."""
        now = self.clock() if now is None else now
        parts = [self.label] if self.label else []
        if self.total:
            fraction = min(1.0, self.done / self.total)
            if self.interactive:
                cells = 20
                filled = int(fraction * cells)
                parts.append(self._bar[0] * filled + self._bar[1] * (cells - filled))
            parts.append(f"{self.done}/{self.total} ({fraction:.0%})")
        else:
            parts.append(f"{self.done}")
        rate = self.rate(now)
        if rate > 0:
            unit = f" {self.unit}/s" if self.unit else "/s"
            parts.append(f"{rate:.3g}{unit}" if rate < 100 else f"{rate:,.0f}{unit}")
        eta = self.eta(now)
        # The first second's rate is mostly start-up cost: an ETA from it would mislead.
        if eta is not None and self.total and self.done < self.total and (
                now - self.started >= 1.0 or self.eta_override is not None):
            parts.append(f"ETA {format_duration(eta)}")
        if self.text:
            parts.append(self.text)
        text = "  ".join(parts)
        return text if len(text) <= width else text[: max(0, width - 1)] + self._ellipsis

    def write(self, text: str) -> None:
        """Print a line of its own without breaking the progress line (which is drawn again)."""
        if self.interactive and self._drawn:
            self.stream.write("\r\x1b[K" + text + "\n")
            self._draw(self.clock())
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def clear(self) -> None:
        """Erase the line on a terminal so another stream can print there; the next update redraws."""
        if self.interactive and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._last_draw = float("-inf")

    def close(self, text: str | None = None) -> None:
        """Draw the final state on a terminal and end its line; nothing more in a log."""
        if text is not None:
            self.text = text
        if self.interactive:
            self._draw(self.clock())
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _draw(self, now: float) -> None:
        self._last_draw = now
        if self.interactive:
            width = shutil.get_terminal_size((80, 24)).columns - 1
            self.stream.write("\r\x1b[K" + self.line(now, width))
        else:
            self.stream.write(self.line(now, 200) + "\n")
        self._drawn = True
        self.stream.flush()


def _can_encode(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (LookupError, UnicodeEncodeError):
        return False
    return True
