"""Corpus tokenizing speed: melody's pipeline (cold, then cached) beside a bare loop.

The shipped corpus is split into one file per tune (so there are many files, as in a real
corpus), then tokenized four ways in this one process:

    bare loop      for each file: music.io.read, tokenizer.encode   (no cache, no report)
    cold, 1 worker build_corpus into an empty cache, in-process
    cold, N        build_corpus into an empty cache, N worker processes
    cached         build_corpus again: every file hashed and loaded from the cache

    python benchmarks/bench_corpus.py [--tokenizer remi] [--files 804] [--workers N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from melody.corpus import build_corpus, default_workers  # noqa: E402
from melody.music import io as music_io  # noqa: E402
from melody.tokenizers import get_tokenizer  # noqa: E402


def split_corpus(folder: Path, count: int) -> list[Path]:
    """One .abc file per tune of assets/irish.abc (each tune starts at its X: line)."""
    text = (ROOT / "assets" / "irish.abc").read_text(encoding="utf-8")
    tunes = [t.strip() + "\n" for t in re.split(r"\n\s*\n(?=X:)", text)][:count]
    paths = []
    for index, tune in enumerate(tunes):
        path = folder / f"tune{index:04d}.abc"
        path.write_text(tune, encoding="utf-8")
        paths.append(path)
    return paths


def bare_loop(paths: list[Path], tokenizer) -> int:
    """Tokens from reading and encoding every file, with nothing else around it."""
    tokens = 0
    for path in paths:
        try:
            pieces = music_io.read(path, on_warning=lambda w: None)
        except Exception:  # noqa: BLE001 - the bare loop just skips what fails
            continue
        tokens += sum(len(tokenizer.encode(p)) for p in pieces if p.notes)
    return tokens


def timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", default="remi")
    parser.add_argument("--files", type=int, default=804)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best of each is shown")
    args = parser.parse_args()
    tokenizer = get_tokenizer(args.tokenizer)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        data = scratch / "data"
        data.mkdir()
        paths = split_corpus(data, args.files)
        files = len(paths)
        results: dict[str, object] = {}

        # Best of --repeat rounds: the machine may be shared, and the least disturbed round is
        # the closest to what the code costs. Each cold round starts from an empty cache.
        best: dict[str, float] = {}
        for round_ in range(args.repeat):
            for name, action in (
                ("bare", lambda: bare_loop(paths, tokenizer)),
                ("cold1", lambda: build_corpus([data], tokenizer, cache_dir=scratch / f"c1-{round_}",
                                               workers=1)),
                ("coldn", lambda: build_corpus([data], tokenizer, cache_dir=scratch / f"cn-{round_}",
                                               workers=args.workers)),
                ("cached", lambda: build_corpus([data], tokenizer, cache_dir=scratch / f"cn-{round_}",
                                                workers=args.workers)),
            ):
                seconds, result = timed(action)
                best[name] = min(seconds, best.get(name, float("inf")))
                results[name] = result
        bare_s, cold1_s, coldn_s, cached_s = (best[n] for n in ("bare", "cold1", "coldn", "cached"))
        bare_tokens, cold1, coldn, cached = (results[n] for n in ("bare", "cold1", "coldn", "cached"))
        assert cold1.tokens == coldn.tokens == cached.tokens == bare_tokens, "runs disagree"
        assert cached.cached == files, "the cached run parsed files"

    print(f"corpus: {files} files (one tune each, from assets/irish.abc), {cold1.tokens:,} "
          f"{tokenizer.name} tokens; {args.workers} workers; best of {args.repeat} rounds")
    print(f"{'run':<22}{'seconds':>9}{'files/s':>10}{'vs bare loop':>14}")
    for name, seconds in (("bare loop (baseline)", bare_s), ("cold, 1 worker", cold1_s),
                          (f"cold, {args.workers} workers", coldn_s), ("cached", cached_s)):
        print(f"{name:<22}{seconds:>9.2f}{files / seconds:>10.0f}{bare_s / seconds:>13.1f}x")


if __name__ == "__main__":
    main()
