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
"""

from __future__ import annotations

from collections import deque
from typing import Any, Sequence

import numpy as np

from melody.errors import MusicError
from melody.music.notes import Note, Piece
from melody.tokenizers.base import BOS, EOS, Constraints, Grammar, Tokenizer
from melody.tokenizers.common import (DEFAULT_VELOCITY, MAX_TICKS, WHOLE, SlotState, even_levels,
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
        self.max_shift = int(self.config["max_shift"])
        self.velocities = sorted(int(v) for v in self.config["velocities"])
        if self.max_shift < 1 or not self.velocities:
            raise ValueError("performance: max_shift and velocities must not be empty")
        groups = [
            (NOTE_ON, [f"NoteOn_{p}" for p in range(128)]),
            (NOTE_OFF, [f"NoteOff_{p}" for p in range(128)]),
            (DRUM_ON, [f"DrumOn_{p}" for p in range(128)]),
            (DRUM_OFF, [f"DrumOff_{p}" for p in range(128)]),
            (SHIFT, [f"TimeShift_{k}" for k in range(1, self.max_shift + 1)]),
            (VELOCITY, [f"Velocity_{v}" for v in self.velocities]),
            (PROGRAM, [f"Program_{p}" for p in range(128)] if self.config["programs"] else []),
        ]
        vocab, self.kind, self.value, self.first = index_groups(groups, counts_from_one=(SHIFT,))
        self.default_level = nearest(self.velocities, DEFAULT_VELOCITY)
        return vocab

    def encode(self, piece: Piece) -> list[int]:
        """`[BOS, ..., EOS]` for the notes of `piece` (meter, key and tempo are not performance events)."""
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
        kinds, values, size = self.kind, self.value, len(self.kind)
        notes: list[Note] = []
        sounding: dict[tuple[bool, int, int], deque[tuple[int, int]]] = {}
        time, program, velocity = 0, 0, self.velocities[self.default_level]
        for token in ids:
            if not 0 <= token < size:
                continue
            kind = kinds[token]
            value = values[token]
            if kind == SHIFT:
                time = min(MAX_TICKS, time + value)
            elif kind == NOTE_ON or kind == DRUM_ON:
                drum = kind == DRUM_ON
                sounding.setdefault((drum, 0 if drum else program, value), deque()).append((time, velocity))
            elif kind == NOTE_OFF or kind == DRUM_OFF:
                drum = kind == DRUM_OFF
                key = (drum, 0 if drum else program, value)
                queue = sounding.get(key)
                if queue:
                    onset, note_velocity = queue.popleft()
                    notes.append(Note(onset, value, max(1, time - onset), note_velocity, key[1], drum))
            elif kind == VELOCITY:
                velocity = self.velocities[value]
            elif kind == PROGRAM:
                program = value
            elif token == EOS:
                break
        for (drum, note_program, pitch), queue in sounding.items():
            for onset, note_velocity in queue:
                notes.append(Note(onset, pitch, max(1, time - onset), note_velocity, note_program, drum))
        last = max((n.end for n in notes), default=0)
        return Piece(notes=notes, end=time if time > last else None)

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


class PerformanceState(SlotState):
    """Where a performance sequence stands: time, program, velocity, and what is sounding."""

    __slots__ = ("time", "program", "level", "sounding", "previous", "target", "ended")

    def __init__(self, level: int) -> None:
        self.time = 0
        self.program = 0
        self.level = level
        self.sounding: tuple[tuple[bool, int, int], ...] = ()  # one entry per sounding note
        self.previous = SPECIAL
        self.target: int | None = None  # the tick to end on, fixed at the first allowed()
        self.ended = False


class PerformanceGrammar(Grammar):
    """Masks for performance tokens: note-offs only for sounding notes; scale and range on note-ons.

    At most MAX_SOUNDING notes sound at once.

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
        for drum, program, pitch in state.sounding:  # note-offs for what sounds now
            if drum:
                if previous != PROGRAM and previous != VELOCITY:
                    mask[first[DRUM_OFF] + pitch] = True
            elif program == state.program and previous != VELOCITY:
                mask[first[NOTE_OFF] + pitch] = True
        if may_start:
            mask |= self.note_ons
            if previous != PROGRAM:
                mask |= self.drum_ons
            if previous != VELOCITY:
                mask |= self.velocities
                mask[first[VELOCITY] + state.level] = False
            if previous != PROGRAM and previous != VELOCITY and PROGRAM in first:
                mask |= self.programs
                mask[first[PROGRAM] + state.program] = False
        if previous != PROGRAM and previous != VELOCITY:
            room = self.tokenizer.max_shift if state.target is None else min(
                self.tokenizer.max_shift, state.target - state.time)
            if room > 0:
                mask[first[SHIFT]:first[SHIFT] + room] = True
            if self._may_end(state):
                mask[EOS] = True
        if not mask.any():
            mask[EOS] = True
        return mask

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
        if kind == SHIFT:
            state.time = min(MAX_TICKS, state.time + value)
        elif kind == NOTE_ON or kind == DRUM_ON:
            drum = kind == DRUM_ON
            state.sounding = state.sounding + ((drum, 0 if drum else state.program, value),)
        elif kind == NOTE_OFF or kind == DRUM_OFF:
            drum = kind == DRUM_OFF
            key = (drum, 0 if drum else state.program, value)
            if key in state.sounding:
                index = state.sounding.index(key)
                state.sounding = state.sounding[:index] + state.sounding[index + 1:]
        elif kind == VELOCITY:
            state.level = value
        elif kind == PROGRAM:
            state.program = value
        state.previous = kind
        return state
