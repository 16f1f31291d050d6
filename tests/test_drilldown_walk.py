"""Every drill-down answers what was clicked, in headless Chromium on ``workbench serve``.

The walk clicks every bar of the error severity chart (every run at every distance), every cell
of the confusion heat map of one parent with at most five children, a point on each
accuracy-coverage curve and a row of the categories table, and checks that the listed products
are the clicked figure's: their count and the run named in the heading, against ``workbench
evaluate --json`` of the same run (severity shares and the number of products) and the run's
stored predictions (cells, curve points, categories).
"""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest

from tests._browser import browser, require_chromium, watched  # noqa: F401 (fixtures)
from tests._dashboard_setup import copy_workspace, free_port, start_server, stop, wait_http, workbench_cli
from tests.test_dashboard_browser import click_at, drill_heading, open_page
from workbench import Workspace
from workbench.app.data import default_run_id, evaluated_runs, run_label
from workbench.catalog.relabel import load_taxonomy
from workbench.plots.confusion import axis_labels
from workbench.runs.records import load_predictions

pytestmark = pytest.mark.browser


def _evaluate_json(root, run_id: str) -> dict:
    """``workbench evaluate --json`` of one run, as a person would run it."""
    done = subprocess.run([*workbench_cli(), "evaluate", "--run", run_id, "--json", "--workspace", str(root)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def walk(evaluated_ws, tmp_path_factory, output_dir):
    require_chromium()
    root = copy_workspace(evaluated_ws, tmp_path_factory.mktemp("walk_ws"), artifacts=True)
    ws = Workspace(root)
    runs = evaluated_runs(ws)
    labels = dict(zip(runs["run_id"], runs["label"]))
    default = default_run_id(ws)
    taxonomy = load_taxonomy(ws)
    preds = {}
    for run_id in labels:
        p = load_predictions(ws, run_id)
        pred = p.proba.argmax(axis=1)
        preds[run_id] = {"ids": p.product_ids, "true": p.y_true, "pred": p.classes[pred],
                         "conf": p.proba.max(axis=1).astype(np.float32), "classes": p.classes}
    # a parent with two to five children and the most test products under it
    true = preds[default]["true"]
    parents = [n for n in taxonomy.internal_nodes() if 2 <= len(taxonomy.children(n)) <= 5]
    parent = max(parents, key=lambda n: (sum(t.startswith(n + " > ") for t in true), n))
    from workbench.app.state.confusion import ConfusionState

    state = ConfusionState(workspace=ws)
    state.parent = parent
    matrix = state.matrix()
    cells = {"rows": [str(r) for r in matrix.index], "cols": [str(c) for c in matrix.columns]}
    curves = ws.df("SELECT run_id, coverage, accuracy, threshold FROM eval_curve WHERE part = 'test'")
    ws.rows("CHECKPOINT")
    ws.close()
    evaluations = {run_id: _evaluate_json(root, run_id) for run_id in labels}
    port = free_port()
    log = output_dir / "drilldown-walk-server.log"
    proc = start_server([*workbench_cli(), "serve", "--workspace", str(root), "--port", str(port), "--no-show"], log)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        yield {"url": f"http://127.0.0.1:{port}/", "labels": labels, "default": default, "preds": preds,
               "taxonomy": taxonomy, "parent": parent, "cells": cells, "curves": curves, "evaluations": evaluations}
    finally:
        stop(proc)


def test_every_severity_bar_lists_its_own_run_and_distance(walk, watched, output_dir):
    page = open_page(watched, walk, "severity")
    before = None
    clicked = 0
    for run_id, label in walk["labels"].items():
        ev = walk["evaluations"][run_id]
        assert run_label(run_id, "tfidf") == label
        for distance, share in sorted(ev["severity"].items(), key=lambda kv: int(kv[0])):
            if share <= 0:
                continue
            click_at(page, "Errors by tree distance", [distance, label], share / 2)
            n, text = drill_heading(page, after=before)
            what = "right" if distance == "0" else f"tree distance {distance}"
            assert f"{what} ({label})" in text, (distance, label, text)
            assert n == round(share * ev["n"]), (distance, label, n, share * ev["n"])
            before = text
            clicked += 1
    assert clicked >= 2 * len(walk["labels"])
    page.screenshot(path=output_dir / "dashboards" / "walk_severity.png")
    watched.check_clean()


def test_every_cell_of_a_small_parents_heat_map_lists_its_products(walk, watched, output_dir):
    parent, taxonomy, cells = walk["parent"], walk["taxonomy"], walk["cells"]
    run_id, label = walk["default"], walk["labels"][walk["default"]]
    p = walk["preds"][run_id]
    assert set(cells["rows"]) <= set(taxonomy.children(parent)) and len(cells["rows"]) <= 5
    page = open_page(watched, walk, "confusion")
    page.locator(".wb-parent select").first.select_option(parent)
    page.wait_for_timeout(1500)

    def under(values, node):
        return np.array([v == node or v.startswith(node + " > ") for v in values])

    row_label, col_label = axis_labels(cells["rows"]), axis_labels(cells["cols"])
    before = None
    clicked = 0
    for true_child in cells["rows"]:
        in_true = under(p["true"], true_child)
        for predicted in cells["cols"]:
            outside = predicted == "(outside)"
            in_pred = ~under(p["pred"], parent) if outside else under(p["pred"], predicted)
            expected = int((in_true & in_pred).sum())
            click_at(page, "Confusion among", col_label[predicted], row_label[true_child])
            n, text = drill_heading(page, after=before)
            assert f"true {true_child}, predicted " in text and f"({label})" in text, text
            assert n == expected, (true_child, predicted, n, expected)
            before = text
            clicked += 1
    assert clicked == len(cells["rows"]) * len(cells["cols"]) >= 4
    assert walk["evaluations"][run_id]["n"] == len(p["true"])
    page.screenshot(path=output_dir / "dashboards" / "walk_confusion.png")
    watched.check_clean()


def test_a_point_on_each_accuracy_coverage_curve_lists_that_runs_shelved_errors(walk, watched, output_dir):
    curves = walk["curves"]
    page = open_page(watched, walk, "comparison")
    before = None
    span_x = float(curves["coverage"].max() - curves["coverage"].min()) or 1.0
    span_y = float(curves["accuracy"].max() - curves["accuracy"].min()) or 1.0
    for run_id, label in walk["labels"].items():
        mine, others = curves[curves["run_id"] == run_id], curves[curves["run_id"] != run_id]
        # the point of this run's curve farthest from every other run's points (no ambiguity)
        gap = [min(((o.coverage - r.coverage) / span_x) ** 2 + ((o.accuracy - r.accuracy) / span_y) ** 2
                   for o in others.itertuples()) if len(others) else 1.0 for r in mine.itertuples()]
        point = mine.iloc[int(np.argmax(gap))]
        click_at(page, "Accuracy vs coverage, all runs", float(point["coverage"]), float(point["accuracy"]))
        n, text = drill_heading(page, after=before)
        assert f"({label})" in text and "wrong but shelved" in text, text
        threshold = float(re.search(r"threshold (\d\.\d+)", text).group(1))
        assert abs(threshold - float(point["threshold"])) < 5e-4
        p = walk["preds"][run_id]
        wrong = p["true"] != p["pred"]
        assert n == int(((p["conf"] >= np.float32(point["threshold"])) & wrong).sum()), (run_id, n)
        assert n <= walk["evaluations"][run_id]["n"]
        before = text
    page.screenshot(path=output_dir / "dashboards" / "walk_curves.png")
    watched.check_clean()


def test_a_row_of_the_categories_table_lists_its_products(walk, watched, output_dir):
    run_id, label = walk["default"], walk["labels"][walk["default"]]
    p = walk["preds"][run_id]
    leaves, counts = np.unique(p["true"], return_counts=True)
    leaf = leaves[counts.argmax()]
    page = open_page(watched, walk, "categories")
    page.locator(".wb-category-search input").fill(leaf.split(" > ")[-1])
    page.locator(".wb-category-search input").press("Enter")
    page.wait_for_timeout(1500)
    row = page.locator(".wb-categories .tabulator-row", has=page.locator(f".wb-path[title='{leaf}']")).first
    row.wait_for()
    row.locator("[tabulator-field=category]").click()
    n, text = drill_heading(page)
    assert text.startswith(f"{n:,} products") or str(n) in text
    assert f"{leaf}: its products" in text and f"({label})" in text, text
    assert n == int(((p["true"] == leaf) | (p["pred"] == leaf)).sum())
    assert walk["evaluations"][run_id]["n"] == len(p["true"])
    page.screenshot(path=output_dir / "dashboards" / "walk_categories.png")
    watched.check_clean()
