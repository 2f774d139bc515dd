"""The one note representation that readers, tokenizers, models and writers share.

Time is an integer tick grid of `TICKS_PER_QUARTER` ticks per quarter note. 24 holds every
duration folk and popular music writes down exactly: 32nd notes (3 ticks), 16th-note triplets
(4), eighth-note triplets (8), dotted values. Played MIDI is quantised onto the same grid when
it is read. Bar lines are not stored: they follow from the time-signature events
(`Piece.bar_starts`), so a reader that meets a pickup shifts the music to put the first full
bar on a bar line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from bisect import bisect_right
from fractions import Fraction

TICKS_PER_QUARTER = 24
DEFAULT_QPM = 120.0
MODES = ("major", "minor", "dorian", "phrygian", "lydian", "mixolydian", "locrian")
# Semitones from the tonic of a mode to the tonic of its relative major.
_MODE_TO_MAJOR = {"major": 0, "minor": 3, "dorian": -2, "phrygian": -4, "lydian": -5,
                  "mixolydian": -7, "locrian": 1}
_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_MODE_DEGREE = {"major": 0, "dorian": 1, "phrygian": 2, "lydian": 3, "mixolydian": 4,
                "minor": 5, "locrian": 6}
PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


@dataclass(frozen=True, slots=True, order=True)
class Note:
    """One sounding note: onset and duration in ticks, MIDI pitch 0..127, velocity 1..127."""

    onset: int
    pitch: int
    duration: int
    velocity: int = 80
    program: int = 0  # General MIDI program 0..127 (ignored for drums)
    is_drum: bool = False

    @property
    def end(self) -> int:
        return self.onset + self.duration


@dataclass(frozen=True, slots=True)
class Tempo:
    """A tempo change at `tick`, in quarter notes per minute."""

    tick: int
    qpm: float


@dataclass(frozen=True, slots=True)
class TimeSignature:
    """A meter change at `tick`: numerator / denominator (denominator a power of two)."""

    tick: int
    numerator: int
    denominator: int

    @property
    def bar_ticks(self) -> int:
        return self.numerator * TICKS_PER_QUARTER * 4 // self.denominator


@dataclass(frozen=True, slots=True)
class Key:
    """A key change at `tick`: tonic pitch class 0..11 (C=0) and a mode from `MODES`."""

    tick: int
    tonic: int
    mode: str = "major"

    @property
    def sharps(self) -> int:
        """The key signature as sharps (>0) or flats (<0), as MIDI stores it."""
        major_tonic = (self.tonic + _MODE_TO_MAJOR[self.mode]) % 12
        fifths = (major_tonic * 7) % 12  # position on the circle of fifths, 0..11 sharps
        return fifths - 12 if fifths > 6 else fifths

    @property
    def scale(self) -> frozenset[int]:
        """The seven pitch classes of this key and mode."""
        degree = _MODE_DEGREE[self.mode]
        major_tonic = (self.tonic - _MAJOR_SCALE[degree]) % 12
        return frozenset((major_tonic + step) % 12 for step in _MAJOR_SCALE)

    @property
    def name(self) -> str:
        return f"{PITCH_CLASS_NAMES[self.tonic]} {self.mode}"


SUSTAIN = 64  # the sustain (damper) pedal controller: 64 and up is down
CARRIED_CONTROLLERS = {1: "modulation", 7: "volume", 10: "pan", 11: "expression", 64: "sustain",
                       66: "sostenuto", 67: "soft pedal", 91: "reverb", 93: "chorus"}


@dataclass(frozen=True, slots=True, order=True)
class Control:
    """A MIDI control change at `tick` for one instrument (program, or the drums): controller
    0..127 (`CARRIED_CONTROLLERS` are the ones readers keep) set to value 0..127."""

    tick: int
    controller: int
    value: int
    program: int = 0
    is_drum: bool = False


@dataclass(slots=True)
class Piece:
    """A piece of music: notes plus tempo, meter and key events, and where it came from."""

    notes: list[Note] = field(default_factory=list)
    tempos: list[Tempo] = field(default_factory=list)
    time_signatures: list[TimeSignature] = field(default_factory=list)
    keys: list[Key] = field(default_factory=list)
    title: str = ""
    source: str = ""  # the file it was read from, if any
    tune: str | None = None  # ABC X: number, or the tune's index in its file
    end: int | None = None  # explicit end tick when the piece ends in silence
    controls: list[Control] = field(default_factory=list)  # pedals, volume, pan...: MIDI only

    def __post_init__(self) -> None:
        self.notes.sort()
        self.controls.sort()
        self.tempos.sort(key=lambda e: e.tick)
        self.time_signatures.sort(key=lambda e: e.tick)
        self.keys.sort(key=lambda e: e.tick)

    # -- derived facts -------------------------------------------------------------------
    @property
    def end_tick(self) -> int:
        """The tick where the piece ends: its explicit end, or the end of its last note."""
        last = max((n.end for n in self.notes), default=0)
        return max(last, self.end or 0)

    @property
    def time_signature(self) -> TimeSignature:
        """The first time signature (4/4 when the piece has none)."""
        return self.time_signatures[0] if self.time_signatures else TimeSignature(0, 4, 4)

    @property
    def key(self) -> Key | None:
        return self.keys[0] if self.keys else None

    @property
    def qpm(self) -> float:
        return self.tempos[0].qpm if self.tempos else DEFAULT_QPM

    def bar_starts(self, until: int | None = None) -> list[int]:
        """Ticks of every bar line from 0 up to `until` (default: the end of the piece).

        A time-signature change starts a new bar where it falls, even mid-bar.
        """
        until = self.end_tick if until is None else until
        signatures = self.time_signatures or [TimeSignature(0, 4, 4)]
        if signatures[0].tick > 0:
            signatures = [TimeSignature(0, 4, 4), *signatures]
        starts: list[int] = []
        for index, signature in enumerate(signatures):
            stop = signatures[index + 1].tick if index + 1 < len(signatures) else until
            starts.extend(range(signature.tick, stop, max(1, signature.bar_ticks)))
        return starts or [0]

    def pitch_range(self) -> tuple[int, int] | None:
        pitches = [n.pitch for n in self.notes if not n.is_drum]
        return (min(pitches), max(pitches)) if pitches else None

    # -- transformations -------------------------------------------------------------------
    def replace(self, **changes) -> Piece:
        return dataclasses.replace(self, **changes)

    def transposed(self, semitones: int) -> Piece:
        """This piece moved by `semitones` (drums stay put); raises ValueError out of 0..127."""
        if semitones == 0:
            return self
        low_high = self.pitch_range()
        if low_high and not (0 <= low_high[0] + semitones and low_high[1] + semitones <= 127):
            raise ValueError(f"transposing by {semitones} leaves the MIDI pitch range")
        notes = [n if n.is_drum else dataclasses.replace(n, pitch=n.pitch + semitones) for n in self.notes]
        keys = [dataclasses.replace(k, tonic=(k.tonic + semitones) % 12) for k in self.keys]
        return self.replace(notes=notes, keys=keys)

    def __repr__(self) -> str:
        where = f" from {self.source}" if self.source else ""
        title = f" {self.title!r}" if self.title else ""
        return (f"<Piece{title}{where}: {len(self.notes)} notes, {len(self.bar_starts())} bars, "
                f"{self.time_signature.numerator}/{self.time_signature.denominator}, "
                f"{self.key.name if self.key else 'no key'}>")


def scale_note_values(piece: Piece, factor: Fraction | int | float) -> Piece:
    """`piece` written with every note value multiplied by `factor` (a power of two), sounding the same.

    Halving (factor 1/2) keeps the bar count and the meter's numerator: 4/4 with eighths
    becomes 4/8 with sixteenths, 6/8 becomes 6/16, 2/2 becomes 2/4. Every onset, duration,
    event tick and the end are scaled, the meter's denominator divided by `factor`, and the
    tempo (quarter notes per minute) multiplied by it, so each note lasts as many seconds as
    before; a piece without a meter or tempo gets the implied 4/4 and default tempo, scaled.
    ValueError when `factor` is not a power of two, when a tick would fall between two ticks
    of the grid (a 32nd note halved), or when a meter's denominator would fall below 1 (3/1
    doubled).
    """
    scale = Fraction(factor)
    if scale <= 0 or (scale.numerator & (scale.numerator - 1)) or (scale.denominator & (scale.denominator - 1)):
        raise ValueError(f"note values can only be scaled by a power of two, not {factor}")

    if scale == 1:
        return piece

    def tick(value: int, what: str) -> int:
        scaled = value * scale
        if scaled.denominator != 1:
            raise ValueError(f"{what} would not be a whole number of ticks with note values scaled by {scale}")
        return int(scaled)

    notes = [dataclasses.replace(n, onset=tick(n.onset, f"the note {n.pitch} at tick {n.onset}"),
                                 duration=tick(n.duration, f"the {n.duration}-tick note {n.pitch} at tick {n.onset}"))
             for n in piece.notes]
    signatures = piece.time_signatures
    if not signatures or signatures[0].tick > 0:
        signatures = [TimeSignature(0, 4, 4), *signatures]  # what bar_starts assumes
    meters = []
    for signature in signatures:
        denominator = signature.denominator / scale
        if denominator.denominator != 1 or denominator < 1:
            raise ValueError(f"the meter {signature.numerator}/{signature.denominator} has no "
                             f"denominator when note values are scaled by {scale}")
        meters.append(TimeSignature(tick(signature.tick, f"the meter change at tick {signature.tick}"), signature.numerator,
                                    int(denominator)))
    tempos = [Tempo(tick(t.tick, f"the tempo change at tick {t.tick}"), t.qpm * float(scale)) for t in piece.tempos]
    if not piece.tempos:
        tempos = [Tempo(0, DEFAULT_QPM * float(scale))]  # the default tempo, kept as heard
    keys = [dataclasses.replace(k, tick=tick(k.tick, f"the key change at tick {k.tick}")) for k in piece.keys]
    end = None if piece.end is None else tick(piece.end, f"the end at tick {piece.end}")
    return piece.replace(notes=notes, time_signatures=meters, tempos=tempos, keys=keys, end=end)


def apply_sustain(piece: Piece) -> Piece:
    """`piece` with the sustain pedal played into its note lengths, as Magenta's
    `apply_sustain_control_changes` does: a note released while its instrument's pedal is down
    sounds on until the pedal comes up, or until the same pitch is struck again. The pedal
    events stay in `controls`; a piece without a pedal comes back as it is."""
    pedals: dict[tuple[bool, int], list[tuple[int, bool]]] = {}
    for control in piece.controls:
        if control.controller == SUSTAIN:
            instrument = (control.is_drum, 0 if control.is_drum else control.program)
            pedals.setdefault(instrument, []).append((control.tick, control.value >= 64))
    if not pedals:
        return piece
    notes: list[Note] = []
    by_instrument: dict[tuple[bool, int], list[Note]] = {}
    for note in piece.notes:
        by_instrument.setdefault((note.is_drum, 0 if note.is_drum else note.program), []).append(note)
    for instrument, own in by_instrument.items():
        changes = pedals.get(instrument)
        notes.extend(_sustained(own, changes) if changes else own)
    return piece.replace(notes=notes)


def _sustained(notes: list[Note], changes: list[tuple[int, bool]]) -> list[Note]:
    """One instrument's notes lengthened by its pedal changes ((tick, down), in tick order)."""
    # Each pedal-down span [down, up); a note released inside one is held to its end.
    spans: list[tuple[int, int]] = []
    down_at = None
    for tick, down in changes:
        if down and down_at is None:
            down_at = tick
        elif not down and down_at is not None:
            spans.append((down_at, tick))
            down_at = None
    if down_at is not None:
        spans.append((down_at, max(n.end for n in notes)))
    starts = [span[0] for span in spans]
    next_onset: dict[int, list[int]] = {}
    for note in notes:
        next_onset.setdefault(note.pitch, []).append(note.onset)
    result = []
    for note in notes:
        index = bisect_right(starts, note.end) - 1
        end = note.end
        if index >= 0 and spans[index][0] <= note.end < spans[index][1]:
            end = spans[index][1]
            onsets = next_onset[note.pitch]
            later = bisect_right(onsets, note.onset)
            if later < len(onsets) and onsets[later] < end:
                end = max(note.end, onsets[later])  # struck again: the held note stops there
        result.append(note if end == note.end else dataclasses.replace(note, duration=end - note.onset))
    return result
