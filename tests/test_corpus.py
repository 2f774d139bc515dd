"""The corpus pipeline: finding files, the content-keyed token cache, the per-file report."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import IRISH, ROOT, require_program
from melody.corpus import Corpus, FileReport, build_corpus, default_cache_dir, find_music_files
from melody.corpus import build as corpus_build
from melody.errors import UsageError
from melody.music import io as music_io
from melody.tokenizers import BOS, EOS, get_tokenizer


def irish_tunes(count: int, start: int = 0) -> list[str]:
    """The ABC text of `count` tunes of the shipped corpus, leaving out the two whose body a
    blank line cuts off from their header (the reader rightly finds no notes in those)."""
    chunks = re.split(r"\n\s*\n(?=X:)", IRISH.read_text(encoding="utf-8"))
    tunes = [chunk.strip() + "\n" for chunk in chunks if "\n\n" not in chunk.strip()]
    return tunes[start:start + count]


@pytest.fixture(scope="module")
def remi():
    return get_tokenizer("remi")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three ABC files: one with two tunes, two with one tune each, one in a subfolder."""
    data = tmp_path / "music"
    (data / "more").mkdir(parents=True)
    tunes = irish_tunes(4)
    (data / "pair.abc").write_text(tunes[0] + "\n" + tunes[1], encoding="utf-8")
    (data / "one.abc").write_text(tunes[2], encoding="utf-8")
    (data / "more" / "two.ABC").write_text(tunes[3], encoding="utf-8")
    (data / "notes.txt").write_text("not music", encoding="utf-8")
    return data


# -- finding files ---------------------------------------------------------------------------
def test_find_music_files_walks_folders_sorted_and_deduplicated(folder: Path):
    found = find_music_files([folder, folder / "one.abc", folder / "more"])
    assert [p.name for p in found] == ["two.ABC", "one.abc", "pair.abc"]  # sorted by path
    assert len({p.resolve() for p in found}) == len(found)


def test_find_music_files_names_a_missing_path(tmp_path: Path):
    with pytest.raises(UsageError, match="nope: no such file or folder"):
        find_music_files([tmp_path / "nope"])


def test_find_music_files_lists_a_folder_named_like_a_music_file(tmp_path: Path):
    (tmp_path / "x.mid").mkdir()
    assert find_music_files([tmp_path]) == [tmp_path / "x.mid"]


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("MELODY_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("MELODY_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "melody" / "tokens"


# -- building ---------------------------------------------------------------------------------
def test_build_corpus_keeps_every_tune_with_its_identity(folder: Path, tmp_path: Path, remi):
    corpus = build_corpus([folder], remi, cache_dir=tmp_path / "cache", workers=1)
    assert [r.status for r in corpus.reports] == ["kept", "kept", "kept"]
    assert [(Path(p.source).name, p.tune) for p in corpus.pieces] == [
        ("two.ABC", "4"), ("one.abc", "3"), ("pair.abc", "1"), ("pair.abc", "2")]
    assert corpus.pieces[0].title == "Blackbird"
    expected = [remi.encode(piece) for piece in music_io.read(folder / "pair.abc")]
    assert [list(p.ids) for p in corpus.pieces[2:]] == expected
    for piece in corpus.pieces:
        assert piece.ids.dtype == np.int32 and piece.ids[0] == BOS and piece.ids[-1] == EOS
        assert piece.notes > 0
    pair = corpus.reports[2]
    assert (pair.pieces, pair.tokens) == (2, sum(len(e) for e in expected))
    assert corpus.tokens == sum(r.tokens for r in corpus.reports)


def test_second_run_reads_nothing_and_gives_the_same_pieces(folder: Path, tmp_path: Path, remi,
                                                            monkeypatch):
    first = build_corpus([folder], remi, cache_dir=tmp_path / "cache", workers=1)

    def no_parsing(*args, **kwargs):
        raise AssertionError("a cached file was parsed again")

    monkeypatch.setattr(music_io, "parse_bytes", no_parsing)
    second = build_corpus([folder], remi, cache_dir=tmp_path / "cache", workers=1)
    assert [r.status for r in second.reports] == ["cached"] * 3
    assert all(r.cached for r in second.reports)
    assert [(p.source, p.tune, p.title, p.notes, list(p.ids)) for p in second.pieces] == \
        [(p.source, p.tune, p.title, p.notes, list(p.ids)) for p in first.pieces]
    assert "3 from the cache" in second.summary()


def test_changing_one_file_rereads_only_that_file(folder: Path, tmp_path: Path, remi):
    build_corpus([folder], remi, cache_dir=tmp_path / "cache", workers=1)
    (folder / "one.abc").write_text(irish_tunes(1, start=10)[0], encoding="utf-8")
    again = build_corpus([folder], remi, cache_dir=tmp_path / "cache", workers=1)
    assert {Path(r.path).name: r.status for r in again.reports} == {
        "two.ABC": "cached", "one.abc": "kept", "pair.abc": "cached"}


def test_the_cache_is_keyed_on_content_not_path(folder: Path, tmp_path: Path, remi):
    build_corpus([folder], remi, cache_dir=tmp_path / "cache", workers=1)
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "renamed.abc").write_bytes((folder / "one.abc").read_bytes())
    corpus = build_corpus([moved], remi, cache_dir=tmp_path / "cache", workers=1)
    assert corpus.reports[0].status == "cached"
    assert corpus.pieces[0].source == str(moved / "renamed.abc")


