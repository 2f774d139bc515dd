"""The incremental grammar of remi token sequences, with musical constraints as masks.

It follows the grammar in `melody.tokenizers.remi`'s docstring and adds what sampling needs:
- positions rise within a bar and stay inside the current meter's bar;
- a position carries at least one event; Key, Tempo, then notes, in that order;
- Pitch (or Drum), then an optional Velocity, then Duration; a full-length Duration may be
  followed by more (they add up), a shorter one ends the note;
- tokens that would change nothing (the program or velocity already in force) are masked;
- notes at one position come in the encoder's order (programs rising, then pitches strictly
  rising, drums last), so a sampled sequence is the one encoding of the piece it decodes
  to, and never doubles a note;
- `scale` and `pitch_range` mask Pitch tokens (drums are exempt); with a scale, Key tokens
  are limited to keys with exactly that scale;
- `bars`: exactly that many bars after the prime. The prime is everything fed through
  `advance` before the first `allowed` call; a prime without any note (a header prime: Bar,
  TimeSig, Key, Tempo) counts its open bar as the first new one;
- `bars` also limits durations (and meter changes) so that no note rings past the last bar
  line: the decoded piece has exactly that many bars;
- `end_on_bar_line` (without `bars`): EOS only once every note has ended by the end of the
  current bar.
`allowed` always has at least one True entry (EOS at worst).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from melody.music.notes import Key
from melody.tokenizers.base import EOS, Constraints, Grammar
from melody.tokenizers.common import DEFAULT_VELOCITY, SlotState, key_of_token, nearest, pitch_mask
from melody.tokenizers.remi_kinds import (BAR, DRUM, DURATION, KEY, PITCH, POSITION, PROGRAM, SPECIAL,
                                          TEMPO, TIMESIG, VELOCITY)

if TYPE_CHECKING:  # a hint only: remi.py imports this module, so a run-time import would be a cycle
    from melody.tokenizers.remi import REMI

# Phases: where in the grammar the sequence stands.
START, AFTER_BAR, AFTER_METER, AT_POSITION, AFTER_KEY, AFTER_TEMPO, AFTER_PROGRAM, AFTER_PITCH, \
    AFTER_VELOCITY, AFTER_DURATION, ENDED = range(11)
UNLIMITED = 1 << 40


class RemiState(SlotState):
    """Where a remi sequence stands; `advance` returns a new one."""

    __slots__ = ("phase", "bars", "target", "bar_start", "bar_length", "position", "program",
                 "velocity", "onset", "duration", "count", "full", "max_end", "last")

    def __init__(self) -> None:
        self.phase = START
        self.bars = 0  # Bar tokens (and mid-bar meter cuts) so far
        self.target: int | None = None  # total bars to end on, fixed at the first allowed()
        self.bar_start = -1
        self.bar_length = 96
        self.position = -1
        self.program = 0
        self.velocity = -1  # the velocity level in force (-1: the default, mf)
        self.onset = 0  # of the note being written
        self.duration = 0  # its Duration tokens so far, summed
        self.count = 0
        self.full = False  # its last Duration was a full-length one
        self.max_end = 0  # the latest end of any note so far
        self.last: tuple[bool, int, int] | None = None  # (drum, program, pitch) of the last note here


class REMIGrammar(Grammar):
    """Masks for sampling remi tokens under `Constraints`."""

    def __init__(self, tokenizer: REMI, constraints: Constraints) -> None:
        self.tokenizer = tokenizer
        self.constraints = constraints
        size = tokenizer.vocab_size
        kinds = np.asarray(tokenizer.kind)
        self.kinds = tokenizer.kind
        self.values = tokenizer.value
        self.size = size
        self.first = tokenizer.first
        self.max_duration = tokenizer.max_duration
        self.max_count = tokenizer.max_duration_tokens
        self.meter_lengths = np.array([n * 96 // d for n, d in tokenizer.meters])
        allowed_pitches = pitch_mask(constraints.scale, constraints.pitch_range)
        self.pitches = kinds == PITCH
        self.pitches[self.first[PITCH]:self.first[PITCH] + 128] &= allowed_pitches
        if not self.pitches.any():
            raise ValueError("the constraints leave no pitch to play")
        self.keys = kinds == KEY
        if constraints.scale is not None:
            for index in range(int(self.keys.sum())):
                tonic, mode = key_of_token(index)
                self.keys[self.first[KEY] + index] = Key(0, tonic, mode).scale == constraints.scale
        self.tempos = kinds == TEMPO
        self.programs = kinds == PROGRAM
        self.velocities = kinds == VELOCITY
        self.note_starts = self.pitches | (kinds == DRUM) | self.programs
        # What each phase allows whatever the state (allowed() adds the rest): one copy per
        # call instead of a zeroed mask and several ORs, which shows at 32 sequences a step.
        self.phase_masks = {AT_POSITION: self.note_starts | self.keys | self.tempos,
                            AFTER_KEY: self.note_starts | self.tempos, AFTER_TEMPO: self.note_starts,
                            AFTER_PROGRAM: self.pitches, AFTER_PITCH: self.velocities.copy(),
                            AFTER_DURATION: self.note_starts}
        self.bars = constraints.bars
        self.default_velocity = nearest(tokenizer.velocities, DEFAULT_VELOCITY) if tokenizer.velocities else -1

    # -- the Grammar interface ---------------------------------------------------------------
    def start(self) -> RemiState:
        state = RemiState()
        state.velocity = self.default_velocity
        return state

    def allowed(self, state: RemiState) -> np.ndarray:
        if state.target is None:  # the prime is in: count the bars from here
            # A prime with no notes at all is a header (Bar, TimeSig, Key, Tempo): its open bar
            # is the first new one. Any other prime ends with its last bar.
            fresh = state.bar_start >= 0 and state.max_end == 0
            state.target = None if self.bars is None else state.bars - fresh + self.bars
        phase = state.phase
        base = self.phase_masks.get(phase)
        mask = base.copy() if base is not None else np.zeros(self.size, dtype=bool)
        if phase == ENDED:
            mask[EOS] = True
            return mask
        first = self.first
        more_bars = state.target is None or state.bars < state.target
        if phase == AFTER_PITCH or phase == AFTER_VELOCITY:
            self._durations(state, mask)
        elif phase == AFTER_DURATION and state.full and state.count < self.max_count:
            self._durations(state, mask)
        if state.last is not None and phase in (AFTER_DURATION, AFTER_PROGRAM):
            self._chord_order(state, mask)
        if phase == AFTER_PITCH and state.velocity >= 0:
            mask[first[VELOCITY] + state.velocity] = False  # already in force
        if phase in (AT_POSITION, AFTER_KEY, AFTER_TEMPO, AFTER_DURATION) and first.get(PROGRAM) is not None:
            mask[first[PROGRAM] + state.program] = False
        if phase in (AFTER_BAR, AFTER_METER, AFTER_KEY, AFTER_TEMPO, AFTER_DURATION):
            # Move on: a later position, the next bar, or the end.
            low = state.position + 1
            if low < state.bar_length:
                mask[first[POSITION] + low:first[POSITION] + state.bar_length] = True
            if more_bars:
                mask[first[BAR]] = True
            if self._may_end(state):
                mask[EOS] = True
        if phase == AFTER_BAR:
            start = first[TIMESIG]
            lengths = self.meter_lengths
            fits = np.ones(len(lengths), dtype=bool)
            if self._bar_limited(state):
                remaining = state.target - state.bars + 1
                fits = state.bar_start + remaining * lengths >= state.max_end
            mask[start:start + len(lengths)] = fits
        if phase == START:
            if more_bars:
                mask[first[BAR]] = True
            else:
                mask[EOS] = True
        if not mask.any():
            mask[EOS] = True
        return mask

    def advance(self, state: RemiState, token: int) -> RemiState:
        state = state.copy()
        if token == EOS:
            state.phase = ENDED
            return state
        if not 0 <= token < self.size or state.phase == ENDED:
            return state
        kind = self.kinds[token]
        value = self.values[token]
        if kind == SPECIAL:
            return state
        phase = state.phase
        if kind == DURATION:
            if phase in (AFTER_PITCH, AFTER_VELOCITY) or (phase == AFTER_DURATION and state.full):
                state.duration += value
                state.count += 1
                state.full = value == self.max_duration
                state.max_end = max(state.max_end, state.onset + state.duration)
                state.phase = AFTER_DURATION
            return state
        if kind == VELOCITY:
            state.velocity = value
            if phase == AFTER_PITCH:
                state.phase = AFTER_VELOCITY
            return state
        if kind == BAR:
            state.bar_start = 0 if state.bar_start < 0 else state.bar_start + state.bar_length
            state.bars += 1
            state.position = -1
            state.phase = AFTER_BAR
        elif kind == TIMESIG:
            if phase == AFTER_BAR or (phase == AT_POSITION and state.position > 0):
                if phase == AT_POSITION:  # a meter change cuts the bar: a new one starts here
                    state.bar_start += state.position
                    state.bars += 1
                    state.position = -1
                state.bar_length = int(self.meter_lengths[value])
                state.phase = AFTER_METER
        elif kind == POSITION:
            if state.bar_start >= 0 and state.position < value < state.bar_length:
                state.position = value
                state.last = None
                state.phase = AT_POSITION
        elif kind == PROGRAM:
            state.program = value
            state.phase = AFTER_PROGRAM
        elif state.position < 0:
            pass  # no time to put it at: skipped, as the decoder does
        elif kind == PITCH or kind == DRUM:
            state.onset = state.bar_start + state.position
            state.duration = state.count = 0
            state.full = False
            state.last = (kind == DRUM, 0 if kind == DRUM else state.program, value)
            state.phase = AFTER_PITCH
        elif kind == KEY:
            state.phase = AFTER_KEY
        elif kind == TEMPO:
            state.phase = AFTER_TEMPO
        return state

    # -- helpers -----------------------------------------------------------------------------
    def _bar_limited(self, state: RemiState) -> bool:
        """True when notes must fit before the final bar line (a bar count is set)."""
        return state.target is not None

    def _chord_order(self, state: RemiState, mask: np.ndarray) -> None:
        """Notes at one position in the encoder's order: programs rising, pitches rising, drums last."""
        first = self.first
        drum, program, pitch = state.last
        if drum:
            mask[first[PITCH]:first[PITCH] + 128] = False
            if PROGRAM in first:
                mask[first[PROGRAM]:first[PROGRAM] + 128] = False
            mask[first[DRUM]:first[DRUM] + pitch + 1] = False
            return
        if PROGRAM in first:
            mask[first[PROGRAM]:first[PROGRAM] + program + 1] = False
        if state.program == program:
            mask[first[PITCH]:first[PITCH] + pitch + 1] = False

    def _may_end(self, state: RemiState) -> bool:
        if state.target is not None and state.bars != state.target:
            return False
        if (state.target is not None or self.constraints.end_on_bar_line) and \
                state.max_end > state.bar_start + state.bar_length:
            return False
        return state.bar_start >= 0 or state.target == 0

    def _durations(self, state: RemiState, mask: np.ndarray) -> None:
        """Allow the Duration tokens that keep the note inside the limit."""
        limit = self.max_duration
        if self._bar_limited(state):
            remaining = state.target - state.bars + 1
            room = state.bar_start + remaining * state.bar_length - state.onset - state.duration
            limit = min(limit, room)
        if limit >= 1:
            start = self.first[DURATION]
            mask[start:start + limit] = True
        elif state.phase != AFTER_DURATION:
            mask[self.first[DURATION]] = True  # a note needs one tick at least
