"""Play a scanned ABC tune: repeats in playing order, ties joined, onto melody's tick grid.

Repeats follow abc2midi (genmidi.c and store.c), because abc2midi is what players and this
project's tests take as the reference:
- a ':|' with no '|:' before it goes back to the start of the tune; a later one with no '|:'
  goes back to the last '||', '[|', '|]' or ':|' before it (see `fix_repeats`);
- '::' ends one repeat and starts the next;
- endings ('|1', ':|2', '[1,3', '[2-4') play on the passes they name; an ending that does not
  play is skipped up to the next ':|', '|:', '||', '[|', '|]' or ending.
A tune that starts with a pickup (a first bar shorter than the meter's) is shifted so that its
first full bar starts on a bar line: the pickup sits at the end of bar 0.
"""

from __future__ import annotations

import dataclasses
from itertools import repeat

from melody.errors import MusicError
from melody.music.abc.dynamics import velocities_at
from melody.music.abc.fields import WHOLE, KeySpec, Meter, number
from melody.music.abc.lexer import (BAR, BAR_REP, DOUBLE_BAR, DOUBLE_REP, DYNAMIC, KEY, METER, OVERLAY, PART,
                                    REP_BAR, SLOT, TEMPO, THICK_THIN, THIN_THICK, UNTIED, VARIANT)
from melody.music.abc.limits import MAX_BARS, MAX_NOTES
from melody.music.abc.perform import perform_ornaments
from melody.music.notes import TICKS_PER_QUARTER, Key, Note, Piece, Tempo, TimeSignature

_TICKS_PER_WHOLE = 4 * TICKS_PER_QUARTER
_SECTION_END = frozenset((REP_BAR, BAR_REP, DOUBLE_BAR, THICK_THIN, THIN_THICK))
VELOCITY = 80  # before any dynamics mark; abc2midi's default loudness is near this (`dynamics`)


def fix_repeats(items: list) -> list:
    """The item list with missing '|:' supplied the way abc2midi's parser supplies them.

    A ':|' or '::' before any '|:' gets a '|:' at the start of the tune. Then, until the first
    ending, a ':|' with no open '|:' turns the last '||' (or ':|') before it into '|:' (or '::'),
    and a second '|:' with no ':|' between becomes '::'.
    """
    fixed: list = [(BAR, DOUBLE_BAR), *items]
    for item in items:
        if item[0] == BAR:
            if item[1] == BAR_REP:
                break
            if item[1] == REP_BAR or item[1] == DOUBLE_REP:
                fixed.insert(1, (BAR, BAR_REP))
                break
    point, expecting, endings = 0, False, 0
    # Only bar lines and endings matter here; they are tuples, and slots (most items) lists.
    marks = [index for index, item in enumerate(fixed) if item.__class__ is tuple]
    for index in marks:
        item = fixed[index]
        kind = item[0]
        if kind == VARIANT:
            if endings == 0 and not expecting:
                _start_repeat(fixed, point)
            endings += 1
            continue
        if kind != BAR:
            continue
        bar = item[1]
        if bar == DOUBLE_BAR or bar == THIN_THICK or bar == THICK_THIN:
            point = index
        elif bar == BAR_REP:
            if expecting:
                fixed[index] = (BAR, DOUBLE_REP)
            expecting = True
        elif bar == REP_BAR:
            if not expecting and endings < 1:
                _start_repeat(fixed, point)
            expecting = False
            point = index
        elif bar == DOUBLE_REP:
            if not expecting:
                _start_repeat(fixed, point)
            expecting = True
    return fixed


def _start_repeat(items: list, index: int) -> None:
    """Make the bar at `index` start a repeat: '|' and '||' become '|:', ':|' becomes '::'."""
    bar = items[index][1]
    if bar == REP_BAR:
        items[index] = (BAR, DOUBLE_REP)
    elif bar != BAR_REP and bar != DOUBLE_REP:
        items[index] = (BAR, BAR_REP)


MAX_PARTS = 1000


MAX_PART_NESTING = 8


def part_order(text: str) -> str:
    """The parts a header P: field plays, in order: 'A2B' -> 'AAB', '(AB)3' -> 'ABABAB'."""
    order, _ = _parts(text.split("%", 1)[0], 0, 0)
    return order[:MAX_PARTS]


