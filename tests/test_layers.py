"""The import graph: the layer contracts in pyproject.toml hold, no two modules import each
other through any chain, and the declared dependencies are exactly what melody imports.

Each check also runs on a copy of melody with one bad import written in, so a check that
could never fail (a contract that lists nothing, a graph that misses imports) fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def lint_imports(source_root: Path) -> subprocess.CompletedProcess:
    """Run import-linter's `lint-imports` on the melody package (and the pyproject.toml that
    holds the contracts) under `source_root`."""
    command = [sys.executable, "-c",
               "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
               "--no-cache"]
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(command, cwd=source_root, env=env, capture_output=True, text=True, timeout=300)


# Run in a fresh process with PYTHONPATH set, as `lint_imports` is: grimp finds the package
# through importlib, which answers with an already imported `melody`, not the tree asked for.
GRAPH_REPORT = """
import json, grimp
# As Python runs it: imports under `if TYPE_CHECKING:` are hints, never executed, so they
# cannot make a cycle at run time.
graph = grimp.build_graph("melody", cache_dir=None, exclude_type_checking_imports=True)
cycles = [(importer, imported)
          for importer in sorted(graph.modules)
          for imported in sorted(graph.find_modules_directly_imported_by(importer))
          if graph.chain_exists(importer=imported, imported=importer)]
full = grimp.build_graph("melody", cache_dir=None, include_external_packages=True)
imports = {module: sorted(full.find_modules_directly_imported_by(module))
           for module in full.modules if module == "melody" or module.startswith("melody.")}
print(json.dumps({"modules": len(graph.modules), "cycles": cycles, "imports": imports}))
"""


def graph_report(source_root: Path) -> dict:
    """melody's import graph under `source_root`: its module count, every import a -> b for
    which b also reaches a through any chain, and what each module imports directly."""
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    done = subprocess.run([sys.executable, "-c", GRAPH_REPORT], cwd=source_root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def melody_graph() -> dict:
    return graph_report(ROOT)


@pytest.fixture
def melody_copy(tmp_path) -> Path:
    """A copy of the melody package, and of the contracts, to break on purpose."""
    shutil.copytree(ROOT / "melody", tmp_path / "melody",
                    ignore=shutil.ignore_patterns("__pycache__", "_shipped"))
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    return tmp_path


def add_import(module: Path, statement: str) -> None:
    module.write_text(module.read_text(encoding="utf-8") + f"\n{statement}\n", encoding="utf-8")


# -- layers ---------------------------------------------------------------------------------
def test_layer_contracts_are_kept():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"Contracts: [1-9]\d* kept, 0 broken", done.stdout), done.stdout


def test_an_upward_import_breaks_the_layer_contract(melody_copy):
    # music is below tokenizers: notes importing a tokenizer is the kind of edge the contract forbids.
    add_import(melody_copy / "melody" / "music" / "notes.py", "import melody.tokenizers.remi")
    done = lint_imports(melody_copy)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout
    assert "melody.music.notes -> melody.tokenizers.remi" in done.stdout, done.stdout


def test_a_new_top_level_module_needs_a_layer(melody_copy):
    (melody_copy / "melody" / "stray.py").write_text("import melody.errors\n", encoding="utf-8")
    done = lint_imports(melody_copy)
    assert done.returncode != 0
    assert "melody.stray" in done.stdout, done.stdout


# -- cycles ---------------------------------------------------------------------------------
def test_no_two_modules_import_each_other_through_any_chain(melody_graph):
    assert melody_graph["modules"] > 50  # the whole package, not an empty graph
    assert melody_graph["cycles"] == []


def test_a_cycle_three_modules_long_is_found(melody_copy):
    # lstm already imports base; base -> threads -> lstm closes a loop of three.
    package = melody_copy / "melody" / "nn"
    add_import(package / "base.py", "import melody.nn.threads")
    add_import(package / "threads.py", "import melody.nn.lstm")
    found = {tuple(edge) for edge in graph_report(melody_copy)["cycles"]}
    assert {("melody.nn.base", "melody.nn.threads"), ("melody.nn.threads", "melody.nn.lstm"),
            ("melody.nn.lstm", "melody.nn.base")} <= found


# -- dependencies ---------------------------------------------------------------------------
def distribution_name(requirement: str) -> str:
    """'tomli>=2; python_version < "3.11"' -> 'tomli' (normalised as PEP 503 does)."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip()).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports(graph: dict) -> dict[str, set[str]]:
    """For each third-party package melody's own code imports, the melody modules importing it."""
    users: dict[str, set[str]] = {}
    for module, imported in graph["imports"].items():
        for name in imported:
            top = name.split(".")[0]
            if top not in ("melody", "__future__") and top not in sys.stdlib_module_names:
                users.setdefault(distribution_name(top), set()).add(module)
    return users


def test_dependencies_are_what_melody_imports(melody_graph):
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    declared = {distribution_name(r) for r in project["dependencies"]}
    play = {distribution_name(r) for r in project["optional-dependencies"]["play"]}
    users = third_party_imports(melody_graph)
    # mido (a MIDI port) is the optional `play` extra: only playback may import it, and
    # playback says what to install when it is missing.
    assert users.pop("mido") == {"melody.playback"}
    assert "mido" in play and "mido" not in declared
    assert set(users) == declared, f"imported: {sorted(users)}, declared: {sorted(declared)}"


def test_no_module_outside_the_tokenizers_parses_token_names():
    """Generation, openings and training ask the tokenizer (kind_of, kind_mask, label_of,
    bar_token, encode_header, decoder, from_bar, infill_prime): token spellings stay inside
    melody/tokenizers, so a scheme can rename its tokens without breaking anything else."""
    import ast

    spellings = ("TimeSig", "Key_", "Tempo_", "Position_", "Pitch_", "Duration_", "Velocity_", "Program_",
                 "Drum_", "CopyFrom", "CopyBars", "Infill_", "<eos>", "<bos>", "<pad>")
    package = Path(__file__).resolve().parent.parent / "melody"
    found = []
    for path in package.rglob("*.py"):
        if "tokenizers" in path.relative_to(package).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                    node.value == "Bar" or any(node.value.startswith(s) for s in spellings)):
                found.append(f"{path.relative_to(package)}:{node.lineno}: {node.value!r}")
    assert not found, "token names parsed outside melody/tokenizers:\n" + "\n".join(found)
