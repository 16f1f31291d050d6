"""evaluate_run, the stored evaluation tables, the ``evaluate`` / ``shelve-preview`` commands and
published thresholds, on a workspace holding a run recorded from real predictions."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest

from _evaluate_real import real_predictions
from workbench.cli.main import main
from workbench.errors import WorkbenchError
from workbench.evaluate import neighbour_share, threshold_for_accuracy
from workbench.runs.evaluation import evaluate_run
from workbench.runs.evaluation_tables import stored_metrics
from workbench.runs.records import record_run
from workbench.store import Workspace
from workbench.loop.thresholds import publish_thresholds, published_thresholds, threshold_history


def _record(ws: Workspace, run_id: str) -> str:
    r = real_predictions()
    return record_run(ws, run_id=run_id, model="tfidf", split="random", params={"C": 10.0}, metrics={},
                      train_seconds=1.0, peak_memory_mb=None, data_fingerprint="fashion-1500",
                      split_fingerprint="1000/200/300", classes=list(r.classes),
                      parts={"valid": (r.valid_ids, r.y_valid, r.proba_valid),
                             "test": (r.test_ids, r.y_test, r.proba_test)})


@pytest.fixture
def ws(tmp_path):
    """A workspace with the real sample's taxonomy and one recorded TF-IDF run."""
    workspace = Workspace(tmp_path / "ws")
    categories = real_predictions().taxonomy.to_frame()
    with workspace.transaction() as cur:
        cur.register("_cats", categories)
        cur.execute("INSERT INTO categories SELECT * FROM _cats")
        cur.unregister("_cats")
    _record(workspace, "run-a")
    yield workspace
    workspace.close()


def test_evaluate_run_computes_and_stores_every_table(ws):
    r = real_predictions()
    m = evaluate_run(ws, "run-a")
    correct = r.classes[r.proba_test.argmax(axis=1)] == r.y_test
    assert m["n"] == 300 and m["accuracy"] == pytest.approx(correct.mean())
    assert set(m["coverage_at"]) == {"0.9", "0.95", "0.98", "0.99"}
    for key, thr in m["threshold_at"].items():
        assert thr == threshold_for_accuracy(r.y_test, r.proba_test, classes=r.classes, target=float(key))
        conf = r.proba_test.max(axis=1)
        expected = 0.0 if thr is None else np.mean(conf >= thr)
        assert m["coverage_at"][key] == pytest.approx(expected)
    assert sum(m["severity"].values()) == pytest.approx(1.0) and m["severity"]["0"] == pytest.approx(m["accuracy"])
    assert list(m["level_accuracy"]) == ["masterCategory", "subCategory", "articleType"]
    assert m["neighbour_share"] is None  # no category_neighbours table in this workspace
    assert stored_metrics(ws, "run-a") == json.loads(json.dumps(m))
    curve = ws.df("SELECT * FROM eval_curve WHERE run_id = 'run-a' ORDER BY threshold DESC")
    assert len(curve) == len(np.unique(r.proba_test.max(axis=1)))  # below 2,000 points: all kept
    assert curve["coverage"].iloc[-1] == 1.0 and curve["threshold"].iloc[0] == pytest.approx(r.proba_test.max())
    per_leaf = ws.df("SELECT * FROM eval_per_leaf WHERE run_id = 'run-a'")
    assert len(per_leaf) == len(r.classes) and per_leaf["support"].sum() == 300
    sev = ws.df("SELECT * FROM eval_severity WHERE run_id = 'run-a'")
    assert sev["n"].sum() == 300
    assert ws.scalar("SELECT sum(count) FROM eval_calibration WHERE run_id = 'run-a'") == 300
    assert ws.scalar("SELECT count(*) FROM eval_level_accuracy WHERE run_id = 'run-a'") == 3
    assert ws.scalar("SELECT sum(n) FROM eval_confusion WHERE run_id = 'run-a'") == 300
    worst = ws.df("SELECT * FROM eval_worst_errors WHERE run_id = 'run-a'")
    assert len(worst) == (~correct).sum() and worst["distance"].is_monotonic_decreasing
    assert set(worst["product_id"]) <= set(r.test_ids)
    cats = ws.df("SELECT DISTINCT target, \"by\" FROM eval_category_thresholds WHERE run_id = 'run-a'")
    assert len(cats) == 8


def test_re_evaluating_replaces_rows_and_parts_are_separate(ws):
    evaluate_run(ws, "run-a")
    n_curve = ws.scalar("SELECT count(*) FROM eval_curve")
    evaluate_run(ws, "run-a", targets=(0.9,))
    assert ws.scalar("SELECT count(*) FROM evaluations") == 1
    assert ws.scalar("SELECT count(*) FROM eval_curve") == n_curve
    assert ws.scalar("SELECT count(DISTINCT target) FROM eval_category_thresholds") == 1
    valid = evaluate_run(ws, "run-a", part="valid")
    assert valid["n"] == 200 and ws.scalar("SELECT count(*) FROM evaluations") == 2
    with pytest.raises(WorkbenchError, match="no run"):
        evaluate_run(ws, "run-zzz")


def test_semantic_neighbours_are_read_when_the_table_exists(ws):
    r = real_predictions()
    rows = [(leaf, nb, rank, 1.0 - rank / 10) for leaf in r.classes
            for rank, nb in enumerate(r.taxonomy.siblings(leaf)[:7], start=1)]
    with ws.transaction() as cur:
        cur.execute("DELETE FROM category_neighbours")  # the table every workspace has, filled here
        cur.executemany("INSERT INTO category_neighbours VALUES (?, ?, ?, ?)", [list(x) for x in rows])
    m = evaluate_run(ws, "run-a")
    five = {leaf: r.taxonomy.siblings(leaf)[:5] for leaf in r.classes if r.taxonomy.siblings(leaf)}
    assert m["neighbour_share"] == pytest.approx(
        neighbour_share(r.y_test, r.proba_test, classes=r.classes, neighbours=five, k=5))
    assert m["neighbour_share"] > 0 and m["neighbour_error_share"] is not None


