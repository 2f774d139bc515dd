"""How many tunes melody plays note for note as abc2midi does, literal and performed reading.

    python benchmarks/bench_abc_agreement.py [--list]

Every tune of assets/irish.abc and of the ABC examples Debian installs with abcmidi and
abcm2ps is played by abc2midi and read by melody (`parse_abc`, and `parse_abc(perform=True)`
beside abc2midi playing the ornaments), compared as tests/abc_reference.py compares them.
Printed: identical/total for the corpus and for the examples, raw and without the tunes
abc2midi itself misreads (tests/abc_reference.py: ABC2MIDI_MISREADINGS), whose difference
melody does not copy. `--list` adds each differing tune with its first difference and, where
known, its cause. Needs abc2midi and the tests' helpers.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def _figure(keys: list[tuple[str, str]], results: dict, misread: frozenset) -> str:
    identical = sum(1 for key in keys if not results[key])
    fair = [key for key in keys if key not in misread]
    fair_identical = sum(1 for key in fair if not results[key])
    return (f"{identical}/{len(keys)} = {identical / len(keys):.1%}; without abc2midi's misreadings "
            f"{fair_identical}/{len(fair)} = {fair_identical / len(fair):.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list every tune that differs")
    args = parser.parse_args(argv)
    program = shutil.which("abc2midi")
    if program is None:
        print("bench_abc_agreement: abc2midi is not installed", file=sys.stderr)
        return 1

    from abc_reference import (ABC2MIDI_MISREADINGS, KNOWN_DIFFERENCES, KNOWN_PERFORMED_DIFFERENCES,
                               compare_all)

    for reading, performed, known in (("literal", False, KNOWN_DIFFERENCES),
                                      ("performed", True, KNOWN_DIFFERENCES | KNOWN_PERFORMED_DIFFERENCES)):
        results = compare_all(program, performed=performed)
        irish = [key for key in results if key[0] == "irish.abc"]
        examples = [key for key in results if key[0] != "irish.abc"]
        print(f"{reading:9}  irish.abc: {_figure(irish, results, ABC2MIDI_MISREADINGS)}")
        print(f"{reading:9}  examples:  {_figure(examples, results, ABC2MIDI_MISREADINGS)}")
        if args.list:
            for key, difference in results.items():
                if difference:
                    cause = known.get(key, "NOT KNOWN")
                    mark = " (abc2midi misreads)" if key in ABC2MIDI_MISREADINGS else ""
                    print(f"    {key[0]} X:{key[1]}{mark}: {difference}\n        {cause}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
