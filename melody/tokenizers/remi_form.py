"""The form of a remi sequence: its bars, the copies that say "play bars i..j again", and the
fill-in-the-middle rearrangement that infilling trains on.

Folk tunes are built of parts that come back (AABB), and a model that must write a returning
part out note by note, a hundred tokens later, rarely does. So remi can say it in two tokens,
the way folk-rnn's ABC repeat signs do, but for any music and without relying on the notation:

    CopyFrom_d CopyBars_k    play again the k bars that began d bars before this point

A copy stands where a `Bar` token could: after a complete bar. It is an exact replay of those
bars' tokens, so it is lossless; the encoder finds copies greedily (the longest block, then
the nearest), like LZ77 at the grain of bars, and the decoder expands them. Copies overlap
freely (d < k repeats a short figure). Only *plain* bars are copied: no meter, key or tempo
token inside, and the same bar length, program and dynamics in force where the copy starts
as where its source started, so the replay means the same notes.

Infilling (`infill_parts`) cuts a tune at two bar lines and writes it as

    BOS prefix Infill_Suffix suffix Infill_Middle middle EOS

where the suffix restates the meter, key and tempo in force at its first bar, so a model that
reads it knows the music it must lead into. The grammar, at `Infill_Middle`, goes back to
where the prefix ended; the decoder reads prefix and middle and skips the suffix (the caller
puts the original suffix back).

The countdown (`countdown_tokens`) tells a model how far the end is: before every bar of a
tune but the first (before its Bar token, or before the copy that plays it)

    BarsLeft_n      n bars to go, this one included (n up to `MAX_COUNTDOWN`)

A recurrent network cannot count 32 bars by itself, and a folk tune is planned from its end:
the B part closes on the tonic because it closes the tune, the last bar is a cadence. With
the countdown the model reads, at every bar, how many are left; it chooses the length once,
at the end of the first bar (the first countdown), or is told it (`--bars`), and the grammar
counts the rest. (A countdown of the last eight bars only was tried first: the model then
had to choose the bar to start it at, and that is counting again; it ran on to the length
limit more often than without, and ended no more often at home.) The first bar never
carries one (whether it is a pickup is not known yet there); a tune longer than
`MAX_COUNTDOWN` + 1 bars starts it `MAX_COUNTDOWN` bars from its end; an infilling example
has none (its middle is bounded by its suffix, not a count). `split_bars` drops the
countdown, so everything built from bars (copies, windows, infilling) works on the music
alone and adds the countdown back at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from melody.tokenizers.base import BOS, EOS, Tokenizer
from melody.tokenizers.remi_kinds import (BAR, COPY_BARS, COPY_FROM, COUNTDOWN, INFILL, KEY, POSITION, PROGRAM,
                                          SPECIAL, TEMPO, TIMESIG, VELOCITY)

# The functions take the remi tokenizer (melody.tokenizers.remi.REMI, which imports this
# module): its `kind`, `value`, `first`, `meters` and `default_velocity_level`.
REMI = Tokenizer

MAX_COPY_BACK = 32  # bars a copy may reach back: two 16-bar parts
MAX_COPY_BARS = 16  # bars one copy may replay
MIN_COPY_BARS = 2  # a one-bar copy saves little and gives the model one more choice per bar
SUFFIX, MIDDLE = 0, 1  # the values of Infill_Suffix and Infill_Middle
MAX_COUNTDOWN = 64  # the longest countdown: a whole folk tune of two 16-bar parts played twice


@dataclass(frozen=True)
class BarInfo:
    """What a copy of one bar needs to know: may it be copied, and what is in force at its start."""

    length: int  # ticks
    plain: bool  # no meter, key or tempo token inside
    program: int  # in force at the bar line
    velocity: int  # the velocity level in force at the bar line (-1: the default)


def split_bars(tokenizer: REMI, ids: Sequence[int]) -> tuple[list[int], list[list[int]], list[BarInfo]]:
    """(the tokens before the first Bar, each bar's tokens from its Bar token on, their infos).

    `ids` must hold no copy tokens (expand them first); EOS and anything after it is dropped,
    and so is the countdown (it says where the tune ends, not what a bar holds).
    """
    kinds, values = tokenizer.kind, tokenizer.value
    meter_lengths = [n * 96 // d for n, d in tokenizer.meters]
    head: list[int] = []
    bars: list[list[int]] = []
    infos: list[BarInfo] = []
    program, velocity, length = 0, tokenizer.default_velocity_level, 96
    start_state = (program, velocity)
    plain = True
    for token in ids:
        if token == EOS:
            break
        kind = kinds[token] if 0 <= token < len(kinds) else SPECIAL
        if kind == COUNTDOWN:
            continue
        if kind == BAR:
            if bars:
                infos.append(BarInfo(length, plain, *start_state))
            bars.append([])
            start_state, plain = (program, velocity), True
        elif kind == TIMESIG:
            length = meter_lengths[values[token]]
            plain = False
        elif kind in (KEY, TEMPO):
            plain = False
        elif kind == PROGRAM:
            program = values[token]
        elif kind == VELOCITY:
            velocity = values[token]
        (bars[-1] if bars else head).append(token)
    if bars:
        infos.append(BarInfo(length, plain, *start_state))
    return head, bars, infos


def _copyable(infos: Sequence[BarInfo], source: int, target: int) -> bool:
    a, b = infos[source], infos[target]
    return a.plain and b.plain and (a.length, a.program, a.velocity) == (b.length, b.program, b.velocity)


def copy_tokens(tokenizer: REMI, bars: Sequence[Sequence[int]], infos: Sequence[BarInfo],
                start: int, end: int, history: int) -> list[int]:
    """Bars [start, end) written with copies, which may reach back to bar `history` at most."""
    copy_from, copy_bars = tokenizer.first[COPY_FROM] - 1, tokenizer.first[COPY_BARS] - MIN_COPY_BARS
    out: list[int] = []
    index = start
    while index < end:
        best_bars, best_back = 0, 0
        for back in range(1, min(index - history, MAX_COPY_BACK) + 1):
            count = 0
            while (count < MAX_COPY_BARS and index + count < end and
                   _copyable(infos, index - back + count, index + count) and
                   bars[index - back + count] == bars[index + count]):
                count += 1
            if count > best_bars:
                best_bars, best_back = count, back
        if best_bars >= MIN_COPY_BARS:
            out += [copy_from + best_back, copy_bars + best_bars]
            index += best_bars
        else:
            out += bars[index]
            index += 1
    return out


def with_copies(tokenizer: REMI, ids: Sequence[int]) -> list[int]:
    """An encoded sequence (`[BOS, ..., EOS]`, no copies) with its returning bars as copies."""
    head, bars, infos = split_bars(tokenizer, ids)
    tail = [EOS] if ids and ids[-1] == EOS else []
    return head + copy_tokens(tokenizer, bars, infos, 0, len(bars), 0) + tail


def unit_bars(tokenizer: REMI, ids: Sequence[int]) -> list[tuple[int, int]]:
    """(index in `ids`, bars before it) of every place a bar or a copy begins, after the first
    bar: where a countdown may stand. Bars are counted as the grammar counts them: Bar tokens,
    the bars copies replay, and meter changes that cut a bar (a cut is counted, but a countdown
    never stands before one)."""
    kinds, values = tokenizer.kind, tokenizer.value
    units: list[tuple[int, int]] = []
    bars = 0
    previous = SPECIAL
    for index, token in enumerate(ids):
        kind = kinds[token] if 0 <= token < len(kinds) else SPECIAL
        if kind == BAR or kind == COPY_FROM:
            if bars >= 1:
                units.append((index, bars))
            bars += kind == BAR
        elif kind == COPY_BARS:
            bars += values[token]
        elif kind == TIMESIG and previous == POSITION and values[ids[index - 1]] > 0:
            bars += 1
        if kind != COUNTDOWN:
            previous = kind
    return units + [(len(ids), bars)]


def without_countdown(tokenizer: REMI, ids: Sequence[int]) -> list[int]:
    """`ids` with every countdown token taken out."""
    kinds = tokenizer.kind
    return [token for token in ids if not (0 <= token < len(kinds) and kinds[token] == COUNTDOWN)]


def countdown_tokens(tokenizer: REMI, ids: Sequence[int], after: int = 0) -> list[int]:
    """`ids` (`[BOS, ..., EOS]`, copies allowed, no infill sentinels) with `BarsLeft_n` before
    every bar or copy after the first that has 1..`MAX_COUNTDOWN` bars to go (any countdown
    already there is replaced), counting `after` more bars to come after the sequence's own
    (a prime whose piece goes on)."""
    ids = without_countdown(tokenizer, ids)
    units = unit_bars(tokenizer, ids)
    total = units[-1][1] + after
    first = tokenizer.first[COUNTDOWN] - 1  # BarsLeft_n is first + n
    out: list[int] = []
    start = 0
    for index, bars in units[:-1]:
        out += ids[start:index]
        if 1 <= total - bars <= MAX_COUNTDOWN:
            out.append(first + total - bars)
        start = index
    return out + ids[start:]


def header_in_force(tokenizer: REMI, bars: Sequence[Sequence[int]], index: int) -> tuple[int | None, ...]:
    """The TimeSig, Key and Tempo token ids in force at the start of bar `index` (None: none yet)."""
    kinds = tokenizer.kind
    meter = key = tempo = None
    for bar in bars[:index]:
        for token in bar:
            kind = kinds[token]
            if kind == TIMESIG:
                meter = token
            elif kind == KEY:
                key = token
            elif kind == TEMPO:
                tempo = token
    return meter, key, tempo


def restated(tokenizer: REMI, bar: Sequence[int], header: tuple[int | None, ...]) -> list[int]:
    """`bar` (from its Bar token) with the meter, key and tempo in force written at its start,
    unless it writes its own: what a window or a suffix opening here needs to read alone."""
    kinds, position0 = tokenizer.kind, tokenizer.first[POSITION]
    meter, key, tempo = header
    rest = list(bar[1:])
    out = [bar[0]]
    if rest and kinds[rest[0]] == TIMESIG:
        out.append(rest.pop(0))
    elif meter is not None:
        out.append(meter)
    at_zero = bool(rest) and rest[0] == position0
    if at_zero:
        rest.pop(0)
    own_key = rest.pop(0) if at_zero and rest and kinds[rest[0]] == KEY else None
    own_tempo = rest.pop(0) if at_zero and rest and kinds[rest[0]] == TEMPO else None
    events = [token for token in (own_key or key, own_tempo or tempo) if token is not None]
    if events or at_zero:
        out += [position0, *events]
    return out + rest


def from_bar(tokenizer: REMI, ids: Sequence[int], bar: int) -> list[int]:
    """`[BOS, ...]`: bars `bar`.. of `ids` alone, the header in force restated at their head and
    copies that reached before them written out (copies among them stay), then EOS if `ids`
    had one."""
    head, bars, infos = split_bars(tokenizer, tokenizer.expand_copies(ids))
    if bar <= 0 or not bars:
        return list(ids)
    bar = min(bar, len(bars) - 1)
    opening = restated(tokenizer, bars[bar], header_in_force(tokenizer, bars, bar))
    rest_bars = [opening, *bars[bar + 1:]]
    rest_infos = [BarInfo(0, False, 0, -1), *infos[bar + 1:]]
    tail = [EOS] if ids and ids[-1] == EOS else []
    return [BOS, *copy_tokens(tokenizer, rest_bars, rest_infos, 0, len(rest_bars), 0), *tail]


def _opening(tokenizer: REMI, bar: Sequence[int]) -> int:
    """How many tokens of a tune's first bar are header: Bar, TimeSig, and Position_0 with its
    Key and Tempo (the Position_0 only when such an event follows it)."""
    kinds, position0 = tokenizer.kind, tokenizer.first[POSITION]
    count = 1
    if count < len(bar) and kinds[bar[count]] == TIMESIG:
        count += 1
    if count + 1 < len(bar) and bar[count] == position0 and kinds[bar[count + 1]] in (KEY, TEMPO):
        count += 1
        while count < len(bar) and kinds[bar[count]] in (KEY, TEMPO):
            count += 1
    return count


def infill_parts(tokenizer: REMI, ids: Sequence[int], first: int, last: int) -> tuple[list[int], list[int], int]:
    """(prime up to and with Infill_Middle, the middle's tokens, the number of bars in the tune)
    for filling bars `first`..`last` (0-based, inclusive) of the sequence `ids` (copies allowed).

    The prime is `BOS prefix Infill_Suffix suffix Infill_Middle`. With `first == 0` the prefix
    is the header of the first bar only, and the middle opens in that bar (the grammar counts
    a bar opened by a header-only prime as the first new one).
    """
    expanded = tokenizer.expand_copies(ids)
    head, bars, infos = split_bars(tokenizer, expanded)
    if not 0 <= first <= last < len(bars):
        raise ValueError(f"bars {first}..{last} are not inside the {len(bars)} bars of the sequence")
    infill = tokenizer.first[INFILL]
    if first == 0:
        cut = _opening(tokenizer, bars[0])
        prefix = head + bars[0][:cut]
        middle = bars[0][cut:] + copy_tokens(tokenizer, bars, infos, 1, last + 1, 1)
    else:
        prefix = head + copy_tokens(tokenizer, bars, infos, 0, first, 0)
        middle = copy_tokens(tokenizer, bars, infos, first, last + 1, 0)
    suffix: list[int] = []
    if last + 1 < len(bars):
        opening = restated(tokenizer, bars[last + 1], header_in_force(tokenizer, bars, last + 1))
        suffix_bars = [opening, *bars[last + 2:]]
        suffix_infos = [BarInfo(0, False, 0, -1), *infos[last + 2:]]  # the restated bar is never copied
        suffix = copy_tokens(tokenizer, suffix_bars, suffix_infos, 0, len(suffix_bars), 0)
    prime = [*prefix, infill + SUFFIX, *suffix, infill + MIDDLE]
    return prime, middle, len(bars)
