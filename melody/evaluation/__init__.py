"""How good a model and its music are: likelihood, an n-gram baseline, music statistics, novelty.

Modules: `likelihood` (nats and bits per token, bits per note), `ngram` (a Kneser-Ney
baseline on the same tokens), `stats` (music statistics and set-to-set distances),
`novelty` (near-copies of training pieces), `plots` (PNG figures). Import the module you
need; this package imports nothing heavy on its own.
"""
