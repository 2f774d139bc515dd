"""REMI's token kinds: the class of every id, shared by the tokenizer and its grammar.

A module of its own so that `remi.py` and `remi_grammar.py` both import it and neither
imports the other at run time.
"""

(SPECIAL, BAR, TIMESIG, POSITION, KEY, TEMPO, PROGRAM, PITCH, DRUM, VELOCITY, DURATION) = range(11)
