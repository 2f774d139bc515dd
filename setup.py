"""The one build step pyproject.toml cannot say: put the shipped data inside the package.

In the repository the default model and the tune collection live at the top level
(`models/default/`, `assets/`), where people look for them. A wheel must carry them too, or an
installed melody (`pip install .`, `pipx install .`) would have no model to generate with. So
a real build copies them into `<build_lib>/melody/_shipped/`, where `melody.shipped` looks
first. An editable install skips the copy (it reads the source tree's own folders), and
nothing is ever written into the source tree. MANIFEST.in puts the same files in the sdist,
so a wheel built from the sdist (`python -m build`) has them as well.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import FileError

ROOT = Path(__file__).resolve().parent
# What ships, relative to the repository root; each lands at the same path under melody/_shipped/.
SHIPPED = ("models/default", "assets/irish.abc", "assets/LICENSE-irish.md", "assets/configs")
PACKAGED = Path("melody", "_shipped")


def shipped_files() -> list[Path]:
    """Every shipped file, relative to the repository root; a missing one stops the build."""
    files: list[Path] = []
    for entry in SHIPPED:
        path = ROOT / entry
        if path.is_file():
            files.append(Path(entry))
        elif path.is_dir():
            files.extend(sorted(p.relative_to(ROOT) for p in path.rglob("*")
                                if p.is_file() and "__pycache__" not in p.parts))
        else:
            # A wheel without the default model installs a melody that cannot generate.
            raise FileError(f"{path}: missing; the wheel must ship it (an sdist needs MANIFEST.in)")
    return files


class BuildPyWithShippedData(build_py):
    """build_py, then the shipped data copied into the built package."""

    def run(self) -> None:
        super().run()
        if not self._copies_shipped_data():
            return
        target = Path(self.build_lib) / PACKAGED
        shutil.rmtree(target, ignore_errors=True)  # no stale file from an earlier build
        for relative in shipped_files():
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / relative, destination)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self._copies_shipped_data():
            outputs += [str(Path(self.build_lib) / PACKAGED / f) for f in shipped_files()]
        return outputs

    def _copies_shipped_data(self) -> bool:
        # An editable install reads models/ and assets/ where they are; and a build whose
        # build_lib is the source tree itself would write the copies into it.
        return not self.editable_mode and Path(self.build_lib).resolve() != ROOT


setup(cmdclass={"build_py": BuildPyWithShippedData})
