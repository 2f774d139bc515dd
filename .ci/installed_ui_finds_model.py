"""CI: an installed melody's terminal UI offers the shipped default model, from any folder.

Run with the installed melody's Python from a folder outside the repository (.ci/run does):
it opens the UI headless (Textual's Pilot), reads the model picker, and exits non-zero unless
the picker holds the default model from the installed package's own data.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import melody
from melody.shipped import default_model_dir
from melody.tui.app import MelodyApp
from melody.tui.session import Session
from textual.widgets import Select


async def picked_model(state: Path) -> tuple[str, list[str]]:
    """The picker's preselected value and every folder it offers."""
    app = MelodyApp(offer_restore=False, session=Session(state / "session"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        picker = app.screen.query_one("#model", Select)
        return str(picker.value), [str(info.folder) for info in app.model_infos]


def main() -> int:
    package = Path(melody.__file__).resolve().parent
    expected = default_model_dir().resolve()
    if package / "_shipped" not in expected.parents:
        print(f"FAIL: the default model is {expected}, not the installed package's copy under {package}")
        return 1
    with tempfile.TemporaryDirectory(prefix="melody-ui-check-") as state:
        chosen, offered = asyncio.run(picked_model(Path(state)))
    if chosen != str(expected):
        print(f"FAIL: the model picker chose {chosen!r} among {offered}; expected {expected}")
        return 1
    print(f"ok: the terminal UI picks {chosen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
