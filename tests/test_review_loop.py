"""The review loop on real fashion products: classify new arrivals, shelve or queue them, build
the daily queue, review with provenance, retrain on reviewed labels only, measure live accuracy."""

from __future__ import annotations

import json
import threading
from datetime import date

import numpy as np
import pandas as pd
import pytest

from _review_setup import THRESHOLD, build, true_accuracy
from workbench.cli.main import main
from workbench.errors import WorkbenchError
from workbench.loop.labels import current_labels, label_history, record_model_labels, retraining_frame, utc_now
from workbench.loop.live_accuracy import live_accuracy, live_accuracy_overall, random_sample_reviews, wilson_interval
from workbench.loop.review_queue import build_queue, claim_next, queue_counts, queue_items
from workbench.loop.reviews import list_reviews, submit_review, undo_last
from workbench.loop.shelving import classify_file, latest_classifications, predict_products, shelf

DAY1, DAY2, DAY3 = date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """1,500 catalog products, two tfidf runs, and three batches of real held-out products:
    day 1 for queue and review tests, day 2 for live accuracy, day 3 for retraining."""
    rw = build(tmp_path_factory.mktemp("review_loop"), batches={DAY1: 300, DAY2: 400, DAY3: 120})
    for day in (DAY1, DAY2, DAY3):
        classify_file(rw.ws, rw.files[day], dataset="fashion", run_id=rw.run_main, batch_date=day)
    return rw


def wrong_leaf(ws, leaf: str) -> str:
    """A leaf in another top-level category (an embarrassing miss)."""
    from workbench import load_taxonomy

    taxonomy = load_taxonomy(ws)
    return next(x for x in taxonomy.leaves if x.split(" > ")[0] != leaf.split(" > ")[0])


def test_classify_shelves_above_threshold_and_queues_below(loop):
    ws = loop.ws
    rows = latest_classifications(ws, DAY1)
    assert len(rows) == 300 and set(rows["run_id"]) == {loop.run_main}
    shelved = rows["decision"] == "shelved"
    assert shelved.any() and (~shelved).any()
    assert ((rows["proba"] >= THRESHOLD) == shelved).all()
    for top5, leaf, p in zip(rows["top5"], rows["leaf"], rows["proba"]):
        top = json.loads(top5)
        assert len(top) == 5 and top[0]["leaf"] == leaf and top[0]["proba"] == pytest.approx(p)
        assert all(a["proba"] >= b["proba"] for a, b in zip(top, top[1:]))
    products = ws.df("SELECT product_id, leaf, label_source, category_path FROM products "
                     "WHERE product_id IN (SELECT unnest(?))", [rows["product_id"].tolist()]).set_index("product_id")
    assert products["category_path"].isna().all()  # new arrivals came without categories
    on_shelf = products.loc[rows.loc[shelved, "product_id"]]
    assert (on_shelf["label_source"] == "model").all()
    assert (on_shelf["leaf"].to_numpy() == rows.loc[shelved, "leaf"].to_numpy()).all()
    assert products.loc[rows.loc[~shelved, "product_id"], "leaf"].isna().all()
    history = label_history(ws)
    model_rows = history[(history["source"] == "model") & history["product_id"].isin(on_shelf.index)]
    assert len(model_rows) == len(on_shelf) and model_rows["created_at"].notna().all()
    # the threshold separates: shelved products are right more often than queued ones
    right = np.array([loop.truth[p] == leaf for p, leaf in zip(rows["product_id"], rows["leaf"])])
    assert right[shelved.to_numpy()].mean() > right[~shelved.to_numpy()].mean() + 0.2


def test_classify_needs_a_run_and_sends_all_to_review_without_thresholds(loop, tmp_path):
    from workbench import Workspace
    from workbench.runs.predictor import Predictor, published_thresholds

    empty = Workspace(tmp_path / "empty")
    with pytest.raises(WorkbenchError, match="no run with a saved model"):
        classify_file(empty, loop.files[DAY1], dataset="fashion")
    assert published_thresholds(empty) == (None, {})
    assert Predictor.for_run(loop.ws, loop.run_main).threshold == THRESHOLD
    given = Predictor.for_run(loop.ws, loop.run_main, threshold=0.5)
    assert (given.threshold, given.overrides) == (0.5, {})