def _parts(text: str, index: int, depth: int) -> tuple[str, int]:
    played = ""
    while index < len(text) and len(played) <= MAX_PARTS:
        c = text[index]
        index += 1
        if c == ")":
            break
        if c == "(":
            if depth >= MAX_PART_NESTING:
                continue  # deeper brackets than any tune needs: read as if flat
            group, index = _parts(text, index, depth + 1)
        elif c.isalpha():
            group = c.upper()
        else:
            continue  # '.', spaces and other separators
        digits = ""
        while index < len(text) and text[index].isdigit():
            digits += text[index]
            index += 1
        played += group * min(number(digits) if digits else 1, MAX_PARTS)
    return played, index


def arrange_parts(items: list, order: str) -> list:
    """Items in the order of the header's P: field, each part from its body P: marker on.

    Each part mends its own missing '|:' as abc2midi does (it scans part by part), and the
    result is not mended again as a whole: a part ending in '::' would otherwise turn the
    next part's supplied '|:' into '::' and play the part between twice.
    """
    sections: dict[str, list] = {}
    intro: list = []
    current = intro
    for item in items:
        if item[0] == PART:
            current = sections.setdefault(item[1], [])
        else:
            current.append(item)
    if not sections:
        return fix_repeats(items)
    arranged = fix_repeats(intro)
    for name in order:
        arranged.extend(fix_repeats(sections.get(name, [])))
    return arranged


def _note_setters() -> tuple | None:
    """The slot setters of Note, to build Notes twice as fast as calling Note; None if unsafe.

    Note is a frozen dataclass whose generated __init__ costs more than the rest of reading a
    note; setting its slots directly makes the same object. Checked here against Note itself,
    and Note is called as usual if its fields ever change.
    """
    names = [field.name for field in dataclasses.fields(Note)]
    if names != ["onset", "pitch", "duration", "velocity", "program", "is_drum"]:
        return None
    setters = tuple(getattr(Note, name).__set__ for name in names)
    sample = object.__new__(Note)
    for setter, value in zip(setters, (1, 60, 12, VELOCITY, 0, False)):
        setter(sample, value)
    expected = Note(1, 60, 12, VELOCITY)
    if sample != expected or hash(sample) != hash(expected) or repr(sample) != repr(expected):
        return None
    return setters


_NOTE_SETTERS = _note_setters()


def _notes(notes: list[list[int]], base: int, program: int = 0, drum: bool = False,
           events: tuple = ()) -> list[Note]:
    """Notes from [onset, end, pitch] in units, rounded to ticks with `base` added, in order,
    each as loud as the voice's last dynamics mark among `events` before it."""
    changes = [(time, value) for time, kind, value in events if kind == DYNAMIC]
    velocities = velocities_at([note[0] for note in notes], changes, VELOCITY) if changes else repeat(VELOCITY)
    result: list[Note] = []
    append = result.append
    previous = -1
    ordered = True
    if _NOTE_SETTERS is None:
        for (onset, stop, pitch), velocity in zip(notes, velocities):
            start = (onset * _TICKS_PER_WHOLE + base) // WHOLE
            duration = (stop * _TICKS_PER_WHOLE + base) // WHOLE - start
            append(Note(start, pitch, duration if duration > 0 else 1, velocity, program, drum))
        result.sort()
        return result
    new = object.__new__
    set_onset, set_pitch, set_duration, set_velocity, set_program, set_drum = _NOTE_SETTERS
    for (onset, stop, pitch), velocity in zip(notes, velocities):
        start = (onset * _TICKS_PER_WHOLE + base) // WHOLE
        duration = (stop * _TICKS_PER_WHOLE + base) // WHOLE - start
        order = start * 128 + pitch
        if order <= previous:
            ordered = False
        previous = order
        note = new(Note)
        set_onset(note, start)
        set_pitch(note, pitch)
        set_duration(note, duration if duration > 0 else 1)
        set_velocity(note, velocity)
        set_program(note, program)
        set_drum(note, drum)
        append(note)
    if not ordered:  # a chord written top down, or notes tied over each other
        result.sort()
    return result