def test_another_tokenizer_does_not_share_cache_entries(folder: Path, tmp_path: Path, remi):
    build_corpus([folder], remi, cache_dir=tmp_path / "cache", workers=1)
    performance = build_corpus([folder], get_tokenizer("performance"), cache_dir=tmp_path / "cache",
                               workers=1)
    assert [r.status for r in performance.reports] == ["kept"] * 3
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 2


def test_old_cache_folders_of_a_tokenizer_are_pruned_but_recent_ones_kept(folder: Path, tmp_path: Path, remi):
    # A new melody version starts a new folder per tokenizer; old ones must not pile up.
    cache, day, now = tmp_path / "cache", 24 * 3600, __import__("time").time()

    def old_folder(name: str, days_ago: float, identity: dict | None = None) -> Path:
        made = cache / name
        (made / "ab").mkdir(parents=True)
        (made / "ab" / "ab12.tok").write_bytes(b"melody-tokens\n")
        tokenizer, _, suffix = name.rpartition("-")
        about = {"tokenizer": tokenizer, "identity": suffix + "0" * 48} if identity is None else identity
        (made / "identity.json").write_text(json.dumps(about))
        os.utime(made / "identity.json", (now - days_ago * day, now - days_ago * day))
        return made

    ages = {"remi-000000000000000a": 0.1, "remi-000000000000000b": 2, "remi-000000000000000c": 3,
            "remi-000000000000000d": 9, "abc-char-000000000000000e": 30}
    made = {name: old_folder(name, age) for name, age in ages.items()}
    # Never touched, however old: what only looks like a cache folder.
    strangers = {old_folder("remi-My Photos 2019xx", 40, {}),
                 old_folder("remi-00000000000000aa", 40, {"tokenizer": "remi", "identity": "ffff"}),
                 old_folder("remi-00000000000000bb", 40, {"tokenizer": "abc-char", "identity": "00000000000000bb"})}
    build_corpus([folder], remi, cache_dir=cache, workers=1)
    left = {p.name for p in cache.iterdir() if p.is_dir()}
    current = [name for name in left if name not in ages and cache / name not in strangers]
    assert len(current) == 1 and current[0].startswith("remi-")
    # The two most recently used other remi folders stay; older ones go; other tokenizers' stay.
    assert left == {current[0], "remi-000000000000000a", "remi-000000000000000b", "abc-char-000000000000000e",
                    *(stranger.name for stranger in strangers)}
    assert made["remi-000000000000000a"].joinpath("ab", "ab12.tok").is_file()
    # A folder used within the last day stays even beyond the two kept.
    old_folder("remi-000000000000000f", 0.5)
    old_folder("remi-0000000000000010", 0.2)
    build_corpus([folder], remi, cache_dir=cache, workers=1)
    assert {"remi-000000000000000a", "remi-000000000000000b", "remi-000000000000000f",
            "remi-0000000000000010"} - {p.name for p in cache.iterdir()} == {"remi-000000000000000b"}