def test_export_shelved_writes_full_path_per_level(loop, tmp_path):
    out = tmp_path / "shelf.csv"
    assert main(["export", "--shelved", str(out), "--workspace", str(loop.ws.path)]) == 0
    frame = pd.read_csv(out, dtype=str)
    assert len(frame) == len(shelf(loop.ws)) > 0
    assert set(frame["source"]) <= {"model", "human"}
    for row in frame.itertuples(index=False):
        parts = row.leaf.split(" > ")
        assert row.masterCategory == parts[0]
        assert row.subCategory == " > ".join(parts[:2])
        assert row.articleType == row.leaf


def test_queue_holds_three_kinds_with_reasons(loop):
    ws = loop.ws
    summary = build_queue(ws, DAY1, n_random=60, n_uncertain=40, n_disagree=30,
                          runs=(loop.run_main, loop.run_weak), seed=3)
    items = queue_items(ws, DAY1)
    reasons = items["reason"].str.split(",")
    has = lambda r: reasons.map(lambda rs: r in rs)  # noqa: E731
    assert has("random").sum() == 60 and has("uncertain").sum() == 40 and has("disagree").sum() == 30
    assert summary.per_reason == {"random": 60, "uncertain": 40, "disagree": 30, "suspect": 0}
    assert items["product_id"].is_unique and len(items) == summary.items <= 130
    assert (items["in_random"] == has("random")).all()
    population = latest_classifications(ws, DAY1)
    lowest = set(population.nsmallest(40, "proba")["product_id"])
    assert set(items.loc[has("uncertain"), "product_id"]) == lowest
    # disagreement items really disagree: predict them again with both runs
    dis = items.loc[has("disagree"), "product_id"].tolist()
    pa, ca = predict_products(ws, loop.run_main, dis)
    pb, cb = predict_products(ws, loop.run_weak, dis)
    assert (ca[pa.argmax(1)] != cb[pb.argmax(1)]).all()
    for d in items.loc[has("disagree"), "detail"]:
        info = json.loads(d)["disagree"]
        assert info["leaves"][0] != info["leaves"][1]
    # seeded: the same seed gives the same random sample, another seed another one
    first = set(items.loc[has("random"), "product_id"])
    build_queue(ws, DAY1, n_random=60, n_uncertain=40, n_disagree=30, runs=(loop.run_main, loop.run_weak), seed=3)
    again = queue_items(ws, DAY1)
    assert set(again.loc[again["in_random"], "product_id"]) == first
    other = build_queue(ws, DAY1, n_random=60, n_uncertain=0, n_disagree=0, seed=4)
    assert other.per_reason["random"] == 60
    assert set(queue_items(ws, DAY1).query("in_random")["product_id"]) != first
    build_queue(ws, DAY1, n_random=60, n_uncertain=40, n_disagree=30, runs=(loop.run_main, loop.run_weak), seed=3)
    assert queue_counts(ws, DAY1)["total"] == len(items)


def test_queue_build_cli_and_errors(loop, capsys):
    assert main(["queue", "show", "--date", str(DAY1), "--workspace", str(loop.ws.path)]) == 0
    assert "random" in capsys.readouterr().out
    assert main(["queue", "build", "--date", "2020-01-01", "--workspace", str(loop.ws.path)]) == 2
    assert "no products were classified on 2020-01-01" in capsys.readouterr().err


