"""Standard MIDI files in and out: `parse_midi(data, source) -> Piece`, `midi_bytes(piece)`.

The reader is a small pure-Python scanner of the SMF byte stream rather than mido or
symusic: mido builds an object per message and is ~4x slower (benchmarks/bench_tokenize.py
measures it), and symusic, though much faster, silently drops notes still sounding when a
track ends and the name of a note-less conductor track (the title). The scanner keeps only
what a `Piece` holds and skips everything else by its length.

Reading, stated choices:
- Formats 0 and 1; format 2 (independent sequences) is read as its tracks played one after
  another. SMPTE time division is refused (no quarter note to put on the grid).
- Onsets and note ends are rounded onto the 24-ticks-per-quarter grid separately (so legato
  stays legato); a note lasts at least one tick.
- Overlapping notes of one pitch on one channel pair first-in-first-out: a note-off ends the
  earliest note of that pitch still sounding. Note-on with velocity 0 is a note-off. A stray
  note-off is ignored; a note still sounding at its track's end is closed there.
- Program changes count per track and channel; channel 10 is drums (program 0).
- Tempo, time-signature and key-signature events from every track; an event that repeats
  the one in force is dropped. MIDI keys are major or minor only: the writer adds a text
  event "key: D dorian" beside the key signature, which the reader honours, so modes survive.
- Running status is followed across meta and sysex events (as lenient players do).
- The title is the first track-name event of the file. The end of the last track becomes the
  piece's end only when it leaves a silence of a beat or more after the last note.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from typing import Callable

from melody.errors import MusicError
from melody.music.notes import (CARRIED_CONTROLLERS, MODES, PITCH_CLASS_NAMES, TICKS_PER_QUARTER, Control, Key,
                                Note, Piece, Tempo, TimeSignature)

WRITE_TICKS_PER_QUARTER = 480  # 20 MIDI ticks per grid tick, the resolution abc2midi writes
MAX_TICKS = 2**20  # ~6 hours at 120 qpm: anything longer is a broken or hostile file
MAX_NOTES = 500_000  # a huge orchestral file has tens of thousands
MAX_TRACKS = 65_535  # as many as the header's 16-bit track count can declare
DRUM_CHANNEL = 9
_MODE_TEXT = "key: "


def parse_midi(data: bytes, source: str = "", on_warning: Callable[[MusicError], None] | None = None) -> Piece:
    """The piece in a Standard MIDI File's bytes; MusicError for anything that is not one.

    `on_warning` hears, in one line, what a Piece cannot hold and the reader leaves out:
    pitch bends away from centre, aftertouch, and controllers other than the carried ones."""
    try:
        reader = _Reader(bytes(data), source)
        piece = reader.piece()
    except IndexError:  # every unchecked read past the end of the data lands here
        raise MusicError("truncated MIDI file (an event runs past the end of its track)",
                         file=source) from None
    except RecursionError:  # pragma: no cover - the scanner does not recurse
        raise MusicError("unreadable MIDI file", file=source) from None
    dropped = [f"{count:,} {what if count > 1 else what.replace('changes', 'change').replace('events', 'event').replace('bends', 'bend')}"
               for what, count in reader.dropped.items() if count]
    if dropped and on_warning is not None:
        on_warning(MusicError(f"not kept (a note here has no bend or pressure): {', '.join(dropped)}",
                              file=source))
    return piece


class _Reader:
    """One pass over the chunks of a MIDI file, collecting notes and meta events."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.source = source
        self.notes: list[Note] = []
        self.controls: list[Control] = []
        self.tempos: list[tuple[int, int, int]] = []  # (tick, order, microseconds per quarter)
        self.meters: list[tuple[int, int, int, int]] = []  # (tick, order, numerator, denominator)
        self.keys: list[tuple[int, int, int, int]] = []  # (tick, order, sharps, minor)
        self.mode_texts: dict[int, tuple[int, str]] = {}  # tick -> (tonic, mode)
        self.title: str | None = None
        self.order = 0  # file order of meta events: the later of two at one tick wins
        self.end = 0
        # What a Piece cannot hold, counted so that nothing is dropped in silence.
        self.dropped = {"pitch bends": 0, "aftertouch events": 0, "other controller changes": 0}

    def fail(self, message: str) -> MusicError:
        return MusicError(message, file=self.source)

    def piece(self) -> Piece:
        data = self.data
        start = 0
        if data[:4] == b"RIFF" and data[8:12] == b"RMID":  # RIFF-wrapped MIDI (.rmi)
            start = data.find(b"MThd")
        if start < 0 or data[start:start + 4] != b"MThd":
            raise self.fail("not a MIDI file (it does not start with an MThd header)")
        if len(data) < start + 14:
            raise self.fail("broken MIDI header (the file ends inside it)")
        length = int.from_bytes(data[start + 4:start + 8], "big")
        fmt = int.from_bytes(data[start + 8:start + 10], "big")
        division = int.from_bytes(data[start + 12:start + 14], "big")
        if length < 6:
            raise self.fail(f"broken MIDI header (length {length}, expected 6)")
        if fmt > 2:
            raise self.fail(f"unknown MIDI format {fmt} (melody reads formats 0, 1 and 2)")
        if division & 0x8000:
            raise self.fail("SMPTE time division is not supported (only ticks per quarter note)")
        if division == 0:
            raise self.fail("broken MIDI header (0 ticks per quarter note)")
        self.division = division
        position = start + 8 + length
        tracks = 0
        offset = 0  # format 2 plays its sequences one after another
        while position + 8 <= len(data):
            kind = data[position:position + 4]
            size = int.from_bytes(data[position + 4:position + 8], "big")
            body = position + 8
            if kind == b"MTrk":
                if tracks >= MAX_TRACKS:
                    # Each track costs time and small allocations even when empty.
                    raise self.fail(f"more than {MAX_TRACKS:,} tracks; melody does not read files this large")
                if body + size > len(data):
                    raise self.fail(f"truncated MIDI file: track {tracks + 1} claims {size} bytes, "
                                    f"{len(data) - body} are left")
                end = self.track(body, body + size, tracks, offset)
                tracks += 1
                if fmt == 2:
                    offset = end
            position = body + size  # alien chunks are skipped, as the standard asks
        if tracks == 0:
            raise self.fail("no tracks in this MIDI file")
        if not self.notes:
            raise self.fail("no notes in this MIDI file")
        return self.assemble()

    def grid(self, tick: int) -> int:
        """A MIDI tick rounded onto melody's grid."""
        value = (tick * TICKS_PER_QUARTER * 2 + self.division) // (2 * self.division)
        if value > MAX_TICKS:
            raise self.fail(f"music runs past {MAX_TICKS} grid ticks (~6 hours); not a playable file")
        return value

    def track(self, position: int, end: int, number: int, tick: int) -> int:
        """Read one MTrk chunk; returns its end tick (in MIDI ticks)."""
        data = self.data
        raw: list[tuple[int, int, int, int, int, int]] = []  # MIDI ticks: onset, end, pitch, ...
        sounding: dict[int, deque[tuple[int, int, int]]] = {}  # channel<<7|pitch -> onsets
        started, limit = 0, MAX_NOTES - len(self.notes)
        control_limit = MAX_NOTES - len(self.controls)  # the cap is for the file, not per track
        programs = [0] * 16
        # Program changes as (tick, program) per channel, and control changes as (tick, channel,
        # controller, value): a control belongs to the program in force at its tick, counting a
        # program change at the same tick whichever comes first in the file.
        program_changes: list[list[tuple[int, int]]] = [[] for _ in range(16)]
        controls: list[tuple[int, int, int, int]] = []
        status = 0  # the running status: the last channel-message status byte
        while position < end:
            byte = data[position]
            if byte < 0x80:  # most delta times fit one byte
                position += 1
                tick += byte
            else:
                position, delta = self.varlen(position)
                tick += delta
            byte = data[position]
            if byte >= 0xF0:  # meta and sysex events leave the running status alone
                position += 1
                if byte == 0xFF:
                    meta = data[position]
                    position, length = self.varlen(position + 1)
                    payload = data[position:position + length]
                    if len(payload) < length:
                        raise IndexError
                    position += length
                    if meta == 0x2F:  # end of track
                        break
                    self.meta(meta, payload, tick)
                elif byte == 0xF0 or byte == 0xF7:
                    position, length = self.varlen(position)
                    position += length
                    if position > end:
                        raise IndexError
                else:
                    raise self.fail(f"broken MIDI track {number + 1}: status byte {byte:#04x} "
                                    f"at byte {position - 1} has no place in a MIDI file")
                continue
            if byte >= 0x80:
                status = byte
                position += 1
            elif status == 0:
                raise self.fail(f"broken MIDI track {number + 1}: a data byte with no status "
                                f"at byte {position}")
            if status < 0xA0:  # note-off (0x8n) or note-on (0x9n): the bulk of any file
                pitch = data[position] & 0x7F
                velocity = data[position + 1] & 0x7F
                position += 2
                slot = (status & 0x0F) << 7 | pitch
                if status >= 0x90 and velocity:
                    queue = sounding.get(slot)
                    onset = (tick, velocity, programs[status & 0x0F])
                    if queue is None:
                        sounding[slot] = deque((onset,))
                    else:
                        queue.append(onset)
                    started += 1
                    if started > limit:
                        raise self.fail(f"more than {MAX_NOTES} notes; melody does not read files this large")
                else:
                    queue = sounding.get(slot)
                    if queue:  # a note-off with nothing sounding is ignored
                        onset, velocity, program = queue.popleft()
                        raw.append((onset, tick, pitch, velocity, program, status & 0x0F))
                continue
            kind = status & 0xF0
            if kind == 0xC0:
                programs[status & 0x0F] = data[position] & 0x7F
                program_changes[status & 0x0F].append((tick, programs[status & 0x0F]))
                position += 1
            elif kind == 0xD0:
                self.dropped["aftertouch events"] += 1
                position += 1
            else:  # 0xA0 aftertouch, 0xB0 controller, 0xE0 pitch bend: two data bytes
                if kind == 0xB0 and data[position] in CARRIED_CONTROLLERS:
                    controls.append((tick, status & 0x0F, data[position], data[position + 1] & 0x7F))
                    if len(controls) > control_limit:
                        raise self.fail(f"more than {MAX_NOTES} control changes; melody does not read "
                                        f"files this large")
                elif kind == 0xB0:
                    # Channel-mode messages (120-127: all notes off, reset...) carry no music.
                    self.dropped["other controller changes"] += data[position] < 120
                elif kind == 0xA0:
                    self.dropped["aftertouch events"] += 1
                elif (data[position] & 0x7F) | ((data[position + 1] & 0x7F) << 7) != 8192:
                    self.dropped["pitch bends"] += 1  # a bend back to centre undoes one: not counted
                position += 2
        if position > end:
            raise self.fail(f"broken MIDI track {number + 1}: its last event runs past the track's end")
        for slot, queue in sounding.items():  # close what still sounds at the track's end
            for onset, velocity, program in queue:
                raw.append((onset, tick, slot & 0x7F, velocity, program, slot >> 7))
        self.end = max(self.end, self.grid(tick))  # also checks the length limit for every tick here
        self.add(raw)
        self.add_controls(controls, program_changes)
        return tick

    def add_controls(self, controls: list[tuple[int, int, int, int]],
                     program_changes: list[list[tuple[int, int]]]) -> None:
        """A track's control changes onto the grid, each with its channel's program then."""
        ticks = [[change[0] for change in changes] for changes in program_changes]
        for tick, channel, controller, value in controls:
            drum = channel == DRUM_CHANNEL
            index = bisect_right(ticks[channel], tick) - 1
            program = program_changes[channel][index][1] if index >= 0 else 0
            self.controls.append(Control(self.grid(tick), controller, value, 0 if drum else program, drum))

    def varlen(self, position: int) -> tuple[int, int]:
        value = 0
        for _ in range(4):
            byte = self.data[position]
            position += 1
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                return position, value
        raise self.fail("broken MIDI file: a length longer than four bytes")

    def add(self, raw: list[tuple[int, int, int, int, int, int]]) -> None:
        """Notes in MIDI ticks onto the grid (onset and end rounded apart), as `Note`s."""
        if len(self.notes) + len(raw) > MAX_NOTES:
            raise self.fail(f"more than {MAX_NOTES} notes; melody does not read files this large")
        twice, division = 2 * self.division, self.division
        scale = 2 * TICKS_PER_QUARTER
        for onset, end, pitch, velocity, program, channel in raw:
            start = (onset * scale + division) // twice
            stop = (end * scale + division) // twice
            drum = channel == DRUM_CHANNEL
            self.notes.append(Note(start, pitch, stop - start if stop > start else 1, velocity,
                                   0 if drum else program, drum))

    def meta(self, meta: int, payload: bytes, tick: int) -> None:
        self.order += 1
        if self.order > MAX_NOTES:
            raise self.fail(f"more than {MAX_NOTES} meta events; melody does not read files this large")
        if meta == 0x51 and len(payload) >= 3:
            microseconds = int.from_bytes(payload[:3], "big")
            if microseconds:
                self.tempos.append((self.grid(tick), self.order, microseconds))
        elif meta == 0x58 and len(payload) >= 2:
            numerator, power = payload[0], payload[1]
            # Only meters whose bar is a whole number of grid ticks (denominator up to 32).
            if numerator and power <= 5:
                self.meters.append((self.grid(tick), self.order, numerator, 1 << power))
        elif meta == 0x59 and len(payload) >= 2:
            sharps = payload[0] - 256 if payload[0] > 127 else payload[0]
            if -7 <= sharps <= 7 and payload[1] in (0, 1):
                self.keys.append((self.grid(tick), self.order, sharps, payload[1]))
        elif meta == 0x03 and self.title is None:
            self.title = _text(payload).strip()
        elif meta == 0x01 and payload.startswith(_MODE_TEXT.encode()):
            words = _text(payload[len(_MODE_TEXT):]).split()
            if len(words) == 2 and words[0] in PITCH_CLASS_NAMES and words[1] in MODES:
                self.mode_texts[self.grid(tick)] = (PITCH_CLASS_NAMES.index(words[0]), words[1])

    def assemble(self) -> Piece:
        tempos = _changes((tick, round(60_000_000 / us, 2)) for tick, _, us in sorted(self.tempos))
        meters = _changes((tick, (n, d)) for tick, _, n, d in sorted(self.meters))
        named_keys = []
        for tick, _, sharps, minor in sorted(self.keys):
            key = Key(tick, (sharps * 7 + (9 if minor else 0)) % 12, "minor" if minor else "major")
            named = self.mode_texts.get(tick)
            if named and Key(tick, *named).sharps == sharps:
                key = Key(tick, *named)
            named_keys.append((tick, (key.tonic, key.mode)))
        keys = [Key(tick, *value) for tick, value in _changes(named_keys)]
        last_note = max([n.onset + n.duration for n in self.notes])
        return Piece(
            notes=self.notes,
            tempos=[Tempo(tick, qpm) for tick, qpm in tempos],
            time_signatures=[TimeSignature(tick, n, d) for tick, (n, d) in meters],
            keys=keys,
            controls=self.controls,
            title=self.title or "",
            source=self.source,
            # Writers leave the end of track a few ticks after the last note: only a silence
            # of a beat or more is kept as the piece's end.
            end=self.end if self.end >= last_note + TICKS_PER_QUARTER else None,
        )


