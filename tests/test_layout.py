"""The package's folders follow the pipeline, and the house stays as drawn.

Each stage may import only from its own folder, the stages below it, and the ground floor
(``store``, ``paths``, ``errors``). The order is the README's "Architecture" section.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"

#: rank of each stage; a module may import a module of the same or a lower rank
STAGES = {
    "store": 0, "paths": 0, "errors": 0,
    "catalog": 1,
    "embeddings": 2,
    "models": 3,
    "evaluate": 4,
    "plots": 5,
    "runs": 6,
    "loop": 7,
    "scale": 8,
    "security": 8.5,
    "service": 9,
    "app": 10,
    "cli": 11,
    "notebooks": 12,
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path, *, top_level_only: bool = False) -> set[str]:
    """The ``workbench`` modules a source file imports (function-level imports too, unless
    ``top_level_only``)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "workbench"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "workbench":
                continue
            found.add(target)
            for alias in node.names:  # ``from workbench.app import data`` imports a module
                if (root.parent / Path(*f"{target}.{alias.name}".split("."))).with_suffix(".py").exists():
                    found.add(f"{target}.{alias.name}")
    return found


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def layer_violations(root: Path) -> list[str]:
    """Every import that runs up the stack, as ``importer -> imported``."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        importer = module_name(path, root)
        own = stage_of(importer)
        if own is None:  # the package's facade (``workbench/__init__.py``) may import anything
            continue
        if own not in STAGES:
            problems.append(f"{importer}: folder {own!r} has no place in the layering table")
            continue
        for target in imported_modules(path, root):
            stage = stage_of(target)
            if stage is None:  # ``import workbench`` / ``from workbench import __version__``
                continue
            if stage not in STAGES:
                problems.append(f"{importer} -> {target}: unknown stage {stage!r}")
            elif STAGES[stage] > STAGES[own]:
                problems.append(f"{importer} -> {target} ({own} may not import {stage})")
    return problems


def import_cycles(root: Path) -> list[list[str]]:
    """Cycles among imports, those inside functions too (a package counts as importing its ``__init__``)."""
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    graph = {m: {t for t in imported_modules(p, root) if t in modules and t != m}
             for m, p in modules.items()}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    return cycles


def test_no_stage_imports_a_higher_one():
    assert layer_violations(PACKAGE) == []


def test_every_folder_is_a_known_stage():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert folders | modules <= set(STAGES)
    assert modules == {"paths", "errors"}, "only the ground floor lives at the root"
    assert "store" in folders, "the store is the ground floor's package (workspace, lock, schema)"


def test_the_check_fails_on_an_upward_import(tmp_path):
    root = tmp_path / "workbench"
    for folder in ("catalog", "loop"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "loop" / "shelving.py").write_text("from workbench.catalog import taxonomy\n")
    (root / "catalog" / "taxonomy.py").write_text("X = 1\n")
    assert layer_violations(root) == []
    # a temporary module in a lower stage that reaches up, inside a function
    (root / "catalog" / "bad.py").write_text("def f():\n    from workbench.loop.shelving import g\n")
    assert layer_violations(root) == [
        "workbench.catalog.bad -> workbench.loop.shelving (catalog may not import loop)"]


def test_no_import_cycles():
    assert import_cycles(PACKAGE) == []


def test_the_cycle_check_finds_one(tmp_path):
    root = tmp_path / "workbench"
    (root / "app" / "state").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "app" / "__init__.py").write_text("from workbench.app.state import S\n")
    (root / "app" / "state" / "__init__.py").write_text("from workbench.app import data\nS = 1\n")
    (root / "app" / "data.py").write_text("")
    assert import_cycles(root) == [["workbench.app", "workbench.app.state", "workbench.app"]]


@pytest.mark.parametrize("module", ["workbench", "workbench.models.base", "workbench.models",
                                    "workbench.models.tfidf", "workbench.security.auth"])
def test_light_modules_do_not_load_heavy_libraries(module):
    code = (f"import sys, {module}\n"
            "heavy = sorted(m for m in ('torch', 'xgboost', 'fasttext', 'panel', 'sentence_transformers')"
            " if m in sys.modules)\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing {module} loaded {out.stdout.strip()}"