def test_reviews_change_labels_with_provenance_and_undo(loop):
    ws = loop.ws
    build_queue(ws, DAY1, n_random=60, n_uncertain=40, n_disagree=30, runs=(loop.run_main, loop.run_weak), seed=3)
    items = queue_items(ws, DAY1, status="pending")
    shelved_item = items[items["label_source"] == "model"].iloc[0]
    queued_item = items[items["label_source"].isna()].iloc[0]
    before = utc_now()
    accepted = submit_review(ws, shelved_item["product_id"], reviewer="ana", queue_date=DAY1)
    assert accepted.decision == "accept" and accepted.final_leaf == shelved_item["predicted_leaf"]
    target = wrong_leaf(ws, queued_item["predicted_leaf"])
    corrected = submit_review(ws, queued_item["product_id"], reviewer="ana", final_leaf=target, queue_date=DAY1)
    assert corrected.decision == "correct"
    labels = current_labels(ws).set_index("product_id")
    for item, leaf in ((shelved_item, accepted.final_leaf), (queued_item, target)):
        assert labels.at[item["product_id"], "leaf"] == leaf
        assert labels.at[item["product_id"], "source"] == "human"
        assert labels.at[item["product_id"], "labelled_at"] >= before
        hist = label_history(ws, item["product_id"])
        human = hist[hist["source"] == "human"].iloc[-1]
        assert human["actor"] == "ana" and human["leaf"] == leaf and human["review_id"] > 0
    assert set(queue_items(ws, DAY1, status="done")["product_id"]) >= {accepted.product_id, corrected.product_id}
    saved = list_reviews(ws, reviewer="ana")
    assert set(saved["decision"]) == {"accept", "correct"} and saved["reviewed_at"].notna().all()
    # undo the correction: the product is unlabelled and pending again; history keeps both
    undone = undo_last(ws, "ana")
    assert undone.review_id == corrected.review_id
    row = ws.df("SELECT leaf, label_source FROM products WHERE product_id = ?", [queued_item["product_id"]])
    assert row["leaf"].isna().all() and row["label_source"].isna().all()
    assert queued_item["product_id"] in set(queue_items(ws, DAY1, status="pending")["product_id"])
    assert label_history(ws, queued_item["product_id"])["retracted"].tolist() == [True]
    # undo the acceptance: the model label is current again
    undo_last(ws, "ana")
    row = ws.df("SELECT leaf, label_source FROM products WHERE product_id = ?", [shelved_item["product_id"]])
    assert row.iloc[0].tolist() == [shelved_item["predicted_leaf"], "model"]
    assert undo_last(ws, "ana") is None
    assert len(list_reviews(ws, reviewer="ana", include_undone=True)) == 2
    with pytest.raises(WorkbenchError, match="not a leaf"):
        submit_review(ws, queued_item["product_id"], reviewer="ana", final_leaf="Apparel", queue_date=DAY1)
    with pytest.raises(WorkbenchError, match="reviewer"):
        submit_review(ws, queued_item["product_id"], reviewer=" ", queue_date=DAY1)


def test_claims_keep_two_sessions_on_different_items(loop):
    ws = loop.ws
    build_queue(ws, DAY1, n_random=60, n_uncertain=40, n_disagree=30, runs=(loop.run_main, loop.run_weak), seed=3)
    a = claim_next(ws, DAY1, "ana:s1")
    b = claim_next(ws, DAY1, "ben:s2")
    assert a["product_id"] != b["product_id"]
    assert claim_next(ws, DAY1, "ana:s1")["product_id"] == a["product_id"]  # re-claiming keeps it
    submit_review(ws, a["product_id"], reviewer="ana", queue_date=DAY1)
    nxt = claim_next(ws, DAY1, "ana:s1")
    assert nxt["product_id"] not in (a["product_id"], b["product_id"])
    undo_last(ws, "ana")


