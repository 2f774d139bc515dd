"""The model folder: what training writes and sampling, evaluation and the terminal UI load.

A model folder (the root always holds the best model so far, by validation loss):

    config.json          family, model sizes, tokenizer, training settings, data split, results
    model.safetensors    the weights (safetensors: no code runs when they load)
    tokenizer.json       the tokenizer (Tokenizer.save)
    metrics.jsonl        one JSON object per logged step / evaluation
    loss.png             train and validation loss curves
    openings.json        the meters, keys and tokens of the training tunes (melody.corpus.openings)
    checkpoints/         the last training state, for `melody train --resume` (melody.training.checkpoint)

Saving never leaves a broken folder behind: a new folder is built complete under a temporary
name beside it and renamed into place; an existing folder is updated one file at a time, each
through a temporary file and a rename, the weights before config.json. config.json records the
sha256 of the weights it describes, and the weights carry in their own safetensors metadata
the config.json written with them; so a kill between the two renames (new weights, old
config.json) still loads consistently: `load_model` sees the hash differ and takes the config
the weights carry. A config.json naming other weights with no config in them is a ModelError.

This module imports torch only inside `load_model` and `save_model`: `list_models` and
`DEFAULT_MODEL_DIR` serve the terminal UI's model picker without it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from melody.errors import ModelError, NotAModelFolder, UsageError
from melody.files import make_readable, write_atomic
from melody.folder_lock import LOCK_FILE
from melody.safe_read import MIB, describe, field, parse_json, read_head, read_json, read_regular
from melody.shipped import default_model_dir

if TYPE_CHECKING:
    from melody.nn.base import SequenceModel
    from melody.tokenizers.base import Tokenizer

FORMAT = "melody-model"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
METRICS_FILE = "metrics.jsonl"
LOSS_PLOT_FILE = "loss.png"
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE)
WEIGHTS_HASH = "weights_sha256"  # config.json's record of the weights it describes
EMBEDDED_CONFIG = "config"  # the safetensors metadata key holding the config.json saved with them
DEFAULT_MODEL_DIR = default_model_dir()


@dataclass(frozen=True)
class ModelInfo:
    """What the model picker shows, read from config.json alone."""

    name: str
    folder: Path
    family: str
    tokenizer: str
    parameters: int | None
    bits_per_token: float | None  # validation, from training
    bits_per_note: float | None  # from config.json's "evaluation" section, when `melody eval` wrote one


@dataclass
class Model:
    """A loaded model folder: the network in eval mode, its tokenizer and its settings."""

    net: SequenceModel
    tokenizer: Tokenizer
    config: dict[str, Any]
    folder: Path
    weights_sha256: str
    family: str

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def context_length(self) -> int | None:
        return self.net.context_length


# Caps on what a model folder's files may hold. melody's own are far below them (the shipped
# config.json is 3 KiB, tokenizer.json 30 KiB); the caps only stop a hostile file.
CONFIG_LIMIT = 4 * MIB
# Bounds on config.json's sizes, far above any model melody trains (the default has d_model
# 320 and 2 layers) yet low enough that checking them needs no memory: the weights' own
# header and the machine's memory bound the rest (check_weights_header, nn.check_fits).
MODEL_FIELDS: dict[str, tuple[type, float, float]] = {
    "vocab_size": (int, 1, 1_000_000), "d_model": (int, 1, 65_536), "hidden": (int, 0, 65_536),
    "layers": (int, 1, 4_096), "heads": (int, 1, 4_096), "context": (int, 1, 1_048_576),
    "dropout": (float, 0, 1), "input_scale": (float, 0, 1e6), "mlp_ratio": (int, 1, 64),
    "rope_base": (float, 1, 1e12),
}


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    """config.json of a model folder, checked to be one (every field melody reads of the
    right type, every size within MODEL_FIELDS); ModelError otherwise."""
    folder = Path(folder)
    if not folder.exists():
        raise NotAModelFolder(f"{folder}: no such model folder")
    if not folder.is_dir():
        raise NotAModelFolder(f"{folder}: is a file, not a model folder")
    path = folder / CONFIG_FILE
    try:
        config = read_json(path, limit=CONFIG_LIMIT, within=folder)
    except FileNotFoundError:
        raise NotAModelFolder(f"{folder}: not a model folder (no {CONFIG_FILE})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelError(f"{path}: not a melody model config")
    if config.get("version") != FORMAT_VERSION:
        raise ModelError(f"{path}: model format version {config.get('version')} is not supported")
    if not isinstance(config.get("model"), dict) or not isinstance(config.get("family"), str):
        raise ModelError(f"{path}: incomplete (no model family or sizes)")
    check_config_fields(config, str(path))
    return config


def check_config_fields(config: dict[str, Any], source: str) -> None:
    """ModelError naming the field for any field of config.json of the wrong type or size."""
    for name, (kind, low, high) in MODEL_FIELDS.items():
        field(config["model"], name, kind, source, where="model", required=False,
              null=name == "input_scale", low=low, high=high)  # a null scale means the default
    # null where melody reads a section with `or {}`: a value it tolerates, not a hostile one.
    field(config, "parameters", int, source, required=False, null=True, low=0)
    field(config, WEIGHTS_HASH, str, source, required=False, null=True)
    for section in ("result", "evaluation", "data"):
        field(config, section, dict, source, required=False, null=True)
    sources = field(config.get("data") or {}, "sources", list, source, where="data", required=False, null=True)
    if not all(isinstance(item, str) for item in sources or []):
        raise ModelError(f"{source}: field 'data.sources' must be a list of strings")
    tokenizer = field(config, "tokenizer", dict, source, required=False, null=True) or {}
    field(tokenizer, "name", str, source, where="tokenizer", required=False, null=True)
    field(tokenizer, "config", dict, source, where="tokenizer", required=False, null=True)
    settings = field(config, "settings", dict, source, required=False, null=True) or {}
    for section in settings:
        field(settings, section, dict, source, where="settings")


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def model_info(folder: str | os.PathLike) -> ModelInfo:
    """The picker's facts about one model folder (config.json only; no torch)."""
    folder = Path(folder)
    config = read_config(folder)
    result = config.get("result") or {}
    evaluation = config.get("evaluation") or {}
    parameters = config.get("parameters")
    return ModelInfo(
        name=folder.name,
        folder=folder,
        family=config["family"],
        tokenizer=str((config.get("tokenizer") or {}).get("name", "?")),
        parameters=parameters if isinstance(parameters, int) else None,
        bits_per_token=_float_or_none(result.get("best_validation_bits_per_token")),
        bits_per_note=_float_or_none(evaluation.get("bits_per_note")),
    )


