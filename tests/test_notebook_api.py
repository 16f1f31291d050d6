"""The notebook API as a data scientist meets it: every README name on ``wb`` and in ``dir``,
answers as DataFrames (or objects with ``.to_frame()`` and a short HTML view), ``wb.classify``
that stores nothing, and plot helpers that take what the evaluate calls return; on real products."""

from __future__ import annotations

import json
import pydoc
import re
import subprocess
import sys
from pathlib import Path

import holoviews as hv
import pandas as pd
import pytest

import workbench as wb
from workbench.errors import WorkbenchError

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_notebook_names() -> set[str]:
    """The ``wb.NAME`` of the README's usage table, notebook column."""
    text = README.read_text(encoding="utf-8")
    start = text.index("| step | command line | notebook")
    table = text[start:text.index("\n\n", start)]
    names: set[str] = set()
    for row in table.splitlines()[2:]:
        cells = re.split(r"(?<!\\)\|", row)
        names |= set(re.findall(r"\bwb\.([A-Za-z_]\w*)", cells[3]))
    return names


def test_the_readme_notebook_column_is_what_dir_shows():
    names = readme_notebook_names()
    assert names == set(wb.__all__)
    assert names <= set(dir(wb))
    for name in names:
        assert getattr(wb, name).__doc__, f"wb.{name} has no docstring"