def test_twenty_concurrent_reviews_from_two_sessions_all_land(loop):
    ws = loop.ws
    build_queue(ws, DAY1, n_random=60, n_uncertain=40, n_disagree=30, runs=(loop.run_main, loop.run_weak), seed=3)
    pending = queue_items(ws, DAY1, status="pending")["product_id"].tolist()[:20]
    before = int(ws.scalar("SELECT count(*) FROM reviews"))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def session(name: str, ids: list[str]) -> None:
        barrier.wait()
        try:
            for pid in ids:
                submit_review(ws, pid, reviewer=name, queue_date=DAY1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=("cleo", pending[0::2])),
               threading.Thread(target=session, args=("dev", pending[1::2]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert int(ws.scalar("SELECT count(*) FROM reviews")) == before + 20
    landed = ws.df("SELECT product_id, reviewer FROM reviews WHERE reviewer IN ('cleo', 'dev')")
    assert sorted(landed["product_id"]) == sorted(pending)
    humans = ws.df("SELECT count(*) AS n FROM products WHERE label_source = 'human' "
                   "AND product_id IN (SELECT unnest(?))", [pending])["n"].iloc[0]
    assert humans == 20
    for name in ("cleo", "dev"):
        while undo_last(ws, name) is not None:
            pass


def test_review_state_accepts_corrects_undoes_and_refuses_viewers(loop):
    from workbench.app.state.review import ReviewState
    from workbench.security.auth import PermissionDenied

    from workbench.loop.reviews import set_blind_random_sample

    ws = loop.ws
    build_queue(ws, DAY1, n_random=60, n_uncertain=40, n_disagree=30, runs=(loop.run_main, loop.run_weak), seed=3)
    set_blind_random_sample(ws, False)  # this test accepts the suggestion of random-sample items too
    state = ReviewState(workspace=ws, reviewer="fay", role="reviewer")
    assert state.queue_date == DAY1 and state.item is not None
    first = state.item
    assert len(first["top5"]) == 5 and first["top5"][0]["leaf"] == first["predicted_leaf"]
    assert any(leaf.lower().endswith("tshirts") for leaf in state.leaf_options())
    saved = state.accept()
    assert saved.decision == "accept" and saved.product_id == first["product_id"]
    assert "Saved review" in state.message and "fay" in state.message
    second = state.item
    assert second["product_id"] != first["product_id"]
    target = wrong_leaf(ws, second["predicted_leaf"])
    state.correction = target
    corrected = state.correct()
    assert corrected.decision == "correct" and corrected.final_leaf == target
    assert list(state.recent["review_id"][:2]) == [corrected.review_id, saved.review_id]
    with pytest.raises(WorkbenchError, match="not a leaf"):
        state.correct("Apparel > Topwear")
    undone = state.undo()
    assert undone.review_id == corrected.review_id
    assert state.item["product_id"] == second["product_id"]  # the undone product is back on screen
    skipped = state.item["product_id"]
    state.skip()
    assert state.item["product_id"] != skipped
    viewer = ReviewState(workspace=ws, reviewer="vic", role="viewer")
    before = int(ws.scalar("SELECT count(*) FROM reviews"))
    with pytest.raises(PermissionDenied, match="vic .viewer. may not submit reviews"):
        viewer.accept()
    with pytest.raises(PermissionDenied):
        viewer.undo()
    assert int(ws.scalar("SELECT count(*) FROM reviews")) == before
    assert viewer.item["product_id"] != state.item["product_id"]  # sessions hold different items
    state.close()
    viewer.close()
    undo_last(ws, "fay")


def test_a_crash_loses_no_confirmed_review(loop):
    """A process that confirmed reviews and is then killed (no clean shutdown) lost none of them."""
    import os
    import subprocess
    import sys

    ws = loop.ws
    build_queue(ws, DAY1, n_random=60, n_uncertain=40, n_disagree=30, runs=(loop.run_main, loop.run_weak), seed=3)
    ids = queue_items(ws, DAY1, status="pending")["product_id"].tolist()[:5]
    ws.close()  # one process at a time may hold the database file
    script = (
        "import os, signal, sys\n"
        "from workbench import Workspace\n"
        "from workbench.loop.reviews import submit_review\n"
        "ws = Workspace(sys.argv[1])\n"
        "for pid in sys.argv[2:]:\n"
        "    r = submit_review(ws, pid, reviewer='kim', queue_date='2026-01-05')\n"
        "    print('confirmed', r.review_id, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(ws.path), *ids], capture_output=True, text=True,
                          timeout=120, env={**os.environ})
    assert proc.returncode == -9, proc.stderr
    confirmed = [int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("confirmed")]
    assert len(confirmed) == 5
    stored = ws.df("SELECT review_id, product_id FROM reviews WHERE reviewer = 'kim'")
    assert sorted(stored["review_id"]) == sorted(confirmed)
    assert sorted(stored["product_id"]) == sorted(ids)
    while undo_last(ws, "kim") is not None:
        pass


def test_retrain_excludes_unreviewed_model_labels(loop):
    ws = loop.ws
    rows = latest_classifications(ws, DAY3)
    shelved = rows[rows["decision"] == "shelved"]
    planted = shelved["product_id"].iloc[0]
    bad = wrong_leaf(ws, loop.truth[planted])
    with ws.transaction() as cur:  # a drill labelled "inflatable pool"
        record_model_labels(cur, pd.DataFrame({"product_id": [planted], "leaf": [bad], "reason": ["planted"]}),
                            run_id=loop.run_main, at=utc_now())
    assert ws.df("SELECT leaf, label_source FROM products WHERE product_id = ?", [planted]).iloc[0].tolist() \
        == [bad, "model"]
    # reviewers label some other day-3 products with their true leaf
    reviewed = [p for p in rows["product_id"] if p != planted][:40]
    for pid in reviewed:
        submit_review(ws, pid, reviewer="eve", final_leaf=loop.truth[pid])
    n_runs = len(ws.df("SELECT run_id FROM runs"))
    assert main(["retrain", "--models", "tfidf", "--workspace", str(ws.path)]) == 0
    runs = ws.df("SELECT * FROM runs ORDER BY started_at")
    assert len(runs) == n_runs + 1
    new = runs.iloc[-1]
    assert new["label_sources"] == "catalog,human"
    frame = retraining_frame(ws)
    assert planted not in set(frame["product_id"])
    assert set(frame["label_source"]) == {"catalog", "human"}
    from workbench.loop.retraining import training_set
    from workbench.runs.training import fingerprint

    used = training_set(ws, new["run_id"])
    assert planted not in set(used["product_id"])
    assert set(reviewed) <= set(used["product_id"])  # human labels joined the splits and were used
    assert (used.set_index("product_id").loc[reviewed, "leaf"] == [loop.truth[p] for p in reviewed]).all()
    assert "model" not in set(used["label_source"])
    assert fingerprint(used["product_id"], used["leaf"]) == new["data_fingerprint"]
    assert ws.scalar("SELECT count(*) FROM predictions WHERE run_id = ? AND product_id = ?",
                     [new["run_id"], planted]) == 0


def test_wilson_interval():
    low, high = wilson_interval(90, 100)
    assert 0.82 < low < 0.83 and 0.94 < high < 0.95
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    narrow, wide = wilson_interval(45, 50, 0.8), wilson_interval(45, 50, 0.99)
    assert wide[0] < narrow[0] and wide[1] > narrow[1]
    with pytest.raises(WorkbenchError):
        wilson_interval(5, 4)


def test_live_accuracy_from_random_sample_matches_held_out_truth(loop, capsys):
    ws = loop.ws
    build_queue(ws, DAY2, n_random=150, n_uncertain=40, n_disagree=0, seed=11)
    items = queue_items(ws, DAY2)
    # simulated reviewers give every queued product its true leaf
    for row in items.itertuples():
        truth = loop.truth[row.product_id]
        submit_review(ws, row.product_id, reviewer="sim", queue_date=DAY2,
                      final_leaf=None if truth == row.predicted_leaf else truth)
    daily = live_accuracy(ws).set_index("queue_date")
    est = daily.loc[DAY2]
    assert est["n"] == 150  # only the random sample counts, not the 40 uncertain items
    correct, n = true_accuracy(ws, loop.truth, DAY2, loop.run_main)
    assert n == 400
    truth_acc = correct / n
    assert est["low"] <= truth_acc <= est["high"]
    assert est["high"] - est["low"] < 0.15
    # the uncertain items alone would have told a very different (biased) story
    sampled = random_sample_reviews(ws)
    uncertain = items[~items["in_random"]]
    uncertain_acc = np.mean([loop.truth[p] == leaf for p, leaf in zip(uncertain["product_id"], uncertain["predicted_leaf"])])
    assert uncertain_acc < est["low"]
    assert len(sampled[sampled["queue_date"] == DAY2]) == 150
    overall = live_accuracy_overall(ws)
    assert overall["n"] >= 150
    assert main(["live-accuracy", "--json", "--workspace", str(ws.path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert any(row["n"] == 150 for row in out["daily"])


def test_live_accuracy_plot_draws_each_day_inside_its_band(loop):
    from workbench.plots.live_accuracy import live_accuracy_plot

    daily = live_accuracy(loop.ws)
    assert len(daily) >= 1
    plot = live_accuracy_plot(daily)
    curve, spread = plot.Curve.I, plot.Spread.I
    assert list(curve.dimension_values("accuracy")) == pytest.approx(list(daily["accuracy"]))
    low = spread.dimension_values("accuracy") - spread.dimension_values("err_low")
    high = spread.dimension_values("accuracy") + spread.dimension_values("err_high")
    assert list(low) == pytest.approx(list(daily["low"])) and list(high) == pytest.approx(list(daily["high"]))
    assert len(live_accuracy_plot(daily.iloc[0:0]).Curve.I) == 0


def test_no_arrivals_left_is_a_clear_error(tmp_path):
    """With the whole catalog ingested nothing can arrive as new: the error says what to do."""
    from workbench import Workspace, ingest_dataset
    from workbench.loop.simulation import held_out_arrivals

    ws = Workspace(tmp_path / "full")
    ingest_dataset(ws, "fashion")
    with pytest.raises(WorkbenchError, match="already in .*; ingest a sample of the catalog"):
        held_out_arrivals(ws, tmp_path / "arrivals.csv", "fashion", n=10)
    assert not (tmp_path / "arrivals.csv").exists()