def test_cache_entries_are_plain_bytes_and_a_torn_one_is_rebuilt(folder: Path, tmp_path: Path, remi):
    build_corpus([folder / "one.abc"], remi, cache_dir=tmp_path / "cache", workers=1)
    entries = list((tmp_path / "cache").rglob("*.tok"))
    assert len(entries) == 1
    # Plain bytes, no pickle: a magic line, a JSON header, then the ids as int32.
    data = entries[0].read_bytes()
    assert data.startswith(b"melody-tokens\n") and b'"status": "kept"' in data[:4096]
    assert b"pickle" not in data and b"\x80\x04" not in data[:64]
    entries[0].write_bytes(entries[0].read_bytes()[:50])  # as if a disk filled mid-write
    again = build_corpus([folder / "one.abc"], remi, cache_dir=tmp_path / "cache", workers=1)
    assert again.reports[0].status == "kept" and len(again.pieces) == 1
    assert build_corpus([folder / "one.abc"], remi, cache_dir=tmp_path / "cache",
                        workers=1).reports[0].status == "cached"


def test_two_workers_give_the_same_corpus_as_one(folder: Path, tmp_path: Path, remi):
    one = build_corpus([folder], remi, cache_dir=tmp_path / "a", workers=1)
    two = build_corpus([folder], remi, cache_dir=tmp_path / "b", workers=2)
    assert [(p.source, p.tune, list(p.ids)) for p in two.pieces] == \
        [(p.source, p.tune, list(p.ids)) for p in one.pieces]
    assert [r.to_dict() for r in two.reports] == [r.to_dict() for r in one.reports]


