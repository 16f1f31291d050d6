"""The comparison page as a person sees it, with min-risk rows and per-level P/R/F: served by
``workbench serve`` on a copy of ``evaluated_ws`` whose runs were also evaluated with
``--decision min-risk``, opened in headless Chromium at 1440 x 900."""

from __future__ import annotations


import pytest

from tests._dashboard_setup import copy_workspace, free_port, start_server, stop, wait_http, workbench_cli
from workbench import Workspace
from workbench.runs.evaluation import evaluate_run
from workbench.runs.records import list_runs

pytestmark = pytest.mark.browser

from tests._browser import CHROMIUM, require_chromium


@pytest.fixture(scope="module")
def served(evaluated_ws, tmp_path_factory, output_dir):
    require_chromium()
    root = copy_workspace(evaluated_ws, tmp_path_factory.mktemp("comparison_ws"))
    ws = Workspace(root)
    runs = list(list_runs(ws)["run_id"])
    for run_id in runs:
        evaluate_run(ws, run_id)  # with this branch's per-level P/R/F
        evaluate_run(ws, run_id, decision="min-risk")
    ws.rows("CHECKPOINT")
    ws.close()
    port = free_port()
    shots = output_dir / "browser"
    shots.mkdir(exist_ok=True)
    proc = start_server([*workbench_cli(), "serve", "--workspace", str(root), "--port", str(port), "--no-show"],
                        shots / "comparison_server.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        yield {"url": f"http://127.0.0.1:{port}/", "runs": runs, "shots": shots, "root": root}
    finally:
        stop(proc)


def test_comparison_page_shows_min_risk_rows_and_per_level_prf_that_fit(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(served["url"] + "?page=comparison", timeout=180_000)
            page.wait_for_selector(".wb-comparison .wb-level-prf table", timeout=90_000)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=served["shots"] / "comparison_min_risk.png", full_page=True)
            n = len(served["runs"])
            assert page.locator(".wb-metrics tbody tr").count() == n
            rows = page.locator(".wb-decisions tbody tr")
            assert rows.count() == 2 * n
            headers = page.locator(".wb-decisions thead th").all_inner_texts()
            decisions = [rows.nth(i).locator("td").nth(headers.index("decision")).inner_text()
                         for i in range(rows.count())]
            assert sorted(decisions) == sorted(["argmax"] * n + ["min-risk"] * n)
            assert "cross-family errors" in headers and "mean error distance" in headers
            share = rows.first.locator("td").nth(headers.index("cross-family errors")).inner_text()
            assert share.endswith("%")
            levels = page.locator(".wb-level-prf tbody tr")
            assert levels.count() == n
            level_headers = page.locator(".wb-level-prf thead th").all_inner_texts()
            assert "articleType P / R / F1" in level_headers and "hierarchical P / R / F1 (macro)" in level_headers
            cell = levels.first.locator("td").nth(level_headers.index("articleType P / R / F1")).inner_text()
            assert all(0 < float(x.rstrip("%")) <= 100 for x in cell.split(" / "))
            # the tables this branch added fit the 1440-pixel window: nothing runs off to the right
            for selector in (".wb-decisions table", ".wb-level-prf table"):
                right = page.locator(selector).evaluate("t => t.getBoundingClientRect().right")
                assert right <= 1440, (selector, right)
            assert errors == []
        finally:
            browser.close()


def test_comparison_page_shows_bootstrap_intervals_beside_accuracy_and_macro_f1(served):
    """A small test part (about 2 products per leaf): each figure with its 95% interval beside it,
    the verdict against the most accurate run, and the sentence saying why, as a person reads them."""
    from playwright.sync_api import sync_playwright

    from workbench.runs.run_setup import interval_figures

    ws = Workspace(served["root"])
    figures = interval_figures(ws, served["runs"])
    ws.close()
    assert figures, "the fixture's test part is small: intervals expected"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(served["url"] + "?page=comparison", timeout=180_000)
            page.wait_for_selector(".wb-comparison .wb-metrics table", timeout=90_000)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=served["shots"] / "comparison_intervals.png", full_page=True)
            note = page.locator(".wb-interval-note").first.evaluate(
                "el => (el.shadowRoot ? el.shadowRoot.textContent : el.textContent).trim()")
            assert "95% bootstrap interval" in note and "clearly below" in note
            headers = page.locator(".wb-metrics thead th").all_inner_texts()
            # the interval sits right beside its figure
            assert headers[headers.index("accuracy") + 1] == "accuracy 95%"
            assert headers[headers.index("macro-F1") + 1] == "macro-F1 95%"
            rows = page.locator(".wb-metrics tbody tr")
            verdicts = []
            for i in range(rows.count()):
                cells = rows.nth(i).locator("td").all_inner_texts()
                shown = dict(zip(headers, cells))
                for figure, interval in (("accuracy", "accuracy 95%"), ("macro-F1", "macro-F1 95%")):
                    value = float(shown[figure].rstrip("%"))
                    low, high = (float(x.rstrip("%")) for x in shown[interval].split(" to "))
                    assert low <= value + 0.05 and value - 0.05 <= high, (figure, shown)
                verdicts.append(shown["vs most accurate"])
            assert verdicts.count("most accurate") == 1
            assert all(v == "most accurate" or v.startswith(("clearly below", "not clearly below")) for v in verdicts)
            # the page says the same as the bootstrap itself
            expected = {r for r, f in figures.items() if f["verdict"] is not None and f["verdict"].b_beats_a}
            assert sum(v.startswith("clearly below") for v in verdicts) == len(expected)
            right = page.locator(".wb-metrics table").evaluate("t => t.getBoundingClientRect().right")
            assert right <= 1440, right
        finally:
            browser.close()
