"""ABC header fields: the values of K: (key), M: (meter), L: (unit length) and Q: (tempo).

Lengths are integers in `WHOLE` units per whole note, a number divisible by every note length
folk ABC writes (down to 1/1024 notes, and tuplets of 3, 5, 7, 9, 11 and 13), so that the
reader adds times exactly with integers and rounds to melody's tick grid only once, at the end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WHOLE = 2**10 * 3**3 * 5**2 * 7 * 11 * 13  # units per whole note
MAX_NUMBER = 4096  # a length factor, meter or tuplet number beyond this is not music

# Position of each natural on the circle of fifths, and the order sharps (flats reversed) come in.
_LETTER_FIFTHS = {"F": -1, "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5}
_SHARP_ORDER = "FCGDAEB"
_LETTER_SEMITONE = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# Mode name prefix -> (melody mode name, fifths relative to major with the same tonic).
_MODES = {
    "maj": ("major", 0), "ion": ("major", 0), "m": ("minor", -3), "min": ("minor", -3),
    "aeo": ("minor", -3), "dor": ("dorian", -2), "phr": ("phrygian", -4),
    "lyd": ("lydian", 1), "mix": ("mixolydian", -1), "loc": ("locrian", -5),
}
_ACCIDENTAL_SHIFT = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}
_KEY_RE = re.compile(r"\s*(?:(HP|Hp)|([A-Ga-g])([#b]?))\s*")
_LETTERS_RE = re.compile(r"[A-Za-z]*")
_KEY_ACCIDENTAL_RE = re.compile(r"(\^\^|\^|__|_|=)([A-Ga-g])")


def shown(text: str) -> str:
    """`text` short enough for a one-line message."""
    return text if len(text) <= 24 else text[:20] + "..."


def number(digits: str) -> int:
    """The integer a run of digits writes, capped at 10**9: ABC never needs more digits, and
    Python refuses to convert thousands of them."""
    return int(digits) if len(digits) <= 9 else 10**9


class FieldError(ValueError):
    """A field value that cannot be read; the reader adds the position.

    `fatal` when the tune cannot be played at all with it (L:0/0, M:0/4, lengths out of range).
    """

    def __init__(self, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A K: field: the key signature as a letter -> semitone shift map, and the named key."""

    signature: dict[str, int] | None  # uppercase letter -> -2..2; None: K: names no key
    tonic: int | None  # pitch class, None for K:none and keys melody cannot name
    mode: str = "major"
    octave: int | None = None  # octaves to shift notes by ('treble-8', 'octave=-1'); None: as before


_CLEF_RE = re.compile(r"(?:clef=)?(treble|bass|alto|tenor|baritone|soprano|mezzosoprano|perc|none)"
                      r"[0-9]?(?:([+-])(8|15))?$")


def _octave(words: list[str]) -> int | None:
    """The octave shift 'treble-8', 'clef=bass+8' or 'octave=N' asks for; None if none does.

    As abc2midi: a plain clef ('bass', 'clef=treble') leaves the octave as it was.
    """
    octave = None
    for word in words:
        lowered = word.lower()
        if lowered.startswith("octave="):
            try:
                octave = max(-4, min(4, number(lowered[7:])))
            except ValueError:
                pass
            continue
        match = _CLEF_RE.match(lowered)
        if match and match.group(2):
            octave = (1 if match.group(2) == "+" else -1) * (1 if match.group(3) == "8" else 2)
    return octave


# K: settings written name=value; a word such as 'Dmix=c' is a key with an accidental glued on.
_SETTING_RE = re.compile(r"(clef|middle|m|transpose|octave|stafflines|staffscale|cue|instrument|"
                         r"t|shift|score|sound)=", re.IGNORECASE)


def _is_clef(word: str) -> bool:
    return bool(_CLEF_RE.match(word.lower())) and word.lower() != "none" or bool(_SETTING_RE.match(word))


