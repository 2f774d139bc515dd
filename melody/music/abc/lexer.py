"""The ABC tune body scanner: music lines to a flat list of timed slots, bar lines and fields.

Pitches are resolved here, in written order, because that is where ABC defines them: the key
signature, accidentals that hold to the end of the bar, and a tie that carries its
accidental across the bar line. An accidental holds for its letter in every octave: ABC 2.1
says one octave, but abc2midi 4.84 (the reference players and these tests use) alters them all. Durations are in
`fields.WHOLE` units, with broken rhythm and tuplets applied. Repeats are left to `expand`.

Choices where ABC leaves room (all as abc2midi plays with -NGRA -NGUI -NFER):
grace notes, decorations, guitar chords, annotations and slurs are dropped; a chord lasts as
long as its first note (times the length after the ']'). Each voice gets its own scanner, with
its own `%%MIDI program` or drum channel; a voice overlay ('&') becomes an OVERLAY item at the
start of its bar, which the player sounds beside the bar's own notes.
"""

from __future__ import annotations

import re
from typing import Callable

from melody.errors import MusicError
from melody.music.abc.dynamics import LEVELS
from melody.music.abc.fields import (MAX_NUMBER, FieldError, KeySpec, Meter, number, parse_key,
                                     parse_meter, parse_tempo, parse_unit, shown)
from melody.music.abc.limits import TuneBudget, too_many_bars, too_many_notes

# Item kinds. A slot is a mutable list [SLOT, units, pitches, ties, line, column]: broken
# rhythm changes the one before it after the fact. Every other item is a tuple (kind, value);
# a DYNAMIC's value is the velocity of a dynamics mark (`dynamics`).
SLOT, BAR, VARIANT, METER, KEY, TEMPO, PART, OVERLAY, DYNAMIC = range(9)
# Bar kinds, named after abc2midi's.
SINGLE_BAR, DOUBLE_BAR, THIN_THICK, THICK_THIN, BAR_REP, REP_BAR, DOUBLE_REP = range(7)
_SINGLE_BAR_ITEM = (BAR, SINGLE_BAR)
UNTIED = (False,)  # the ties of a one-note slot with no tie: shared, so a player can test `is`
# The same for a performed note, which may carry an ornament: another object (built, so that the
# compiler does not merge it with UNTIED), which sends the player down its full path.
_UNTIED_PERFORMED = tuple([False])

# Accidentals, microtonal ones ('^/', '_3/4') too: those sound at the natural pitch, as the MIDI
# note abc2midi bends (a pitch bend is more than melody's notes hold).
_NOTE_RE = re.compile(r"(\^\^|__|[\^_][0-9]*/[0-9]*|\^|_|=)?([A-Ga-g])([,']*)([0-9]*)(/*)([0-9]*)")
_PLAIN_NOTE_RE = re.compile(r"([,']*)([0-9]*)(/*)([0-9]*)(-?)")
_NATURALS = {letter: 60 + semitone for letter, semitone in
             zip("CDEFGAB", (0, 2, 4, 5, 7, 9, 11))} | {letter: 72 + semitone for letter, semitone in
                                                          zip("cdefgab", (0, 2, 4, 5, 7, 9, 11))}
