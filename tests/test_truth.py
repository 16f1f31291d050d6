"""Evaluation truth is versioned: accepting the model's predictions on test-part products changes
the labels every model is scored on, and the comparison must not credit a new run with that.

Real fashion products; the case of issue 31 reproduced: a reviewer sends wrong predictions of
the first run from a drill-down to the queue and accepts the model's leaf on test-part products.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.cli.main import main
from workbench.errors import WorkbenchError
from workbench.loop.queue_manual import send_to_queue
from workbench.loop.reviews import TEST_PART_NOTICE, TestPartChange, catalog_label, submit_review
from workbench.runs.registry import check_promotion
from workbench.runs.selection import ranked_runs
from workbench.runs.training import compare_runs, train_models
from workbench.runs.truth import (CURRENT, OLDER, current_truth_fingerprint, run_truth, truth_status)


@pytest.fixture(scope="module")
def case(sample_workspace):
    """1,200 real products, a tfidf run (250 training products), then 15 wrong test predictions accepted by a reviewer
    (each confirmed after the catalog label was shown), then the same training again."""
    ws = sample_workspace("truth_case", 1200)
    first = train_models(ws, ["tfidf"], "grouped", sample=250)[0]  # a weak run: many wrong answers
    before = {"accuracy": compare_runs(ws).set_index("run_id").loc[first, "accuracy"],
              "truth": run_truth(ws, first), "n": int(ws.scalar(
                  "SELECT count(*) FROM predictions WHERE run_id = ? AND part = 'test' AND rank = 1", [first]))}
    wrong = ws.df("SELECT product_id, leaf, true_leaf FROM predictions WHERE run_id = ? AND part = 'test' "
                  "AND rank = 1 AND leaf <> true_leaf ORDER BY product_id LIMIT 15", [first])
    assert len(wrong) == 15
    send_to_queue(ws, wrong["product_id"], by="drill-down", run_id=first)
    refused = []
    for pid in wrong["product_id"]:
        with pytest.raises(TestPartChange) as info:
            submit_review(ws, pid, reviewer="rita")  # accept the model's leaf: one more click needed
        refused.append(info.value)
        submit_review(ws, pid, reviewer="rita", confirm_test_change=True)
    second = train_models(ws, ["tfidf"], "grouped", sample=250)[0]  # the same training again
    return ws, first, second, before, wrong, refused


def test_a_test_label_change_needs_one_more_confirmation_showing_the_catalog_label(case):
    ws, first, second, before, wrong, refused = case
    change = refused[0]
    row = wrong.iloc[0]
    assert change.catalog_leaf == row["true_leaf"] and change.final_leaf == row["leaf"]
    assert TEST_PART_NOTICE in str(change).lower() and row["true_leaf"] in str(change) and "Nothing was saved" in str(change)
    # the refusal saved nothing; the confirmation did: one review per product, the label is human now
    assert ws.scalar("SELECT count(*) FROM reviews WHERE reviewer = 'rita'") == 15
    labels = ws.df("SELECT product_id, leaf, label_source FROM products WHERE product_id IN (SELECT unnest(?))",
                   [wrong["product_id"].tolist()]).set_index("product_id").loc[wrong["product_id"]]
    assert (labels["label_source"] == "human").all() and (labels["leaf"].to_numpy() == wrong["leaf"].to_numpy()).all()
    assert catalog_label(ws, row["product_id"]) == row["true_leaf"]  # the catalog's label stays known


def test_agreeing_with_the_catalog_or_a_product_outside_the_test_part_needs_no_confirmation(case):
    ws = case[0]
    pid, leaf = ws.rows("SELECT p.product_id, p.leaf FROM products p JOIN splits s USING (product_id) "
                        "WHERE s.kind = 'grouped' AND s.part = 'test' AND p.label_source = 'catalog' "
                        "AND p.product_id NOT IN (SELECT product_id FROM splits WHERE part = 'test' AND kind = 'random')"
                        " LIMIT 1")[0]
    other = ws.scalar("SELECT leaf FROM products WHERE leaf <> ? AND leaf IS NOT NULL LIMIT 1", [leaf])
    assert submit_review(ws, pid, reviewer="sam", final_leaf=leaf).final_leaf == leaf
    train_pid = ws.scalar("SELECT product_id FROM splits s JOIN products p USING (product_id) WHERE s.part = 'train' "
                          "AND p.label_source = 'catalog' AND product_id NOT IN "
                          "(SELECT product_id FROM splits WHERE part = 'test') LIMIT 1")
    assert submit_review(ws, train_pid, reviewer="sam", final_leaf=other).decision in ("accept", "correct")


def test_the_comparison_no_longer_credits_the_new_run_with_the_changed_labels(case):
    ws, first, second, before, wrong, _ = case
    table = compare_runs(ws).set_index("run_id")
    gain_if_naive = table.loc[second, "accuracy"] - before["accuracy"]
    # the naive comparison would credit the new run with exactly the 15 accepted predictions
    assert gain_if_naive == pytest.approx(15 / before["n"], abs=1e-9)
    # both runs are now scored on the same, current truth: the first run was re-scored
    assert table.loc[first, "truth"] == table.loc[second, "truth"] == current_truth_fingerprint(ws, "grouped")
    assert table.loc[first, "truth"] != before["truth"]
    assert table.loc[first, "accuracy"] == pytest.approx(table.loc[second, "accuracy"], abs=1e-9)
    assert "re-scored on the current labels" in table.loc[first, "notes"]
    # the re-scored figures say what they were before; the saved true leaves are the current ones
    metrics = ws.scalar("SELECT metrics FROM runs WHERE run_id = ?", [first])
    assert json.loads(metrics)["rescored"]["accuracy"] == pytest.approx(before["accuracy"])
    true_now = ws.df("SELECT product_id, true_leaf FROM predictions WHERE run_id = ? AND rank = 1 "
                     "AND product_id IN (SELECT unnest(?))", [first, wrong["product_id"].tolist()])
    assert (true_now.set_index("product_id").loc[wrong["product_id"], "true_leaf"].to_numpy()
            == wrong["leaf"].to_numpy()).all()
    assert set(truth_status(ws).values()) == {CURRENT}


def test_evaluate_json_shows_the_truth(case, capsys):
    ws, first = case[0], case[1]
    assert main(["evaluate", "--workspace", str(ws.path), "--run", first, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["truth"] == current_truth_fingerprint(ws, "grouped")
    assert ws.scalar("SELECT truth FROM evaluations WHERE run_id = ? AND part = 'test'", [first]) == out["truth"]


def test_a_run_that_cannot_be_rescored_is_shown_as_scored_on_older_labels_and_never_chosen(sample_workspace):
    ws = sample_workspace("truth_older", 800, seed=3)
    run = train_models(ws, ["tfidf"], "grouped")[0]
    moved = ws.scalar("SELECT product_id FROM splits WHERE kind = 'grouped' AND part = 'test' ORDER BY product_id LIMIT 1")
    with ws.transaction() as cur:  # the split itself changed: a test product is in train now
        cur.execute("UPDATE splits SET part = 'train' WHERE kind = 'grouped' AND product_id = ?", [moved])
    table = compare_runs(ws).set_index("run_id")
    assert "scored on older labels" in table.loc[run, "notes"]
    assert truth_status(ws)[run] == OLDER
    ranked = ranked_runs(ws)
    assert not ranked.set_index("run_id").loc[run, "eligible"]
    gate = check_promotion(ws, run)
    assert not gate.passed and any("older labels" in r for r in gate.reasons)
    with pytest.raises(WorkbenchError, match="older labels"):
        from workbench.runs.registry import promote

        promote(ws, run, by="admin")
    assert np.isfinite(table.loc[run, "accuracy"])
    # the comparison page says so too, and does not open on it as the default
    from workbench.app.state.comparison import ComparisonState

    shown = ComparisonState(workspace=ws).metrics_table()
    assert len(shown) == 1 and "scored on older labels" in shown["notes"].iloc[0]