class _CapturedStderr:
    """Stands in for the terminal UI's captured stderr, which has no file descriptor."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return -1


def test_workers_without_a_stderr_descriptor_parse_in_process(folder: Path, tmp_path: Path, remi,
                                                             monkeypatch):
    # Textual captures sys.stderr with fileno() == -1; starting worker processes then fails
    # with "bad value(s) in fds_to_keep", so the corpus must fall back to this process.
    expected = build_corpus([folder], remi, cache_dir=tmp_path / "one", workers=1)
    monkeypatch.setattr(sys, "stderr", _CapturedStderr())
    # The UI's workers start through forkserver (it runs threads), which passes stderr's fd.
    monkeypatch.setattr(corpus_build, "_pool_context", lambda: multiprocessing.get_context("forkserver"))
    corpus = build_corpus([folder], remi, cache_dir=tmp_path / "two", workers=2)
    assert [p.ids.tolist() for p in corpus.pieces] == [p.ids.tolist() for p in expected.pieces]


def test_progress_is_reported_for_every_file(folder: Path, tmp_path: Path, remi):
    calls = []
    build_corpus([folder], remi, cache_dir=tmp_path / "cache", workers=1,
                 progress=lambda done, total, name: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


# -- hostile and bad input ------------------------------------------------------------------------
def test_bad_files_are_skipped_with_reasons_and_the_run_goes_on(folder: Path, tmp_path: Path, remi):
    (folder / "empty.abc").write_bytes(b"")
    (folder / "binary.abc").write_bytes(bytes(range(256)) * 4)
    (folder / "folder.mid").mkdir()
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")  # a truncated header
    (folder / "noise.mid").write_bytes(os.urandom(2048))
    (folder / "rests.abc").write_text("X:1\nT:Silence\nM:4/4\nL:1/4\nK:C\nz4|z4|\n", encoding="utf-8")
    huge = folder / "huge.mid"
    with open(huge, "wb") as stream:  # 100 MB without writing 100 MB: a sparse file
        stream.truncate(100 * 1024 * 1024)
    corpus = build_corpus([folder, folder / "notes.txt"], remi, cache_dir=tmp_path / "cache",
                          workers=1)
    by_name = {Path(r.path).name: r for r in corpus.reports}
    assert {name for name, r in by_name.items() if r.status == "kept"} == {"pair.abc", "one.abc", "two.ABC"}
    assert "empty" in by_name["empty.abc"].reason
    assert by_name["binary.abc"].reason
    assert "folder" in by_name["folder.mid"].reason
    assert by_name["broken.mid"].reason and by_name["noise.mid"].reason
    assert "MiB" in by_name["huge.mid"].reason
    assert "no notes" in by_name["rests.abc"].reason
    assert "unknown music format" in by_name["notes.txt"].reason
    assert corpus.skipped == 8 and corpus.kept == 3
    assert "skipped:" in corpus.summary()
    assert all(r.status == "kept" or r.pieces == 0 for r in corpus.reports)


def test_a_bad_tune_is_a_warning_when_the_file_has_good_ones(tmp_path: Path, remi):
    good = irish_tunes(1)[0]
    path = tmp_path / "mixed.abc"
    path.write_text(good + "\nX:2\nT:Silence\nM:4/4\nL:1/4\nK:C\nz4|z4|\n", encoding="utf-8")
    corpus = build_corpus([path], remi, cache_dir=tmp_path / "cache", workers=1)
    report = corpus.reports[0]
    assert report.status == "kept" and report.pieces == 1
    assert any("no notes" in w for w in report.warnings)


def test_a_run_where_nothing_is_kept_still_reports(tmp_path: Path, remi):
    (tmp_path / "empty.mid").write_bytes(b"")
    corpus = build_corpus([tmp_path], remi, cache_dir=tmp_path / "cache", workers=1)
    assert corpus.kept == 0 and corpus.pieces == []
    assert corpus.summary().startswith("1 file: 0 kept (0 pieces, 0 tokens), 1 skipped")


def test_summary_groups_reasons_and_the_report_is_json_lines(tmp_path: Path, remi):
    corpus = Corpus(remi, [], [
        FileReport("a.abc", "skipped", "3:1: (tune 2) unknown field"),
        FileReport("b.abc", "skipped", "7:2: (tune 4) unknown field"),
        FileReport("c.mid", "skipped", "file is empty"),
        FileReport("d.abc", "kept", "", 2, 500, ["1:1: odd"]),
    ])
    assert corpus.summary().splitlines() == [
        "4 files: 1 kept (0 pieces, 0 tokens), 3 skipped",
        "skipped: unknown field (2); file is empty (1)",
        "warnings: 1 in 1 file",
    ]
    path = corpus.write_report(tmp_path / "report.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["path"] for line in lines] == ["a.abc", "b.abc", "c.mid", "d.abc"]
    assert lines[3]["warnings"] == ["1:1: odd"]


def test_real_midi_files_from_abc2midi_are_tokenized(tmp_path: Path, remi):
    abc2midi = require_program("abc2midi")
    source = tmp_path / "tune.abc"
    source.write_text(irish_tunes(1)[0], encoding="utf-8")
    subprocess.run([abc2midi, str(source), "-o", str(tmp_path / "tune.mid")], check=True,
                   capture_output=True)
    corpus = build_corpus([tmp_path / "tune.mid"], remi, cache_dir=tmp_path / "cache", workers=1)
    assert corpus.reports[0].status == "kept"
    assert corpus.pieces[0].notes == len(music_io.read(source)[0].notes)


def test_two_processes_building_one_cache_at_once_both_succeed(folder: Path, tmp_path: Path):
    # torchrun ranks build the same corpus into the same cache at the same moment.
    script = ("import sys; from melody.corpus import build_corpus; "
              "from melody.tokenizers import get_tokenizer; "
              "c = build_corpus([sys.argv[1]], get_tokenizer('remi'), cache_dir=sys.argv[2], workers=1); "
              "print(c.kept, len(c.pieces), c.tokens)")
    command = [sys.executable, "-c", script, str(folder), str(tmp_path / "cache")]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(2)]
    outputs = [run.communicate(timeout=60)[0].split() for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert outputs[0] == outputs[1] and outputs[0][:2] == ["3", "4"]
    cached = build_corpus([folder], get_tokenizer("remi"), cache_dir=tmp_path / "cache", workers=1)
    assert [r.status for r in cached.reports] == ["cached"] * 3
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_a_worker_that_dies_costs_only_the_files_in_flight(folder: Path, tmp_path: Path, remi,
                                                           monkeypatch):
    import multiprocessing

    real_parse = music_io.parse_bytes

    def parse_or_die(data, path, on_warning=None):
        if data.startswith(b"crash"):
            os._exit(3)  # as the kernel's OOM killer would end a worker
        return real_parse(data, path, on_warning)

    for number in range(6):
        (folder / f"late{number}.abc").write_text(irish_tunes(1, start=30 + number)[0], encoding="utf-8")
    (folder / "crash.abc").write_bytes(b"crash")
    monkeypatch.setattr(music_io, "parse_bytes", parse_or_die)
    # fork, so the workers inherit the patched reader.
    monkeypatch.setattr(corpus_build, "_pool_context", lambda: multiprocessing.get_context("fork"))
    corpus = build_corpus([folder], remi, cache_dir=tmp_path / "cache", workers=2)
    died = [Path(r.path).name for r in corpus.reports if "worker process died" in r.reason]
    assert "crash.abc" in died and len(died) <= 4  # at most the files in flight with it
    assert corpus.kept == corpus.files - len(died)


def test_a_tune_the_tokenizer_cannot_write_is_a_warning_not_a_lost_file(tmp_path: Path, remi):
    path = tmp_path / "meters.abc"
    path.write_text(irish_tunes(1)[0] + "\nX:2\nT:Odd\nM:17/8\nL:1/8\nK:C\nCDEFGABcdefgabc'ba|\n",
                    encoding="utf-8")
    corpus = build_corpus([path], remi, cache_dir=tmp_path / "cache", workers=1)
    report = corpus.reports[0]
    assert (report.status, report.pieces) == ("kept", 1)
    assert any(w.startswith("tune 2: meter 17/8 has no remi token") for w in report.warnings), report.warnings


# -- the progress display ---------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_on_a_terminal_redraws_one_line_with_rate_and_eta():
    import io

    from melody.commands.progress import Progress

    stream, clock = io.StringIO(), FakeClock()
    progress = Progress(100, label="tokenize", unit="files", stream=stream, interactive=True, clock=clock)
    for done in range(1, 51):
        clock.now = done * 0.125  # 8 files a second
        progress.update(done, text="a.abc")
        clock.now += 0.0625
        progress.update(done, text="a.abc")  # too soon after the last redraw: not drawn
    progress.close()
    drawn = stream.getvalue()
    assert "\n" not in drawn[:-1] and drawn.endswith("\n")  # one line, redrawn in place
    assert drawn.count("\r") == 51  # at most one redraw per 0.1 s, plus the final one
    last = drawn.rsplit("\r\x1b[K", 1)[1]
    assert "50/100 (50%)" in last and "7.92 files/s" in last and "ETA 0:06" in last and "a.abc" in last


def test_progress_in_a_log_stays_quiet_for_quick_jobs_and_prints_plain_lines_for_long_ones():
    import io

    from melody.commands.progress import Progress

    stream, clock = io.StringIO(), FakeClock()
    quick = Progress(10, stream=stream, interactive=False, clock=clock)
    for done in range(11):
        clock.now = done * 0.1
        quick.update(done)
    quick.close()
    assert stream.getvalue() == ""
    clock.now = 0.0
    long = Progress(100, label="train", stream=stream, interactive=False, plain_every=15.0, clock=clock)
    for done in range(101):
        clock.now = done * 1.0
        long.update(done)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 6 and lines[0].startswith("train  15/100 (15%)")
    assert "\r" not in stream.getvalue() and "ETA 1:25" in lines[0]


def test_format_duration():
    from melody.commands.progress import format_duration

    assert [format_duration(s) for s in (0, 59.6, 61, 3600 + 62)] == ["0:00", "1:00", "1:01", "1:01:02"]


def test_progress_write_prints_a_line_above_the_bar_and_redraws_it():
    import io

    from melody.commands.progress import Progress

    stream, clock = io.StringIO(), FakeClock()
    progress = Progress(10, label="train", stream=stream, interactive=True, clock=clock)
    progress.update(3)
    progress.write("validation loss 1.234")
    after = stream.getvalue().split("\r\x1b[Kvalidation loss 1.234\n", 1)[1]
    assert after.startswith("\r\x1b[Ktrain") and after.endswith("3/10 (30%)")
    plain = io.StringIO()
    Progress(10, stream=plain, interactive=False).write("hello")
    assert plain.getvalue() == "hello\n"


def test_a_fifo_named_like_music_is_skipped_without_hanging(tmp_path: Path, remi):
    (tmp_path / "good.abc").write_text(irish_tunes(1)[0], encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.mid")  # opening it to read would wait for a writer forever
    corpus = build_corpus([tmp_path], remi, cache_dir=tmp_path / "cache", workers=1)
    by_name = {Path(r.path).name: r for r in corpus.reports}
    assert by_name["pipe.mid"].status == "skipped" and "not a regular file" in by_name["pipe.mid"].reason
    assert by_name["good.abc"].status == "kept"


def test_a_second_copy_of_a_file_is_skipped_so_it_cannot_straddle_the_split(folder: Path,
                                                                            tmp_path: Path, remi):
    (folder / "zz-copy.abc").write_bytes((folder / "one.abc").read_bytes())
    corpus = build_corpus([folder], remi, cache_dir=tmp_path / "cache", workers=2)
    copy = corpus.reports[-1]
    assert copy.status == "skipped" and copy.reason == f"same bytes as an earlier file ({folder / 'one.abc'})"
    assert [Path(p.source).name for p in corpus.pieces].count("one.abc") == 1
    assert "skipped: same bytes as an earlier file (1)" in corpus.summary()
