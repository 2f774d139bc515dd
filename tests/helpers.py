"""Helpers several test modules share: small real model folders, grammar walks, MIDI facts.

Plain functions, imported as `from helpers import ...` (pytest puts tests/ on sys.path, as it
does for conftest.py); fixtures live in conftest.py. No test module imports another.
"""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path

import numpy as np

from melody.music.notes import Note
from melody.tokenizers import EOS, get_tokenizer

PRIME_ABC = "X:1\nT:Prime\nM:6/8\nL:1/8\nK:G\nGAB c2d|edc B2A|GAB c2d|e3 d3|\n"


def tiny_model_folder(folder: Path, family: str = "lstm", seed: int = 0, infill_rate: float | None = None) -> Path:
    """A small randomly initialised model folder with the remi tokenizer.

    An untrained model spreads its probability over all ~900 tokens, so a bar fills with
    hundreds of notes; the LSTM's output bias favours Bar to keep its pieces short and the
    tests fast (the grammar still decides where Bar and EOS may go).
    """
    import torch  # here, so that tests which never touch a model never import torch

    from melody.model_folder import save_model
    from melody.nn import build_model

    tokenizer = get_tokenizer("remi")
    sizes = {"vocab_size": tokenizer.vocab_size, "d_model": 32, "hidden": 0, "layers": 1, "heads": 2,
             "context": 64, "dropout": 0.0}
    torch.manual_seed(seed)
    net = build_model(family, sizes)
    if family == "lstm":
        with torch.no_grad():
            net.output_bias[tokenizer.token_to_id["Bar"]] = 6.0
            net.output_bias[tokenizer.token_to_id["<eos>"]] = 8.0
    config = {"family": family, "model": sizes}
    if infill_rate is not None:  # as training records it: the model learnt to fill a middle
        config["settings"] = {"training": {"infill_rate": infill_rate}}
    return save_model(folder, net, tokenizer, config)


# The model sizes test_model_folder saves and loads (also in the child process it kills).
SIZES = {"d_model": 16, "hidden": 0, "layers": 1, "heads": 2, "context": 32, "dropout": 0.0}


def make_net(family: str, seed: int = 0):
    """A seeded SIZES-sized network of `family` and the remi tokenizer it is built for."""
    import torch

    from melody.nn import build_model

    torch.manual_seed(seed)
    tokenizer = get_tokenizer("remi")
    return build_model(family, {"vocab_size": tokenizer.vocab_size, **SIZES}), tokenizer


def config_for(net, family: str, **extra) -> dict:
    """The config.json a model folder needs for `make_net`'s network."""
    return {"family": family, "model": {"vocab_size": net.vocab_size, **SIZES},
            "tokenizer": {"name": "remi", "config": {}}} | extra


def assert_grammar_accepts(tokenizer, grammar, ids, where=None):
    """Every token of an encoded sequence is one the grammar allows, and it ends finished."""
    state = grammar.start()
    for index, token in enumerate(ids[1:]):
        assert grammar.allowed(state)[token], (where, index, tokenizer.vocab[token])
        state = grammar.advance(state, token)
    assert grammar.finished(state)


def sample_grammar(grammar, rng, prime=(1,), limit=20000):
    """A random walk through `grammar` after `prime`: each token drawn among those allowed."""
    state = grammar.start()
    for token in prime[1:]:
        state = grammar.advance(state, token)
    ids = list(prime)
    for _ in range(limit):
        token = int(rng.choice(np.flatnonzero(grammar.allowed(state))))
        ids.append(token)
        state = grammar.advance(state, token)
        if token == EOS:
            break
    return ids


def fifo_consistent(notes: list[Note]) -> bool:
    """True when overlapping notes of one pitch and instrument end in the order they start
    (the only order MIDI's note-on/note-off pairs can say)."""
    groups: dict[tuple, list[Note]] = {}
    for note in sorted(notes):
        groups.setdefault((note.is_drum, note.program, note.pitch), []).append(note)
    return all(a.end <= b.end for group in groups.values() for a, b in zip(group, group[1:]))


def run_with_stderr_on_a_terminal(command: list[str], **options) -> tuple[object, bytes]:
    """Run `command` with its stderr on a pseudo-terminal (where progress bars draw) and its
    stdout piped; (the CompletedProcess, everything drawn on the terminal)."""
    import os
    import pty
    import subprocess

    terminal, stderr = pty.openpty()
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=stderr, **options)
    os.close(stderr)
    drawn = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # EIO: the other end is closed and everything has been read
            break
        if not chunk:
            break
        drawn += chunk
    os.close(terminal)
    return result, drawn


def sync(test):
    """Run an async test with asyncio (no async plugin needed); fixtures still arrive."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))
    return run


async def wait_until(pilot, condition, timeout: float = 30.0, what: str = "") -> None:
    """Let a Textual app under a Pilot run until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            said = [n.message for n in pilot.app._notifications]
            raise AssertionError(f"timed out waiting for {what or condition}; notifications: {said}")
        await pilot.pause(0.05)
