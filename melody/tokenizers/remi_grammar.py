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
  TimeSig, Key, Tempo) counts its open bar as the first new one, unless its first note comes
  after the bar line: then that bar is a pickup, and `bars` full bars follow it (as in a
  32-bar reel with an upbeat); `max_bars` likewise;
- `bars` also limits durations (and meter changes) so that no note rings past the last bar
  line: the decoded piece has exactly that many bars;
- `end_on_bar_line` (without `bars`): EOS only once every note has ended by the end of the
  current bar; `max_bars` (without `bars`): at most that many bars after the prime;
- a copy (`CopyFrom_d CopyBars_k`, melody.tokenizers.remi_form) stands where a Bar could, and
  only for bars that may be copied: plain ones (no meter, key or tempo inside), of the current
  bar length, whose program and dynamics at their start are the ones in force now, and (with
  a scale or pitch range) whose pitches keep the constraints (a prime's bars may not); the k
  bars count toward `bars` and `max_bars`. After a copy: a Bar, another copy, or the end. With
  copies a piece has more than one spelling; the encoder writes the one with the longest,
  nearest copies;
- `Infill_Suffix` (in a prime) keeps the state where the prefix ended; `Infill_Middle` goes
  back to it, and `bars` counts the bars of the middle.
- the countdown (`BarsLeft_n`, melody.tokenizers.remi_form) stands before a bar or a copy,
  never before the first bar nor in an infill. With a bar count (`bars`, or one a countdown
  set) it is written before each bar with 1..MAX_COUNTDOWN bars to go, and only the true n
  is allowed: the model reads where the end is. Without one, the model chooses n at its
  first countdown (at the second bar, or at MAX_COUNTDOWN bars from an end beyond), and so
  fixes where the piece ends; with `max_bars` it must have started it MAX_COUNTDOWN bars
  before that limit. After a countdown: a Bar or a copy.
`allowed` always has at least one True entry (EOS at worst).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from melody.music.notes import Key
from melody.tokenizers.base import EOS, Constraints, Grammar
from melody.tokenizers.common import DEFAULT_VELOCITY, SlotState, key_of_token, nearest, pitch_mask
from melody.tokenizers.remi_form import MAX_COPY_BACK, MAX_COPY_BARS, MAX_COUNTDOWN, MIN_COPY_BARS
from melody.tokenizers.remi_kinds import (BAR, COPY_BARS, COPY_FROM, COUNTDOWN, DRUM, DURATION, INFILL, KEY,
                                          PITCH, POSITION, PROGRAM, SPECIAL, TEMPO, TIMESIG, VELOCITY)

if TYPE_CHECKING:  # a hint only: remi.py imports this module, so a run-time import would be a cycle
    from melody.tokenizers.remi import REMI

# Phases: where in the grammar the sequence stands.
START, AFTER_BAR, AFTER_METER, AT_POSITION, AFTER_KEY, AFTER_TEMPO, AFTER_PROGRAM, AFTER_PITCH, \
    AFTER_VELOCITY, AFTER_DURATION, ENDED, AFTER_COPY_FROM, AFTER_COPY, AFTER_COUNTDOWN = range(14)
MOVE_ON = (AFTER_BAR, AFTER_METER, AFTER_KEY, AFTER_TEMPO, AFTER_DURATION, AFTER_COPY)


class RemiState(SlotState):
    """Where a remi sequence stands; `advance` returns a new one."""

    __slots__ = ("phase", "bars", "target", "limit", "bar_start", "bar_length", "position", "program",
                 "velocity", "onset", "duration", "count", "full", "max_end", "last", "history", "bar",
                 "copy_back", "saved", "pickup", "middle", "unit", "primed")

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
        self.limit: int | None = None  # total bars not to pass (max_bars), fixed with target
        # Copies: every finished bar as (length, may be copied, program and velocity at its
        # start, program and velocity at its end, latest note end from its bar line), and the
        # open bar's (may be copied, program, velocity, latest end) so far; None before a bar.
        self.history: tuple[tuple[int, bool, int, int, int, int, int], ...] = ()
        self.bar: tuple[bool, int, int, int] | None = None
        self.copy_back = 0
        self.saved: RemiState | None = None  # the state where an infill prefix ended
        self.pickup = False  # the piece's first bar is open and may turn out to be a pickup
        self.middle = False  # writing an infill's middle: its bars are the file's, pickup or not
        self.unit = 0  # bars the last bar or copy spanned (a countdown starts after a copy's end)
        self.primed = False  # allowed() was asked: what comes now is sampled, not the prime


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
        self.max_bars = constraints.max_bars if constraints.bars is None else None
        self.copies = COPY_FROM in self.first
        self.counts_down = COUNTDOWN in self.first
        self.default_velocity = nearest(tokenizer.velocities, DEFAULT_VELOCITY) if tokenizer.velocities else -1

    # -- the Grammar interface ---------------------------------------------------------------
    def start(self) -> RemiState:
        state = RemiState()
        state.velocity = self.default_velocity
        return state

    def allowed(self, state: RemiState) -> np.ndarray:
        if state.target is None and state.limit is None:  # the prime is in: count the bars from here
            # A prime with no notes at all is a header (Bar, TimeSig, Key, Tempo): its open bar
            # is the first new one. Any other prime ends with its last bar.
            fresh = state.bar_start >= 0 and state.max_end == 0
            state.target = None if self.bars is None else state.bars - fresh + self.bars
            state.limit = None if self.max_bars is None else state.bars - fresh + self.max_bars
            state.pickup = fresh and state.bars == 1 and not state.middle
        if not state.primed:
            state.unit = MAX_COUNTDOWN  # right after a prime the countdown may begin at any n
        state.primed = True
        phase = state.phase
        base = self.phase_masks.get(phase)
        mask = base.copy() if base is not None else np.zeros(self.size, dtype=bool)
        if phase == ENDED:
            mask[EOS] = True
            return mask
        first = self.first
        room = self._room(state)
        more_bars = room is None or room > 0
        if phase == AFTER_COPY_FROM:
            self._copy_lengths(state, mask, room)
            if not mask.any():
                mask[EOS] = True
            return mask
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
        if phase in MOVE_ON:
            # Move on: a later position, the next bar (written or copied, or counted down), or the end.
            low = state.position + 1
            if low < state.bar_length:
                mask[first[POSITION] + low:first[POSITION] + state.bar_length] = True
            counts, must = self._countdown(state)
            if counts:
                mask[first[COUNTDOWN] + counts[0] - 1:first[COUNTDOWN] + counts[1]] = True
            if not must:
                if more_bars:
                    mask[first[BAR]] = True
                if self.copies and phase not in (AFTER_BAR, AFTER_METER) and (room is None or room >= MIN_COPY_BARS):
                    self._copy_sources(state, mask, room)
            if self._may_end(state):
                mask[EOS] = True
        if phase == AFTER_COUNTDOWN:  # the bar or copy it counted
            mask[first[BAR]] = True
            if self.copies and (room is None or room >= MIN_COPY_BARS):
                self._copy_sources(state, mask, room)
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
        if kind >= COPY_FROM:
            return self._form(state, kind, value)
        if kind == DURATION:
            if phase in (AFTER_PITCH, AFTER_VELOCITY) or (phase == AFTER_DURATION and state.full):
                state.duration += value
                state.count += 1
                state.full = value == self.max_duration
                state.max_end = max(state.max_end, state.onset + state.duration)
                state.phase = AFTER_DURATION
                if state.bar is not None:
                    ok, program, velocity, reach = state.bar
                    state.bar = (ok, program, velocity, max(reach, state.onset + state.duration - state.bar_start))
            return state
        if kind == VELOCITY:
            state.velocity = value
            if phase == AFTER_PITCH:
                state.phase = AFTER_VELOCITY
            return state
        if kind == BAR:
            state.pickup = False  # the first bar ended without a note: it counts
            self._close_bar(state)
            state.bar = (True, state.program, state.velocity, 0)
            state.bar_start = 0 if state.bar_start < 0 else state.bar_start + state.bar_length
            state.bars += 1
            state.unit = 1
            state.position = -1
            state.phase = AFTER_BAR
        elif kind == TIMESIG:
            if phase == AFTER_BAR or (phase == AT_POSITION and state.position > 0):
                if phase == AT_POSITION:  # a meter change cuts the bar: a new one starts here
                    self._close_bar(state)
                    state.bar_start += state.position
                    state.bars += 1
                    state.position = -1
                state.bar = (False, state.program, state.velocity, 0)  # never copied
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
            if state.pickup:
                # The piece's first note: after the bar line, the first bar is a pickup (an
                # anacrusis), which a musician does not count: `bars` more come after it.
                state.pickup = False
                if state.position > 0:
                    state.target = None if state.target is None else state.target + 1
                    state.limit = None if state.limit is None else state.limit + 1
            if kind == PITCH and not self.pitches[token] and state.bar is not None:
                state.bar = (False, *state.bar[1:])  # outside the constraints: not to be copied
            state.onset = state.bar_start + state.position
            state.duration = state.count = 0
            state.full = False
            state.last = (kind == DRUM, 0 if kind == DRUM else state.program, value)
            state.phase = AFTER_PITCH
        elif kind == KEY:
            state.phase = AFTER_KEY
        elif kind == TEMPO:
            state.phase = AFTER_TEMPO
        if kind in (KEY, TEMPO) and state.bar is not None:
            state.bar = (False, *state.bar[1:])
        return state

    # -- copies and infilling ------------------------------------------------------------------
    def _room(self, state: RemiState) -> int | None:
        """Bars that may still come (None: no limit)."""
        rooms = [end - state.bars for end in (state.target, state.limit) if end is not None]
        return min(rooms) if rooms else None

    def _close_bar(self, state: RemiState) -> None:
        """Move the open bar into the history."""
        if state.bar is not None:
            ok, program, velocity, reach = state.bar
            state.history = (*state.history, (state.bar_length, ok, program, velocity,
                                              state.program, state.velocity, reach))
            state.bar = None

    def _records(self, state: RemiState) -> tuple:
        """The history with the open bar as it would be closed now."""
        if state.bar is None:
            return state.history
        ok, program, velocity, reach = state.bar
        return (*state.history, (state.bar_length, ok, program, velocity, state.program, state.velocity, reach))

    def _copy_sources(self, state: RemiState, mask: np.ndarray, room: int | None) -> None:
        """CopyFrom_d for every d whose bars may be copied here, at least MIN_COPY_BARS of them."""
        records = self._records(state)
        current = (state.bar_length, state.program, state.velocity)
        start = self.first[COPY_FROM] - 1
        for back in range(1, min(len(records), MAX_COPY_BACK) + 1):
            if records[-back][:4] == (current[0], True, *current[1:]) and \
                    self._copy_counts(records, back, state.bar_length, room):
                mask[start + back] = True

    def _copy_lengths(self, state: RemiState, mask: np.ndarray, room: int | None) -> None:
        """CopyBars_k for every k whose bars may all be copied and fit."""
        start = self.first[COPY_BARS] - MIN_COPY_BARS
        for count in self._copy_counts(state.history, state.copy_back, state.bar_length, room):
            mask[start + count] = True

    @staticmethod
    def _copy_counts(records: tuple, back: int, length: int, room: int | None) -> list[int]:
        """How many bars a copy from `back` bars ago may replay (at least MIN_COPY_BARS)."""
        source = len(records) - back
        most = MAX_COPY_BARS if room is None else min(MAX_COPY_BARS, room)
        counts = []
        for count in range(1, most + 1):
            index = source + count - 1
            # Past the history the copy replays its own first bars (overlap): the same records.
            record = records[index] if index < len(records) else records[source + (index - len(records)) % back]
            if not (record[1] and record[0] == length):
                break
            # The last bar of a counted piece must not ring past its end (as written notes don't).
            if count >= MIN_COPY_BARS and not (count == room and record[6] > length):
                counts.append(count)
        return counts

    def _form(self, state: RemiState, kind: int, value: int) -> RemiState:
        if kind == INFILL:
            if value == 0:  # Infill_Suffix: remember where the prefix ended
                state.saved = state.copy()
                return state
            if state.saved is not None:  # Infill_Middle: back there; the middle's bars count
                restored = state.saved.copy()
                restored.middle = True
                return restored
            return state
        if kind == COUNTDOWN:
            if not state.primed:  # a prime's countdown said where the prime ended, not the piece
                if state.phase in MOVE_ON:
                    state.phase = AFTER_COUNTDOWN
                return state
            counts, _ = self._countdown(state) if state.phase in MOVE_ON else (None, False)
            if counts and counts[0] <= value <= counts[1]:
                if state.target is None:  # the model said how many bars are left: that is the end
                    state.target = state.bars + value
                state.phase = AFTER_COUNTDOWN
            return state
        if kind == COPY_FROM:
            if (state.phase in MOVE_ON or state.phase == AFTER_COUNTDOWN) and state.bar_start >= 0:
                self._close_bar(state)
                state.copy_back = value
                state.phase = AFTER_COPY_FROM
            return state
        if state.phase != AFTER_COPY_FROM:  # CopyBars without its CopyFrom: ignored
            return state
        source = len(state.history) - state.copy_back
        for count in range(value):
            if source + count < 0:
                break
            record = state.history[source + count]
            state.history = (*state.history, record)
            state.bar_start += state.bar_length
            state.bars += 1
            state.max_end = max(state.max_end, state.bar_start + record[6])
            state.program, state.velocity = record[4], record[5]
        state.unit = value
        state.position = state.bar_length  # the copied bars are complete
        state.last = None
        state.phase = AFTER_COPY
        return state

    def _countdown(self, state: RemiState) -> tuple[tuple[int, int] | None, bool]:
        """((lowest, highest) BarsLeft value allowed before the next bar, or None), and whether
        one must come before it (no plain Bar or copy)."""
        if not self.counts_down or state.bars < 1 or state.saved is not None or state.middle:
            return None, False
        if state.target is not None:
            left = state.target - state.bars
            return ((left, left), True) if 1 <= left <= MAX_COUNTDOWN else (None, False)
        left = MAX_COUNTDOWN + 1 if state.limit is None else state.limit - state.bars
        if left < 1:
            return None, False
        # The encoder starts the countdown at the second bar, or at the first bar or copy with
        # MAX_COUNTDOWN bars or fewer to go: so does the model, and a sampled piece keeps one
        # spelling. After a bar that is MAX_COUNTDOWN to go; after a copy of k bars, fewer.
        top = min(left, MAX_COUNTDOWN)
        low = 1 if state.bars == 1 else max(1, MAX_COUNTDOWN + 1 - state.unit)
        return (min(low, top), top), left <= MAX_COUNTDOWN

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
        if state.target is None and state.bars > 1 and state.unit <= MAX_COUNTDOWN and \
                self._countdown(state)[0] is not None:
            return False  # a piece ends where its countdown said (unless a long copy ended it)
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
