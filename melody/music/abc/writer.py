"""Write a Piece as one ABC tune that abc2midi plays and `parse_abc` reads back note for note.

Every note is written. A piece that one line of music holds (program 0, no overlapping notes;
notes that start together with the same length are a chord) is written as it always was, with
no V: field. Anything else gets a V: per line of music (`voicing.voice_lines`: one or more per
instrument), each with `%%MIDI program N` or, for drums, `%%MIDI channel 10`; every voice
starts at the tune's start (with rests) so the voices stay together, and tempo changes are
written in the first. Notes that cross a bar line (or a key or tempo change) are split and tied.
Meter, key and tempo changes are written inline ([M:6/8], [K:Dmix], [Q:1/4=90]). Pitches are
spelled against the key signature in force, with explicit accidentals wherever the key and
the bar's earlier accidentals would not give the pitch, so reading the text back gives the
same pitches. After a key change in mid-bar, a letter that already had an accidental in the
bar is always written with one: abc2midi and melody's reader drop the bar's accidentals at
the change, but the standard does not say, and an explicit accidental reads alike anywhere.
Velocities are written as dynamics marks (`dynamics`: !ppp! to !fff!, each voice marked where
its level changes) unless every note has the reader's plain
velocity; what the eight levels cannot hold exactly is counted in the warning.
"""

from __future__ import annotations

from collections import Counter
from math import gcd
from typing import Callable

from melody.music.abc.dynamics import LEVELS, level_of
from melody.music.abc.expand import VELOCITY
from melody.music.abc.fields import parse_key
from melody.music.abc.voicing import voice_lines
from melody.music.notes import CARRIED_CONTROLLERS, TICKS_PER_QUARTER, Piece

_UNIT = TICKS_PER_QUARTER // 2  # L:1/8 in ticks
_MODE_SUFFIX = {"major": "", "minor": "m", "dorian": "dor", "phrygian": "phr", "lydian": "lyd",
                "mixolydian": "mix", "locrian": "loc"}
# A mode's relative major, in fifths from its tonic (C dorian has the signature of Bb major).
_MODE_FIFTHS = {"major": 0, "minor": -3, "dorian": -2, "phrygian": -4, "lydian": 1, "mixolydian": -1,
                "locrian": -5}
