"""Generation: settings, prime, sampling, streaming events, takes and their files.

    for event in stream("default", GenerationSettings(num=2, bars=8, seed=7)): ...
    takes = generate("default", num=2, seed=7)
    write_take(takes[0], "melody-out")

Modules: `settings` (every option, checked), `prime` (what a piece starts from), `sampling`
(the batched, cached, grammar-masked sampler; torch), `streaming` (events as notes finish),
`takes` (a piece with its sidecar, and its files), `run` (the pieces above put together).
Importing this package does not import torch; sampling does, once a run starts.
"""

from melody.generation.run import batches, build_prime, generate, infill, new_music, reject_copies, stream
from melody.generation.settings import GenerationSettings
from melody.generation.streaming import BarEvent, DoneEvent, NoteEvent, StreamEvent
from melody.generation.takes import FORMATS, Take, write_take
from melody.model_folder import resolve_model

__all__ = ["BarEvent", "DoneEvent", "FORMATS", "GenerationSettings", "NoteEvent", "StreamEvent", "Take",
           "batches", "build_prime", "generate", "infill", "new_music", "reject_copies", "resolve_model", "stream", "write_take"]
