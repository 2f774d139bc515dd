"""Shared fixtures: paths to shipped data, external tools that CI must have, a tiny model.

Plain helper functions several test modules share live in helpers.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
IRISH = ASSETS / "irish.abc"
DATA = Path(__file__).resolve().parent / "data"


def require_program(name: str) -> str:
    """The path of an external program; skips where it is missing, but fails in CI."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; CI installs it through the README's test command")
        pytest.skip(reason=f"{name} is not installed (Debian package: see README)")
    return path


@pytest.fixture(scope="session")
def irish_path() -> Path:
    return IRISH


@pytest.fixture(autouse=True, scope="session")
def private_token_cache(tmp_path_factory):
    """Every test (and every process it starts) keeps tokens out of the user's own cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MELODY_CACHE", str(tmp_path_factory.mktemp("token-cache")))
        yield


@pytest.fixture
def training_on_one_thread(tmp_path_factory, monkeypatch):
    """A training test: a token cache shared by the session's training runs, one OpenMP thread
    for every process it starts (tiny models gain nothing from threads, and on a busy machine
    their synchronisation is costly), and torch's thread count put back after (training lowers it)."""
    import torch

    monkeypatch.setenv("MELODY_CACHE", str(tmp_path_factory.getbasetemp() / "token-cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on one torch thread: sampling's own default, and on a busy machine extra
    threads only add synchronisation."""
    import torch  # here, so that tests which never touch a model never import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A freshly initialised (untrained) one-layer LSTM over the REMI tokenizer, saved as a model folder."""
    from melody.model_folder import save_model
    from melody.nn import build_model
    from melody.tokenizers import get_tokenizer

    import torch

    torch.manual_seed(0)
    tokenizer = get_tokenizer("remi")
    sizes = {"vocab_size": tokenizer.vocab_size, "d_model": 32, "hidden": 0, "layers": 1, "dropout": 0.0}
    folder = tmp_path_factory.mktemp("models") / "tiny"
    save_model(folder, build_model("lstm", sizes), tokenizer,
               {"family": "lstm", "model": sizes, "tokenizer": {"name": tokenizer.name, "config": tokenizer.config}})
    return folder
