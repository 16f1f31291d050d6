"""Suspect catalog labels on real fashion products: planted flips are found by cleanlab over
k-fold out-of-sample probabilities, they reach the review queue as a fourth reason, a
reviewer's decision becomes a human label, and ``retrain`` trains on it."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from workbench.cli.main import main
from workbench.errors import WorkbenchError
from workbench.loop.label_issues import find_label_issues, rank_label_issues, stored_issues, suspect_candidates
from workbench.loop.labels import label_history
from workbench.loop.retraining import retrain, training_set
from workbench.loop.review_queue import build_queue, queue_counts, queue_items
from workbench.loop.reviews import submit_review
from workbench.loop.simulation import plant_label_flips
from workbench.runs.records import get_run, load_predictions
from workbench.runs.selection import ranked_runs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def planted(sample_workspace):
    """2,000 real fashion products with 2% of the training labels flipped (half to a sibling,
    half anywhere), and one label-issues scan (5-fold tfidf)."""
    ws = sample_workspace("label_issues", 2000, seed=3)
    flips = plant_label_flips(ws, 0.02, sibling_share=0.5, seed=0)
    scan = find_label_issues(ws)
    return ws, flips, scan


def test_planting_flips_two_percent_half_to_siblings(planted):
    ws, flips, _ = planted
    from workbench import load_taxonomy

    taxonomy = load_taxonomy(ws)
    train = ws.scalar("SELECT count(*) FROM splits s JOIN products p USING (product_id) "
                      "WHERE s.kind = 'grouped' AND s.part = 'train' AND p.leaf IS NOT NULL")
    assert len(flips) == round(0.02 * train)
    assert (flips["original"] != flips["planted"]).all()
    siblings = flips[flips["kind"] == "sibling"]
    assert abs(len(siblings) - len(flips) / 2) <= 1
    assert all(taxonomy.parent(a) == taxonomy.parent(b) for a, b in zip(siblings["original"], siblings["planted"]))
    stored = ws.df("SELECT product_id, leaf, category_path, label_source FROM products "
                   "WHERE product_id IN (SELECT unnest(?))", [flips["product_id"].tolist()]).set_index("product_id")
    assert (stored.loc[flips["product_id"], "leaf"].to_numpy() == flips["planted"].to_numpy()).all()
    assert (stored["label_source"] == "catalog").all()


def test_label_issues_find_more_than_half_of_the_planted_flips(planted):
    ws, flips, scan = planted
    flagged = set(scan.issues["product_id"])
    found = flips["product_id"].isin(flagged)
    assert found.mean() > 0.5, (found.mean(), len(flagged))
    # flips to anywhere are the easy ones: most are found, and the suggestion is the true leaf
    anywhere = flips[flips["kind"] == "anywhere"].merge(scan.issues, on="product_id")
    assert len(anywhere) >= 0.7 * (flips["kind"] == "anywhere").sum()
    assert (anywhere["suggested_leaf"] == anywhere["original"]).mean() > 0.7
    # a flagged set far larger than the noise would be useless to reviewers
    assert len(flagged) < 0.15 * scan.n_products


def test_issues_are_ranked_with_a_suggestion_and_a_score(planted):
    ws, _, scan = planted
    issues = stored_issues(ws)
    assert list(issues["rank"]) == list(range(1, len(issues) + 1))
    assert (issues["score"].diff().dropna() >= 0).all()  # most suspect (lowest label quality) first
    assert (issues["suggested_leaf"] != issues["given_leaf"]).all()
    assert (issues["given_proba"] == issues["score"]).all()  # self_confidence
    assert (issues["suggested_proba"] > issues["given_proba"]).mean() > 0.9
    assert issues["title"].notna().all() and (issues["run_id"] == scan.run_id).all()


def test_issues_are_written_in_chunks_and_shown_all_at_once(planted):
    """A scan's issues go in in short transactions under a key no reader asks for, then one
    short transaction shows them: rows of a scan still being written are never read, and a
    rerank of the same run replaces its issues (none twice)."""
    from workbench.loop.label_issues import latest_issues_run

    ws, _, scan = planted
    before = stored_issues(ws, scan.run_id)
    half = before.head(5).drop(columns=["title", "current_leaf", "label_source"]).assign(
        run_id=f"{scan.run_id}-other@20990101000000-abcdef", found_at=pd.Timestamp("2099-01-01"))
    with ws.transaction() as cur:  # what a scan that has not finished has written so far
        cur.register("_half", half)
        cur.execute("INSERT INTO label_issues BY NAME SELECT * FROM _half")
        cur.unregister("_half")
    try:
        assert latest_issues_run(ws) == scan.run_id  # the newer, unfinished one is not a scan yet
        assert len(stored_issues(ws)) == len(before)
        again = find_label_issues(ws, run_id=scan.run_id)
        after = stored_issues(ws, scan.run_id)
        assert len(after) == len(again.issues) and after["product_id"].is_unique
        assert ws.scalar("SELECT count(*) FROM label_issues WHERE run_id LIKE ?", [f"{scan.run_id}@%"]) == len(after)
        assert ws.scalar("SELECT count(*) FROM label_issues WHERE run_id = ?", [scan.run_id]) == 0  # as a key
    finally:
        with ws.transaction() as cur:
            cur.execute("DELETE FROM label_issues WHERE run_id = ?", [half["run_id"].iloc[0]])


def test_the_kfold_run_is_recorded_out_of_sample_and_never_the_default(planted):
    ws, _, scan = planted
    run = get_run(ws, scan.run_id)
    assert run["model"] == "tfidf" and run["split"] == "5-fold"
    params = json.loads(run["params"]) if isinstance(run["params"], str) else run["params"]
    cv = params["cross_validation"]
    assert cv["folds"] == 5 and sum(cv["fold_sizes"]) == scan.n_products and len(cv["fold_seconds"]) == 5
    preds = load_predictions(ws, scan.run_id, "test")
    assert len(preds.y_true) == scan.n_products == ws.scalar("SELECT count(*) FROM products WHERE leaf IS NOT NULL")
    np.testing.assert_allclose(preds.proba.sum(axis=1), 1.0, atol=1e-4)
    ranked = ranked_runs(ws).set_index("run_id")
    assert not ranked.loc[scan.run_id, "eligible"] and not ranked.loc[scan.run_id, "has_model"]
    # colour variants (same normalised title) were predicted together, out of sample
    keys = ws.df("SELECT product_id, title_key FROM products").set_index("product_id")["title_key"]
    from workbench.runs.cross_validation import fold_assignment

    folds = fold_assignment(preds.y_true, keys.loc[preds.product_ids].to_numpy(), 5, 0)
    groups = pd.DataFrame({"key": keys.loc[preds.product_ids].to_numpy(), "fold": folds})
    assert (groups.groupby("key")["fold"].nunique() == 1).all()


def test_clean_labels_are_not_flagged_and_bad_options_are_refused():
    """Confident probabilities that agree with every label flag nothing."""
    classes = np.array(["Footwear > Shoes > Flats", "Footwear > Shoes > Heels", "Accessories > Watches > Watches"],
                       dtype=object)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=300)
    proba = np.full((300, 3), 0.02)
    proba[np.arange(300), y] = 0.96
    assert rank_label_issues(classes[y], proba, classes=classes).empty
    with pytest.raises(WorkbenchError, match="unknown filter"):
        rank_label_issues(classes[y], proba, classes=classes, filter_by="guess")


def test_the_batched_memory_lean_path_finds_the_same_flips(planted):
    ws, flips, scan = planted
    preds = load_predictions(ws, scan.run_id, "test")
    lean = rank_label_issues(preds.y_true, preds.proba, classes=preds.classes, low_memory=True)
    assert lean.attrs["batched"]
    found = flips["product_id"].isin(set(preds.product_ids[lean["row"]]))
    assert found.mean() > 0.5


def test_cli_reranks_a_stored_run_and_writes_a_people_csv(planted, tmp_path, capsys):
    ws, _, scan = planted
    out = tmp_path / "issues.csv"
    assert main(["label-issues", "--workspace", str(ws.path), "--run", scan.run_id, "--json",
                 "--csv", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["run_id"] == scan.run_id and len(result["issues"]) == len(scan.issues)
    assert {"given_leaf", "suggested_leaf", "score", "title"} <= set(result["issues"][0])
    assert len(pd.read_csv(out)) == len(scan.issues)
    assert main(["label-issues", "--workspace", str(ws.path), "--run", scan.run_id, "--show", "3"]) == 0
    text = capsys.readouterr().out
    assert "flagged" in text and "queue build --suspect" in text and len(text.splitlines()) >= 5


def test_suspects_are_the_fourth_reason_of_the_queue_and_corrections_reach_retrain(planted, capsys):
    ws, flips, scan = planted
    day = "2026-02-02"
    summary = build_queue(ws, day, n_suspect=12)  # nothing classified: a queue of suspects alone
    assert summary.per_reason["suspect"] == 12 and summary.items == 12
    assert any("suspect catalog labels only" in n for n in summary.notes)
    items = queue_items(ws, day)
    assert set(items["reason"]) == {"suspect"} and (items["run_id"] == scan.run_id).all()
    detail = [json.loads(d)["suspect"] for d in items["detail"]]
    assert all(d["reason"] == f"suspect catalog label: suggested {d['suggested']}" for d in detail)
    assert (items["predicted_leaf"].to_numpy() == [d["suggested"] for d in detail]).all()
    assert all(len(d["top5"]) == 5 for d in detail)
    assert queue_counts(ws, day)["suspect"] == 12
    # the queue's own command line shows the reason in words
    assert main(["queue", "show", "--workspace", str(ws.path), "--date", day, "--json"]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert shown[0]["why"].startswith("suspect catalog label: suggested ")

    accepted, kept = items.iloc[0], items.iloc[1]
    review = submit_review(ws, accepted["product_id"], reviewer="ana", queue_date=day)
    assert review.decision == "accept" and review.final_leaf == accepted["predicted_leaf"]
    catalog_leaf = detail[1]["given"]
    review = submit_review(ws, kept["product_id"], reviewer="ana", final_leaf=catalog_leaf, queue_date=day)
    assert review.decision == "correct"
    history = label_history(ws, accepted["product_id"])
    assert list(history["source"]) == ["catalog", "human"]
    assert history["leaf"].iloc[0] == detail[0]["given"] and history["actor"].iloc[1] == "ana"
    assert "suspect" in history["reason"].iloc[1]
    # a decided suspect never comes back, and the next ones move up
    assert not suspect_candidates(ws, 1000)["product_id"].isin([accepted["product_id"], kept["product_id"]]).any()
    again = build_queue(ws, "2026-02-03", n_suspect=5)
    assert not queue_items(ws, "2026-02-03")["product_id"].isin(items["product_id"].head(2)).any()
    assert again.per_reason["suspect"] == 5

    run_id = retrain(ws, ["tfidf"])[0]
    trained = training_set(ws, run_id).set_index("product_id")
    for pid, leaf in ((accepted["product_id"], accepted["predicted_leaf"]), (kept["product_id"], catalog_leaf)):
        assert trained.loc[pid, "leaf"] == leaf and trained.loc[pid, "label_source"] == "human"


def test_queue_build_suspect_needs_a_scan(sample_workspace):
    ws = sample_workspace("no_scan", 300)
    with pytest.raises(WorkbenchError, match="workbench label-issues"):
        build_queue(ws, "2026-02-02", n_suspect=5)


def test_the_review_page_says_why_a_suspect_is_there(planted):
    """What a reviewer sees: the reason in words with the suggestion, the catalog's label, the
    out-of-sample top 5; seller text and category names stay inert."""
    from workbench.app.pages.review import product_html, top5_frame
    from workbench.app.state.review import ReviewState

    ws, _, _ = planted
    state = ReviewState(workspace=ws, reviewer="vic", queue_date=date(2026, 2, 3))
    item = state.item
    assert item is not None and item["reasons"] == ["suspect"]
    from workbench.security.safe_text import escape_html

    page = product_html(item)
    assert f"suspect catalog label: suggested {escape_html(item['suspect']['suggested'])}" in page
    assert f"Catalog label: <b class='wb-given'>{escape_html(item['suspect']['given'])}</b>" in page
    assert "out-of-sample suggestion" in page
    top = top5_frame(item)
    assert len(top) == 5 and top["category"].iloc[0] in (item["suspect"]["suggested"], item["suspect"]["given"])
    state.close()
    hostile = dict(item, title="<img src=x onerror=alert(1)>",
                   suspect={**item["suspect"], "given": "<script>x</script>", "suggested": "<b>y</b>"})
    page = product_html(hostile)
    assert "<img src=x" not in page and "<script>" not in page and "<b>y</b>" not in page
    assert "&lt;script&gt;" in page and "suggested &lt;b&gt;y&lt;/b&gt;" in page
