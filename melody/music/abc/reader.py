"""Split an ABC file into tunes, read each tune's header, and scan and play its body."""

from __future__ import annotations

import gc
import re
from typing import Callable

from melody.errors import MusicError
from melody.music.abc.expand import Voice, play, play_voices
from melody.music.abc.fields import (FREE_METER, FieldError, KeySpec, Meter, default_unit, parse_key, shown,
                                     parse_meter, parse_tempo, parse_unit)
from melody.music.abc.lexer import BodyScanner, Performance
from melody.music.abc.limits import MAX_FILE_NOTES, MAX_LINES, MAX_TUNES, MAX_VOICES, TuneBudget
from melody.music.notes import Piece

Warn = Callable[[MusicError], None]
_FIELD_RE = re.compile(r"([A-Za-z+]):")


def _ignore(error: MusicError) -> None:
    """Drop a warning: the caller did not ask for them."""


def _split(lines: list[str]) -> tuple[list[int], list[tuple[int, int]]]:
    """The file header's line numbers and each tune's (first, stop) line range.

    A tune starts at an X: line (or, without X:, at a block with a K: field) and ends at a
    blank line or the next X:. Text blocks between tunes are free text and skipped.
    """
    header: list[int] = []
    tunes: list[tuple[int, int]] = []
    index, count = 0, len(lines)
    seen_tune = False
    while index < count:
        if not lines[index].strip():
            index += 1
            continue
        start = index
        index += 1
        while index < count and lines[index].strip() and not lines[index].startswith("X:"):
            index += 1
        block = lines[start:index]
        if block[0].startswith("X:"):
            tunes.append((start, index))
            seen_tune = True
        elif any(line.startswith("K:") for line in block):
            body = [line for line in block if not _FIELD_RE.match(line) and not line.startswith("%")]
            if body:
                tunes.append((start, index))
                seen_tune = True
            elif not seen_tune:
                header.extend(range(start, index))
        elif not seen_tune:
            header.extend(range(start, index))  # every block before the first tune
    return header, tunes


class _Defaults:
    """Header state: what the file header sets, and each tune starts from."""

    def __init__(self) -> None:
        self.meter: Meter | None = None
        self.unit: int | None = None
        self.tempo: str | None = None
        self.key: KeySpec | None = None
        self.parts = ""


def _apply_header_field(state: _Defaults, letter: str, value: str, warn: Warn, line: int) -> None:
    try:
        if letter == "M":
            state.meter = parse_meter(value)[0]
        elif letter == "L":
            state.unit = parse_unit(value)
        elif letter == "Q":
            state.tempo = value
        elif letter == "K":
            state.key = parse_key(value)
    except FieldError as error:
        if error.fatal:
            raise MusicError(str(error), line=line, column=1) from None
        warn(MusicError(f"{error}; field ignored", line=line, column=1))


def parse_abc(text: str, source: str = "", on_warning: Warn | None = None, *, perform: bool = False) -> list[Piece]:
    """Every tune of an ABC text as a Piece, repeats expanded in playing order.

    Problems the rest of a tune survives go to `on_warning` (as abc2midi warns and goes on);
    a tune that cannot be read is skipped with a warning; MusicError if no tune can be read.
    `perform`: play staccato, trills, rolls and hornpipe swing as abc2midi does (see
    `perform`); the default is the literal score, which is what models train on.
    """
    # Reading builds many small lists and Notes and no reference cycles: the cycle collector
    # would only rescan them again and again (a fifth of the time on a large file).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse(text, source, on_warning or _ignore, perform)
    finally:
        if collecting:
            gc.enable()