_UPPER = {letter: letter.upper() for letter in "ABCDEFGabcdefg"}
_LENGTH_RE = re.compile(r"([0-9]*)(/*)([0-9]*)")
# A bar line: '|', '||', '|]', '[|', ':|', '|:', '::', ':|]', '[|:'... (short: longer runs of
# '|' and ':' are read as several bar lines, which keeps hostile input linear).
_BAR_RE = re.compile(r"\[?[|:]{1,8}\]?")
_VARIANT_RE = re.compile(r"\[?([0-9]+(?:[,\-][0-9]+)*)")
_TUPLET_RE = re.compile(r"\(([0-9]+)(?::([0-9]*))?(?::([0-9]*))?")
_DECORATION_RE = re.compile(r"!([^!\s|\"]{1,40})!|\+([^+\s|\"]{1,40})\+")
_INLINE_FIELD_RE = re.compile(r"\[([A-Za-z]):([^\]]*)\]?")
_BARE_FIELD_RE = re.compile(r"([KLMQ]):(\S*)")
_SEMITONE = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SHIFT = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}
_DECORATION_CHARS = frozenset("~.HLMOPSTuvJR")
_BAR_FOLLOWERS = frozenset("|:[]0123456789")
_SKIP_CHARS = frozenset(" \t)y`$*\\;#@?")
_MAX_BROKEN = 3
_LETTERS = "CDEFGAB"
# The ornaments the performed reading plays, as abc2midi does; other decorations are dropped.
# 'R' is abc2midi's roll (five notes), '~' the Irish roll it calls an ornament (see `perform`).
_ORNAMENT_CHARS = {".": "staccato", "T": "trill", "~": "roll", "R": "five_note_roll"}
_NAMED_ORNAMENTS = {"staccato": "staccato", "trill": "trill", "roll": "roll"}
# A note with several ornaments plays the strongest, whatever their order (abc2midi's choice).
_ORNAMENT_RANK = {None: 0, "staccato": 1, "five_note_roll": 2, "roll": 3, "trill": 4}


class Performance:
    """How a performed reading plays: `swing` is the hornpipe's swung note in units (an eighth
    of a 2/4 or 4/4 bar) or 0 for none."""

    def __init__(self, swing: int = 0) -> None:
        self.swing = swing

Warn = Callable[[MusicError], None]