_LETTER_FIFTHS = {"F": -1, "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5}
_LETTERS = "CDEFGAB"
_NATURAL = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTAL = {2: "^^", 1: "^", 0: "=", -1: "_", -2: "__"}
_BARS_PER_LINE = 4
# abc2midi accents a bar's first note and its beats; without accents it plays every note at the
# velocity melody reads for the mark in force (see `dynamics`). It holds for one voice.
_NO_ACCENTS = "%%MIDI nobeataccents"


def _length(ticks: int) -> tuple[str, str]:
    """An ABC note: a length suffix for `ticks` with L:1/8 ('', '2', '/2', '3/2', '/4').

    abc2midi only takes lengths over a power of two, so a length that needs a third of a
    tick grid step is written as a one-note tuplet: '(3:2:1' and 3/2 of the length.
    """
    if ticks % 3:
        return "(3:2:1", _fraction(ticks * 3, _UNIT * 2)
    return "", _fraction(ticks, _UNIT)


def _group_triplets(tokens: list[str]) -> list[str]:
    """Three one-note tuplets in a row written as one '(3' triplet, as people write them."""
    grouped: list[str] = []
    index = 0
    marker = "(3:2:1"
    while index < len(tokens):
        run = tokens[index:index + 3]
        if len(run) == 3 and all(token.startswith(marker) for token in run):
            grouped.append("(3" + "".join(token[len(marker):] for token in run))
            index += 3
        else:
            grouped.append(tokens[index])
            index += 1
    return grouped


def _fraction(top: int, bottom: int) -> str:
    common = gcd(top, bottom)
    top, bottom = top // common, bottom // common
    if bottom == 1:
        return "" if top == 1 else str(top)
    return f"{'' if top == 1 else top}/{bottom}"


class _Speller:
    """Spells pitches against a key signature and the accidentals written so far in the bar."""

    def __init__(self, tonic: int, mode: str) -> None:
        self.bar: dict[str, int | None] = {}
        self.change_key(tonic, mode)

    def change_key(self, tonic: int, mode: str) -> None:
        self.signature = parse_key(_key_text(tonic, mode)).signature
        self.sharp_key = sum(self.signature.values()) >= 0
        # None never matches a shift: those letters get an explicit accidental (see above).
        self.bar = {letter: None for letter in self.bar}

    def new_bar(self) -> None:
        self.bar = {}

    def spell(self, pitch: int) -> str:
        pitch_class = pitch % 12
        candidates = []
        for letter in _LETTERS:
            for shift in (0, 1, -1, 2, -2):
                if (_NATURAL[letter] + shift) % 12 == pitch_class:
                    candidates.append((letter, shift))
        current = {letter: self.bar[letter] if letter in self.bar else self.signature.get(letter, 0)
                   for letter, _ in candidates}
        plain = [c for c in candidates if current[c[0]] == c[1]]
        if plain:
            letter, shift = plain[0]
            accidental = ""
        else:
            natural = [c for c in candidates if c[1] == 0]
            preferred = 1 if self.sharp_key else -1
            letter, shift = (natural or [c for c in candidates if c[1] == preferred] or candidates)[0]
            accidental = _ACCIDENTAL[shift]
            self.bar[letter] = shift
        natural_pitch = pitch - shift
        octave = natural_pitch // 12 - 5  # 0 for the octave of middle C (MIDI 60..71)
        if octave >= 1:
            return accidental + letter.lower() + "'" * (octave - 1)
        return accidental + letter + "," * (-octave)


def _tonic_name(tonic: int, mode: str) -> str:
    """The tonic spelled as the mode's key signature is smallest: C# minor (4 sharps), not
    Db minor (8 flats); between 6 sharps and 6 flats, a natural letter (F locrian), else the
    sharps (F# major, D# minor)."""
    best = None
    for letter, fifths in _LETTER_FIFTHS.items():
        for accidental, shift in (("", 0), ("#", 1), ("b", -1)):
            if (_NATURAL[letter] + shift) % 12 != tonic:
                continue
            signature = fifths + 7 * shift + _MODE_FIFTHS[mode]
            rank = (abs(signature), shift != 0, signature < 0)
            if best is None or rank < best[0]:
                best = (rank, letter + accidental)
    return best[1]


def _key_text(tonic: int, mode: str) -> str:
    return f"{_tonic_name(tonic, mode)}{_MODE_SUFFIX[mode]}"


def _left_out(piece: Piece, rounded: int) -> str:
    """One line counting what ABC cannot carry: control changes, and velocities `rounded` to
    the nearest dynamics level."""
    parts = []
    if piece.controls:
        counts = Counter(CARRIED_CONTROLLERS.get(c.controller, f"controller {c.controller}") for c in piece.controls)
        named = ", ".join(f"{name} {count}" for name, count in counts.most_common())
        parts.append(f"{len(piece.controls)} control changes not written, ABC has no place for them ({named})")
    if rounded:
        parts.append(f"{rounded} note velocities rounded to the nearest of ABC's 8 dynamics marks "
                     f"(ppp {LEVELS['ppp']} to fff {LEVELS['fff']})")
    return "; ".join(parts)


def _chord_level(velocities: tuple[int, ...]) -> str:
    """The dynamics mark a chord is written with (`voicing` gives its notes one level)."""
    return level_of(velocities[0])


def _velocities_rounded(lines: list) -> int:
    """How many notes will not read back at their own velocity."""
    return sum(velocity != LEVELS[_chord_level(velocities)]
               for line in lines for _, _, _, velocities in line.events for velocity in velocities)


def _tempo_text(qpm: float) -> str:
    """A Q: value for `qpm`, exact where a beat of 1/4, 1/8 or 1/16 makes it a whole number
    (104.5 qpm is 'Q:1/8=209'); else the nearest whole quarter notes per minute."""
    for beat, per_quarter in ((4, 1), (8, 2), (16, 4)):
        per_minute = qpm * per_quarter
        if per_minute >= 1 and per_minute == int(per_minute):
            return f"1/{beat}={int(per_minute)}"
    return f"1/4={max(1, round(qpm))}"


def _changes(piece: Piece, tempos: bool = True) -> dict[int, list[tuple[str, tuple[int, str] | None]]]:
    """Inline fields for the key (and tempo) changes after the header's: tick -> [(text, key)]."""
    changes: dict[int, list[tuple[str, tuple[int, str] | None]]] = {}
    for key in piece.keys[1:]:
        changes.setdefault(key.tick, []).append((f"[K:{_key_text(key.tonic, key.mode)}]", (key.tonic, key.mode)))
    for tempo in piece.tempos[1:] if tempos else ():
        changes.setdefault(tempo.tick, []).append((f"[Q:{_tempo_text(tempo.qpm)}]", None))
    return changes


def piece_to_abc(piece: Piece, on_warning: Callable[[str], None] | None = None) -> str:
    """One ABC tune (X T M L Q K header, then the music) for `piece`; see the module docstring.

    `on_warning` hears, in one line with counts, of what ABC cannot carry (control changes,
    velocities between the dynamics levels).
    """
    lines = voice_lines(piece)
    # A piece whose notes all have the reader's plain velocity (read from ABC, or generated)
    # is written without marks, as it always was.
    marked = any(note.velocity != VELOCITY for note in piece.notes)
    rounded = _velocities_rounded(lines) if marked else 0
    if (piece.controls or rounded) and on_warning is not None:
        on_warning(_left_out(piece, rounded))
    signature = piece.time_signature
    key = piece.key
    tonic, mode = (key.tonic, key.mode) if key else (0, "major")
    tune = piece.tune if piece.tune and str(piece.tune).isdigit() else "1"
    title = " ".join((piece.title or "Untitled").split())
    header = [f"X:{tune}", f"T:{title}", f"M:{signature.numerator}/{signature.denominator}", "L:1/8",
              f"Q:{_tempo_text(piece.qpm)}", f"K:{_key_text(tonic, mode)}"]
    if not lines:
        return "\n".join(header + ["z8|]"]) + "\n"
    first = min(line.events[0][0] for line in lines)
    last_end = max(line.end for line in lines)
    bar_starts = piece.bar_starts(max(piece.end_tick, last_end) + 1)
    first_bar = bar_starts[1] if len(bar_starts) > 1 else None
    # A pickup (music before the first bar line, and more after it): begin at the first note,
    # so the reader shifts it back to the same place. Every voice begins there.
    pickup = first_bar is not None and 0 < first < first_bar < last_end
    start = first if pickup else 0
    if len(lines) == 1 and lines[0].program == 0 and not lines[0].drum:
        body = _voice_body(piece, lines[0].events, bar_starts, start, (tonic, mode), tempo_changes=True,
                           marked=marked)
        return "\n".join(header + ([_NO_ACCENTS] if marked else [])) + "\n" + body + "\n"
    out = list(header)
    for number, line in enumerate(lines, 1):
        out.append(f"V:{number}")
        out.append("%%MIDI channel 10" if line.drum else f"%%MIDI program {line.program}")
        if marked:
            out.append(_NO_ACCENTS)
        # Tempo changes once, in the first voice: abc2midi applies a Q: in any voice to all.
        # Every voice runs to the same end (rests after its last note): a voice that stopped
        # inside its first bar would look like a pickup to a reader.
        out.append(_voice_body(piece, line.events, bar_starts, start, (tonic, mode), tempo_changes=number == 1,
                               until=last_end, marked=marked))
    return "\n".join(out) + "\n"


def _voice_body(piece: Piece, events: list, bar_starts: list[int], time: int, key: tuple[int, str], *,
                tempo_changes: bool, until: int = 0, marked: bool = False) -> str:
    """The music of one voice from tick `time`: notes split and tied at bar lines and changes,
    and (`marked`) a dynamics mark before each note or chord whose level differs from the last."""
    speller = _Speller(*key)
    meter_at = {s.tick: s for s in piece.time_signatures}
    boundaries = [tick for tick in bar_starts if tick > time]
    changes = _changes(piece, tempo_changes)
    change_ticks = sorted(tick for tick in changes if tick > time)
    body: list[str] = []
    line: list[str] = []
    bars_on_line = 0
    bar_index = 0
    change_index = 0
    level = None  # the voice's dynamics level so far
    mark = ""  # a mark waiting for the next note written

    def apply_changes(ticks: list[int]) -> None:
        for tick in ticks:
            for text, key in changes[tick]:
                line.append(text)
                if key is not None:
                    speller.change_key(*key)

    apply_changes(sorted(tick for tick in changes if tick <= time))  # before the first note

    def emit(ticks: int, pitches: tuple[int, ...], tie: bool) -> None:
        nonlocal mark
        prefix, suffix = _length(ticks)
        if not pitches:
            line.append(f"{prefix}z{suffix}")
            return
        spelled = [speller.spell(p) for p in pitches]
        text = spelled[0] if len(spelled) == 1 else "[" + "".join(spelled) + "]"
        # The mark after a tuplet's '(3', so that three one-note tuplets still group as one.
        line.append(prefix + mark + text + suffix + ("-" if tie else ""))
        mark = ""

    def advance_to(target: int, pitches: tuple[int, ...]) -> None:
        """Write music (or rest) from `time` to `target`, splitting and tying at bar lines."""
        nonlocal time, bar_index, bars_on_line, line, change_index
        while time < target:
            next_bar = boundaries[bar_index] if bar_index < len(boundaries) else None
            next_change = change_ticks[change_index] if change_index < len(change_ticks) else None
            stop = min(tick for tick in (target, next_bar, next_change) if tick is not None)
            emit(stop - time, pitches, tie=bool(pitches) and stop < target)
            time = stop
            if next_bar is not None and time == next_bar:
                bar_index += 1
                speller.new_bar()
                meter = meter_at.get(time)
                line.append(" | ")
                if meter is not None and time > 0:
                    line.append(f"[M:{meter.numerator}/{meter.denominator}]")
                bars_on_line += 1
                if bars_on_line == _BARS_PER_LINE:
                    body.append("".join(_group_triplets(line)).strip())
                    line, bars_on_line = [], 0
            if next_change is not None and time == next_change:
                apply_changes([next_change])
                change_index += 1

    for onset, duration, pitches, velocities in events:
        advance_to(onset, ())
        if marked and _chord_level(velocities) != level:
            level = _chord_level(velocities)
            mark = f"!{level}!"
        advance_to(onset + duration, pitches)
    advance_to(until, ())
    if line:
        body.append("".join(_group_triplets(line)).strip())
    text = "\n".join(body).rstrip()
    return text[:-1] + "|]" if text.endswith("|") else text + "|]"
