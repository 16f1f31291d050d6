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


#: The notebooks run on a smaller sample here than ``python -m workbench.notebooks.runner`` uses:
#: what is checked (cells run, figures render, printed figures match the CLI) does not depend on
#: the size, and every notebook embeds and trains on all of it (06 embeds the photos of 150).
TEST_PARAMETERS = {**SAMPLE_PARAMETERS, "sample": 800, "photo_sample": 150}

#: What each notebook's printed numbers are compared with (02 prints none).
CHECKED = {"01": "info", "03": "runs", "04": "evaluate", "05": "runs"}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_a_sample_and_prints_what_the_cli_prints(path, tmp_path_factory):
    shared = tmp_path_factory.getbasetemp() / "notebook-workspace"
    executed = run_notebook(path, tmp_path_factory.mktemp("executed"), TEST_PARAMETERS, shared)
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


@pytest.fixture(scope="module")
def lab_pages(tmp_path_factory):
    """JupyterLab serving the notebooks the slow test above executed (trusted, with their
    outputs; not executed again) and, beside them, a figure made with plain
    ``hv.extension("bokeh")`` (BokehJS from the CDN): yields ``(lab, browser, executed)``."""
    from _browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
    from _jupyterlab import jupyter_lab
    from playwright.sync_api import sync_playwright

    require_chromium()
    base = tmp_path_factory.getbasetemp()
    executed = {p.name: p for p in base.glob("executed*/[0-9][0-9]_*.ipynb")}
    if not executed:
        pytest.skip("needs the sample notebooks to have run (slow tests)")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import holoviews as hv\nhv.extension('bokeh')"),
                nbformat.v4.new_code_cell("hv.Curve([1, 3, 2])")]
    folder = tmp_path_factory.mktemp("cdn_notebook")
    nbformat.write(nb, folder / "97_cdn_figure.ipynb")
    executed["97_cdn_figure.ipynb"] = run_notebook(folder / "97_cdn_figure.ipynb", folder / "out", {})
    with jupyter_lab(list(executed.values()), tmp_path_factory.mktemp("jupyterlab")) as lab, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield lab, browser, executed
        browser.close()


def open_in_lab(lab, browser, name: str, figures: int, wait_s: float = 60):
    """Open one notebook in the lab in a fresh page; wait until ``figures`` Bokeh figures show
    something (at most ``wait_s``); return (rendered figures per cell, error outputs, outside requests)."""
    from _browser import LOCAL
    from _jupyterlab import ERROR_OUTPUTS, FIGURES

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(LOCAL) else outside.append(r.url))
    try:
        page.goto(lab.url(name) + "&reset")
        page.wait_for_selector(".jp-Notebook .jp-Cell .jp-OutputArea-output", state="attached", timeout=120_000)
        try:
            page.wait_for_function(f"() => ({FIGURES})().flat().filter(f => f[0] + f[1] > 0).length >= {figures}",
                                   timeout=wait_s * 1000 if figures else 3_000)
        except Exception:  # noqa: BLE001 - what did render is reported by the assertions
            pass
        page.wait_for_timeout(500)
        return page.evaluate(FIGURES), page.evaluate(ERROR_OUTPUTS), outside
    finally:
        context.close()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_figures_show_in_jupyterlab_offline(path, lab_pages):
    """Opened in a real JupyterLab in Chromium with no internet, every figure of the executed
    notebook draws on a canvas (or an SVG), no output shows an error, and the page asks
    nothing of any host but 127.0.0.1."""
    from _jupyterlab import error_outputs, figure_outputs

    lab, browser, executed = lab_pages
    if path.name not in executed:
        pytest.skip(f"{path.name} was not executed in this session")
    expected = figure_outputs(executed[path.name])
    assert error_outputs(executed[path.name]) == []
    shown, errors, outside = open_in_lab(lab, browser, path.name, sum(expected))
    assert outside == []
    assert errors == []
    assert len(shown) == len(expected)
    blank = [i for i, (want, roots) in enumerate(zip(expected, shown))
             if want and sum(1 for canvases, svgs in roots if canvases + svgs > 0) < want]
    assert blank == [], f"{path.name}: blank figures in cells {blank}"
    assert sum(expected) > 0, f"{path.name} shows no figure"


def test_a_figure_with_bokehjs_from_the_cdn_is_caught(lab_pages):
    """The check sees what a person offline sees with plain ``hv.extension("bokeh")``: a
    request to the CDN and a blank figure."""
    from _jupyterlab import figure_outputs

    lab, browser, executed = lab_pages
    expected = figure_outputs(executed["97_cdn_figure.ipynb"])
    assert sum(expected) == 1
    shown, _, outside = open_in_lab(lab, browser, "97_cdn_figure.ipynb", 1, wait_s=8)
    assert any("cdn.bokeh.org" in url for url in outside), outside
    assert [r for roots in shown for r in roots if r[0] + r[1] > 0] == []