def _parse(text: str, source: str, warn: Warn, perform: bool = False) -> list[Piece]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Counted before splitting: a line costs ~60 bytes as a string whatever it holds, so tens
    # of millions of empty lines would cost gigabytes to split.
    if text.count("\n") >= MAX_LINES:
        raise MusicError(f"file has more than {MAX_LINES:,} lines (melody reads at most that many)",
                         file=source or None)
    lines = text.split("\n")
    del text
    header, tunes = _split(lines)
    if not tunes:
        raise MusicError("no ABC tunes found (no X: or K: field)", file=source or None)
    if len(tunes) > MAX_TUNES:
        warn(MusicError(f"file has {len(tunes):,} tunes; the {len(tunes) - MAX_TUNES:,} after the first "
                        f"{MAX_TUNES:,} are skipped (melody reads at most that many)", file=source or None,
                        line=tunes[MAX_TUNES][0] + 1, column=1))
        del tunes[MAX_TUNES:]
    defaults = _Defaults()
    for number in header:
        match = _FIELD_RE.match(lines[number])
        if match:
            try:
                _apply_header_field(defaults, match.group(1), lines[number][2:], warn, number + 1)
            except MusicError as error:
                warn(error.located(file=source))
    pieces: list[Piece] = []
    errors: list[MusicError] = []
    used: set[str] = set()
    notes = 0  # of the pieces read so far, against MAX_FILE_NOTES
    for position, (start, stop) in enumerate(tunes, 1):
        number = lines[start][2:].split("%", 1)[0].strip() if lines[start].startswith("X:") else ""
        tune = number if number and number not in used else str(position)
        used.add(tune)

        def tune_warn(error: MusicError, tune: str = tune) -> None:
            warn(error.located(file=source, tune=tune))

        try:
            piece = _read_tune(lines, start, stop, defaults, tune, source, tune_warn, perform)
        except MusicError as error:
            error = error.located(file=source, tune=tune)
            errors.append(error)
            warn(MusicError(f"tune skipped: {error.message}", file=error.file, tune=error.tune,
                            line=error.line, column=error.column))
            continue
        notes += len(piece.notes)
        if notes > MAX_FILE_NOTES:
            error = MusicError(f"the file's tunes hold more than {MAX_FILE_NOTES:,} notes (melody reads at most "
                               f"that many per file)", file=source or None, tune=tune, line=start + 1, column=1)
            if not pieces:
                raise error
            warn(MusicError(f"this tune and the {len(tunes) - position:,} after it skipped: {error.message}",
                            file=error.file, tune=tune, line=error.line, column=1))
            break
        pieces.append(piece)
    if not pieces:
        raise errors[0]
    return pieces


def _read_tune(lines: list[str], start: int, stop: int, defaults: _Defaults, tune: str, source: str,
               warn: Warn, perform: bool = False) -> Piece:
    """One tune: header fields up to K:, then the body, voice by voice."""
    state = _Defaults()
    state.meter, state.unit, state.tempo, state.key = (defaults.meter, defaults.unit, defaults.tempo,
                                                       defaults.key)
    title = ""
    rhythm = ""
    first_voice = None
    declared: dict[str, int] = {}  # voices the header names -> their line
    header_midi: list[tuple[str, int]] = []  # %%MIDI lines of the header: the first voice's
    index = start
    key_line = next((number for number in range(start, stop) if lines[number].startswith("K:")), None)
    while index < stop:
        line = lines[index]
        index += 1
        if line.startswith("%%begin"):
            index = _skip_block(lines, index, stop, line)
            continue
        match = _FIELD_RE.match(line)
        if match is None:
            if line.startswith("%%MIDI"):
                header_midi.append((line, index))
            if line.startswith("%") or not line.strip():
                continue
            if key_line is not None and index <= key_line:
                # Free text in the header ('N bars 13'): abc2midi skips it, and so does melody.
                warn(MusicError("text without a field letter in the header skipped", line=index, column=1))
                continue
            warn(MusicError("music before the K: field; header ends here", line=index, column=1))
            index -= 1
            break
        letter, value = match.group(1), line[2:]
        if value.split("%", 1)[0].rstrip().endswith("\\") and index < stop:
            # A field continued on the next line: the rest of a title, say.
            value = value.split("%", 1)[0].rstrip()[:-1].rstrip() + " " + lines[index].strip()
            index += 1
        if letter == "T" and not title:
            title = value.split("%", 1)[0].strip()
        elif letter == "R":
            rhythm = value.lower()
        elif letter == "V":
            name = value.split()[0] if value.split() else ""
            declared.setdefault(name, index)
            if first_voice is None:
                first_voice = name
        elif letter == "P":
            state.parts = value
        else:
            _apply_header_field(state, letter, value, warn, index)
        if letter == "K":
            break
    meter = state.meter or FREE_METER
    unit = state.unit or default_unit(meter)
    key = state.key or KeySpec({}, 0)
    if key.signature is None:
        key = KeySpec({}, None, octave=key.octave)
    qpm = None
    if state.tempo is not None:
        try:
            qpm = parse_tempo(state.tempo, unit)
        except FieldError as error:
            warn(MusicError(f"{error}; field ignored"))
    # Music before any V: belongs to the first voice the header names (or an unnamed one).
    current = first_voice or ""
    part: str | None = None  # the body P: in force, which a voice heard first later starts in
    performance = _performance(rhythm, meter, warn) if perform else None
    budget = TuneBudget()  # every voice of the tune spends from it
    voices = {current: BodyScanner(key, meter, unit, warn, performance, budget)}
    scanner = voices[current]
    for line, number in header_midi:
        _midi_directive(scanner, line, number, warn)
    while index < stop:
        line = lines[index]
        index += 1
        if not line or line.startswith("%"):
            if line.startswith("%%begin"):
                index = _skip_block(lines, index, stop, line)
            elif line.startswith("%%MIDI"):
                _midi_directive(scanner, line, index, warn)
            continue
        match = _FIELD_RE.match(line)
        if match:
            if match.group(1) == "V":
                scanner.field("V", line[2:], index, 3)
            elif match.group(1) == "P":
                # A part starts in every voice at once (abc2midi plays each voice in P: order).
                part = line[2:]
                for voice in voices.values():
                    voice.field("P", part, index, 3)
            else:
                rest = scanner.field(match.group(1), line[2:], index, 3)
                if rest.strip() and not rest.strip().startswith("%"):
                    # 'M:9/8 EDC DA,B,|' in a body: the music after the meter is meant to be played.
                    scanner.scan(rest, index, len(line) - len(rest))
        else:
            offset = 0
            while True:
                stopped = scanner.scan(line[offset:], index, offset)
                if scanner.switch is None:
                    break
                offset += stopped
                scanner = _switch(voices, scanner, key, meter, unit, warn, part, performance)
                if offset >= len(line):
                    break
            continue
        if scanner.switch is not None:
            scanner = _switch(voices, scanner, key, meter, unit, warn, part, performance)
    for voice in voices.values():
        voice.finish()
    starts = [(voice.first_note(), order, voice) for order, voice in enumerate(voices.values())]
    starts = [start for start in starts if start[0] is not None]
    for name, line in declared.items():
        if voices.get(name) is None or voices[name].first_note() is None:
            warn(MusicError(f"voice {shown(name)!r} is declared but has no notes", line=line, column=1))
    if not starts:
        raise MusicError("tune has no notes")
    # The voice whose first note comes first in the text leads: its meter, key and tempo
    # changes and its pickup hold for all; the others follow in the order they appear.
    ordered = [start[2] for start in sorted(starts, key=lambda start: start[:2])]
    kept = ordered[0]
    if len(ordered) == 1 and kept.program == 0 and not kept.drum:
        piece = play(kept.items, meter, key, qpm, title=title, source=source, tune=tune, parts=state.parts)
    else:
        ordered = [ordered[0]] + sorted(ordered[1:], key=lambda voice: list(voices.values()).index(voice))
        piece = play_voices([Voice(voice.items, voice.program, voice.drum) for voice in ordered], meter, key,
                            qpm, title=title, source=source, tune=tune, parts=state.parts)
    if not piece.notes:
        raise MusicError("tune has no notes")
    return piece


