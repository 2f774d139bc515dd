"""How good a model and its music are: likelihood, an n-gram baseline, music statistics, novelty.

Modules: `likelihood` (nats and bits per token, bits per note), `ngram` (a Kneser-Ney
baseline on the same tokens), `stats` (music statistics and set-to-set distances), `form`
(does a piece hold together: a returning part, a tonic ending, full bars), `discriminator`
(a classifier two-sample test of generated against real tunes), `novelty` (near-copies of
training pieces). Import the module you
need; this package imports nothing heavy on its own.
"""
