"""The layers lims <- batches <- assays <- release, as import-linter and the import graph see them.

`.ci/run` runs `lint-imports` on the repository; these tests show that the contracts bite (a
forbidden import added to a copy of the code breaks them) and that no two modules import each
other, directly or round a loop. No database: they read the source only.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("lims", "batches", "assays", "release")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


@pytest.fixture
def code_copy(tmp_path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold_on_the_code_as_it_is(code_copy):
    result = _lint_imports(code_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("lims/roles.py", "import batches.models"),
        ("batches/genealogy.py", "from release import models"),
        ("assays/metrics.py", "import release.specifications"),
        ("assays/qc/nta.py", "import django.db"),
        ("assays/parsers/fcs.py", "from lims import file_store"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(code_copy, module, forbidden):
    path = code_copy / module
    path.write_text(path.read_text() + f"\n{forbidden}  # added by the test\n")
    result = _lint_imports(code_copy)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    modules = {m for m in graph.modules if ".migrations" not in m}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v) & modules:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_no_modules_import_each_other(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    assert _cycles(grimp.build_graph(*PACKAGES, cache_dir=None)) == []


def test_a_loop_of_imports_is_found(code_copy, monkeypatch):
    """The cycle check itself can fail: a copy where genealogy and labels import each other."""
    for module, other in (("genealogy", "labels"), ("labels", "genealogy")):
        path = code_copy / "batches" / f"{module}.py"
        path.write_text(path.read_text() + f"\nimport batches.{other}  # added by the test\n")
    monkeypatch.syspath_prepend(str(code_copy))
    for name in [m for m in sys.modules if m.split(".")[0] in PACKAGES]:
        monkeypatch.delitem(sys.modules, name)
    assert ["batches.genealogy", "batches.labels"] in _cycles(
        grimp.build_graph(*PACKAGES, cache_dir=None)
    )
