"""Music files to tokenized pieces, with a content-keyed cache and a per-file report.

`build_corpus(paths, tokenizer)` finds every .abc/.mid/.midi file under `paths`, reads and
tokenizes each (in worker processes), and returns the pieces plus one `FileReport` per file:
kept, cached (kept, read from the cache) or skipped with the reason. A bad file never stops
the run; a second copy of a file (the same bytes) is skipped, so no piece can land on both
sides of the train/validation split.

The cache holds one small `.tok` file per (file content, tokenizer): the key is the sha256 of the
file's bytes, under a folder named by the tokenizer's identity (name, config, vocabulary,
melody's version and a hash of the reader and tokenizer source code, so a changed reader
never serves stale tokens). Entries are written atomically, so several processes (torchrun
ranks) may build the same corpus at once; they hold JSON and raw int32 ids, never pickles.
A file whose reading failed is cached too (with its reason), so a second run re-reads
nothing that has not changed.

Modules: `build` (finding files, reading them in worker processes), `cache` (the entries and
the tokenizer identity that keys them), `report` (the pieces and per-file report it returns).
"""

from melody.corpus.build import build_corpus, default_workers, find_music_files
from melody.corpus.cache import default_cache_dir, tokenizer_identity
from melody.corpus.report import Corpus, FileReport, TokenizedPiece

__all__ = ["Corpus", "FileReport", "TokenizedPiece", "build_corpus", "default_cache_dir",
           "default_workers", "find_music_files", "tokenizer_identity"]
