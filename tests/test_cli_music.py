"""`melody convert`, `melody inspect` and `melody tokenize` as a user runs them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import mido
import pretty_midi
import pytest

from conftest import IRISH, ROOT, require_program
from helpers import run_with_stderr_on_a_terminal
from melody.cli import main
from melody.commands.convert import _output_name
from melody.music import io as music_io
from melody.music.notes import Note, Piece, TimeSignature
from melody.tokenizers import get_tokenizer

MELODY = [sys.executable, "-m", "melody"]


def irish_tunes(count: int, start: int = 0) -> list[str]:
    """The ABC text of `count` tunes of the shipped corpus, leaving out the two whose body a
    blank line cuts off from their header (the reader rightly finds no notes in those)."""
    chunks = re.split(r"\n\s*\n(?=X:)", IRISH.read_text(encoding="utf-8"))
    tunes = [chunk.strip() + "\n" for chunk in chunks if "\n\n" not in chunk.strip()]
    return tunes[start:start + count]


def notes_of(path: Path) -> list[tuple[int, int, int]]:
    """(onset, pitch, duration) of every note melody reads from a file, onsets from the first note."""
    notes = [n for piece in music_io.read(path) for n in piece.notes]
    first = min(n.onset for n in notes)
    return sorted((n.onset - first, n.pitch, n.duration) for n in notes)


@pytest.fixture
def three(tmp_path: Path) -> Path:
    """An ABC file holding the first three tunes of assets/irish.abc."""
    path = tmp_path / "three.abc"
    path.write_text("\n".join(irish_tunes(3)), encoding="utf-8")
    return path


@pytest.fixture
def one(tmp_path: Path) -> Path:
    path = tmp_path / "one.abc"
    path.write_text(irish_tunes(1, start=5)[0], encoding="utf-8")
    return path


def one_error_line(capsys) -> str:
    """The single line a failing command printed on stderr (and nothing on stdout)."""
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# -- convert ----------------------------------------------------------------------------------------
def test_convert_abc_to_midi_writes_one_file_per_tune_that_midi_libraries_load(three, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["convert", str(three), "--out", str(out), "--to", "mid"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["three-1.mid", "three-2.mid", "three-3.mid"]
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"wrote {out / name}" for name in written]
    tunes = music_io.read(three)
    for tune, name in zip(tunes, written):
        assert len(mido.MidiFile(out / name).tracks) >= 2
        midi = pretty_midi.PrettyMIDI(str(out / name))
        assert sum(len(i.notes) for i in midi.instruments) == len(tune.notes)
        # The notes themselves survive: same pitches, onsets and durations on the grid.
        first = tune.notes[0].onset
        assert notes_of(out / name) == sorted((n.onset - first, n.pitch, n.duration) for n in tune.notes)


def test_convert_one_file_to_another_in_every_direction(one, tmp_path):
    mid, abc, again, copy = (tmp_path / name for name in ("a.mid", "b.abc", "c.abc", "d.mid"))
    assert main(["convert", str(one), str(mid)]) == 0  # abc -> mid
    assert main(["convert", str(mid), str(abc)]) == 0  # mid -> abc
    assert main(["convert", str(abc), str(again)]) == 0  # abc -> abc, normalised
    assert main(["convert", str(mid), str(copy)]) == 0  # mid -> mid
    expected = notes_of(one)
    for path in (mid, abc, again, copy):
        assert notes_of(path) == expected, path
    assert again.read_text() == abc.read_text()  # normalised ABC is a fixed point
    assert "X:" in abc.read_text() and "K:" in abc.read_text()


def test_convert_via_remi_keeps_the_notes_remi_can_hold(one, tmp_path, capsys):
    plain, via = tmp_path / "plain.mid", tmp_path / "via.mid"
    assert main(["convert", str(one), str(plain)]) == 0
    assert main(["convert", str(one), str(via), "--via", "remi"]) == 0
    assert notes_of(via) == notes_of(plain)
    assert music_io.read(via)[0].title == music_io.read(one)[0].title


def test_convert_via_performance_loses_what_performance_tokens_cannot_say(one, tmp_path):
    via = tmp_path / "via.mid"
    assert main(["convert", str(one), str(via), "--via", "performance"]) == 0
    source, heard = music_io.read(one)[0], music_io.read(via)[0]
    assert source.keys and source.time_signatures
    assert heard.keys == [] and heard.time_signatures == []  # no key or meter tokens
    assert [(n.pitch, n.duration) for n in heard.notes] == [(n.pitch, n.duration) for n in source.notes]


def test_convert_via_an_unknown_tokenizer_is_one_line(one, tmp_path, capsys):
    assert main(["convert", str(one), str(tmp_path / "x.mid"), "--via", "nope"]) != 0
    assert "unknown tokenizer 'nope'" in one_error_line(capsys)
    assert not (tmp_path / "x.mid").exists()


def test_convert_a_multi_tune_file_to_one_file_asks_for_a_tune(three, tmp_path, capsys):
    target = tmp_path / "x.mid"
    assert main(["convert", str(three), str(target)]) != 0
    line = one_error_line(capsys)
    assert "3 tunes" in line and "--tune" in line and "--out" in line
    assert not target.exists()
    assert main(["convert", str(three), str(target), "--tune", "2"]) == 0
    assert len(music_io.read(target)[0].notes) == len(music_io.read(three)[1].notes)


def test_output_names_stay_unique_when_tune_numbers_repeat(tmp_path):
    taken: set[Path] = set()
    names = []
    for number, tune in enumerate(["1", "2", "1", "1", None], 1):
        path = _output_name(tmp_path, Path("irish.abc"), tune, number, 5, "mid", taken)
        taken.add(path)
        names.append(path.name)
    assert names == ["irish-1.mid", "irish-2.mid", "irish-1 (2).mid", "irish-1 (3).mid", "irish-5.mid"]
    assert _output_name(tmp_path, Path("solo.abc"), "7", 1, 1, "abc", set()).name == "solo.abc"


@pytest.mark.slow
def test_readme_main_command_converts_the_whole_shipped_corpus(tmp_path, capsys):
    out = tmp_path / "melody-out"
    assert main(["convert", str(IRISH), "--out", str(out), "--to", "mid", "--quiet"]) == 0
    tunes = len(music_io.read(IRISH))  # two of the 804 have no notes: the reader skips them
    assert len(list(out.glob("irish-*.mid"))) == tunes >= 800
    assert capsys.readouterr().out.strip().startswith(f"wrote {tunes} files to {out}/ (irish-1.mid ... ")


def test_convert_never_overwrites_without_force_and_writes_nothing_then(three, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    blocker = out / "three-2.mid"
    blocker.write_bytes(b"mine")
    assert main(["convert", str(three), "--out", str(out), "--to", "mid"]) != 0
    assert str(blocker) in one_error_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["three-2.mid"]  # not even three-1.mid
    assert blocker.read_bytes() == b"mine"
    assert main(["convert", str(three), "--out", str(out), "--to", "mid", "--force"]) == 0
    assert len(list(out.iterdir())) == 3 and blocker.read_bytes().startswith(b"MThd")


# Each: (file name, bytes) that convert and inspect must refuse in one line naming the file.
BAD_FILES = {
    "empty abc": ("empty.abc", b""),
    "empty midi": ("empty.mid", b""),
    "binary abc": ("binary.abc", bytes(range(256)) * 8),
    "binary midi": ("binary.mid", bytes(range(255, -1, -1)) * 8),
    "text, not abc": ("prose.abc", b"Dear diary, today I wrote no music at all.\n"),
    "broken midi header": ("header.mid", b"MThd\x00\x00\x00\x06\x00\x01\x00"),
    "zero unit length": ("length.abc", b"X:1\nT:Zero\nM:4/4\nL:0/0\nK:C\nCDEF|GABc|\n"),
    "zero meter": ("meter.abc", b"X:1\nT:Zero\nM:0/4\nL:1/8\nK:C\nCDEF|GABc|\n"),
}


def midi_without_notes(path: Path) -> None:
    song = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000),
                            mido.Message("program_change", program=0, time=0),
                            mido.MetaMessage("end_of_track", time=960)])
    song.tracks.append(track)
    song.save(path)


def truncated_midi(path: Path, one: Path) -> None:
    music_io.write(music_io.read(one)[0], path.with_suffix(".full.mid"))
    data = path.with_suffix(".full.mid").read_bytes()
    path.with_suffix(".full.mid").unlink()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("case", [*BAD_FILES, "midi without notes", "truncated midi"])
@pytest.mark.parametrize("command", ["convert", "inspect"])
def test_bad_input_is_one_line_naming_the_file_and_leaves_no_output(case, command, tmp_path, one,
                                                                      capsys):
    if case == "midi without notes":
        bad = tmp_path / "silent.mid"
        midi_without_notes(bad)
    elif case == "truncated midi":
        bad = tmp_path / "cut.mid"
        truncated_midi(bad, one)
    else:
        name, data = BAD_FILES[case]
        bad = tmp_path / name
        bad.write_bytes(data)
    out = tmp_path / "out"
    argv = (["convert", str(bad), "--out", str(out), "--to", "mid"] if command == "convert"
            else ["inspect", str(bad)])
    assert main(argv) != 0
    line = one_error_line(capsys)
    assert line.startswith(f"melody {command}: {bad}")
    if case in ("zero unit length", "zero meter"):  # ABC errors name the tune or line:column
        assert "(tune 1)" in line or re.match(rf"melody {command}: {re.escape(str(bad))}:\d+:\d+:", line)
    assert not out.exists() or not any(out.iterdir())


def test_a_usable_tune_with_a_stray_symbol_converts_with_a_warning_line(tmp_path, capsys):
    path = tmp_path / "stray.abc"
    path.write_text("X:1\nT:Stray\nM:4/4\nL:1/4\nK:C\nCDEF|GsABc|cBAG|\n", encoding="utf-8")
    assert main(["convert", str(path), str(tmp_path / "stray.mid")]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [line for line in err.splitlines() if line.startswith(f"warning: {path}:6:7:")]
    assert len(err.splitlines()) == 1 and out == f"wrote {tmp_path / 'stray.mid'}\n"
    assert len(music_io.read(tmp_path / "stray.mid")[0].notes) == 12  # the rest of the tune is kept
    assert main(["convert", "--quiet", str(path), str(tmp_path / "quiet.mid")]) == 0
    assert capsys.readouterr().err == ""


def test_convert_of_a_missing_file_names_it(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "ghost.abc"), str(tmp_path / "ghost.mid")]) == 2
    assert "ghost.abc: no such file or folder" in one_error_line(capsys)


def test_convert_form_mistakes_are_usage_errors(one, tmp_path, capsys):
    for argv in (["convert", str(one)], ["convert", str(one), "--out", str(tmp_path)],
                 ["convert", str(one), str(tmp_path / "x.txt")],
                 ["convert", str(one), str(tmp_path / "x.mid"), "--to", "abc"]):
        assert main(argv) == 2, argv
        one_error_line(capsys)


def test_failing_convert_in_a_real_process_prints_one_line_and_no_traceback(tmp_path):
    empty = tmp_path / "empty.abc"
    empty.write_bytes(b"")
    result = subprocess.run([*MELODY, "convert", str(empty), str(tmp_path / "x.mid")],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"melody convert: {empty}: file is empty"]
    assert not (tmp_path / "x.mid").exists()


def test_convert_of_a_real_abc2midi_file_to_abc(tmp_path):
    abc2midi = require_program("abc2midi")
    source = tmp_path / "tune.abc"
    source.write_text(irish_tunes(1, start=7)[0], encoding="utf-8")
    subprocess.run([abc2midi, str(source), "-o", str(tmp_path / "tune.mid")], check=True,
                   capture_output=True)
    assert main(["convert", str(tmp_path / "tune.mid"), str(tmp_path / "back.abc")]) == 0
    assert notes_of(tmp_path / "back.abc") == notes_of(source)


# -- inspect --------------------------------------------------------------------------------------
def test_inspect_shows_each_tunes_title_meter_key_and_token_counts(three, capsys):
    assert main(["inspect", str(three)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{three}: 3 tunes"
    header = lines[1].split()
    assert header[:4] == ["X", "title", "meter", "key"]
    assert header[-3:] == ["remi", "performance", "abc-char"]
    assert "Alexander's" in lines[2] and "2/2" in lines[2] and "D major" in lines[2]  # M:C|
    assert "G major" in lines[3]  # An Buachaill Dreoite
    remi = len(get_tokenizer("remi").encode(music_io.read(three)[0]))
    assert str(remi) in lines[2].split()
    assert lines[2].index("2/2") == lines[3].index("2/2") == lines[1].index("meter")  # aligned


def test_inspect_json_gives_one_object_per_tune(three, capsys):
    assert main(["inspect", "--json", str(three)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["title"] for row in rows] == ["Alexander's", "An Buachaill Dreoite", "Belfast"]
    first = rows[0]
    assert first["meter"] == "2/2" and first["key"] == "D major" and first["file"] == str(three)
    assert first["notes"] > 0 and first["bars"] > 8 and first["seconds"] > 0
    assert all(first["tokens"][name] > first["notes"] for name in ("remi", "performance", "abc-char"))


def test_inspect_keeps_the_order_files_were_named_in(three, one, capsys):
    assert main(["inspect", "--json", str(three), str(one), str(three)]) == 0
    files = [json.loads(line)["file"] for line in capsys.readouterr().out.splitlines()]
    assert files == [str(three)] * 3 + [str(one)]  # each file once, as named (not sorted)


def test_inspect_duration_follows_tempo_changes(tmp_path, capsys):
    from melody.commands.inspect import seconds
    from melody.music.notes import Tempo

    piece = Piece(notes=[Note(0, 60, 96 * 4)], tempos=[Tempo(0, 120.0), Tempo(192, 60.0)],
                  time_signatures=[TimeSignature(0, 4, 4)])
    assert seconds(piece) == pytest.approx(4.0 + 8.0)  # 8 beats at 120, then 8 at 60


def test_inspect_goes_on_past_a_bad_file_and_fails_at_the_end(three, tmp_path, capsys):
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    assert main(["inspect", str(empty), str(three)]) == 1
    out, err = capsys.readouterr()
    assert err.strip() == f"melody inspect: {empty}: file is empty"
    assert "Alexander's" in out


# -- tokenize -------------------------------------------------------------------------------------
def test_tokenize_reports_counts_then_reads_only_what_changed(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for index, tune in enumerate(irish_tunes(4, start=20)):
        (corpus / f"t{index}.abc").write_text(tune, encoding="utf-8")
    cache = tmp_path / "cache"
    assert main(["tokenize", str(corpus), "--out", str(cache), "--workers", "1"]) == 0
    out, err = capsys.readouterr()
    assert err == ""  # stderr is no terminal here: no progress bar, and a quick run says nothing
    assert out.splitlines()[0].startswith("4 files: 4 kept (4 pieces, ")
    assert f"report: {cache / 'report.jsonl'}" in out
    first = [json.loads(line) for line in (cache / "report.jsonl").read_text().splitlines()]
    assert [row["status"] for row in first] == ["kept"] * 4
    assert (cache / "summary.txt").read_text().startswith("4 files: 4 kept")

    assert main(["tokenize", str(corpus), "--out", str(cache), "--workers", "1"]) == 0
    assert "4 from the cache" in capsys.readouterr().out
    second = [json.loads(line) for line in (cache / "report.jsonl").read_text().splitlines()]
    assert [row["status"] for row in second] == ["cached"] * 4
    assert [row["tokens"] for row in second] == [row["tokens"] for row in first]

    (corpus / "t2.abc").write_text(irish_tunes(1, start=40)[0], encoding="utf-8")
    assert main(["tokenize", str(corpus), "--out", str(cache), "--workers", "2"]) == 0
    third = [json.loads(line) for line in (cache / "report.jsonl").read_text().splitlines()]
    assert [row["status"] for row in third] == ["cached", "cached", "kept", "cached"]


def test_tokenize_draws_a_progress_bar_when_stderr_is_a_terminal(tmp_path):
    for index, tune in enumerate(irish_tunes(3)):
        (tmp_path / f"t{index}.abc").write_text(tune, encoding="utf-8")
    result, drawn = run_with_stderr_on_a_terminal(
        [*MELODY, "tokenize", str(tmp_path), "--out", str(tmp_path / "cache"), "--workers", "1"],
        cwd=ROOT, timeout=60)
    assert result.returncode == 0
    assert b"\r\x1b[Ktokenize (remi)" in drawn and b"3/3 (100%)" in drawn
    assert result.stdout.decode().startswith("3 files: 3 kept")


def test_tokenize_keeps_good_files_and_reports_bad_ones(tmp_path, capsys):
    (tmp_path / "good.abc").write_text(irish_tunes(1)[0], encoding="utf-8")
    (tmp_path / "empty.abc").write_bytes(b"")
    (tmp_path / "noise.mid").write_bytes(bytes(range(256)) * 3)
    assert main(["tokenize", str(tmp_path), "--out", str(tmp_path / "cache"), "--workers", "1",
                 "--tokenizer", "performance"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 files: 1 kept (1 piece, ")
    assert "skipped: " in out and "file is empty (1)" in out
    rows = {Path(r["path"]).name: r for r in map(json.loads, (tmp_path / "cache" / "report.jsonl")
                                                 .read_text().splitlines())}
    assert rows["noise.mid"]["status"] == "skipped" and rows["noise.mid"]["reason"]


def test_tokenize_with_nothing_kept_fails_with_a_clear_line(tmp_path, capsys):
    (tmp_path / "empty.abc").write_bytes(b"")
    assert main(["tokenize", str(tmp_path), "--out", str(tmp_path / "cache"), "--workers", "1"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("1 file: 0 kept")
    assert err.strip().splitlines() == [
        f"melody tokenize: no file could be tokenized (1 skipped; see {tmp_path / 'cache' / 'report.jsonl'})"]


def test_tokenize_mistakes_are_one_line(tmp_path, capsys):
    assert main(["tokenize", str(tmp_path / "missing"), "--out", str(tmp_path / "c")]) == 2
    assert "missing: no such file or folder" in one_error_line(capsys)
    assert main(["tokenize", str(tmp_path), "--out", str(tmp_path / "c")]) == 2
    assert "no .abc, .mid or .midi files" in one_error_line(capsys)
    assert main(["tokenize", str(tmp_path), "--workers", "0"]) == 2
    one_error_line(capsys)
    assert main(["tokenize", str(tmp_path), "--tokenizer", "nope"]) == 2
    assert "unknown tokenizer" in one_error_line(capsys)


# -- no torch ----------------------------------------------------------------------------------------
def test_music_commands_never_import_torch(three, tmp_path):
    script = f"""
import sys
from melody.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
assert main(["convert", {str(three)!r}, "--out", {str(tmp_path / 'o')!r}, "--to", "abc"]) == 0
assert main(["inspect", {str(three)!r}]) == 0
assert main(["tokenize", {str(three)!r}, "--out", {str(tmp_path / 'c')!r}, "--workers", "1"]) == 0
assert "torch" not in sys.modules, "torch was imported"
print("no torch")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("no torch")