def parse_key(value: str) -> KeySpec:
    """Read a K: value such as 'D Major', 'Ador', 'F#m', 'D exp ^f ^c', 'HP' or 'none'."""
    text = value.split("%", 1)[0].strip()
    words = text.split()
    octave = _octave(words)
    if words and _is_clef(words[0]):
        return KeySpec(None, None, octave=octave)  # only a clef or settings: the key stays
    if not words or words[0].lower() == "none":
        return KeySpec(_explicit({}, words[1:]), None, octave=octave)
    match = _KEY_RE.match(text)
    if match is None or match.end() == 0:
        raise FieldError(f"unknown key {shown(text)!r}")
    if match.group(1):  # highland pipes: F# and C#, G natural (A mixolydian)
        return KeySpec(_explicit({"F": 1, "C": 1}, text[match.end():].split()), 9, "mixolydian", octave)
    letter, accidental = match.group(2).upper(), match.group(3)
    rest = text[match.end():]
    mode_word = rest.split()[0] if rest.split() else ""
    mode, shift = "major", 0
    words = rest.split()
    # Explicit accidentals may be glued to the mode ('Dmix=c', 'Ador^g'): read them apart.
    letters = _LETTERS_RE.match(mode_word).group(0)
    glued = mode_word[len(letters):]
    lowered = letters.lower()
    found = _MODES.get("m") if lowered == "m" else _MODES.get(lowered[:3]) if len(lowered) >= 3 else None
    if found is not None and lowered[:3] != "exp":
        mode, shift = found
        words = ([glued] if glued else []) + words[1:]
    fifths = _LETTER_FIFTHS[letter] + {"#": 7, "b": -7, "": 0}[accidental] + shift
    signature = _signature(fifths)
    tonic = (_LETTER_SEMITONE[letter] + {"#": 1, "b": -1, "": 0}[accidental]) % 12
    if words and words[0].lower() == "exp":
        signature, words = {}, words[1:]
    return KeySpec(_explicit(signature, words), tonic, mode, octave)


def _signature(fifths: int) -> dict[str, int]:
    """The letters a key signature of `fifths` sharps (negative: flats) alters."""
    signature: dict[str, int] = {}
    for index in range(min(abs(fifths), 14)):
        if fifths > 0:
            letter = _SHARP_ORDER[index % 7]
            signature[letter] = signature.get(letter, 0) + 1
        else:
            letter = _SHARP_ORDER[6 - index % 7]
            signature[letter] = signature.get(letter, 0) - 1
    return signature


def _explicit(signature: dict[str, int], words: list[str]) -> dict[str, int]:
    """The signature with explicit accidentals ('^f', '_b', '=c') applied; other words ignored."""
    signature = dict(signature)
    for word in words:
        if "=" in word[1:]:
            continue  # a setting such as clef=bass or transpose=-2
        # '^f ^c' or run together as '^f^c'
        for accidental, letter in _KEY_ACCIDENTAL_RE.findall(word):
            signature[letter.upper()] = _ACCIDENTAL_SHIFT[accidental]
    return signature


@dataclass(frozen=True, slots=True)
class Meter:
    """An M: field: numerator/denominator; `free` for M:none (no bars)."""

    numerator: int
    denominator: int
    free: bool = False

    @property
    def bar_units(self) -> int:
        return WHOLE * self.numerator // self.denominator

    @property
    def compound(self) -> bool:
        """6/8, 9/8, 12/8...: tuplets of 5, 7, 9 then default to 3 notes' time."""
        return self.numerator % 3 == 0 and self.numerator > 3


FREE_METER = Meter(4, 4, free=True)
_METER_RE = re.compile(r"\s*(C\|?|none|\(?[0-9+]{1,40}\)?/[0-9]{1,12}|[0-9]{1,12})")


