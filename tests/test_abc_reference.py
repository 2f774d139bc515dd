"""abc2midi is the reference: every tune of the shipped corpus and of the ABC examples Debian
installs plays note for note as abc2midi plays it (tests/abc_reference.py says how they are
compared). Run as a script (`python tests/test_abc_reference.py [--perform]`) it lists every
tune that differs.
"""

from __future__ import annotations

import pytest

from abc_reference import KNOWN_DIFFERENCES, MIN_IDENTICAL, compare_all
from conftest import require_program


@pytest.mark.slow
def test_tunes_play_as_abc2midi_plays_them() -> None:
    program = require_program("abc2midi")
    results = compare_all(program)
    different = {key: why for key, why in results.items() if why}
    unexpected = {key: why for key, why in different.items() if key not in KNOWN_DIFFERENCES}
    identical = 1 - len(different) / len(results)
    assert not unexpected, f"tunes that differ from abc2midi: {unexpected}"
    assert identical >= MIN_IDENTICAL, f"only {identical:.1%} of {len(results)} tunes identical"


if __name__ == "__main__":
    import shutil
    import sys

    outcome = compare_all(shutil.which("abc2midi"), performed="--perform" in sys.argv)
    for (name, number), why in outcome.items():
        if why:
            print(f"{name} X:{number}: {why}")
    bad = sum(1 for why in outcome.values() if why)
    print(f"{len(outcome) - bad}/{len(outcome)} identical", file=sys.stderr)