def test_help_lists_the_api_and_import_stays_light():
    text = pydoc.render_doc(wb, renderer=pydoc.plaintext)
    for name in ("embed_product_images", "map_catalog", "cold_start", "inspect_file", "classify", "notebook"):
        assert name in text
    code = ("import sys, workbench as wb; dir(wb); "
            "print(sorted(m for m in ('holoviews', 'panel', 'torch', 'bokeh') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_classify_titles_adds_nothing_to_the_catalog(evaluated_ws):
    ws = evaluated_ws
    before = ws.scalar("SELECT count(*) FROM products")
    tables = ws.scalar("SELECT count(*) FROM information_schema.tables")
    out = wb.classify(ws, ["Nike Men Black Running Shoes", "Titan Women Gold Watch"])
    assert isinstance(out, pd.DataFrame) and len(out) == 2
    assert ws.scalar("SELECT count(*) FROM products") == before
    assert ws.scalar("SELECT count(*) FROM information_schema.tables") == tables
    taxonomy = wb.load_taxonomy(ws)
    assert list(out.columns[:2]) == ["title", "category"] and set(taxonomy.level_names) <= set(out.columns)
    assert set(out["category"]) <= set(taxonomy.leaves)
    assert out["category"].str.contains(" > ").all()
    # a person would call these a shoe and a watch; the run (trained on real products) agrees
    assert "Footwear" in out["category"].iloc[0] and "Watches" in out["category"].iloc[1]
    assert out["confidence"].between(0, 1).all()
    assert [t[0]["category"] for t in out["top_k"]] == list(out["category"])
    assert all(t[0]["probability"] >= t[-1]["probability"] for t in out["top_k"])
    # nothing published in this workspace: every product goes to review, as `workbench classify` decides
    assert set(out["decision"]) == {"review"} and out["threshold"].isna().all()


def test_classify_applies_the_published_thresholds_and_takes_frames(hostile_ws):
    ws = hostile_ws.ws
    frame = pd.DataFrame({"title": ["Puma Men Black Sports Shoes", '<img src=x onerror="window.__xss=1"> Shirt'],
                          "brand": ["Puma", "=HYPERLINK(\"http://evil.example\")"]})
    out = wb.classify(ws, frame, run=hostile_ws.run_id, top_k=5)
    assert (out["threshold"] == 0.6).all()
    assert list(out["decision"]) == ["shelved" if c >= 0.6 else "review" for c in out["confidence"]]
    assert out["top_k"].map(len).tolist() == [5, 5] and (out["run_id"] == hostile_ws.run_id).all()
    assert "<img" not in out.to_html()  # pandas escapes the text of a hostile title
    with pytest.raises(WorkbenchError, match="needs a 'title' column; the frame has name"):
        wb.classify(ws, pd.DataFrame({"name": ["x"]}))


def test_evaluate_run_gives_frames_and_the_old_dict(evaluated_ws):
    ws = evaluated_ws
    run_a, run_b = wb.list_runs(ws)["run_id"][:2]
    a, b = wb.evaluate_run(ws, run_a), wb.evaluate_run(ws, run_b)
    assert a["accuracy"] == a.to_dict()["accuracy"] and json.loads(json.dumps(a)) == a.to_dict()
    assert {"threshold", "coverage", "accuracy", "run"} <= set(a.curve.columns) and len(a.curve) > 10
    assert a.curve["coverage"].max() == pytest.approx(1.0)
    assert a.per_category["support"].sum() == a["n"]
    assert a.confusion["n"].sum() == a["n"]
    tidy = a.to_frame()
    assert list(tidy.columns) == ["metric", "value"]
    assert tidy.set_index("metric").loc["accuracy", "value"] == a["accuracy"]
    assert "coverage_at/0.95" in set(tidy["metric"])
    shown = a._repr_html_()
    assert run_a in shown and len(shown) < 3000 and "accuracy" in shown
    for figure in (wb.plot_coverage(a, b, target=0.9), wb.plot_levels(a, b), wb.plot_severity(a, b),
                   wb.plot_calibration(a), wb.plot_confusion(a)):
        hv.render(figure, backend="bokeh")  # renders without an error
    with pytest.raises(WorkbenchError, match="pass what wb.evaluate_run returns"):
        wb.plot_coverage({"accuracy": 1.0})


def test_json_text_columns_come_decoded(hostile_ws):
    ws = hostile_ws.ws
    runs = wb.list_runs(ws)
    assert runs["accuracy"].map(lambda v: isinstance(v, float)).all()
    assert isinstance(runs["params"].iloc[0], dict)
    items = wb.queue_items(ws)
    assert len(items) and items["detail"].map(lambda d: isinstance(d, dict)).all()
    rows = wb.classifications(ws)
    assert len(rows) and rows["top5"].map(lambda t: isinstance(t, list) and "leaf" in t[0]).all()


def test_inspect_file_shows_the_columns_and_a_mapping_that_ingests(tmp_path):
    from workbench.catalog.datasets import locate

    path = locate("fashion/styles.csv", download=False)
    found = wb.inspect_file(path)
    frame = found.to_frame()
    assert frame.set_index("name").loc["productDisplayName", "guessed_as"] == "title"
    assert found.mapping.levels == ["masterCategory", "subCategory", "articleType"]
    depths = found.depths  # the validated depth cut: fashion keeps its three levels
    assert depths["depth"].tolist() == [1, 2, 3] and depths["chosen"].tolist() == [False, False, True]
    assert (depths["accuracy"] >= 0.85).all() and depths["leaves"].is_monotonic_increasing
    assert "productDisplayName" in found._repr_html_()
    ws = wb.Workspace(tmp_path / "own")
    summary = wb.ingest_file(ws, path, found.mapping, sample=300)
    assert ws.scalar("SELECT count(*) FROM products") == summary.accepted > 250



def test_summaries_show_as_text_and_frames(tmp_path):
    """An ingest summary (as a classify or queue summary) shows its text, not a dataclass repr."""
    ws = wb.Workspace(tmp_path / "ws")
    summary = wb.ingest_dataset(ws, "fashion", sample=200, seed=1)
    shown = summary._repr_html_()
    assert shown.startswith("<pre") and "products accepted" in shown and "IngestSummary(" not in shown
    row = summary.to_frame()
    assert len(row) == 1 and row["accepted"].iloc[0] == summary.accepted == 200


def test_predictions_show_a_few_rows_not_six_screens(evaluated_ws):
    run_id = wb.list_runs(evaluated_ws)["run_id"].iloc[-1]
    p = wb.load_predictions(evaluated_ws, run_id, "test")
    frame = p.to_frame(top_k=2)
    assert len(frame) == len(p.product_ids) and {"leaf_2", "proba_2", "correct"} <= set(frame.columns)
    assert frame["correct"].mean() == pytest.approx(wb.list_runs(evaluated_ws)["accuracy"].iloc[-1])
    assert len(repr(p)) < 200 and len(p._repr_html_()) < 5000
