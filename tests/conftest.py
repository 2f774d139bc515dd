"""Shared fixtures: paths to shipped data, and external tools that CI must have."""

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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on one torch thread: sampling's own default, and on a busy machine extra
    threads only add synchronisation."""
    import torch  # here, so that tests which never touch a model never import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
