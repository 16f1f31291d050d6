"""The min-risk decision rule on real predictions, and per-level precision / recall / F1 with
macro-averaged hierarchical figures: as functions, in `workbench evaluate` (stored tables and
--json), at prediction time, and on the comparison page."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_recall_fscore_support

from workbench.catalog.taxonomy import Taxonomy
from workbench.cli.main import main
from workbench.errors import WorkbenchError
from workbench.evaluate._common import score, tree_index
from workbench.evaluate.decision import decide, expected_tree_distance, min_risk_leaves
from workbench.evaluate.metrics import (hierarchical_prf_from, hierarchical_prf_macro_from, level_prf_from,
                                        macro_f1, macro_f1_of_leaves, per_node_report_from)
from workbench.evaluate.severity import error_severity
from workbench.runs.evaluation import evaluate_predictions, evaluate_run, workspace_taxonomy
from workbench.runs.evaluation_tables import stored_metrics, stored_table
from workbench.runs.records import list_runs, load_predictions


@pytest.fixture(scope="module")
def real(evaluated_ws, tmp_path_factory):
    """A copy of the shared evaluated workspace (these tests add evaluations and classify new
    products), and the predictions of its weak (400 training products) and full tfidf run."""
    import shutil

    from workbench import Workspace

    evaluated_ws.rows("CHECKPOINT")
    target = tmp_path_factory.mktemp("min_risk") / "ws"
    shutil.copytree(evaluated_ws.path, target)
    ws = Workspace(target)
    taxonomy = workspace_taxonomy(ws)
    runs = list(list_runs(ws)["run_id"])
    return ws, taxonomy, {r: load_predictions(ws, r, "test") for r in runs}


def distance_matrix(taxonomy: Taxonomy, classes) -> np.ndarray:
    return np.array([[taxonomy.distance(a, b) for b in classes] for a in classes], dtype=np.float64)


def test_min_risk_never_picks_a_leaf_farther_in_expectation_than_the_argmax(real):
    """The property, checked against a distance matrix built leaf by leaf from the taxonomy."""
    _, taxonomy, preds = real
    changed = 0
    for p in preds.values():
        D = distance_matrix(taxonomy, p.classes)
        risk = np.asarray(p.proba, dtype=np.float64) @ D.T  # E[d(j, Y)] = sum_c p_c d(j, c)
        pick = min_risk_leaves(p.proba, classes=p.classes, taxonomy=taxonomy)
        top = p.proba.argmax(axis=1)
        rows = np.arange(len(pick))
        assert (risk[rows, pick] <= risk[rows, top] + 1e-9).all()
        assert (p.proba[rows, pick] > 0).all()  # never a leaf the model gives nothing
        # and it is the minimum over the leaves the model gives probability to
        masked = np.where(p.proba > 0, risk, np.inf)
        np.testing.assert_allclose(risk[rows, pick], masked.min(axis=1), atol=1e-9)
        np.testing.assert_allclose(expected_tree_distance(p.proba, classes=p.classes, taxonomy=taxonomy),
                                   risk, atol=1e-9)
        changed += int((pick != top).sum())
    assert changed > 0  # the rule does something on the weak run's hesitant predictions


def test_min_risk_reduces_expected_severity_on_a_hesitant_product():
    taxonomy = Taxonomy.from_node_ids(["Footwear > Shoes > Flats", "Footwear > Shoes > Heels",
                                       "Accessories > Watches > Watches"])
    classes = taxonomy.leaves
    # the watch is the single most probable leaf, but shoes hold 60% of the mass
    proba = np.array([[0.40, 0.30, 0.30]])  # Accessories...Watches, Flats, Heels
    assert classes[0].startswith("Accessories")
    assert decide(proba, classes=classes, decision="argmax")[0] == 0
    assert decide(proba, classes=classes, taxonomy=taxonomy, decision="min-risk")[0] == 1
    with pytest.raises(WorkbenchError, match="needs the taxonomy"):
        decide(proba, classes=classes, decision="min-risk")
    with pytest.raises(WorkbenchError, match="unknown decision"):
        decide(proba, classes=classes, decision="vote")


def test_min_risk_is_evaluated_as_its_own_rows_beside_the_argmax(real, capsys):
    ws, taxonomy, preds = real
    run_id = next(iter(preds))
    before = stored_metrics(ws, run_id)
    out = evaluate_run(ws, run_id, decision="min-risk")
    assert out["decision"] == "min-risk" and out["part"] == "test"
    assert stored_metrics(ws, run_id) == before  # the argmax figures are untouched
    assert stored_metrics(ws, run_id, decision="min-risk")["accuracy"] == pytest.approx(out["accuracy"])
    assert len(stored_table(ws, "eval_curve", [run_id], decision="min-risk"))
    p = preds[run_id]
    pick = min_risk_leaves(p.proba, classes=p.classes, taxonomy=taxonomy)
    sev = error_severity(p.y_true, p.proba, classes=p.classes, taxonomy=taxonomy, pred=pick)
    assert out["accuracy"] == pytest.approx(float(np.mean(p.classes[pick] == p.y_true)))
    assert out["cross_family_error_share"] == pytest.approx(sev["cross_family_error_share"])
    assert out["mean_error_distance"] == pytest.approx(sev["mean_error_distance"])
    # the command line: both rules, one JSON object keyed by run (and rule)
    assert main(["evaluate", "--workspace", str(ws.path), "--run", run_id, "--decision", "argmax",
                 "--decision", "min-risk", "--json"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert set(both) == {run_id, f"{run_id}@min-risk"}
    assert both[run_id]["decision"] == "argmax" and both[f"{run_id}@min-risk"]["decision"] == "min-risk"
    assert main(["evaluate", "--workspace", str(ws.path), "--run", run_id, "--decision", "min-risk"]) == 0
    text = capsys.readouterr().out
    assert "decision min-risk" in text and "cross-family" in text and "per level precision" in text


def test_cross_family_errors_and_error_distance_by_hand():
    taxonomy = Taxonomy.from_node_ids(["A > a > 1", "A > a > 2", "A > b > 3", "B > c > 4"])
    classes = taxonomy.leaves
    eye = np.eye(4)
    truth = ["A > a > 1", "A > a > 1", "A > a > 1", "A > a > 1"]
    proba = eye[[0, 1, 2, 3]]  # right, sibling (same family), other family, other department
    sev = error_severity(truth, proba, classes=classes, taxonomy=taxonomy)
    assert sev["errors"] == 3 and sev["family_level"] == 2
    assert sev["mean_error_distance"] == pytest.approx((2 + 4 + 6) / 3)
    assert sev["cross_family_errors"] == 2 and sev["cross_family_error_share"] == pytest.approx(2 / 3)
    assert sev["cross_family_rate"] == pytest.approx(2 / 4)


# per-level precision, recall, F1 --------------------------------------------------------------
def test_level_prf_matches_scikit_learn_at_every_level(real):
    _, taxonomy, preds = real
    p = next(iter(preds.values()))
    s = score(p.y_true, p.proba, p.classes)
    tree = tree_index(taxonomy, s.classes)
    levels = level_prf_from(s, tree)
    assert list(levels.index) == taxonomy.level_names
    for lvl, name in enumerate(taxonomy.level_names, 1):
        true = [taxonomy.ancestor_at(t, lvl) for t in p.y_true]
        pred = [taxonomy.ancestor_at(x, lvl) for x in p.classes[s.pred]]
        P, R, F, _ = precision_recall_fscore_support(true, pred, average="macro", zero_division=np.nan)
        row = levels.loc[name]
        assert row["precision_macro"] == pytest.approx(P) and row["recall_macro"] == pytest.approx(R)
        Pm, Rm, Fm, _ = precision_recall_fscore_support(true, pred, average="micro")
        assert row["precision_micro"] == pytest.approx(Pm) and row["f1_micro"] == pytest.approx(Fm)
        f1s = precision_recall_fscore_support(true, pred, average=None, zero_division=np.nan)[2]
        assert row["f1_macro"] == pytest.approx(np.nanmean(f1s))
    # at the leaf level the macro-F1 is the flat macro-F1
    assert levels["f1_macro"].iloc[-1] == pytest.approx(macro_f1(p.y_true, p.proba, classes=p.classes))
    nodes = per_node_report_from(s, tree)
    assert set(nodes["level"]) == {1, 2, 3} and (nodes["support"] + nodes["n_predicted"] > 0).all()


def test_macro_hierarchical_prf_by_hand():
    taxonomy = Taxonomy.from_node_ids(["A > a > 1", "A > a > 2", "B > c > 4"])
    classes = taxonomy.leaves
    truth = ["A > a > 1", "A > a > 1", "B > c > 4"]
    proba = np.eye(3)[[0, 1, 1]]  # right; sibling (2 of 3 ancestors shared); other department (0)
    s = score(truth, proba, classes)
    tree = tree_index(taxonomy, classes)
    macro = hierarchical_prf_macro_from(s, tree)
    # per leaf: 1 predicted once (3/3), 2 predicted twice (2+0)/6; recall: 1 (3+2)/6, 4 0/3
    assert macro["precision"] == pytest.approx((1 + 2 / 6) / 2)
    assert macro["recall"] == pytest.approx((5 / 6 + 0) / 2)
    # hF: leaf 1 (3+5)/(3+6), leaf 2 (2+0)/(6+0), leaf 4 (0+0)/(0+3)
    assert macro["f1"] == pytest.approx((8 / 9 + 2 / 6 + 0) / 3)
    micro = hierarchical_prf_from(s, tree)
    assert micro["precision"] == pytest.approx(5 / 9)
    assert macro_f1_of_leaves(truth, proba, classes=classes, leaves=["B > c > 4"]) == 0.0


def test_evaluate_stores_and_prints_per_level_prf(real, capsys):
    ws, taxonomy, preds = real
    run_id = list(preds)[-1]
    assert main(["evaluate", "--workspace", str(ws.path), "--run", run_id, "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert list(m["level_prf"]) == taxonomy.level_names
    assert set(m["level_prf"]["articleType"]) >= {"precision_macro", "recall_macro", "f1_macro",
                                                  "precision_micro", "recall_micro", "f1_micro"}
    assert set(m["hierarchical_macro"]) == {"precision", "recall", "f1"}
    table = stored_table(ws, "eval_level_accuracy", [run_id])
    assert table["f1_macro"].notna().all() and len(table) == 3
    nodes = stored_table(ws, "eval_per_node", [run_id])
    assert set(nodes["level"]) == {1, 2, 3} and nodes["node"].str.len().gt(0).all()


def test_an_old_workspace_gains_the_new_columns(tmp_path):
    """eval_level_accuracy created before the P/R/F columns: opening the workspace (its first
    migration) adds them, and the next evaluation fills them."""
    import duckdb

    from workbench import Workspace
    from workbench.store.schema import CORE_DDL

    folder = tmp_path / "old"
    folder.mkdir()
    raw = duckdb.connect(str(folder / "workbench.duckdb"))
    raw.execute(CORE_DDL)
    raw.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    raw.execute("CREATE TABLE eval_level_accuracy (run_id VARCHAR, part VARCHAR, level INTEGER, "
                "level_name VARCHAR, accuracy DOUBLE, n BIGINT);")
    raw.close()
    ws = Workspace(folder)
    from workbench.runs.evaluation_tables import store_evaluation

    taxonomy = Taxonomy.from_node_ids(["A > a", "B > b"])
    ev = evaluate_predictions(["A > a", "B > b"], np.eye(2), classes=taxonomy.leaves, taxonomy=taxonomy)
    store_evaluation(ws, "r1", "test", ev.metrics, ev.tables)
    table = ws.df("SELECT * FROM eval_level_accuracy")
    assert {"f1_macro", "precision_micro"} <= set(table.columns)
    assert table["f1_macro"].notna().all()


# prediction time and the comparison page --------------------------------------------------------
def test_classify_can_shelve_with_min_risk(real, tmp_path):
    from workbench.loop import simulation
    from workbench.loop.shelving import classify_file

    ws, taxonomy, preds = real
    run_id = list(preds)[0]  # the weak run: hesitant, so the rules differ
    rows = simulation.held_out_rows(ws, "fashion", 200, seed=11)
    path = simulation.write_new_arrivals(rows, tmp_path / "new.csv", "fashion")
    summary = classify_file(ws, path, dataset="fashion", run_id=run_id, threshold=0.5, decision="min-risk",
                            batch_date="2026-03-01")
    got = ws.df("SELECT product_id, leaf, proba, top5 FROM classifications WHERE batch_date = '2026-03-01'")
    assert len(got) == summary.classified == 200
    top1 = [json.loads(t)[0]["leaf"] for t in got["top5"]]
    assert (got["leaf"] != pd.Series(top1)).any()  # some products got the min-risk leaf, not the top-1
    with pytest.raises(WorkbenchError, match="unknown decision"):
        classify_file(ws, path, dataset="fashion", run_id=run_id, decision="vote")


def test_comparison_page_shows_min_risk_rows_and_per_level_prf(real):
    from workbench.app.state import ComparisonState

    ws, _, preds = real
    for run_id in preds:
        evaluate_run(ws, run_id)
        evaluate_run(ws, run_id, decision="min-risk")
    state = ComparisonState(workspace=ws)
    assert len(state.metrics_table()) == len(preds)  # the headline table keeps one row per run
    table = state.decision_table()
    assert len(table) == 2 * len(preds) and set(table["decision"]) == {"argmax", "min-risk"}
    for run_id in preds:
        label = state.metrics_table().set_index("run_id").loc[run_id, "run"].removesuffix(" (default)")
        mine = table[table["run"] == label].set_index("decision")
        assert mine.loc["min-risk", "cross-family errors"] == pytest.approx(
            stored_metrics(ws, run_id, decision="min-risk")["cross_family_error_share"])
    levels = state.level_prf_table()
    assert len(levels) == len(preds)
    assert {"articleType P / R / F1", "hierarchical P / R / F1 (macro)"} <= set(levels.columns)
    p, r, f = (float(x.rstrip("%")) for x in levels["articleType P / R / F1"].iloc[0].split(" / "))
    assert 0 < p <= 100 and 0 < r <= 100 and 0 < f <= 100
    # the page's three tables list the runs in one order: the headline table's, most accurate first
    order = list(state.metrics_table()["run"].str.replace(" (default)", "", regex=False))
    assert list(levels["run"]) == order and list(dict.fromkeys(table["run"])) == order


def test_compare_shows_a_row_per_run_and_decision(real, capsys):
    ws, taxonomy, preds = real
    assert main(["compare", "--workspace", str(ws.path), "--decision", "argmax,min-risk", "--json"]) == 0
    rows = pd.DataFrame(json.loads(capsys.readouterr().out))
    assert len(rows) == 2 * len(preds) and set(rows["decision"]) == {"argmax", "min-risk"}
    for run_id, p in preds.items():
        mine = rows[rows["run_id"] == run_id].set_index("decision")
        assert mine.loc["argmax", "accuracy"] == pytest.approx(float(np.mean(p.classes[p.proba.argmax(1)] == p.y_true)))
        pick = min_risk_leaves(p.proba, classes=p.classes, taxonomy=taxonomy)
        sev = error_severity(p.y_true, p.proba, classes=p.classes, taxonomy=taxonomy, pred=pick)
        assert mine.loc["min-risk", "cross_family_errors"] == pytest.approx(sev["cross_family_error_share"])
        assert mine.loc["min-risk", "mean_error_distance"] == pytest.approx(sev["mean_error_distance"])
    assert main(["compare", "--workspace", str(ws.path), "--decision", "min-risk"]) == 0
    text = capsys.readouterr().out
    assert "min-risk" in text and "cross_family_errors" in text
    assert main(["compare", "--workspace", str(ws.path), "--decision", "vote"]) == 2
    assert "unknown decision rule 'vote'" in capsys.readouterr().err
