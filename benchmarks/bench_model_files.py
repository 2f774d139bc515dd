"""What the checked model-folder reader (melody.safe_read) costs, beside the unchecked reads it
replaced, in one process; and how fast a hostile config.json is now refused.

    python benchmarks/bench_model_files.py [--repeat 20]

Prints, for the shipped default model: config.json and tokenizer.json read checked against
`json.loads(path.read_text())` (the old way), and load_model against building plus loading
the weights without the checks; then the time to refuse a copy whose config.json asks for
d_model 60,000 (before: a network allocated, then "weights do not match").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

from common import best_cpu_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    import torch
    from safetensors.torch import load as load_safetensors

    from melody.errors import ModelError
    from melody.model_folder import DEFAULT_MODEL_DIR, load_model, read_config
    from melody.nn import build_model
    from melody.tokenizers import load_tokenizer, tokenizer_from_dict

    torch.set_num_threads(1)
    folder = DEFAULT_MODEL_DIR

    def plain_config() -> dict:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))

    def plain_tokenizer():
        return tokenizer_from_dict(json.loads((folder / "tokenizer.json").read_text(encoding="utf-8")))

    def plain_load() -> None:  # load_model as it was before the checks
        config = plain_config()
        plain_tokenizer()
        net = build_model(config["family"], config["model"])
        data = (folder / "model.safetensors").read_bytes()
        net.load_state_dict(load_safetensors(data))
        net.eval()
        hashlib.sha256(data).hexdigest()

    rows = [("config.json", lambda: read_config(folder), plain_config),
            ("tokenizer.json", lambda: load_tokenizer(folder / "tokenizer.json", within=folder), plain_tokenizer),
            ("load_model", lambda: load_model(folder), plain_load)]
    print(f"{'what':<16}{'checked ms':>12}{'unchecked ms':>14}{'ratio':>8}")
    for name, checked, plain in rows:
        checked_time = best_cpu_time(checked, args.repeat)
        plain_time = best_cpu_time(plain, args.repeat)
        print(f"{name:<16}{checked_time * 1e3:>12.2f}{plain_time * 1e3:>14.2f}{checked_time / plain_time:>8.2f}")

    with tempfile.TemporaryDirectory() as temporary:
        hostile = Path(shutil.copytree(folder, Path(temporary) / "hostile"))
        config = plain_config()
        config["model"]["d_model"] = 60_000
        (hostile / "config.json").write_text(json.dumps(config), encoding="utf-8")
        started = time.perf_counter()
        try:
            load_model(hostile)
        except ModelError as error:
            print(f"hostile d_model 60,000 refused in {(time.perf_counter() - started) * 1e3:.1f} ms: {error}")


if __name__ == "__main__":
    main()