def parse_meter(value: str) -> tuple[Meter, str]:
    """Read an M: value ('6/8', 'C', 'C|', '2+3/8', 'none'); also returns text left after it."""
    text = value.split("%", 1)[0]
    match = _METER_RE.match(text)
    if match is None:
        if not text.strip():
            return FREE_METER, ""
        raise FieldError(f"unknown meter {shown(text.strip())!r}")
    token = match.group(1).replace(" ", "")
    rest = text[match.end():]
    if token == "none":
        return FREE_METER, rest
    if token == "C":
        return Meter(4, 4), rest
    if token == "C|":
        return Meter(2, 2), rest
    if "/" not in token:
        raise FieldError(f"meter {shown(token)!r} has no denominator")
    top, bottom = token.split("/")
    try:
        numerator = sum(number(part) for part in top.strip("()").split("+"))
        denominator = number(bottom)
    except ValueError:
        raise FieldError(f"unknown meter {shown(token)!r}") from None
    if numerator <= 0 or denominator <= 0:
        raise FieldError(f"impossible meter {shown(token)!r}", fatal=True)
    if numerator > MAX_NUMBER or denominator > MAX_NUMBER:
        raise FieldError(f"meter {shown(token)!r} is too large", fatal=True)
    return Meter(numerator, denominator), rest


def default_unit(meter: Meter) -> int:
    """The unit note length the standard implies: 1/16 below a 3/4 meter, else 1/8."""
    if not meter.free and 4 * meter.numerator < 3 * meter.denominator:
        return WHOLE // 16
    return WHOLE // 8


_FRACTION_RE = re.compile(r"\s*([0-9]+)\s*/\s*([0-9]+)")


def parse_fraction(text: str, what: str) -> tuple[int, int]:
    """An 'a/b' fraction (as in L:1/8) as two positive integers."""
    match = _FRACTION_RE.match(text)
    if match is None:
        if text.strip().isdigit():
            numerator, denominator = number(text.strip()), 1
        else:
            raise FieldError(f"unknown {what} {shown(text.strip())!r}")
    else:
        numerator, denominator = number(match.group(1)), number(match.group(2))
    if numerator <= 0 or denominator <= 0:
        raise FieldError(f"impossible {what} {shown(text.strip())!r}", fatal=True)
    if numerator > MAX_NUMBER or denominator > MAX_NUMBER:
        raise FieldError(f"{what} {shown(text.strip())!r} is too large", fatal=True)
    return numerator, denominator


def parse_unit(value: str) -> int:
    """Read an L: value ('1/8') as a length in WHOLE units."""
    numerator, denominator = parse_fraction(value.split("%", 1)[0], "unit note length")
    return max(1, WHOLE * numerator // denominator)


_BEAT_RE = re.compile(r"([0-9]{1,9})/([0-9]{1,9})$")
_OLD_BEAT_RE = re.compile(r"C([0-9]{0,9})$")


def parse_tempo(value: str, unit: int) -> float | None:
    """Read a Q: value as quarter notes per minute ('1/4=120', '120', '"Allegro" 3/8=60', 'C=90').

    None when it names no speed (Q:"Allegro" alone).
    """
    text = re.sub(r'"[^"]*"', " ", value.split("%", 1)[0]).strip()
    if not text:
        return None
    beats, equals, speed = text.partition("=")
    words = beats.replace(" /", "/").replace("/ ", "/").split()
    try:
        if not equals:  # Q:120: unit lengths per minute (ABC 1.6)
            qpm = float(words[0]) * unit / WHOLE * 4
        else:
            per_minute = float(speed.split()[0])
            old = _OLD_BEAT_RE.match(words[-1]) if words else None
            if old:  # Q:C=120 or Q:C2=60: beats of the unit length (times a factor)
                beat = number(old.group(1) or "1") * unit / WHOLE
            else:  # Q:1/4=120, Q:1/8 3/8=40: the beat is the sum of the fractions
                fractions = [_BEAT_RE.match(word) for word in words]
                if not fractions or None in fractions or any(m.group(2) == "0" for m in fractions):
                    raise ValueError
                beat = sum(number(m.group(1)) / number(m.group(2)) for m in fractions)
            qpm = per_minute * beat * 4
    except (ValueError, IndexError):
        raise FieldError(f"unknown tempo {shown(value.strip())!r}") from None
    if not 1 <= qpm <= 10000:
        raise FieldError(f"tempo {shown(value.strip())!r} is out of range")
    return qpm
