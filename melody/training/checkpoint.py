"""The last training state of a model folder, for `melody train --resume`.

Layout inside the model folder:

    checkpoints/step-000500/model.safetensors   the weights at that step (not the best ones)
    checkpoints/step-000500/trainer_state.pt    optimizer moments, step, RNG states, counters
    checkpoints/latest                          the name of the newest complete step folder

A step folder is built under a temporary name and renamed into place; only then does `latest`
move to it (temp file + rename), and only then are older step folders removed. A kill at any
moment leaves `latest` naming a complete folder.

trainer_state.pt holds tensors and plain containers only and is read with
`torch.load(weights_only=True)`, which refuses any pickled object instead of running it.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from melody.errors import ModelError
from melody.files import make_readable, write_atomic
from melody.model_folder import WEIGHTS_FILE, install_folder, load_weights, weights_bytes, weights_header
from melody.safe_read import MIB, read_regular

CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.pt"
LATEST = "latest"
STATE_FORMAT = "melody-trainer-state"


def step_name(step: int) -> str:
    return f"step-{step:06d}"


def state_bytes(state: dict[str, Any]) -> bytes:
    """trainer_state.pt bytes; `state` must hold only tensors, numbers, strings and containers."""
    import torch

    buffer = io.BytesIO()
    torch.save({"format": STATE_FORMAT, **state}, buffer)
    return buffer.getvalue()


def checkpoint_files(step: int, net: Any, state: dict[str, Any]) -> dict[str, bytes]:
    """The files of a checkpoint, by path relative to the model folder (for a folder built from scratch)."""
    name = step_name(step)
    return {
        f"{CHECKPOINTS}/{name}/{WEIGHTS_FILE}": weights_bytes(net),
        f"{CHECKPOINTS}/{name}/{STATE_FILE}": state_bytes(state),
        f"{CHECKPOINTS}/{LATEST}": f"{name}\n".encode(),
    }


def save_checkpoint(folder: Path, step: int, net: Any, state: dict[str, Any]) -> Path:
    """Write the checkpoint of `step` into an existing model folder and make it the latest."""
    root = folder / CHECKPOINTS
    root.mkdir(exist_ok=True)
    name = step_name(step)
    building = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.", suffix=".tmp"))
    try:
        (building / WEIGHTS_FILE).write_bytes(weights_bytes(net))
        (building / STATE_FILE).write_bytes(state_bytes(state))
        make_readable(building)
        install_folder(building, root / name)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    write_atomic(root / LATEST, f"{name}\n", overwrite=True, durable=True)
    for old in root.iterdir():
        if old.name not in (name, LATEST) and (old.name.startswith("step-") or old.name.startswith(".")):
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    return root / name


POINTER_LIMIT = 4096  # `latest` holds one folder name


def latest_checkpoint(folder: Path) -> Path:
    """The newest complete checkpoint folder; ModelError when there is none, or when `latest`
    names anything but a step folder inside this model folder (`../../other`, an absolute path)."""
    root = folder / CHECKPOINTS
    pointer = root / LATEST
    try:
        name = read_regular(pointer, limit=POINTER_LIMIT, within=folder).decode("utf-8", "replace").strip()
    except FileNotFoundError:
        name = None
    if name is not None:
        candidate = root / name
        inside = os.path.realpath(candidate).startswith(os.path.realpath(root) + os.sep)
        if Path(name).name != name or not name.startswith("step-") or not inside:
            raise ModelError(f"{pointer}: refused: it names {name[:80]!r}, not a checkpoint inside {folder}")
        if (candidate / STATE_FILE).is_file():
            return candidate
    complete = sorted(p for p in root.glob("step-*")
                      if (p / STATE_FILE).is_file() and (p / WEIGHTS_FILE).is_file()) if root.is_dir() else []
    if not complete:
        raise ModelError(f"{folder}: no training checkpoint to resume from (no {CHECKPOINTS}/)")
    return complete[-1]


def load_checkpoint(folder: Path, net: Any) -> dict[str, Any]:
    """Load the latest checkpoint's weights into `net` and return its trainer state."""
    from safetensors.torch import load as load_safetensors

    where = latest_checkpoint(folder)
    try:
        _, size = weights_header(where / WEIGHTS_FILE, folder)
        data = read_regular(where / WEIGHTS_FILE, limit=size, within=folder)
    except FileNotFoundError:
        raise ModelError(f"{where}: incomplete checkpoint (no {WEIGHTS_FILE})") from None
    try:
        weights = load_safetensors(data)
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
        raise ModelError(f"{where / WEIGHTS_FILE}: not a readable safetensors file ({error})") from None
    load_weights(net, weights, str(where / WEIGHTS_FILE))
    # The state holds Adam's two moments of the weights, and RNG states and counters besides.
    return load_state(where / STATE_FILE, limit=4 * size + 64 * MIB, within=folder)


def load_state(path: Path, *, limit: int = 2**40, within: Path | None = None) -> dict[str, Any]:
    """A trainer_state.pt, refusing (without running) anything but tensors and plain data."""
    import pickle

    import torch

    try:
        data = read_regular(path, limit=limit, within=within)
    except FileNotFoundError:
        raise ModelError(f"{path}: cannot read: no such file") from None
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError, TypeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"{path}: refused: not a plain trainer state ({first})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ModelError(f"{path}: not a melody trainer state")
    return state