def _changes(events) -> list[tuple[int, object]]:
    """(tick, value) events with the last one at each tick kept and repeats of the value in force dropped."""
    by_tick: dict[int, object] = {}
    for tick, value in events:
        by_tick[tick] = value
    kept: list[tuple[int, object]] = []
    for tick in sorted(by_tick):
        if not kept or kept[-1][1] != by_tick[tick]:
            kept.append((tick, by_tick[tick]))
    return kept


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")  # MIDI text has no declared encoding; most is Latin-1


def midi_bytes(piece: Piece, on_warning: Callable[[str], None] | None = None) -> bytes:
    """A format-1 MIDI file: a conductor track (title, tempo, meter, key), then a track per instrument.

    The same piece always gives the same bytes. Notes and control changes of one (program,
    drum) share a track; drums go on channel 10, other programs on the other 15 channels (see
    `_channels`); `on_warning` hears of programs that must share a channel.
    """
    scale = WRITE_TICKS_PER_QUARTER // TICKS_PER_QUARTER
    end = piece.end_tick * scale
    conductor: list[tuple[int, bytes]] = []
    if piece.title:
        conductor.append((0, _meta(0x03, piece.title.encode("utf-8"))))
    for meter in piece.time_signatures:
        power = meter.denominator.bit_length() - 1
        if 1 << power == meter.denominator and 0 < meter.numerator < 256:
            conductor.append((meter.tick * scale, _meta(0x58, bytes((meter.numerator, power, 24, 8)))))
    for tempo in piece.tempos:
        microseconds = min(0xFFFFFF, max(1, round(60_000_000 / tempo.qpm))) if tempo.qpm > 0 else 500_000
        conductor.append((tempo.tick * scale, _meta(0x51, microseconds.to_bytes(3, "big"))))
    for key in piece.keys:
        conductor.append((key.tick * scale, _meta(0x59, bytes((key.sharps & 0xFF, key.mode == "minor")))))
        if key.mode not in ("major", "minor"):  # MIDI has no modes: say it in words beside
            conductor.append((key.tick * scale, _meta(0x01, f"{_MODE_TEXT}{key.name}".encode())))
    conductor.sort(key=lambda event: event[0])  # stable: file order within a tick
    end = max([end] + [tick for tick, _ in conductor])
    tracks = [_track(conductor, end)]

    groups: dict[tuple[bool, int], list[Note]] = {}
    for note in piece.notes:
        groups.setdefault((note.is_drum, 0 if note.is_drum else note.program), []).append(note)
    controls: dict[tuple[bool, int], list[Control]] = {}
    for control in piece.controls:
        instrument = (control.is_drum, 0 if control.is_drum else control.program)
        if instrument in groups:  # a control for an instrument with no notes has nothing to act on
            controls.setdefault(instrument, []).append(control)
    channels = _channels(groups, controls, on_warning)
    for instrument, notes in sorted(groups.items()):
        drum, program = instrument
        channel, program_tick = channels[instrument]
        events = [] if drum else [(program_tick * scale, 0, 0, bytes((0xC0 | channel, program & 0x7F)))]
        for control in controls.get(instrument, ()):
            events.append((control.tick * scale, 1, 0, bytes((0xB0 | channel, control.controller & 0x7F,
                                                              control.value & 0x7F))))
        for note in notes:  # already sorted: onset, pitch, duration
            pitch = min(127, max(0, note.pitch))
            velocity = min(127, max(1, note.velocity))
            events.append((note.onset * scale, 3, 0, bytes((0x90 | channel, pitch, velocity))))
            # Note-offs sort before note-ons at the same tick, so a repeated note stays two.
            events.append((note.end * scale, 2, 0, bytes((0x90 | channel, pitch, 0))))
        events.sort(key=lambda event: (event[0], event[1]))
        tracks.append(_track([(tick, message) for tick, _, _, message in events], end))
    header = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + \
        len(tracks).to_bytes(2, "big") + WRITE_TICKS_PER_QUARTER.to_bytes(2, "big")
    return header + b"".join(tracks)


