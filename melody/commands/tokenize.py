"""`melody tokenize`: tokenize a corpus into the cache, with a per-file report.

`melody train` reads the same cache, so tokenizing first shows what a corpus holds (and what
is wrong with it) before any training starts; a second run reads only changed files.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tokenize", help="tokenize music files into the token cache, with a per-file report",
        description="Tokenize every .abc/.mid/.midi file under the given paths into the cache "
                    "(keyed on file content and tokenizer), and report per file what was kept, "
                    "read from the cache, or skipped and why.")
    parser.add_argument("paths", nargs="+", metavar="DIR_OR_FILE", help="music files and folders")
    parser.add_argument("--tokenizer", default="remi",
                        help="remi (default), performance or abc-char")
    parser.add_argument("--out", metavar="CACHE", type=Path,
                        help="cache folder (default: $MELODY_CACHE, else ~/.cache/melody/tokens); "
                             "the report goes there too")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="worker processes (default: CPUs, at most 8; 1 runs in-process)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from melody.corpus import build_corpus, default_cache_dir
    from melody.corpus.cache import TokenStore
    from melody.errors import MelodyError, UsageError
    from melody.files import write_atomic
    from melody.commands.progress import Progress
    from melody.tokenizers import get_tokenizer

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}")
    tokenizer = get_tokenizer(args.tokenizer)
    cache = args.out if args.out is not None else default_cache_dir()
    if cache.exists() and not cache.is_dir():
        raise UsageError(f"{cache}: --out must be a folder, and this is a file")

    with Progress(label=f"tokenize ({tokenizer.name})", unit="files") as progress:
        # The file name, not its path: the end of a long path is what a narrow line would cut.
        def show(done: int, total: int, path: str) -> None:
            progress(done, total, Path(path).name)

        corpus = build_corpus(args.paths, tokenizer, cache_dir=cache, workers=args.workers,
                              progress=show)
    if not corpus.files:
        raise UsageError(f"no .abc, .mid or .midi files in {', '.join(args.paths)}")
    tokenized = [report.path for report in corpus.reports if report.status == "kept"]
    store = TokenStore(cache, tokenizer)
    missing, why = store.unwritten(tokenized)
    if missing:  # never "kept" for tokens that are not in the cache
        raise MelodyError(f"{why or f'{store.folder}: cannot write the token cache'}: {len(missing)} of "
                          f"{len(tokenized)} tokenized files not cached (first: {missing[0]})")
    try:
        report = corpus.write_report(cache / "report.jsonl")
        summary = corpus.summary()
        write_atomic(cache / "summary.txt", (summary + "\n").encode("utf-8"), overwrite=True)
    except OSError as error:
        raise MelodyError(f"{cache}: cannot write the report: {error.strerror or error}") from None
    print(summary)
    print(f"report: {report}")
    if corpus.kept == 0:
        raise MelodyError(f"no file could be tokenized ({corpus.skipped} skipped; see {report})")
    return 0