class BodyScanner:
    """Turns the body lines of one tune into items; keeps key, meter, unit and voice state."""

    def __init__(self, key: KeySpec, meter: Meter, unit: int, warn: Warn, perform: Performance | None = None,
                 budget: TuneBudget | None = None) -> None:
        self.items: list = []
        # Shared by the tune's voices: scanning stops at the first note, bar or mark past a cap.
        self.budget = budget if budget is not None else TuneBudget()
        # A performed reading (`perform`): ornaments wait here for their note, and hornpipe
        # pairs are found by the note's nominal place in the bar. None: the literal score.
        self.perform = perform
        self.ornament: str | None = None
        self.position = 0  # nominal units since the last bar line (performed reading only)
        self.pair_head: list | None = None  # a swing pair's first note, waiting for its second
        self.signature = key.signature or {}
        self.octave_shift = 12 * (key.octave or 0)
        self.meter = meter
        self.unit = unit
        self.warn = warn
        self.switch: str | None = None  # the voice an inline [V:] field switched to
        self.bar_accidentals: dict[str, int] = {}  # letter -> shift until the bar line
        self.tie_carry: dict[int, int] = {}  # natural pitch -> pitch tied from the last slot
        self.last_slot: list | None = None
        self.last_naturals: tuple = ()  # the written (natural) pitches of last_slot, for a late tie
        self.program = 0  # %%MIDI program of this voice
        self.drum = False  # %%MIDI channel 10
        # While a voice overlay ('&') is scanned: the voice's own items, and where its bar starts.
        self.main_items: list | None = None
        self.overlay_at = 0
        self.broken: tuple[int, int] | None = None  # factor for the next slot
        self.tuplet_left = 0
        self.tuplet_factor = (1, 1)
        self.line = 0

    def first_note(self) -> tuple[int, int] | None:
        """(line, column) of this voice's first note, None when it has none."""
        return next(((item[4], item[5]) for item in self.items if item[0] == SLOT and item[2]), None)

    # -- fields --------------------------------------------------------------------------
    def field(self, letter: str, value: str, line: int, column: int) -> str:
        """Apply a body field; returns music text left after an M: value ('M:6/8 abc|')."""
        try:
            if letter == "V":
                self.switch = value.split()[0] if value.split() else ""
                return ""
            if letter == "K":
                key = parse_key(value)
                if key.octave is not None:
                    self.octave_shift = 12 * key.octave
                if key.signature is not None:
                    self.signature = key.signature
                    # A new key in mid-bar ends the bar's accidentals, as abc2midi plays it.
                    self.bar_accidentals = {}
                    self.budget.spend_mark(line, column)
                    self.items.append((KEY, key))
            elif letter == "M":
                meter, rest = parse_meter(value)
                self.meter = meter
                self.budget.spend_mark(line, column)
                self.items.append((METER, meter))
                return rest
            elif letter == "L":
                self.unit = parse_unit(value)
            elif letter == "P":
                name = value.strip()[:1].upper()
                if name.isalpha():
                    self.budget.spend_mark(line, column)
                    self.items.append((PART, name))
            elif letter == "Q":
                qpm = parse_tempo(value, self.unit)
                if qpm is not None:
                    self.budget.spend_mark(line, column)
                    self.items.append((TEMPO, qpm))
        except FieldError as error:
            self.warn(MusicError(f"{error}; field ignored", line=line, column=column))
        return ""

    # -- music -------------------------------------------------------------------------
    def scan(self, text: str, line: int, offset: int = 0) -> int:
        """Scan one music line (`offset` characters into its file line).

        Returns where it stopped: the end, or just after an inline [V:] field, where the
        caller goes on with the scanner of that voice (`switch`).
        """
        self.line = line
        i, n = 0, len(text)
        items = self.items
        plain_note = _PLAIN_NOTE_RE.match
        literal = self.perform is None
        budget = self.budget
        while i < n:
            c = text[i]
            if c in _NATURALS and literal and self.broken is None and not self.tuplet_left and not self.tie_carry:
                # The common case, inlined for speed: a note with no accidental, broken
                # rhythm, tuplet or tie before it (`_note` handles all the others).
                match = plain_note(text, i + 1)
                octave, digits, slashes, denominator, tie = match.groups()
                natural = _NATURALS[c] + self.octave_shift
                if octave:
                    natural += 12 * (octave.count("'") - octave.count(","))
                upper = _UPPER[c]
                shift = self.bar_accidentals.get(upper)
                pitch = natural + (self.signature.get(upper, 0) if shift is None else shift)
                if not slashes and (not digits or len(digits) < 4 and digits[0] != "0"):
                    units = self.unit * int(digits) if digits else self.unit  # 'A', 'A2'
                else:
                    units = self._length_of(digits, slashes, denominator, i, offset)
                if 0 <= pitch <= 127:
                    slot = [SLOT, units, (pitch,), (True,) if tie else UNTIED, line, i + offset + 1]
                    self.last_naturals = (natural,)
                    if tie:
                        self.tie_carry = {natural: pitch}
                else:
                    self._warn("note outside the MIDI pitch range dropped", i + offset)
                    slot = [SLOT, units, (), (), line, i + offset + 1]
                budget.slots -= 1  # TuneBudget.spend_slot, inlined with the rest
                if budget.slots < 0:
                    raise too_many_notes(line, i + offset + 1)
                items.append(slot)
                self.last_slot = slot
                i = match.end()
            elif c in "ABCDEFGabcdefg^_=":
                i = self._note(text, i, offset)
            elif c == "|" and (i + 1 == n or text[i + 1] not in _BAR_FOLLOWERS):
                self.bar_accidentals = {}  # a plain '|', the most common bar line
                if not literal:
                    self.position, self.pair_head = 0, None
                if self.main_items is not None:
                    items = self._end_overlay()
                budget.bars -= 1  # TuneBudget.spend_bar, inlined
                if budget.bars < 0:
                    raise too_many_bars(line, i + offset + 1)
                items.append(_SINGLE_BAR_ITEM)
                i += 1
            elif c == "|" or c == ":":
                i = self._bar(text, i, offset)
                items = self.items  # a bar line ends an overlay
            elif c in _SKIP_CHARS:
                i += 1
            elif c == "[":
                i = self._bracket(text, i, offset)
                items = self.items
                if self.switch is not None:
                    return i
            elif c in "zx":
                match = _LENGTH_RE.match(text, i + 1)
                units = self._length(match, i, offset)
                self._slot(units, (), (), i + offset)
                if self.perform is not None:
                    self.position, self.pair_head, self.ornament = self.position + units, None, None
                i = match.end()
            elif c == "-":
                self._late_tie()
                i += 1
            elif c in "<>":
                i = self._broken(text, i, offset)
            elif c == "(":
                i = self._paren(text, i, offset)
            elif c == '"':
                end = text.find('"', i + 1)
                if end < 0:
                    self._warn("unterminated quoted text", i + offset)
                    return n
                i = end + 1
            elif c == "{":
                end = text.find("}", i + 1)
                if end < 0:
                    self._warn("unterminated grace notes", i + offset)
                    return n
                i = end + 1
            elif c == "!" or c == "+":
                match = _DECORATION_RE.match(text, i)
                # "!trill!" is a decoration; a lone "!" (end of line in old files) a line break.
                if match and (match.group(1) or match.group(2)) in LEVELS:
                    items.append((DYNAMIC, LEVELS[match.group(1) or match.group(2)]))
                elif match and self.perform is not None:
                    self.ornament = max(self.ornament, _NAMED_ORNAMENTS.get(match.group(1) or match.group(2)),
                                        key=_ORNAMENT_RANK.__getitem__)
                i = match.end() if match else i + 1
            elif c in "MKLQ" and i + 1 < n and text[i + 1] == ":" and (i == 0 or text[i - 1] in " \t|"):
                match = _BARE_FIELD_RE.match(text, i)
                self.field(c, match.group(2), line, i + offset + 1)
                i = match.end()
            elif c in _DECORATION_CHARS:
                if self.perform is not None:
                    self.ornament = max(self.ornament, _ORNAMENT_CHARS.get(c), key=_ORNAMENT_RANK.__getitem__)
                i += 1
            elif c in "ZX":
                match = _LENGTH_RE.match(text, i + 1)
                bars = number(match.group(1)) if match.group(1) else 1
                if bars > MAX_NUMBER:
                    raise MusicError(f"multi-bar rest of {bars} bars is too long", line=line, column=i + offset + 1)
                if not self.meter.free:
                    self._slot(bars * self.meter.bar_units, (), (), i + offset, plain=True)
                i = match.end()
            elif c == "%":
                return n
            elif c == "&":
                items = self._start_overlay()
                i += 1
            elif c == "]":
                i += 1
            else:
                self._warn(f"unexpected character {c!r} ignored", i + offset)
                i += 1
        return n

    def finish(self) -> None:
        """End of the tune: an overlay still open ends here."""
        if self.main_items is not None:
            self._end_overlay()

    def _start_overlay(self) -> list:
        """'&': the notes up to the bar line sound from the start of the bar, beside those
        before the '&' (abc2midi's voice overlay); each '&' of a bar starts one more line."""
        if self.main_items is None:
            main = self.main_items = self.items
            index = len(main)
            while index > 0 and not (main[index - 1].__class__ is tuple and main[index - 1][0] == BAR):
                index -= 1
            self.overlay_at = index
        else:
            self._close_overlay()
        self.items = []
        self.last_slot = None
        self.tie_carry = {}
        return self.items

    def _close_overlay(self) -> None:
        self.budget.spend_mark(self.line, 1)
        overlay = tuple(item for item in self.items if item[0] == SLOT)
        self.main_items.insert(self.overlay_at, (OVERLAY, overlay))

    def _end_overlay(self) -> list:
        """Back to the voice's own items at the bar line that ends an overlay."""
        self._close_overlay()
        self.items, self.main_items = self.main_items, None
        self.last_slot = None
        self.tie_carry = {}
        return self.items

    def _late_tie(self) -> None:
        """A '-' not glued to its note ('G2 -G', 'G2{A}-G', 'G>-G'): abc2midi ties the last
        note or chord all the same, unless a rest came after it."""
        slot = self.last_slot
        if slot is None or not slot[2] or all(slot[3]):
            return
        slot[3] = (True,) * len(slot[2])
        # After a bar line ('^G2|-G') the accidental is not carried: the next note ties only
        # if it has the same pitch, as abc2midi reads it.
        index = len(self.items) - 1
        while self.items[index] is not slot:
            if self.items[index][0] == BAR:
                return
            index -= 1
        self.tie_carry = dict(zip(self.last_naturals, slot[2]))

    def _warn(self, message: str, index: int) -> None:
        self.warn(MusicError(message, line=self.line, column=index + 1))

    def _length(self, match: re.Match, index: int, offset: int) -> int:
        """The units of a length suffix ('', '2', '/', '//', '3/2', '/4') times the unit."""
        return self._length_of(match.group(1), match.group(2), match.group(3), index, offset)

    def _length_of(self, digits: str, slashes: str, denominator: str, index: int, offset: int) -> int:
        if not slashes:
            if not digits:
                return self.unit
            top, bottom = number(digits), 1
        else:
            top = number(digits) if digits else 1
            if len(slashes) > 12:
                bottom = 0
            elif denominator:
                bottom = number(denominator) << (len(slashes) - 1)
            else:
                bottom = 1 << len(slashes)
        if top > MAX_NUMBER or bottom > MAX_NUMBER or top == 0 or bottom == 0:
            raise MusicError(f"impossible note length {shown(digits + slashes + denominator)!r}",
                             line=self.line, column=index + offset + 1)
        return self.unit * top // bottom

    def _pitch(self, match: re.Match) -> tuple[int, int]:
        """(pitch, natural pitch) of a note match, updating the bar's accidentals."""
        accidental, letter, octave = match.group(1), match.group(2), match.group(3)
        upper = letter.upper()
        natural = _SEMITONE[upper] + (60 if letter == upper else 72) + self.octave_shift
        if octave:
            natural += 12 * (octave.count("'") - octave.count(","))
        if accidental is not None:
            shift = _SHIFT.get(accidental, 0)
            self.bar_accidentals[upper] = shift
        elif natural in self.tie_carry:
            return self.tie_carry[natural], natural
        else:
            shift = self.bar_accidentals.get(upper)
            if shift is None:
                shift = self.signature.get(upper, 0)
        return natural + shift, natural

    def _note(self, text: str, i: int, offset: int) -> int:
        match = _NOTE_RE.match(text, i)
        if match is None:
            self._warn(f"accidental {text[i]!r} without a note", i + offset)
            return i + 1
        pitch, natural = self._pitch(match)
        digits, slashes, denominator = match.group(4, 5, 6)
        if digits or slashes:
            units = self._length_of(digits, slashes, denominator, i, offset)
        else:
            units = self.unit
        end = match.end()
        tie = end < len(text) and text[end] == "-"
        if not 0 <= pitch <= 127:
            self._warn("note outside the MIDI pitch range dropped", i + offset)
            self._slot(units, (), (), i + offset)
        elif self.perform is not None:
            self._performed_slot(units, pitch, natural, match.group(2), tie, i + offset)
        else:
            self._slot(units, (pitch,), (True,) if tie else UNTIED, i + offset, (natural,))
        return end + 1 if tie else end

    def _performed_slot(self, units: int, pitch: int, natural: int, letter: str, tie: bool, column: int) -> None:
        """A note of the performed reading: its ornament (with the neighbours the key signature
        gives, as abc2midi takes them) and its part in a hornpipe pair."""
        ornament, self.ornament = self.ornament, None
        in_tuplet = self.tuplet_left > 0
        self._slot(units, (pitch,), (True,) if tie else _UNTIED_PERFORMED, column, (natural,))
        slot = self.last_slot
        if ornament is not None:
            index = _LETTERS.index(letter.upper())
            up_letter, down_letter = _LETTERS[(index + 1) % 7], _LETTERS[(index - 1) % 7]
            up = natural + (_SEMITONE[up_letter] - _SEMITONE[letter.upper()]) % 12 + self.signature.get(up_letter, 0)
            down = natural - (_SEMITONE[letter.upper()] - _SEMITONE[down_letter]) % 12 \
                + self.signature.get(down_letter, 0)
            slot.append((ornament, up, down, self.unit))
        if in_tuplet:
            self.position, self.pair_head = self.position + slot[1], None
        else:
            self._swing(slot, units, ornament)

    def _swing(self, slot: list, nominal: int, ornament: str | None) -> None:
        """Hornpipe swing: two notes of an eighth of the bar each, the first on an even eighth
        from the bar line, play 2:1 (whatever broken rhythm was written between them). Positions
        count written lengths, before broken rhythm."""
        swing = self.perform.swing if self.perform is not None else 0
        position = self.position
        self.position += nominal
        head, self.pair_head = self.pair_head, None
        if not swing or ornament == "staccato" or nominal != swing:
            return
        if head is not None and head[1] + slot[1] == 2 * swing and position % (2 * swing) == swing:
            head[1], slot[1] = 4 * swing // 3, 2 * swing // 3
            self.broken = None
        elif position % (2 * swing) == 0:
            self.pair_head = slot

    def _slot(self, units: int, pitches: tuple, ties: tuple, column: int,
              naturals: tuple = (), plain: bool = False) -> None:
        if not plain:
            if self.broken is not None:
                units = units * self.broken[0] // self.broken[1]
                self.broken = None
            if self.tuplet_left:
                units = units * self.tuplet_factor[0] // self.tuplet_factor[1]
                self.tuplet_left -= 1
        self.budget.spend_slot(self.line, column + 1)
        slot = [SLOT, units, pitches, ties, self.line, column + 1]
        self.items.append(slot)
        self.last_slot = slot
        self.last_naturals = naturals
        if True in ties:
            self.tie_carry = {natural: pitch for natural, pitch, tie in zip(naturals, pitches, ties) if tie}
        elif self.tie_carry:
            self.tie_carry = {}

    def _bar(self, text: str, i: int, offset: int) -> int:
        match = _BAR_RE.match(text, i)
        token = match.group(0)
        end = match.end()
        kind = _bar_kind(token)
        if kind is None:
            self._warn(f"unknown bar line {shown(token)!r} ignored", i + offset)
            return end
        self.bar_accidentals = {}
        self.position, self.pair_head = 0, None
        if self.main_items is not None:
            self._end_overlay()
        self.budget.spend_bar(self.line, i + offset + 1)
        self.items.append((BAR, kind))
        variant = _VARIANT_RE.match(text, end)
        if variant and (variant.group(0)[0] != "[" or kind != THIN_THICK):
            self._variant(variant.group(1), i + offset)
            end = variant.end()
        return end

    def _variant(self, numbers: str, column: int) -> None:
        self.budget.spend_mark(self.line, column + 1)
        passes: set[int] = set()
        for part in numbers.split(","):
            if "-" in part:
                low, _, high = part.partition("-")
                if low and high and number(high) - number(low) < 64:
                    passes.update(range(number(low), number(high) + 1))
            elif part:
                passes.add(number(part))
        self.items.append((VARIANT, frozenset(passes)))

    def _bracket(self, text: str, i: int, offset: int) -> int:
        following = text[i + 1] if i + 1 < len(text) else ""
        if following == "|":
            return self._bar(text, i, offset)
        if following.isdigit():
            match = _VARIANT_RE.match(text, i)
            self._variant(match.group(1), i + offset)
            return match.end()
        if following.isalpha() and i + 2 < len(text) and text[i + 2] == ":":
            match = _INLINE_FIELD_RE.match(text, i)
            rest = self.field(match.group(1), match.group(2), self.line, i + offset + 1)
            if rest.strip():
                self._warn(f"unexpected text {shown(rest.strip())!r} in inline field", i + offset)
            return match.end()
        return self._chord(text, i, offset)

    def _chord(self, text: str, i: int, offset: int) -> int:
        start, n = i, len(text)
        i += 1
        pitches: list[int] = []
        naturals: list[int] = []
        ties: list[bool] = []
        first_units = None
        carry = self.tie_carry
        while i < n and text[i] != "]":
            c = text[i]
            if c in "ABCDEFGabcdefg^_=":
                match = _NOTE_RE.match(text, i)
                if match is None:
                    i += 1
                    continue
                self.tie_carry = carry
                pitch, natural = self._pitch(match)
                units = self._length(_LENGTH_RE.match(text, match.start(4)), i, offset)
                if first_units is None:
                    first_units = units
                i = match.end()
                tie = i < n and text[i] == "-"
                if tie:
                    i += 1
                if 0 <= pitch <= 127 and pitch not in pitches:
                    pitches.append(pitch)
                    naturals.append(natural)
                    ties.append(tie)
            elif c == '"':
                end = text.find('"', i + 1)
                i = n if end < 0 else end + 1
            elif c == "!" or c == "+":
                match = _DECORATION_RE.match(text, i)
                i = match.end() if match else i + 1
            elif c in "zx":
                i = _LENGTH_RE.match(text, i + 1).end()
            else:
                i += 1
        if i >= n:
            self._warn("chord without ']'", start + offset)
            return n
        match = _LENGTH_RE.match(text, i + 1)
        end = match.end()
        if first_units is None:
            return end  # an empty chord
        multiplier = self._length(match, start, offset)
        units = first_units * multiplier // self.unit
        if end < n and text[end] == "-":
            ties = [True] * len(ties)
            end += 1
        self._slot(units, tuple(pitches), tuple(ties), start + offset, tuple(naturals))
        if self.perform is not None:  # abc2midi plays no ornament on a chord, staccato included
            self.position, self.pair_head, self.ornament = self.position + units, None, None
        return end

    def _broken(self, text: str, i: int, offset: int) -> int:
        c = text[i]
        count = 1
        while i + count < len(text) and text[i + count] == c:
            count += 1
        if self.last_slot is None or count > _MAX_BROKEN:
            self._warn(f"broken rhythm {shown(c * count)!r} ignored", i + offset)
            return i + count
        power = 1 << count
        longer, shorter = (2 * power - 1, power), (1, power)
        before, after = (longer, shorter) if c == ">" else (shorter, longer)
        self.last_slot[1] = self.last_slot[1] * before[0] // before[1]
        self.broken = after
        return i + count

    def _paren(self, text: str, i: int, offset: int) -> int:
        match = _TUPLET_RE.match(text, i)
        if match is None:
            return i + 1  # a slur
        p = number(match.group(1))
        q = number(match.group(2)) if match.group(2) else 0
        r = number(match.group(3)) if match.group(3) else p
        if not (2 <= p <= 64 and 0 <= q <= 64 and 1 <= r <= 64):
            self._warn(f"tuplet {shown(match.group(0))!r} ignored", i + offset)
            return match.end()
        if q == 0:
            q = 3 if p in (2, 4, 8) else 2 if p in (3, 6) else (3 if self.meter.compound else 2)
        self.tuplet_factor = (q, p)
        self.tuplet_left = r
        return match.end()


def _bar_kind(token: str) -> int | None:
    """The bar kind of a run of '|', ':', '[' and ']' characters."""
    if not token or "|" not in token and token.strip(":"):
        return None
    stripped = token.strip("[]")
    starts, ends = stripped.endswith(":"), stripped.startswith(":")
    if starts and ends or (stripped and set(stripped) == {":"}):
        return DOUBLE_REP if len(stripped) > 1 else None
    if ends:
        return REP_BAR
    if starts:
        return BAR_REP
    if token.startswith("[|"):
        return THICK_THIN
    if token.endswith("|]") or token.endswith("]"):
        return THIN_THICK
    if "||" in token:
        return DOUBLE_BAR
    return SINGLE_BAR