def _tick(units: int) -> int:
    return (units * _TICKS_PER_WHOLE + WHOLE // 2) // WHOLE


@dataclasses.dataclass
class Voice:
    """A scanned voice: its items and the instrument it plays (`%%MIDI program`, `channel 10`)."""

    items: list
    program: int = 0
    drum: bool = False


def play(items: list, meter: Meter, key: KeySpec, qpm: float | None, *, title: str, source: str,
         tune: str, parts: str = "") -> Piece:
    """The notes of a scanned tune in playing order (parts in the order `parts` names), as a Piece."""
    notes, events, end, first_bar = perform(items, meter, key, qpm, parts)
    return _piece(notes, events, end, first_bar, meter, title=title, source=source, tune=tune)


def play_voices(voices: list[Voice], meter: Meter, key: KeySpec, qpm: float | None, *, title: str,
                source: str, tune: str, parts: str = "") -> Piece:
    """Several voices played together, as abc2midi plays them: each from the tune's start, each
    with its own repeats and its own instrument. The first voice gives the meter, key and tempo
    events and the pickup (every voice is shifted alike, so they stay together)."""
    played = [perform(voice.items, meter, key, qpm, parts) for voice in voices]
    notes, events, _, first_bar = played[0]
    end = max(result[2] for result in played)
    piece = _piece(notes, events, end, first_bar, meter, title=title, source=source, tune=tune,
                   program=voices[0].program, drum=voices[0].drum)
    shift = _pickup_shift(first_bar, end, meter)
    base = shift * _TICKS_PER_WHOLE + WHOLE // 2
    merged = piece.notes
    for voice, (voice_notes, voice_events, _, _) in zip(voices[1:], played[1:]):
        merged = merged + _notes(voice_notes, base, voice.program, voice.drum, voice_events)
    # Note's own order, compared through one key tuple per note rather than per comparison.
    merged.sort(key=lambda n: (n.onset, n.pitch, n.duration, n.velocity, n.program, n.is_drum))
    piece.notes = merged
    return piece


def perform(items: list, meter: Meter, key: KeySpec, qpm: float | None, parts: str = "") -> tuple:
    """(notes as [onset, end, pitch] in units, events, end, first bar line) of one voice's items."""
    items = arrange_parts(items, part_order(parts)) if parts else fix_repeats(items)
    count = len(items)
    # Notes as [onset_units, end_units, pitch]; `open_ties` maps a pitch to the note a tie
    # from the previous slot would extend.
    notes: list[list[int]] = []
    append = notes.append
    open_ties: dict[int, list[int]] = {}
    events: list[tuple[int, int, object]] = [(0, METER, meter), (0, KEY, key)]
    if qpm is not None:
        events.append((0, TEMPO, qpm))
    time = 0
    first_bar = None
    bars = 0
    steps = 0
    max_steps = 8 * count + MAX_NOTES
    j = 0
    passes, max_pass, expecting, saved = 1, 2, False, -1
    ornamented = False
    while j < count:
        steps += 1
        if steps > max_steps:
            raise _at_last_note("repeats expand without end", items, j)
        item = items[j]
        kind = item[0]
        if kind == SLOT:
            end = time + item[1]
            if item[3] is UNTIED and not open_ties:
                append([time, end, item[2][0]])  # the common case: one untied note
                time = end
                j += 1
                continue
            pitches = item[2]
            ties = {}
            for pitch, tie in zip(pitches, item[3]):
                note = open_ties.get(pitch)
                if note is not None:
                    note[1] = end
                else:
                    if len(item) == 6:
                        note = [time, end, pitch]
                    else:  # an ornament of the performed reading, played out below
                        note = [time, end, pitch, item[6]]
                        ornamented = True
                    append(note)
                if tie:
                    ties[pitch] = note
            open_ties = ties
            time = end
            if len(notes) > MAX_NOTES:
                raise _too_long(f"{MAX_NOTES:,} notes", items, j)
        elif kind == BAR:
            bars += 1
            if bars > MAX_BARS:
                raise _too_long(f"{MAX_BARS:,} bars", items, j)
            if len(notes) > MAX_NOTES:  # checked at bar lines: a bar holds only what is written
                raise _too_long(f"{MAX_NOTES:,} notes", items, j)
            if first_bar is None and time > 0:
                first_bar = time
            bar = item[1]
            if bar == BAR_REP:
                saved, expecting, passes, max_pass = j, True, 1, 2
            elif bar == REP_BAR:
                if passes == 1:
                    if expecting:
                        passes += 1
                        j = saved
                        expecting = False
                elif passes < max_pass:
                    expecting = False
                    passes += 1
                    j = saved
            elif bar == DOUBLE_REP:
                if passes > 1 or not expecting:
                    saved, expecting, passes, max_pass = j, True, 1, 2
                else:
                    j = saved
                    passes += 1
        elif kind == VARIANT:
            if passes not in item[1]:
                j += 1
                while j < count and not (items[j][0] == VARIANT or
                                         items[j][0] == BAR and items[j][1] in _SECTION_END):
                    j += 1
                # abc2midi steps past the item that ends the skipped ending.
            elif max_pass < 4:
                max_pass = passes + 1
        elif kind == OVERLAY:
            _overlay(item[1], time, append)
        elif kind != PART:
            events.append((time, kind, item[1]))
        j += 1
    if len(notes) > MAX_NOTES:
        raise _too_long(f"{MAX_NOTES:,} notes", items, count)
    if ornamented:
        notes = perform_ornaments(notes, events)
    return notes, events, time, first_bar


def _too_long(what: str, items: list, index: int) -> MusicError:
    """The error of a tune whose repeats play more than `what`."""
    return _at_last_note(f"tune expands to more than {what} with its repeats played", items, index)


def _at_last_note(message: str, items: list, index: int) -> MusicError:
    """An error placed at the line:column of the last note played (a bar line has no place)."""
    for item in reversed(items[max(0, index - 64):index + 1]):
        if item[0] == SLOT:
            return MusicError(message, line=item[4], column=item[5])
    return MusicError(message)


def _overlay(slots: tuple, time: int, append) -> None:
    """A voice overlay ('&'): its notes sound from the start of the bar, beside the bar's own."""
    open_ties: dict[int, list[int]] = {}
    for slot in slots:
        if slot[0] != SLOT:
            continue
        end = time + slot[1]
        ties = {}
        for pitch, tie in zip(slot[2], slot[3]):
            note = open_ties.get(pitch)
            if note is not None:
                note[1] = end
            else:
                note = [time, end, pitch]
                append(note)
            if tie:
                ties[pitch] = note
        open_ties = ties
        time = end


def _pickup_shift(first_bar: int | None, end: int, meter: Meter) -> int:
    """Units to shift a tune by so that a pickup ends where bar 1 starts."""
    if first_bar is not None and first_bar < end and not meter.free and 0 < first_bar < meter.bar_units:
        return meter.bar_units - first_bar
    return 0


def _piece(notes: list[list[int]], events: list, end: int, first_bar: int | None, meter: Meter, *,
           title: str, source: str, tune: str, program: int = 0, drum: bool = False) -> Piece:
    """Round onto the tick grid, shift a pickup onto the bar grid and build the Piece."""
    shift = _pickup_shift(first_bar, end, meter)
    # Rounding is (units * 96 + WHOLE/2) // WHOLE, with the pickup shift folded into the offset.
    result = _notes(notes, shift * _TICKS_PER_WHOLE + WHOLE // 2, program, drum, events)
    signatures: list[TimeSignature] = []
    keys: list[Key] = []
    tempos: list[Tempo] = []
    for time, kind, value in events:
        tick = _tick(time + shift) if time else 0
        if kind == METER:
            if value.free or value.denominator & (value.denominator - 1):
                continue  # M:none, or a meter MIDI cannot write (3/6): no bar grid to give
            signature = TimeSignature(tick, value.numerator, value.denominator)
            if not signatures or (signatures[-1].numerator, signatures[-1].denominator) != (
                    signature.numerator, signature.denominator):
                signatures = [s for s in signatures if s.tick != tick] + [signature]
        elif kind == KEY:
            if value.tonic is None:
                continue
            key = Key(tick, value.tonic, value.mode)
            if not keys or (keys[-1].tonic, keys[-1].mode) != (key.tonic, key.mode):
                keys = [k for k in keys if k.tick != tick] + [key]
        elif kind == TEMPO:
            if not tempos or tempos[-1].qpm != value:
                tempos = [t for t in tempos if t.tick != tick] + [Tempo(tick, value)]
    piece = Piece(tempos=tempos, time_signatures=signatures, keys=keys, title=title, source=source,
                  tune=tune, end=_tick(end + shift))
    # Already in order: Piece's own sort compares Notes field by field, slowly.
    piece.notes = result
    return piece
