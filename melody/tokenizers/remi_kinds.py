"""The kinds of remi tokens: what the encoder, decoder, grammar and form helpers agree on.

Every remi token id has a kind (`REMI.kind[id]`) and a value within its kind (`REMI.value[id]`):
Pitch_62 is (PITCH, 62), CopyFrom_8 is (COPY_FROM, 8), BarsLeft_3 is (COUNTDOWN, 3). A module of its own, so the tokenizer
and its grammar can both import it without importing each other.
"""

# The form kinds (copies, infill sentinels, the countdown) come last: `kind >= COPY_FROM`
# tells the decoder and the grammar that a token says how the music is laid out, not what it is.
(SPECIAL, BAR, TIMESIG, POSITION, KEY, TEMPO, PROGRAM, PITCH, DRUM, VELOCITY, DURATION,
 COPY_FROM, COPY_BARS, INFILL, COUNTDOWN) = range(15)
