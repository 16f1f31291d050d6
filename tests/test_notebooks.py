"""The notebooks: committed without outputs, thin (they call workbench), and executed on a
sample; a failing cell fails the run; printed figures match the CLI."""

from __future__ import annotations

import ast
import json

import nbformat
import pytest

from workbench.errors import WorkbenchError
from workbench.notebooks.checks import check_notebooks, figure_errors, format_agreements, printed_json
from workbench.notebooks.runner import SAMPLE_PARAMETERS, notebook_paths, run_notebook

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


#: What each notebook's printed numbers are compared with (02 prints none).
CHECKED = {"01": "info", "03": "runs", "04": "evaluate", "05": "runs"}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_a_sample_and_prints_what_the_cli_prints(path, tmp_path_factory):
    shared = tmp_path_factory.getbasetemp() / "notebook-workspace"
    executed = run_notebook(path, tmp_path_factory.mktemp("executed"), SAMPLE_PARAMETERS, shared)
    assert figure_errors(executed.parent) == []
    kinds = {d.get("check") for d in printed_json(executed)} - {None}
    expected = CHECKED.get(path.name[:2])
    assert kinds == ({expected} if expected else set())
    if expected:
        agreements = check_notebooks(executed.parent, shared)
        assert len(agreements) >= 2
        assert all(a.agrees for a in agreements), format_agreements(agreements)


def test_the_check_catches_a_number_that_differs(tmp_path_factory):
    """Notebook 04's executed output from the run above, with its accuracy changed, no longer
    agrees with ``workbench evaluate --json``."""
    shared = tmp_path_factory.getbasetemp() / "notebook-workspace"
    executed = next(tmp_path_factory.getbasetemp().glob("executed*/04_*.ipynb"), None)
    if executed is None:
        pytest.skip("needs the sample notebooks to have run (slow tests)")
    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if '"check": "evaluate"' in out.get("text", ""):
                printed = json.loads(out["text"])
                printed["accuracy"] += 0.001
                out["text"] = json.dumps(printed)
    folder = tmp_path_factory.mktemp("tampered")
    nbformat.write(nb, folder / executed.name)
    agreements = check_notebooks(folder, shared)
    assert [a.what for a in agreements if not a.agrees] == [f"{printed['run_id']} accuracy"]
    assert "DIFFERS" in format_agreements(agreements)


def test_a_broken_cell_fails_the_run(tmp_path):
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    nb.cells = nb.cells[:2] + [nbformat.v4.new_code_cell("raise ValueError('deliberately broken')")]
    broken = tmp_path / "99_broken.ipynb"
    nbformat.write(nb, broken)
    with pytest.raises(WorkbenchError, match="99_broken.ipynb failed in cell .*deliberately broken"):
        run_notebook(broken, tmp_path / "out", {"sample": 10})


def test_a_figure_that_fails_to_render_is_caught(tmp_path):
    """HoloViews shows a rendering error in place of the figure without failing the cell; the
    check finds it (here: a colour map of RGB triples, which Bokeh refuses)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "import holoviews as hv\nhv.extension('bokeh')\n"
                    "hv.Points([(0, 0, 'a'), (1, 1, 'b')], vdims='c').opts(color='c', cmap=[[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])")]
    nbformat.write(nb, tmp_path / "98_bad_figure.ipynb")
    executed = run_notebook(tmp_path / "98_bad_figure.ipynb", tmp_path / "out", {})
    [error] = figure_errors(executed.parent)
    assert error.startswith("98_bad_figure.ipynb cell 2: ValueError: failed to validate CategoricalColorMapper")