def list_models(dirs: Iterable[str | os.PathLike]) -> list[ModelInfo]:
    """Model folders directly under each of `dirs` (or `dirs` themselves), by name; unreadable ones skipped."""
    found: dict[Path, ModelInfo] = {}
    for directory in dirs:
        directory = Path(directory)
        if not directory.is_dir():
            continue
        candidates = [directory] if (directory / CONFIG_FILE).is_file() else []
        candidates += sorted(child for child in directory.iterdir()
                             if child.is_dir() and not child.name.startswith("."))
        for candidate in candidates:
            key = candidate.resolve()
            if key in found or not (candidate / CONFIG_FILE).is_file():
                continue
            try:
                found[key] = model_info(candidate)
            except ModelError:
                continue  # a broken folder should not hide the good ones from the picker
    return sorted(found.values(), key=lambda info: (info.name, str(info.folder)))


def load_model(folder: str | os.PathLike, device: str = "cpu") -> Model:
    """Load a model folder for sampling or evaluation; ModelError for anything wrong with it."""
    from safetensors.torch import load as load_safetensors

    from melody.nn import build_model, network_sizes, parameter_count
    from melody.tokenizers import load_tokenizer

    folder = Path(folder)
    config = read_config(folder)
    for name in REQUIRED_FILES:
        if not (folder / name).is_file():
            raise ModelError(f"{folder}: incomplete model folder (no {name})")
    tokenizer = load_tokenizer(folder / TOKENIZER_FILE, within=folder)
    weights_path = folder / WEIGHTS_FILE
    try:
        sizes = network_sizes(config["family"], config["model"])
    except UsageError as error:
        raise ModelError(f"{folder / CONFIG_FILE}: cannot build the model: {error}") from None
    # The sizes against the weights' header before a tensor exists: a tampered config.json
    # (d_model 10^6, 10^4 layers) is refused here instead of after gigabytes of allocation.
    header, size = weights_header(weights_path, folder)
    expected, stored = parameter_count(config["family"], sizes), header_elements(header)
    if expected != stored:
        raise ModelError(f"{weights_path}: weights do not match the model in config.json (it describes "
                         f"{expected:,} parameters, the file holds {stored:,})")
    try:
        net = build_model(config["family"], sizes)
    except Exception as error:  # noqa: BLE001 - any bad size in a foreign config is the folder's fault
        raise ModelError(f"{folder / CONFIG_FILE}: cannot build the model: {error}") from None
    if net.vocab_size != tokenizer.vocab_size:
        raise ModelError(f"{folder}: the model has {net.vocab_size} tokens but tokenizer.json has "
                         f"{tokenizer.vocab_size}")
    data = read_regular(weights_path, limit=size, within=folder)
    try:
        weights = load_safetensors(data)
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
        raise ModelError(f"{weights_path}: not a readable safetensors file ({error})") from None
    sha256 = hashlib.sha256(data).hexdigest()
    config = _config_of_weights(config, sha256, weights_path, folder)
    load_weights(net, weights, str(weights_path))
    try:
        net.to(device).eval()
    except (RuntimeError, AssertionError) as error:
        raise ModelError(f"cannot use device {device!r}: {error}") from None
    return Model(net=net, tokenizer=tokenizer, config=config, folder=folder,
                 weights_sha256=sha256, family=config["family"])