def test_cli_evaluate_json_and_summary(ws, capsys):
    assert main(["evaluate", "--workspace", str(ws.path), "--run", "run-a", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("accuracy", "macro_f1", "ece", "coverage_at", "threshold_at", "severity",
                "level_accuracy", "hierarchical"):
        assert key in out
    assert out["run_id"] == "run-a" and set(out["hierarchical"]) == {"precision", "recall", "f1"}
    assert all(isinstance(k, str) for k in out["severity"]) and "0.95" in out["coverage_at"]
    assert out == stored_metrics(ws, "run-a")
    assert main(["evaluate", "--workspace", str(ws.path), "--part", "valid", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 200  # the latest run by default
    _record(ws, "run-b")
    assert main(["evaluate", "--workspace", str(ws.path), "--all", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"run-a", "run-b"}
    assert main(["evaluate", "--workspace", str(ws.path), "--run", "run-b"]) == 0
    text = capsys.readouterr().out
    assert "run run-b (test, 300 products)" in text and "macro-F1" in text and "95%" in text
    assert main(["evaluate", "--workspace", str(ws.path), "--run", "nope"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


def test_cli_shelve_preview_with_threshold_and_published_thresholds(ws, capsys):
    r = real_predictions()
    conf = r.proba_test.max(axis=1)
    pred = r.classes[r.proba_test.argmax(axis=1)]
    assert main(["shelve-preview", "--workspace", str(ws.path), "--run", "run-a", "--threshold", "0.9",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shelved"] == int((conf >= np.float32(0.9)).sum()) and out["shelved"] + out["review"] == 300
    assert out["thresholds_from"] == "argument"
    assert main(["shelve-preview", "--workspace", str(ws.path), "--run", "run-a"]) == 2
    assert "no thresholds published" in capsys.readouterr().err
    publish_thresholds(ws, 0.5, {"Apparel": 0.97}, by="tester")
    assert main(["shelve-preview", "--workspace", str(ws.path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    thr = np.where([p.startswith("Apparel > ") for p in pred], 0.97, 0.5)
    assert out["thresholds_from"] == "published" and out["overrides"] == {"Apparel": 0.97}
    assert out["shelved"] == int((conf >= thr).sum())
    assert main(["shelve-preview", "--workspace", str(ws.path), "--threshold", "0.5"]) == 0
    assert "auto-shelved" in capsys.readouterr().out


def test_publish_thresholds_replaces_keeps_history_and_rolls_back(ws):
    assert published_thresholds(ws) == (None, {})
    assert publish_thresholds(ws, 0.9, {"Apparel": 0.95, "Footwear > Shoes": 0.8}, by="ana") == 1
    assert publish_thresholds(ws, 0.85, {"Apparel": 0.9}, by="ben") == 2
    assert published_thresholds(ws) == (0.85, {"Apparel": 0.9})
    history = threshold_history(ws)
    assert history.groupby("version").size().to_dict() == {1: 3, 2: 2}
    assert set(history.loc[history["version"] == 1, "published_by"]) == {"ana"}
    with pytest.raises(WorkbenchError, match="unknown category"):
        publish_thresholds(ws, 0.8, {"Nope": 0.9}, by="ben")
    with pytest.raises(WorkbenchError, match=">= 0"):
        publish_thresholds(ws, -1, by="ben")
    assert published_thresholds(ws) == (0.85, {"Apparel": 0.9})
    # make the history write fail after the current set was already replaced inside the transaction
    with ws.transaction() as cur:
        cur.execute("DROP TABLE threshold_history")
        cur.execute("CREATE TABLE threshold_history (version INTEGER, scope VARCHAR, node VARCHAR, "
                    "threshold DOUBLE CHECK (threshold > 5), published_by VARCHAR, published_at TIMESTAMP)")
    with pytest.raises(duckdb.Error):
        publish_thresholds(ws, 0.7, {"Apparel": 0.99}, by="cy")
    assert published_thresholds(ws) == (0.85, {"Apparel": 0.9})
    assert ws.scalar("SELECT count(*) FROM thresholds WHERE published_by = 'cy'") == 0


def test_evaluate_predictions_edge_cases_stay_json_ready(tmp_path):
    from workbench.runs.evaluation import evaluate_predictions
    from workbench.runs.evaluation_tables import store_evaluation
    from workbench.catalog.taxonomy import Taxonomy
    tax = Taxonomy([("A",), ("B",)])
    wrong = np.array([[.2, .8], [.9, .1], [.4, .6]])
    ev = evaluate_predictions(["A", "B", "A"], wrong, classes=tax.leaves, taxonomy=tax)
    m = json.loads(json.dumps(ev.metrics, allow_nan=False))  # no NaN or infinity leaks into JSON
    assert m["accuracy"] == 0 and m["threshold_at"]["0.9"] is None and m["coverage_at"]["0.9"] == 0.0
    assert m["severity"] == {"2": 1.0} and m["level_accuracy"] == {"level_1": 0.0}
    assert ev.tables["eval_category_thresholds"]["by"].unique().tolist() == ["leaf"]  # no parents
    workspace = Workspace(tmp_path / "edge")
    store_evaluation(workspace, "edge-run", "test", m, ev.tables)
    # every category is below min_support and the global target is unreachable: inf for all
    stored = workspace.df("SELECT threshold, source FROM eval_category_thresholds")
    assert set(stored["source"]) == {"global"} and np.isinf(stored["threshold"]).all()
    workspace.close()
