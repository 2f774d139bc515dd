"""REMI: bars, positions in the bar, and notes as pitch, velocity and duration (melody's default).

Token grammar (EBNF; `p` is a position in grid ticks from the bar line, 0 <= p < bar length):

    sequence  = BOS, { bar }, EOS ;
    bar       = ( "Bar", [ TimeSig ] | Position_p, TimeSig ), { event } ;
    event     = Position_p, [ Key ], [ Tempo ], { note } ;   (* p strictly increasing in a bar *)
    note      = [ Program ], Pitch, [ Velocity ], Duration, { Duration }
              | Drum, [ Velocity ], Duration, { Duration } ;

- `Bar` starts the next bar: the bar before it lasts its meter's full length, empty or not.
  `Position_p TimeSig` is a meter change in the middle of a bar: it cuts the bar there and
  starts a new one (MIDI allows it; melody's own music never does it).
- `TimeSig_n/d` and `Key_<tonic>_<mode>`, `Tempo_<qpm>` are written where the piece has such an
  event, and only there: a piece without a time signature has no TimeSig token (4/4 is assumed).
- Program and Velocity carry over until changed, like a player's instrument and a score's
  dynamics marks: the first note plays program 0 (piano) at velocity 80 (mf), and a token is
  written only where they change.
- TimeSig tokens cover every n/d with n up to 16 and d in 1, 2, 4, ..., 32 whose bar fits in
  `max_bar_ticks` (four whole notes by default); a piece in another meter is a MusicError
  (the corpus reports and skips it) rather than a silently different piece.
- Pitch is a pitched note (0..127, transposable); Drum is a drum note on channel 10 (its
  pitch names the instrument, so transposition leaves it alone).
- Duration tokens count grid ticks 1..`max_duration`; consecutive ones add up, so any
  duration up to `max_duration * max_duration_tokens` is exact. Longer notes are cut to that.
- Positions and durations are on melody's full grid (24 ticks per quarter), so encode then
  decode is lossless for notes, meters and keys. Velocity is rounded to the nearest of
  `velocities` (default the eight dynamics marks) and tempo to the nearest metronome mark.
- The decoded piece ends at the end of its last bar.
- `BarsLeft_n` (with `countdown`) stands before every bar or copy but the first (the last 64
  of a longer piece): n bars to go, this one included (melody.tokenizers.remi_form). It says
  where the tune ends, so a prime writes it only as the whole piece will have it, when the
  bars to follow are known (`prime_tokens`), and the decoder skips it.
- There are no pedal tokens: a sustain pedal (MIDI controller 64) is played into the note
  lengths before encoding (`notes.apply_sustain`, as Magenta does); other control changes
  are not encoded.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from melody.errors import MusicError
from melody.music.notes import Key, Note, Piece, Tempo, TimeSignature, apply_sustain
from melody.music.midi import MAX_TICKS  # the longest piece any scheme writes, as MIDI reads
from melody.tokenizers.base import BOS, EOS, Constraints, Grammar, Tokenizer, decode_incrementally
from melody.tokenizers.common import (DEFAULT_VELOCITY, DYNAMICS, METRONOME, WHOLE,
                                      config_flag, config_int, config_keys, config_levels, index_groups,
                                      key_index, key_of_token, key_tokens, meters, nearest,
                                      nearest_log)
from melody.tokenizers.remi_form import (MAX_COPY_BACK, MAX_COPY_BARS, MAX_COUNTDOWN, MIN_COPY_BARS,
                                         countdown_tokens, from_bar, infill_parts, split_bars, with_copies,
                                         without_countdown)
from melody.tokenizers.remi_kinds import (BAR, COPY_BARS, COPY_FROM, COUNTDOWN, DRUM, DURATION, INFILL, KEY,
                                          PITCH, POSITION, PROGRAM, SPECIAL, TEMPO, TIMESIG, VELOCITY)


class REMI(Tokenizer):
    """Bar, Position, Pitch/Drum, Velocity, Duration, with Program, TimeSig, Key and Tempo events."""

    name = "remi"
    pitch_range = (0, 127)

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        return {"max_bar_ticks": 4 * WHOLE, "max_duration": WHOLE, "max_duration_tokens": 16,
                "velocities": list(DYNAMICS), "programs": True, "copies": True, "infill": True,
                "countdown": True}

    @classmethod
    def legacy_config(cls) -> dict[str, Any]:
        # tokenizer.json files written before copies, infilling and the countdown existed
        # have none of them.
        return {"copies": False, "infill": False, "countdown": False}

    def build_vocab(self) -> list[str]:
        config = self.config
        config_keys("remi", config, self.default_config())
        # 4/4, the meter of a piece without one, must fit.
        self.max_bar_ticks = config_int("remi", config, "max_bar_ticks", WHOLE, 16 * WHOLE)
        self.meters = meters(self.max_bar_ticks)
        self.velocities = config_levels("remi", config, "velocities", allow_empty=True)
        self.max_duration = config_int("remi", config, "max_duration", 1, 16 * WHOLE)
        self.max_duration_tokens = config_int("remi", config, "max_duration_tokens", 1, 64)
        programs = config_flag("remi", config, "programs")
        self.copies = config_flag("remi", config, "copies")
        self.infill = config_flag("remi", config, "infill")
        self.countdown = config_flag("remi", config, "countdown")
        groups: list[tuple[int, list[str]]] = [
            (BAR, ["Bar"]),
            (TIMESIG, [f"TimeSig_{n}/{d}" for n, d in self.meters]),
            (POSITION, [f"Position_{p}" for p in range(self.max_bar_ticks)]),
            (KEY, key_tokens()),
            (TEMPO, [f"Tempo_{q}" for q in METRONOME]),
            (PROGRAM, [f"Program_{p}" for p in range(128)] if programs else []),
            (PITCH, [f"Pitch_{p}" for p in range(128)]),
            (DRUM, [f"Drum_{p}" for p in range(128)]),
            (VELOCITY, [f"Velocity_{v}" for v in self.velocities]),
            (DURATION, [f"Duration_{d}" for d in range(1, self.max_duration + 1)]),
            (COPY_FROM, [f"CopyFrom_{d}" for d in range(1, MAX_COPY_BACK + 1)] if self.copies else []),
            (COPY_BARS, [f"CopyBars_{k}" for k in range(MIN_COPY_BARS, MAX_COPY_BARS + 1)] if self.copies else []),
            (INFILL, ["Infill_Suffix", "Infill_Middle"] if self.infill else []),
            (COUNTDOWN, [f"BarsLeft_{n}" for n in range(1, MAX_COUNTDOWN + 1)] if self.countdown else []),
        ]
        vocab, self.kind, self.value, self.first = index_groups(groups,
                                                                counts_from_one=(DURATION, COPY_FROM, COUNTDOWN))
        if self.copies:  # CopyBars_k stands for k bars (its index in the group counts from 0)
            for token in range(self.first[COPY_BARS], self.first[COPY_BARS] + MAX_COPY_BARS - MIN_COPY_BARS + 1):
                self.value[token] += MIN_COPY_BARS
        self.meter_index = {meter: index for index, meter in enumerate(self.meters)}
        self.default_velocity_level = nearest(self.velocities, DEFAULT_VELOCITY) if self.velocities else -1
        return vocab

    # -- encode ------------------------------------------------------------------------------
    def encode(self, piece: Piece) -> list[int]:
        """`[BOS, ..., EOS]` for `piece`; MusicError for a meter remi has no token for."""
        piece = apply_sustain(piece)
        first = self.first
        bar_id, position0, pitch0, drum0 = first[BAR], first[POSITION], first[PITCH], first[DRUM]
        duration0 = first[DURATION] - 1  # Duration_d is duration0 + d
        program0 = first.get(PROGRAM)
        velocity0 = first.get(VELOCITY, 0)
        velocities = self.velocities
        max_duration, longest = self.max_duration, self.max_duration * self.max_duration_tokens
        notes = piece.notes
        keys = {k.tick: k for k in piece.keys}
        tempos = {t.tick: t for t in piece.tempos}
        meters = {m.tick: m for m in piece.time_signatures}
        horizon = max([piece.end_tick, *(tick + 1 for tick in (*keys, *tempos, *meters))])
        if horizon > MAX_TICKS:
            raise MusicError(f"too long to tokenize ({horizon} ticks; remi writes up to {MAX_TICKS})",
                             file=piece.source or None, tune=piece.tune)
        event_ticks = sorted(set(keys) | set(tempos))
        ids = [BOS]
        program, velocity = 0, DEFAULT_VELOCITY
        velocity_level = nearest(velocities, velocity) if velocities else -1
        bar_length = WHOLE  # 4/4 until a time signature says otherwise
        meter_ticks = sorted(meters)
        next_meter = 0
        note_index, event_index = 0, 0
        start = 0
        cut_meter: TimeSignature | None = None  # a meter change that cut the last bar short
        while start < horizon:
            meter = cut_meter
            if meter is None:
                ids.append(bar_id)
                if next_meter < len(meter_ticks) and meter_ticks[next_meter] == start:
                    meter = meters[start]
            if next_meter < len(meter_ticks) and meter_ticks[next_meter] == start:
                next_meter += 1
            if meter is not None:
                meter_id = self._meter_id(meter, piece)
                bar_length = meter.bar_ticks
                if cut_meter is None:  # (a cut wrote its meter at the end of the bar before)
                    ids.append(first[TIMESIG] + meter_id)
            cut_meter = None
            end = start + bar_length
            if next_meter < len(meter_ticks) and meter_ticks[next_meter] < end:
                end = meter_ticks[next_meter]  # a meter change inside this bar cuts it short
                cut_meter = meters[end]
            # Every tick in [start, end) with a note, key or tempo, in order.
            while True:
                tick = end
                if note_index < len(notes) and notes[note_index].onset < tick:
                    tick = notes[note_index].onset
                if event_index < len(event_ticks) and event_ticks[event_index] < tick:
                    tick = event_ticks[event_index]
                if tick >= end:
                    break
                ids.append(position0 + tick - start)
                if event_index < len(event_ticks) and event_ticks[event_index] == tick:
                    event_index += 1
                    if tick in keys:
                        ids.append(first[KEY] + key_index(keys[tick]))
                    if tick in tempos:
                        ids.append(first[TEMPO] + nearest_log(METRONOME, tempos[tick].qpm))
                stop = note_index
                while stop < len(notes) and notes[stop].onset == tick:
                    stop += 1
                chord = notes[note_index:stop]
                if len(chord) > 1:
                    chord = sorted(chord, key=_note_order)
                note_index = stop
                for note in chord:
                    if note.is_drum:
                        ids.append(drum0 + note.pitch)
                    else:
                        if program0 is not None and note.program != program:
                            program = note.program
                            ids.append(program0 + program)
                        ids.append(pitch0 + note.pitch)
                    if velocities and note.velocity != velocity:
                        velocity = note.velocity
                        level = nearest(velocities, velocity)
                        if level != velocity_level:
                            velocity_level = level
                            ids.append(velocity0 + level)
                    duration = min(note.duration, longest)
                    while duration > max_duration:
                        ids.append(duration0 + max_duration)
                        duration -= max_duration
                    ids.append(duration0 + duration)
            if cut_meter is not None:
                ids.append(position0 + end - start)
                ids.append(first[TIMESIG] + self._meter_id(cut_meter, piece))
            start = end
        ids.append(EOS)
        if self.copies:
            ids = with_copies(self, ids)
        return countdown_tokens(self, ids) if self.countdown else ids

    def prime_tokens(self, piece: Piece, then: int | None = None) -> list[int]:
        ids = self.encode(piece)
        if not self.countdown:
            return ids[:-1]
        if then is None:
            return without_countdown(self, ids[:-1])
        return countdown_tokens(self, ids, after=then)[:-1]

    # -- form (melody.tokenizers.remi_form does the work) -------------------------------------
    def bar_count(self, ids: Sequence[int]) -> int:
        return len(split_bars(self, self.expand_copies(ids))[1])

    def from_bar(self, ids: Sequence[int], bar: int) -> list[int]:
        window = from_bar(self, ids, bar)
        return countdown_tokens(self, window) if self.countdown and window and window[-1] == EOS else window

    @property
    def supports_infill(self) -> bool:
        return self.infill

    def infill_prime(self, ids: Sequence[int], first: int, last: int) -> tuple[list[int], list[int]]:
        if not self.infill:
            return super().infill_prime(ids, first, last)
        prime, middle, _ = infill_parts(self, ids, first, last)
        return prime, middle

    def halving_table(self) -> tuple[np.ndarray, np.ndarray]:
        table = np.arange(self.vocab_size, dtype=np.int64)
        halvable = np.ones(self.vocab_size, dtype=bool)
        kinds, values, first = self.kind, self.value, self.first
        for token in range(3, self.vocab_size):
            kind, value = kinds[token], values[token]
            if kind == POSITION or kind == DURATION:
                # A full-length Duration says "more follow": halved, it would end the note.
                if value % 2 or (kind == DURATION and value == self.max_duration):
                    halvable[token] = False
                else:
                    table[token] = first[kind] + value // 2 - (kind == DURATION)
            elif kind == TIMESIG:
                numerator, denominator = self.meters[value]
                halved = self.meter_index.get((numerator, denominator * 2))
                if halved is None:
                    halvable[token] = False
                else:
                    table[token] = first[TIMESIG] + halved
            elif kind == TEMPO:  # quarter notes per minute halve: the music sounds the same
                table[token] = first[TEMPO] + nearest_log(METRONOME, METRONOME[value] / 2)
        return table, halvable

    def expand_copies(self, ids: Sequence[int]) -> list[int]:
        """`ids` with every copy written out as the bars it replays (what `encode` gives without
        copies or countdown); a copy that reaches before the first bar, or is not a
        CopyFrom-CopyBars pair, is dropped, as the decoder drops it."""
        if not self.copies:
            return without_countdown(self, ids) if self.countdown else list(ids)
        kinds, values = self.kind, self.value
        out: list[int] = []
        bars: list[tuple[int, int]] = []  # (start, end) of each bar in `out`
        back = 0
        for token in ids:
            kind = kinds[token] if 0 <= token < len(kinds) else SPECIAL
            if kind == COPY_FROM:
                back = values[token]
                continue
            if kind == COUNTDOWN:
                continue
            if kind == COPY_BARS:
                count, source = values[token], len(bars) - back
                if back and source >= 0:
                    self._close(bars, out)
                    for index in range(source, source + count):
                        start, end = bars[index]
                        bars.append((len(out), len(out) + end - start))
                        out.extend(out[start:end])
                back = 0
                continue
            back = 0
            if kind == BAR:
                self._close(bars, out)
                bars.append((len(out), -1))
            out.append(token)
        return out

    @staticmethod
    def _close(bars: list[tuple[int, int]], out: list[int]) -> None:
        if bars and bars[-1][1] < 0:
            bars[-1] = (bars[-1][0], len(out))

    def _meter_id(self, meter: TimeSignature, piece: Piece) -> int:
        index = self.meter_index.get((meter.numerator, meter.denominator))
        if index is None:
            raise MusicError(f"meter {meter.numerator}/{meter.denominator} has no remi token (remi "
                             f"writes n/d with n up to 16, d up to 32 and bars up to "
                             f"{self.max_bar_ticks} ticks)", file=piece.source or None,
                             tune=piece.tune)
        return index

    # -- decode ------------------------------------------------------------------------------
    def decode(self, ids: Sequence[int]) -> Piece:
        """The piece `ids` spell; tokens out of place are skipped, so any sequence decodes."""
        return decode_incrementally(self.decoder(), ids)

    def decoder(self) -> REMIDecoder:
        """An incremental decoder: feed tokens one at a time, read finished notes as they come."""
        return REMIDecoder(self)

    # -- grammar and transposition --------------------------------------------------------------
    def grammar(self, constraints: Constraints | None = None) -> Grammar:
        from melody.tokenizers.remi_grammar import REMIGrammar

        return REMIGrammar(self, constraints or Constraints())

    def pitch_of_ids(self) -> np.ndarray:
        """The MIDI pitch each id names (Pitch tokens only; drums and the rest: -1)."""
        pitches = np.full(self.vocab_size, -1, dtype=np.int64)
        start = self.first[PITCH]
        pitches[start:start + 128] = np.arange(128)
        return pitches

    def transposition_table(self, semitones: int) -> np.ndarray:
        """The id each id becomes when the music moves by `semitones` (pitches leaving 0..127 stay)."""
        table = np.arange(self.vocab_size, dtype=np.int64)
        start = self.first[PITCH]
        for pitch in range(128):
            if 0 <= pitch + semitones <= 127:
                table[start + pitch] = start + pitch + semitones
        keys = self.first[KEY]
        for index in range(len(key_tokens())):
            tonic, mode = key_of_token(index)
            table[keys + index] = keys + key_index(Key(0, (tonic + semitones) % 12, mode))
        return table


def _note(pending: tuple[int, int, bool, int, int], duration: int) -> Note:
    """The decoded note: (onset, pitch, drum, program, velocity), ending by the encodable length."""
    onset, pitch, drum, program, velocity = pending
    return Note(onset, pitch, min(duration, MAX_TICKS - onset), velocity, program, drum)


def _note_order(note: Note) -> tuple[int, int, int, int, int]:
    """Within one position: pitched notes by program then pitch, then drums."""
    return (note.is_drum, note.program, note.pitch, note.duration, note.velocity)


class REMIDecoder:
    """`REMI.decode` one token at a time: `notes` holds every finished note so far, in order.

    A note is finished at its last Duration token: one shorter than `max_duration`, or the
    `max_duration_tokens`-th. After a full-length one it stays open (another may lengthen it)
    until a token other than Duration and Velocity follows, EOS, or `piece()`.
    """

    def __init__(self, tokenizer: REMI) -> None:
        self.kinds, self.values, self.size = tokenizer.kind, tokenizer.value, len(tokenizer.kind)
        self.velocities, self.max_duration = tokenizer.velocities, tokenizer.max_duration
        self.max_count, self.meter_list = tokenizer.max_duration_tokens, tokenizer.meters
        self.notes: list[Note] = []
        self.keys: dict[int, Key] = {}
        self.tempos: dict[int, Tempo] = {}
        self.meters: dict[int, TimeSignature] = {}
        self.bar_start = -1  # no bar yet
        self.bar_length = WHOLE
        self.position = -1  # no position yet in this bar
        self.previous = SPECIAL  # the kind of the token before
        self.program, self.velocity = 0, DEFAULT_VELOCITY
        self.pending: tuple[int, int, bool, int, int] | None = None  # onset, pitch, drum, program, velocity
        self.duration = self.count = 0
        self.full = False  # the pending note's last Duration was a full-length one
        self.bars: list[list[int]] = []  # every bar's tokens as read (copies written out), to replay
        self.copy_back = 0  # the bars back of a CopyFrom waiting for its CopyBars
        self.in_suffix = False  # between Infill_Suffix and Infill_Middle: skipped
        self.replaying = False

    def feed(self, token: int) -> bool:
        """Read one token; True at EOS (decoding stops there)."""
        if not 0 <= token < self.size:
            return False
        kind = self.kinds[token]
        value = self.values[token]
        if kind >= COPY_FROM or self.in_suffix:
            return self._form(token, kind, value)
        self.copy_back = 0
        if not self.replaying:
            if kind == BAR:
                self.bars.append([])
            if self.bars:
                self.bars[-1].append(token)
        pending = self.pending
        if kind == DURATION:
            # A Duration adds to the note before it; only a full one may be followed by more.
            if pending is not None and self.count < self.max_count and (self.count == 0 or self.full):
                self.duration += value
                self.count += 1
                self.full = value == self.max_duration
                if not self.full or self.count == self.max_count:  # nothing can lengthen it now
                    self.notes.append(_note(pending, self.duration))
                    self.pending = None
            self.previous = kind
            return False
        if kind == VELOCITY:
            self.velocity = self.velocities[value]
            if pending is not None and self.count == 0:
                self.pending = (*pending[:4], self.velocity)
            self.previous = kind
            return False
        if pending is not None:  # any other token completes the note (dropped without a duration)
            if self.duration:
                self.notes.append(_note(pending, self.duration))
            self.pending = None
        position, bar_start, bar_length = self.position, self.bar_start, self.bar_length
        if kind == BAR:
            if bar_start + 2 * bar_length <= MAX_TICKS:  # past that, more bars are skipped
                self.bar_start = 0 if bar_start < 0 else bar_start + bar_length
                self.position = -1
        elif kind == TIMESIG:
            numerator, denominator = self.meter_list[value]
            if bar_start + max(position, 0) + numerator * WHOLE // denominator > MAX_TICKS:
                pass  # a bar that would end past the encodable length: skipped
            elif self.previous == BAR or (self.previous == POSITION and position > 0):
                if self.previous == POSITION:  # a meter change in mid-bar cuts the bar here
                    bar_start, self.position = bar_start + position, -1
                    self.bar_start = bar_start
                self.meters[bar_start] = TimeSignature(bar_start, numerator, denominator)
                self.bar_length = numerator * WHOLE // denominator
        elif kind == POSITION:
            if bar_start >= 0 and position < value < bar_length:
                self.position = value
        elif kind == PROGRAM:
            self.program = value
        elif position < 0:
            pass  # a pitch, key or tempo before any position has no time: skipped
        elif kind == PITCH or kind == DRUM:
            drum = kind == DRUM
            self.pending = (bar_start + position, value, drum, 0 if drum else self.program, self.velocity)
            self.duration = self.count = 0
            self.full = False
        elif kind == KEY:
            tonic, mode = key_of_token(value)
            self.keys[bar_start + position] = Key(bar_start + position, tonic, mode)
        elif kind == TEMPO:
            self.tempos[bar_start + position] = Tempo(bar_start + position, float(METRONOME[value]))
        elif token == EOS:
            return True
        self.previous = kind
        return token == EOS

    def _form(self, token: int, kind: int, value: int) -> bool:
        """Copies (replayed bar by bar) and infill sentinels. The suffix of a fill-in-the-middle
        sequence is skipped, so the middle goes on from where the prefix ended, and the piece
        read is the prefix and the middle."""
        if self.in_suffix:
            self.in_suffix = not (kind == INFILL and value == 1)
            return token == EOS
        if self.pending is not None:  # like any other token, this one completes the note
            if self.duration:
                self.notes.append(_note(self.pending, self.duration))
            self.pending = None
        self.previous = kind
        if kind == COPY_FROM:
            self.copy_back = value
        elif kind == COPY_BARS:
            source = len(self.bars) - self.copy_back
            if self.copy_back and source >= 0:
                for index in range(source, source + value):
                    replay = list(self.bars[index])
                    self.bars.append(replay)
                    self.replaying = True
                    for old in replay:
                        self.feed(old)
                    self.replaying = False
            self.copy_back = 0
        elif kind == INFILL and value == 0:
            self.in_suffix = True
        return False

    def piece(self) -> Piece:
        """The piece read so far, its last note finished with the Durations it has."""
        notes = list(self.notes)
        if self.pending is not None and self.duration:
            notes.append(_note(self.pending, self.duration))
        bar_start = self.bar_start
        return Piece(notes=notes, tempos=list(self.tempos.values()),
                     time_signatures=list(self.meters.values()), keys=list(self.keys.values()),
                     end=bar_start + self.bar_length if bar_start >= 0 else None)
