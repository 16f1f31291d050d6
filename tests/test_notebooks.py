"""The notebooks: committed without outputs, thin (they call workbench), and executed on a
sample; a failing cell fails the run; printed figures match the CLI."""

from __future__ import annotations

import ast
import json

import nbformat
import pytest

from workbench import Workspace
from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.notebook_runner import SAMPLE_PARAMETERS, notebook_paths, run_notebook

NOTEBOOKS = notebook_paths()


def test_there_are_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS][:4] == ["01", "02", "03", "04"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_and_without_logic(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[1].metadata.get("tags") == ["parameters"], "second cell must be the parameters cell"
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not cell.outputs and cell.execution_count is None
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 4, f"{path.name}: move {node.name} into workbench"


def _json_outputs(executed):
    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            if text.strip().startswith("{") and '"' in text:
                try:
                    yield json.loads(text)
                except json.JSONDecodeError:
                    continue


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_a_sample(path, tmp_path_factory, capsys):
    shared = tmp_path_factory.getbasetemp() / "notebook-workspace"
    executed = run_notebook(path, tmp_path_factory.mktemp("executed"), SAMPLE_PARAMETERS, shared)
    printed = list(_json_outputs(executed))
    if path.name.startswith("01"):
        assert main(["info", "--json", "--workspace", str(shared)]) == 0
        Workspace(shared).close()  # the next notebook's kernel opens the database itself
        info = json.loads(capsys.readouterr().out)
        shown = next(d for d in printed if "products" in d)
        assert {k: info[k] for k in shown} == shown


def test_a_broken_cell_fails_the_run(tmp_path):
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    nb.cells = nb.cells[:2] + [nbformat.v4.new_code_cell("raise ValueError('deliberately broken')")]
    broken = tmp_path / "99_broken.ipynb"
    nbformat.write(nb, broken)
    with pytest.raises(WorkbenchError, match="99_broken.ipynb failed in cell .*deliberately broken"):
        run_notebook(broken, tmp_path / "out", {"sample": 10})
