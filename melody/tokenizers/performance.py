"""Performance events: note-on, note-off, time-shift and velocity, for played MIDI (Performance RNN style).

Token grammar (EBNF):

    sequence = BOS, { event }, EOS ;
    event    = TimeShift_k                      (* k grid ticks, 1..max_shift *)
             | [ Program ], [ Velocity ], NoteOn_p
             | [ Program ], NoteOff_p
             | [ Velocity ], DrumOn_p | DrumOff_p ;

- Time moves only by TimeShift; a gap longer than `max_shift` is several shifts.
- Program and Velocity carry over until changed (program 0 and velocity 80 at the start),
  and are written only where they change. Velocities are rounded to `velocities` levels
  (32 even steps by default: played music has more than eight dynamics).
- At one tick, note-offs come before note-ons (so a repeated note stays two notes), ons in
  order of program, pitch and duration. Overlapping notes of one pitch and program pair
  first-in-first-out: a NoteOff ends the earliest such note still sounding, as the MIDI
  reader pairs them, so any piece read from MIDI comes back exactly (within the grid and the
  velocity levels). A note still sounding at the end is closed there.
- Drums have their own on/off tokens, so transposition can shift every Note token blindly.
- Performance events carry no meter, key or tempo: a decoded piece has none (4/4, 120 qpm
  when written). A silence after the last note is kept as the piece's end.
- There are no pedal events: a sustain pedal (MIDI controller 64) is played into the note
  lengths before encoding (`notes.apply_sustain`, as Magenta's performance encoding does);
  other control changes are not encoded.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Sequence

import numpy as np

from melody.errors import MusicError
from melody.music.notes import Note, Piece, apply_sustain
from melody.tokenizers.base import BOS, EOS, Constraints, Grammar, Tokenizer, decode_incrementally
from melody.music.midi import MAX_TICKS
from melody.tokenizers.common import (DEFAULT_VELOCITY, WHOLE, SlotState, config_flag,
                                      config_int, config_keys, config_levels, even_levels,
                                      index_groups, nearest)

MAX_SOUNDING = 64  # the grammar's polyphony limit (General MIDI asks synths for 24)

(SPECIAL, NOTE_ON, NOTE_OFF, DRUM_ON, DRUM_OFF, SHIFT, VELOCITY, PROGRAM) = range(8)


class Performance(Tokenizer):
    """NoteOn/NoteOff/DrumOn/DrumOff, TimeShift, Velocity and Program events on the tick grid."""

    name = "performance"
    pitch_range = (0, 127)

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        return {"max_shift": WHOLE, "velocities": even_levels(32), "programs": True}

    def build_vocab(self) -> list[str]:
        config_keys("performance", self.config, self.default_config())
        self.max_shift = config_int("performance", self.config, "max_shift", 1, 16 * WHOLE)
        self.velocities = config_levels("performance", self.config, "velocities", allow_empty=False)
        programs = config_flag("performance", self.config, "programs")
        groups = [
            (NOTE_ON, [f"NoteOn_{p}" for p in range(128)]),
            (NOTE_OFF, [f"NoteOff_{p}" for p in range(128)]),
            (DRUM_ON, [f"DrumOn_{p}" for p in range(128)]),
            (DRUM_OFF, [f"DrumOff_{p}" for p in range(128)]),
            (SHIFT, [f"TimeShift_{k}" for k in range(1, self.max_shift + 1)]),
            (VELOCITY, [f"Velocity_{v}" for v in self.velocities]),
            (PROGRAM, [f"Program_{p}" for p in range(128)] if programs else []),
        ]
        vocab, self.kind, self.value, self.first = index_groups(groups, counts_from_one=(SHIFT,))
        self.default_level = nearest(self.velocities, DEFAULT_VELOCITY)
        return vocab

    def encode(self, piece: Piece) -> list[int]:
        """`[BOS, ..., EOS]` for the notes of `piece` (meter, key and tempo are not performance events)."""
        piece = apply_sustain(piece)
        if piece.end_tick > MAX_TICKS:
            raise MusicError(f"too long to tokenize ({piece.end_tick} ticks; performance writes up to "
                             f"{MAX_TICKS})", file=piece.source or None, tune=piece.tune)
        first = self.first
        use_programs = PROGRAM in first
        events = []
        for note in piece.notes:
            order = (note.is_drum, 0 if note.is_drum else note.program, note.pitch)
            events.append((note.onset, 1, *order, note.duration, note.velocity))
            events.append((note.end, 0, *order, 0, 0))
        events.sort()
        ids = [BOS]
        time, program, level = 0, 0, self.default_level
        for tick, on, drum, note_program, pitch, _, velocity in events:
            self._shift(ids, tick - time)
            time = tick
            if drum:
                if on:
                    level = self._velocity(ids, velocity, level)
                ids.append(first[DRUM_ON if on else DRUM_OFF] + pitch)
                continue
            if use_programs and note_program != program:
                program = note_program
                ids.append(first[PROGRAM] + program)
            if on:
                level = self._velocity(ids, velocity, level)
            ids.append(first[NOTE_ON if on else NOTE_OFF] + pitch)
        self._shift(ids, piece.end_tick - time)
        ids.append(EOS)
        return ids

    def _shift(self, ids: list[int], gap: int) -> None:
        start = self.first[SHIFT] - 1
        while gap > 0:
            step = min(gap, self.max_shift)
            ids.append(start + step)
            gap -= step

    def _velocity(self, ids: list[int], velocity: int, level: int) -> int:
        new = nearest(self.velocities, velocity)
        if new != level:
            ids.append(self.first[VELOCITY] + new)
        return new

    def decode(self, ids: Sequence[int]) -> Piece:
        """The notes `ids` play; a stray note-off is skipped, notes still on are closed at the end."""
        return decode_incrementally(self.decoder(), ids)

    def decoder(self) -> "PerformanceDecoder":
        """An incremental decoder: feed tokens one at a time, read finished notes as they come."""
        return PerformanceDecoder(self)

    def grammar(self, constraints: Constraints | None = None) -> Grammar:
        return PerformanceGrammar(self, constraints or Constraints())

    def pitch_of_ids(self) -> np.ndarray:
        """The MIDI pitch each id names (NoteOn and NoteOff; drums and the rest: -1)."""
        pitches = np.full(self.vocab_size, -1, dtype=np.int64)
        for kind in (NOTE_ON, NOTE_OFF):
            pitches[self.first[kind]:self.first[kind] + 128] = np.arange(128)
        return pitches

    def transposition_table(self, semitones: int) -> np.ndarray:
        """The id each id becomes when the music moves by `semitones` (pitches leaving 0..127 stay)."""
        table = np.arange(self.vocab_size, dtype=np.int64)
        for kind in (NOTE_ON, NOTE_OFF):
            start = self.first[kind]
            for pitch in range(max(0, -semitones), min(128, 128 - semitones)):
                table[start + pitch] = start + pitch + semitones
        return table


class PerformanceDecoder:
    """`Performance.decode` one token at a time: `notes` holds every note ended so far.

    A note is finished at its NoteOff (notes come in the order they end); those still
    sounding are closed by `piece()`. Streaming reports each note once, with its real length.
    """

    def __init__(self, tokenizer: Performance) -> None:
        self.meters: dict = {}  # performance events carry no meter (streaming asks every decoder)
        self.kinds, self.values, self.size = tokenizer.kind, tokenizer.value, len(tokenizer.kind)
        self.velocities = tokenizer.velocities
        self.notes: list[Note] = []
        self.sounding: dict[tuple[bool, int, int], deque[tuple[int, int]]] = {}
        self.time, self.program = 0, 0
        self.velocity = tokenizer.velocities[tokenizer.default_level]

    def feed(self, token: int) -> bool:
        """Read one token; True at EOS (decoding stops there)."""
        if not 0 <= token < self.size:
            return False
        kind = self.kinds[token]
        value = self.values[token]
        if kind == SHIFT:
            self.time = min(MAX_TICKS, self.time + value)
        elif kind == NOTE_ON or kind == DRUM_ON:
            drum = kind == DRUM_ON
            key = (drum, 0 if drum else self.program, value)
            self.sounding.setdefault(key, deque()).append((self.time, self.velocity))
        elif kind == NOTE_OFF or kind == DRUM_OFF:
            drum = kind == DRUM_OFF
            key = (drum, 0 if drum else self.program, value)
            queue = self.sounding.get(key)
            if queue:  # the earliest such note still sounding ends (a stray note-off is skipped)
                onset, velocity = queue.popleft()
                self.notes.append(Note(onset, value, max(1, self.time - onset), velocity, key[1], drum))
        elif kind == VELOCITY:
            self.velocity = self.velocities[value]
        elif kind == PROGRAM:
            self.program = value
        elif token == EOS:
            return True
        return False

    def piece(self) -> Piece:
        """The piece read so far, notes still sounding closed at the current time."""
        time = self.time
        notes = list(self.notes)
        for (drum, program, pitch), queue in self.sounding.items():
            for onset, velocity in queue:
                notes.append(Note(onset, pitch, max(1, time - onset), velocity, program, drum))
        last = max((n.end for n in notes), default=0)
        return Piece(notes=notes, end=time if time > last else None)


class PerformanceState(SlotState):
    """Where a performance sequence stands: time, program, velocity, and what is sounding."""

    __slots__ = ("time", "program", "level", "sounding", "previous", "target", "ended", "last", "short",
                 "pitched")

    def __init__(self, level: int) -> None:
        self.time = 0
        self.program = 0
        self.level = level
        self.sounding: tuple[tuple[bool, int, int], ...] = ()  # one entry per sounding note
        self.previous = SPECIAL
        self.target: int | None = None  # the tick to end on, fixed at the first allowed()
        self.ended = False
        self.last: tuple[bool, bool, int, int] | None = None  # (on, drum, program, pitch) at this tick
        self.short = False  # the last token was a TimeShift shorter than the longest
        self.pitched = False  # a Program (and maybe a Velocity) is waiting for its pitched note


class PerformanceGrammar(Grammar):
    """Masks for performance tokens: note-offs only for sounding notes; scale and range on note-ons.

    At most MAX_SOUNDING notes sound at once. Events at one tick come in the encoder's order
    (note-offs, then note-ons; programs and pitches rising, drums last; no doubled notes), a
    velocity or program change only where it changes something and is followed by its note,
    and a TimeShift shorter than the longest ends its run; so a sampled sequence is the
    encoding of the piece it decodes to, but for the note-offs of notes still sounding at EOS.

    `bars` counts 4/4 bars of 96 ticks (performance events carry no meter): from the first
    bar line at or after the prime, exactly that many bars of time, then EOS (notes still
    sounding end there). `end_on_bar_line` without `bars`: EOS only on a 4/4 bar line.
    """

    def __init__(self, tokenizer: Performance, constraints: Constraints) -> None:
        from melody.tokenizers.common import pitch_mask

        self.tokenizer = tokenizer
        self.constraints = constraints
        self.size = tokenizer.vocab_size
        self.kinds, self.values, self.first = tokenizer.kind, tokenizer.value, tokenizer.first
        kinds = np.asarray(tokenizer.kind)
        self.note_ons = kinds == NOTE_ON
        start = self.first[NOTE_ON]
        self.note_ons[start:start + 128] &= pitch_mask(constraints.scale, constraints.pitch_range)
        self.drum_ons = kinds == DRUM_ON
        self.velocities = kinds == VELOCITY
        self.programs = kinds == PROGRAM
        self.ons = self.note_ons | self.drum_ons

    def start(self) -> PerformanceState:
        return PerformanceState(self.tokenizer.default_level)

    def allowed(self, state: PerformanceState) -> np.ndarray:
        bars = self.constraints.bars
        if state.target is None and bars is not None:  # the prime is in: the bar count starts here
            state.target = (-(-state.time // WHOLE) + bars) * WHOLE
        mask = np.zeros(self.size, dtype=bool)
        if state.ended:
            mask[EOS] = True
            return mask
        first = self.first
        open_time = state.target is None or state.time < state.target
        may_start = open_time and len(state.sounding) < MAX_SOUNDING
        previous = state.previous
        last = state.last
        after_on = last is not None and last[0]
        if previous != VELOCITY and not after_on:
            self._note_offs(state, mask)
        if may_start:
            self._note_ons(state, mask)
        if previous != PROGRAM and previous != VELOCITY:
            room = self.tokenizer.max_shift if state.target is None else min(
                self.tokenizer.max_shift, state.target - state.time)
            if room > 0 and not state.short:  # a short shift is the last of its run
                mask[first[SHIFT]:first[SHIFT] + room] = True
            if self._may_end(state):
                mask[EOS] = True
        if not mask.any():
            mask[EOS] = True
        return mask

    def _note_offs(self, state: PerformanceState, mask: np.ndarray) -> None:
        """Note-offs for what sounds, in the encoder's order at one tick: pitched by program and
        pitch, then drums."""
        first, last = self.first, state.last
        for drum, program, pitch in state.sounding:
            if drum:
                if not state.pitched and (last is None or not last[1] or pitch > last[3]):
                    mask[first[DRUM_OFF] + pitch] = True
            elif program == state.program and (last is None or (not last[1] and (
                    program > last[2] or (program == last[2] and pitch > last[3])))):
                mask[first[NOTE_OFF] + pitch] = True

    def _note_ons(self, state: PerformanceState, mask: np.ndarray) -> None:
        """Note-ons (scale and range applied), velocity and program changes, in the encoder's order."""
        first, last, previous = self.first, state.last, state.previous
        after_on = last is not None and last[0]
        after_drum_on = after_on and last[1]
        if not after_drum_on and not (after_on and state.program < last[2]):
            mask |= self.note_ons
            if after_on and state.program == last[2]:
                mask[first[NOTE_ON]:first[NOTE_ON] + last[3] + 1] = False  # pitches rise in a chord
        if not state.pitched:
            mask |= self.drum_ons
            if after_drum_on:
                mask[first[DRUM_ON]:first[DRUM_ON] + last[3] + 1] = False
        if previous != VELOCITY and (mask & self.ons).any():  # a velocity change needs a note-on to follow
            mask |= self.velocities
            mask[first[VELOCITY] + state.level] = False
        if previous != PROGRAM and previous != VELOCITY and PROGRAM in first and not after_drum_on:
            mask |= self.programs
            if after_on:  # a chord goes through its programs in rising order
                mask[first[PROGRAM]:first[PROGRAM] + last[2] + 1] = False
            mask[first[PROGRAM] + state.program] = False

    def _may_end(self, state: PerformanceState) -> bool:
        if state.target is not None:
            return state.time == state.target
        if self.constraints.end_on_bar_line:
            return state.time > 0 and state.time % WHOLE == 0
        return True

    def advance(self, state: PerformanceState, token: int) -> PerformanceState:
        state = state.copy()
        if token == EOS:
            state.ended = True
            return state
        if not 0 <= token < self.size or state.ended:
            return state
        kind, value = self.kinds[token], self.values[token]
        state.short = False
        state.pitched = kind == PROGRAM or (kind == VELOCITY and state.pitched)
        if kind == SHIFT:
            state.time = min(MAX_TICKS, state.time + value)
            state.last = None
            state.short = value < self.tokenizer.max_shift
        elif kind == NOTE_ON or kind == DRUM_ON:
            drum = kind == DRUM_ON
            state.sounding = state.sounding + ((drum, 0 if drum else state.program, value),)
            state.last = (True, drum, 0 if drum else state.program, value)
        elif kind == NOTE_OFF or kind == DRUM_OFF:
            drum = kind == DRUM_OFF
            key = (drum, 0 if drum else state.program, value)
            if key in state.sounding:
                index = state.sounding.index(key)
                state.sounding = state.sounding[:index] + state.sounding[index + 1:]
            state.last = (False, drum, key[1], value)
        elif kind == VELOCITY:
            state.level = value
        elif kind == PROGRAM:
            state.program = value
        state.previous = kind
        return state