def _performance(rhythm: str, meter: Meter, warn: Warn) -> Performance:
    """The performed reading's settings: hornpipes (R:) in 2/4 or 4/4 swing their eighths of
    a bar 2:1, as abc2midi plays them; in another meter abc2midi plays them straight."""
    if "hornpipe" not in rhythm:
        return Performance()
    if meter.free or (meter.numerator, meter.denominator) not in ((2, 4), (4, 4)):
        warn(MusicError("a hornpipe swings only in 2/4 or 4/4; played straight"))
        return Performance()
    return Performance(swing=meter.bar_units // 8)


_MIDI_RE = re.compile(r"%%MIDI\s+(program|channel)\s+(-?[0-9]{1,9})(?:\s+(-?[0-9]{1,9}))?")


def _midi_directive(scanner: BodyScanner, line: str, number: int, warn: Warn) -> None:
    """The `%%MIDI program [channel] N` and `%%MIDI channel N` lines that give a voice its
    instrument (channel 10 is drums); other %%MIDI directives are playback settings."""
    match = _MIDI_RE.match(line)
    if match is None:
        return
    values = [int(value) for value in match.group(2, 3) if value is not None]
    if match.group(1) == "program":
        program = values[-1]
        if not 0 <= program <= 127:
            warn(MusicError(f"%%MIDI program {program} is out of range (0-127); ignored", line=number, column=1))
            return
        scanner.program = program
    else:
        channel = values[0]
        if not 1 <= channel <= 16:
            warn(MusicError(f"%%MIDI channel {channel} is out of range (1-16); ignored", line=number, column=1))
            return
        scanner.drum = channel == 10


def _switch(voices: dict[str, BodyScanner], scanner: BodyScanner, key: KeySpec, meter: Meter, unit: int,
            warn: Warn, part: str | None = None, performance: Performance | None = None) -> BodyScanner:
    """The scanner of the voice `scanner` was switched to, created with the tune's header state
    (and in the part the body is in)."""
    voice, scanner.switch = scanner.switch, None
    if voice not in voices:
        if len(voices) >= MAX_VOICES:
            raise MusicError(f"tune has more than {MAX_VOICES:,} voices (melody reads at most that many)",
                             line=scanner.line, column=1)
        voices[voice] = BodyScanner(key, meter, unit, warn, performance, scanner.budget)
        if part is not None:
            voices[voice].field("P", part, 0, 0)
    return voices[voice]


def _skip_block(lines: list[str], index: int, stop: int, opening: str) -> int:
    """The line after a '%%beginxxx' ... '%%endxxx' block (text, PostScript, SVG: not music)."""
    closing = "%%end" + opening[7:].split()[0] if len(opening) > 7 and opening[7:].split() else "%%end"
    while index < stop and not lines[index].startswith(closing):
        index += 1
    return index + 1