def _config_of_weights(config: dict[str, Any], sha256: str, weights_path: Path, folder: Path) -> dict[str, Any]:
    """config.json when it describes these weights (or records no hash: older folders, the
    shipped model); else the config the weights carry (a save killed between its two renames);
    else ModelError."""
    recorded = config.get(WEIGHTS_HASH)
    if recorded is None or recorded == sha256:
        return config
    carried = weights_metadata(weights_path, folder).get(EMBEDDED_CONFIG)
    if carried is not None:
        embedded = parse_json(carried, f"{weights_path} (its config)")
        if isinstance(embedded, dict) and embedded.get("family") == config["family"] \
                and embedded.get("model") == config["model"]:
            check_config_fields(embedded, f"{weights_path} (its config)")
            return embedded | {WEIGHTS_HASH: sha256}
    raise ModelError(f"{folder / CONFIG_FILE}: describes other weights than {weights_path.name} "
                     f"(sha256 {recorded[:12]}..., the file has {sha256[:12]}...): a save was cut short "
                     f"or a file was replaced; train again or restore the folder")


HEADER_LIMIT = 100 * MIB  # the safetensors library's own cap on its JSON header


def weights_header(path: Path, folder: Path) -> tuple[dict[str, tuple[int, ...]], int]:
    """The tensor shapes a safetensors file declares, by name, and the file's size, read from
    its header alone (8 bytes little-endian length, then JSON); ModelError if it is no such file."""
    head, size = read_head(path, 8, within=folder)
    length = int.from_bytes(head, "little") if len(head) == 8 else -1
    if not 2 <= length <= min(HEADER_LIMIT, size - 8):
        raise ModelError(f"{path}: not a readable safetensors file (no valid header)")
    text = read_head(path, 8 + length, within=folder)[0][8:]
    header = parse_json(text, str(path))
    if not isinstance(header, dict):
        raise ModelError(f"{path}: not a readable safetensors file (its header is no JSON object)")
    shapes, end = {}, 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        where = f"tensor {name!r}"
        if not isinstance(entry, dict):
            raise ModelError(f"{path}: not a readable safetensors file ({where} is {describe(entry)})")
        shape = field(entry, "shape", list, str(path), where=where)
        offsets = field(entry, "data_offsets", list, str(path), where=where)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in [*shape, *offsets]) \
                or len(offsets) != 2:
            raise ModelError(f"{path}: not a readable safetensors file ({where}: a bad shape or offsets)")
        shapes[name] = tuple(shape)
        end = max(end, offsets[1])
    if 8 + length + end != size:
        raise ModelError(f"{path}: not a readable safetensors file ({size} bytes where its header "
                         f"describes {8 + length + end})")
    return shapes, size


def weights_metadata(path: Path, folder: Path) -> dict[str, str]:
    """The `__metadata__` strings of a safetensors file ({} when it has none)."""
    head, _ = read_head(path, 8, within=folder)
    length = int.from_bytes(head, "little")
    header = parse_json(read_head(path, 8 + length, within=folder)[0][8:], str(path))
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return {k: v for k, v in metadata.items() if isinstance(v, str)} if isinstance(metadata, dict) else {}


def header_elements(shapes: dict[str, tuple[int, ...]]) -> int:
    """How many numbers the tensors of a safetensors header hold together."""
    return sum(math.prod(shape) for shape in shapes.values())


def resolve_model(model: Any) -> Any:
    """A loaded Model from "default", a folder path, or a Model itself."""
    if not isinstance(model, (str, Path)):
        return model
    folder = DEFAULT_MODEL_DIR if str(model) == "default" else Path(model)
    if not Path(folder).is_dir():
        if str(model) == "default":
            raise NotAModelFolder(f"the default model is missing ({folder}); pass --model FOLDER")
        raise NotAModelFolder(f"{folder}: no such model folder")
    return load_model(folder)