def _channels(groups: dict[tuple[bool, int], list[Note]], controls: dict[tuple[bool, int], list[Control]],
              on_warning: Callable[[str], None] | None) -> dict[tuple[bool, int], tuple[int, int]]:
    """Each instrument's (channel, tick of its program change).

    Up to 15 programs get a channel each, in program order, set at tick 0. More take turns:
    in order of their first note, each gets a channel that no program holds by then (its
    program change goes just before its first note), so no two programs ever share a channel
    while both sound. Where more than 15 sound at once, the one that sounds longest after is
    cut short by the newcomer's program change, and `on_warning` is told where.
    """
    assigned: dict[tuple[bool, int], tuple[int, int]] = {}
    melodic = sorted(instrument for instrument in groups if not instrument[0])
    if (True, 0) in groups:
        assigned[(True, 0)] = (DRUM_CHANNEL, 0)
    free = [channel for channel in range(16) if channel != DRUM_CHANNEL]
    if len(melodic) <= len(free):
        for channel, instrument in zip(free, melodic):
            assigned[instrument] = (channel, 0)
        return assigned

    def span(instrument: tuple[bool, int]) -> tuple[int, int]:
        ticks = [control.tick for control in controls.get(instrument, ())]
        return (min([groups[instrument][0].onset, *ticks]),
                max([max(note.end for note in groups[instrument]), *ticks]))

    spans = {instrument: span(instrument) for instrument in melodic}
    held: dict[int, int] = {}  # channel -> tick its program stops sounding
    crowded: list[tuple[int, int]] = []  # (tick, channel) where channels ran out
    for instrument in sorted(melodic, key=lambda instrument: (spans[instrument][0], instrument[1])):
        start, stop = spans[instrument]
        open_channels = [channel for channel in free if held.get(channel, -1) <= start]
        if open_channels:
            channel = open_channels[0]
        else:
            channel = min(free, key=lambda channel: (held[channel], channel))
            crowded.append((start, channel))
        assigned[instrument] = (channel, 0 if channel not in held else start)
        held[channel] = stop
    if crowded and on_warning is not None:
        count, tick = max((sum(1 for begin, stop in spans.values() if begin <= start < stop), start)
                          for start, _ in crowded)
        on_warning(f"{count} melodic instruments sound at once (at beat {tick // TICKS_PER_QUARTER + 1}); "
                   f"MIDI has 15 melodic channels, so {len(crowded)} program change(s) cut another "
                   f"instrument short")
    return assigned


def _meta(kind: int, payload: bytes) -> bytes:
    return bytes((0xFF, kind)) + _varlen(len(payload)) + payload


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _track(events: list[tuple[int, bytes]], end: int) -> bytes:
    """An MTrk chunk from (absolute tick, message) pairs in order, with running status."""
    body = bytearray()
    now = 0
    running = 0
    for tick, message in events:
        body += _varlen(tick - now)
        now = tick
        if message[0] < 0xF0 and message[0] == running:
            body += message[1:]
        else:
            body += message
            running = message[0] if message[0] < 0xF0 else running
    body += _varlen(max(0, end - now)) + b"\xff\x2f\x00"
    return b"MTrk" + len(body).to_bytes(4, "big") + bytes(body)
