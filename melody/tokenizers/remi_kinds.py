"""The kinds of remi tokens: what the encoder, decoder, grammar and form helpers agree on.

Every remi token id has a kind (`REMI.kind[id]`) and a value within its kind (`REMI.value[id]`):
Pitch_62 is (PITCH, 62), CopyFrom_8 is (COPY_FROM, 8). A module of its own, so the tokenizer
and its grammar can both import it without importing each other.
"""

(SPECIAL, BAR, TIMESIG, POSITION, KEY, TEMPO, PROGRAM, PITCH, DRUM, VELOCITY, DURATION,
 COPY_FROM, COPY_BARS, INFILL) = range(14)