def locate_source(path: str, folder: Path) -> Path | None:
    """A data path a model's config.json recorded: as given (absolute, or from here), else
    relative to the shipped data or the model folder's parents; None when it is nowhere."""
    from melody.shipped import shipped_root

    if Path(path).is_absolute():
        return Path(path) if Path(path).exists() else None
    folder = Path(folder).resolve()
    for base in (Path.cwd(), shipped_root(), folder.parent.parent, folder.parent, folder):
        if (base / path).exists():
            return base / path
    return None


def load_weights(net: SequenceModel, weights: dict[str, Any], source: str) -> None:
    """Copy `weights` into `net`, refusing any missing, extra or misshapen tensor."""
    expected = net.state_dict()
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        detail = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise ModelError(f"{source}: weights do not match the model in config.json ({detail})")
    for name, tensor in weights.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ModelError(f"{source}: weights do not match the model in config.json "
                             f"({name} is {tuple(tensor.shape)}, expected {tuple(expected[name].shape)})")
    net.load_state_dict(weights)


def weights_bytes(net: SequenceModel, dtype: str | None = None, config: bytes | None = None) -> bytes:
    """The safetensors bytes of `net`'s weights (optionally stored as float16/bfloat16 to save
    space), carrying `config` (config.json's bytes) in their metadata when given."""
    import torch
    from safetensors.torch import save as save_safetensors

    tensors = {}
    for name, tensor in net.state_dict().items():
        tensor = tensor.detach().cpu()
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(getattr(torch, dtype))
        tensors[name] = tensor.contiguous()
    metadata = {"format": FORMAT}
    if config is not None:
        metadata[EMBEDDED_CONFIG] = config.decode("utf-8")
    return save_safetensors(tensors, metadata=metadata)


def config_bytes(config: dict[str, Any]) -> bytes:
    return (json.dumps(config, indent=1, sort_keys=False) + "\n").encode("utf-8")


def save_model(folder: str | os.PathLike, net: SequenceModel, tokenizer: Tokenizer,
               config: dict[str, Any], *, extra: dict[str, bytes] | None = None,
               replace: bool = False, dtype: str | None = None) -> Path:
    """Write a model folder: weights, config.json, tokenizer.json and `extra` files (name -> bytes).

    A missing folder is built complete under a temporary name and renamed into place. An
    existing one is updated file by file, the weights and then config.json last, unless
    `replace` (the user's --force) asks to swap in a fresh folder. Either way a kill leaves a
    loadable folder whose config describes its weights (see the module docstring).
    """
    folder = Path(folder)
    config = {"format": FORMAT, "version": FORMAT_VERSION} | config
    config.setdefault("parameters", net.num_parameters())
    config.pop(WEIGHTS_HASH, None)
    files = dict(extra or {})
    weights = weights_bytes(net, dtype, config=config_bytes(config))
    files[CONFIG_FILE] = config_bytes(config | {WEIGHTS_HASH: hashlib.sha256(weights).hexdigest()})
    if folder.exists() and not replace:
        if not folder.is_dir():
            raise UsageError(f"{folder}: is a file, not a model folder")
        if not (folder / TOKENIZER_FILE).exists():
            tokenizer.save(folder / TOKENIZER_FILE)
        for name, data in files.items():
            if name != CONFIG_FILE:
                write_atomic(folder / name, data, overwrite=True, durable=True)
        write_atomic(folder / WEIGHTS_FILE, weights, overwrite=True, durable=True)
        write_atomic(folder / CONFIG_FILE, files[CONFIG_FILE], overwrite=True, durable=True)
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        tokenizer.save(building / TOKENIZER_FILE)
        for name, data in files.items():
            (building / name).parent.mkdir(parents=True, exist_ok=True)
            (building / name).write_bytes(data)
        (building / WEIGHTS_FILE).write_bytes(weights)
        for path in [building, *building.rglob("*")]:
            make_readable(path)
        if (folder / LOCK_FILE).is_file():
            # The lock this run holds moves with the folder: the same file, under the new one.
            os.link(folder / LOCK_FILE, building / LOCK_FILE)
        install_folder(building, folder)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return folder


def install_folder(building: Path, folder: Path) -> None:
    """Rename the complete folder `building` to `folder`, moving an existing `folder` aside first."""
    if not folder.exists():
        os.replace(building, folder)
        return
    retired = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".old"))
    os.replace(folder, retired / folder.name)
    os.replace(building, folder)
    shutil.rmtree(retired, ignore_errors=True)


def update_config(folder: str | os.PathLike, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge top-level `changes` into a model folder's config.json, atomically (for `melody eval`)."""
    folder = Path(folder)
    config = read_config(folder) | changes
    write_atomic(folder / CONFIG_FILE, config_bytes(config), overwrite=True, durable=True)
    return config
