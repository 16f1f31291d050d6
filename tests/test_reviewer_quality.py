"""Reviewer quality: agreement statistics against hand-computed cases and reference
implementations; gold items seeded unmarked into the review page's queue at the configured share;
blind review of the random sample; the flag on a simulated rubber-stamping reviewer.

Real fashion products: a catalog sample, tfidf runs, and a day of real held-out new arrivals
classified and queued (``tests/_review_setup.py``).
"""

from __future__ import annotations

import json
import math
import re
from datetime import date

import numpy as np
import pytest

from workbench.loop.agreement import cohen_kappa, krippendorff_alpha

DAY, GOLD_DAY = date(2026, 3, 2), date(2026, 3, 1)


# agreement ----------------------------------------------------------------------------------
def test_cohen_kappa_hand_computed_and_against_sklearn():
    from sklearn.metrics import cohen_kappa_score

    # observed 3/4; chance 1/2 * 1/4 + 1/2 * 3/4 = 1/2; kappa (0.75 - 0.5) / 0.5
    assert cohen_kappa(["x", "x", "y", "y"], ["x", "y", "y", "y"]) == pytest.approx(0.5)
    assert cohen_kappa(["x", "y"], ["y", "x"]) == pytest.approx(-1.0)
    assert math.isnan(cohen_kappa([], []))
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.choice(list("abcde"), 80)
        b = np.where(rng.random(80) < 0.6, a, rng.choice(list("abcde"), 80))
        assert cohen_kappa(list(a), list(b)) == pytest.approx(cohen_kappa_score(a, b))


def test_krippendorff_alpha_hand_computed_and_against_the_reference_package():
    import krippendorff

    # coincidences o_aa = 2, o_ab = o_ba = 1, o_bb = 2; n = 6: alpha = 1 - (n - 1) * 2 / (36 - 18)
    assert krippendorff_alpha([["a", "a"], ["a", "b"], ["b", "b"]]) == pytest.approx(1 - 5 * 2 / 18)
    assert krippendorff_alpha([["a", "a", None], [None, "b", "b"]]) == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha([["a", None]]))
    rng = np.random.default_rng(1)
    for _ in range(10):
        data = rng.integers(0, 4, (3, 40)).astype(float)
        data[1] = np.where(rng.random(40) < 0.7, data[0], data[1])
        data[rng.random((3, 40)) < 0.25] = np.nan
        units = [[None if np.isnan(v) else int(v) for v in data[:, j]] for j in range(data.shape[1])]
        assert krippendorff_alpha(units) == pytest.approx(
            krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


# the review page ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """900 catalog products, two tfidf runs, 400 real new arrivals classified (by the weak run) and
    queued; 80 real products of another day are gold, imported with their true leaves (the weak
    run's suggestion is wrong on half of them)."""
    from _review_setup import build
    from workbench.loop.gold import add_gold, set_gold_share
    from workbench.loop.review_queue import build_queue
    from workbench.loop.shelving import classify_file

    rw = build(tmp_path_factory.mktemp("reviewer_quality"), n_catalog=900, batches={DAY: 400, GOLD_DAY: 250})
    for day in (DAY, GOLD_DAY):
        classify_file(rw.ws, rw.files[day], dataset="fashion", run_id=rw.run_weak, batch_date=day)
    build_queue(rw.ws, DAY, n_random=40, n_uncertain=200, n_disagree=100)
    # gold: products of another day, half of them ones the weak run gets wrong
    rows = rw.ws.df("SELECT product_id, leaf FROM classifications WHERE batch_date = ? ORDER BY product_id",
                    [GOLD_DAY])
    wrong = rows[[rw.truth[p] != leaf for p, leaf in zip(rows["product_id"], rows["leaf"])]]["product_id"]
    right = rows[~rows["product_id"].isin(wrong)]["product_id"]
    gold = wrong.head(40).tolist() + right.head(40).tolist()
    assert len(gold) == 80
    assert add_gold(rw.ws, gold, by="admin", source="import", leaves=[rw.truth[p] for p in gold]) == 80
    set_gold_share(rw.ws, 0.2)
    return rw


def _work(rw, reviewer: str, n: int, *, stamp: bool) -> list[dict]:
    """A reviewer works through ``n`` items on the review page's state: a careful one picks the
    true leaf, a rubber-stamper accepts the suggestion whenever one is shown."""
    from workbench.app.state.review import ReviewState
    from workbench.loop.reviews import TestPartChange

    state = ReviewState(workspace=rw.ws, reviewer=reviewer, queue_date=DAY)
    gold = dict(rw.ws.rows("SELECT product_id, leaf FROM gold_items"))
    seen = []
    for _ in range(n):
        item = state.item
        assert item is not None, "the queue ran out"
        seen.append(item)
        truth = gold.get(item["product_id"]) or rw.truth.get(item["product_id"])
        if stamp and not item.get("blind"):
            state.accept()
        else:
            state.correct(truth)
        if state.pending_test_change:
            state.confirm_test_change()
    state.close()
    return seen


def test_the_random_sample_is_reviewed_blind(day):
    from workbench.app.pages.review import product_html, top5_frame
    from workbench.app.state.review import ReviewState
    from workbench.errors import WorkbenchError

    state = ReviewState(workspace=day.ws, reviewer="blinda", queue_date=DAY, reason_filter="random")
    item = state.item
    assert item is not None and "random" in item["reasons"] and item.get("blind")
    predicted = day.ws.scalar("SELECT predicted_leaf FROM review_queue WHERE queue_date = ? AND product_id = ?",
                              [DAY, item["product_id"]])
    html = product_html(item)
    assert predicted not in html and "wb-predicted" not in html and "suggestion is not shown" in html
    assert top5_frame(item).empty
    with pytest.raises(WorkbenchError, match="random sample"):
        state.accept()
    state.close()


def test_gold_items_are_seeded_at_the_share_never_twice_and_unmarked(day):
    from workbench.app.pages.review import product_html

    seen = _work(day, "carla", 60, stamp=False)
    gold = [i for i in seen if i.get("_gold")]
    assert 0.15 <= len(gold) / len(seen) <= 0.25  # configured share 0.2
    ids = [i["product_id"] for i in gold]
    assert len(ids) == len(set(ids))  # never shown twice
    answers = day.ws.df("SELECT * FROM gold_answers WHERE reviewer = 'carla'")
    assert sorted(answers["product_id"]) == sorted(ids) and (answers["leaf"] == answers["gold_leaf"]).all()
    # a gold answer changes no label and writes no review
    assert not day.ws.scalar("SELECT count(*) FROM reviews WHERE reviewer = 'carla' AND product_id IN "
                             "(SELECT unnest(?))", [ids])
    # on the page a gold item looks like any other item: same classes, no word of gold, no label given
    normal = next(i for i in seen if not i.get("_gold") and not i.get("blind"))
    for html in (product_html(gold[0]), product_html(gold[-1])):
        assert "gold" not in html.lower() and "now labelled" not in html
        assert set(re.findall(r"class='([^']+)'", html)) <= set(re.findall(r"class='([^']+)'", product_html(normal)))
    # the model's wrong answers are shown: about half of the gold items shown (WRONG_SHARE)
    truth = dict(day.ws.rows("SELECT product_id, leaf FROM gold_items"))
    shown_wrong = np.mean([i["predicted_leaf"] != truth[i["product_id"]] for i in gold])
    assert 0.2 <= shown_wrong <= 0.8


def test_gold_items_are_mixed_unmarked_into_the_bulk_grid(day):
    """The bulk grid brings the gold items due among its items (the same seeding rule), of its own
    category and with a confidence like the others, so that nothing marks them; ticking them all
    (rubber-stamping) records gold answers with the grid's category, writes no review, and the
    next grid never shows them again."""
    from workbench.app.pages._review_bulk import card_html
    from workbench.app.state.review import ReviewState
    from workbench.loop.gold import gold_due_among, gold_items
    from workbench.security.safe_text import escape_html

    state = ReviewState(workspace=day.ws, reviewer="bulky", queue_date=DAY)
    golds = gold_items(day.ws)
    leaf = next(leaf for leaf in state.bulk_options().values()
                if (golds["suggested_leaf"] == leaf).sum() >= 2)
    grid = state.load_bulk(leaf)
    real = [i for i in grid if not i.get("_gold")]
    gold = [i for i in grid if i.get("_gold")]
    due = gold_due_among(day.ws, "bulky", len(real))
    assert due >= 2 and 1 <= len(gold) <= due, (due, len(gold), len(real))
    assert len(gold) == min(due, int((golds["suggested_leaf"] == leaf).sum()))
    assert set(i["product_id"] for i in gold) <= set(golds[golds["suggested_leaf"] == leaf]["product_id"])
    # unmarked: the same card, a confidence like the others, no word of gold
    normal = card_html(real[0])
    for item in gold:
        html = card_html(item)
        assert "gold" not in html.replace(escape_html(item["title"]), "").lower()  # ("golden haze polo")
        assert re.search(r"\d+\.\d%", html)
        assert re.findall(r"class='([^']+)'", html) == re.findall(r"class='([^']+)'", normal)
    positions = [grid.index(i) for i in gold]
    assert positions != list(range(len(real), len(grid)))  # mixed in, not appended
    # a rubber-stamper ticks everything
    assert state.accept_many([i["product_id"] for i in grid]) == len(grid)
    assert state.message.startswith(f"Accepted {len(grid)} products")  # the gold ones counted alike
    ids = [i["product_id"] for i in gold]
    answers = day.ws.df("SELECT * FROM gold_answers WHERE reviewer = 'bulky'")
    assert sorted(answers["product_id"]) == sorted(ids) and (answers["leaf"] == leaf).all()
    assert not day.ws.scalar("SELECT count(*) FROM reviews WHERE reviewer = 'bulky' AND product_id IN "
                             "(SELECT unnest(?))", [ids])
    assert not set(ids) & {i["product_id"] for i in state.load_bulk(leaf)}  # never shown twice
    state.close()


def test_a_rubber_stamping_reviewer_is_flagged_and_a_careful_one_is_not(day, capsys):
    from workbench.cli.main import main
    from workbench.loop.reviewer_quality import reviewer_report, send_for_second_review

    _work(day, "stamp", 60, stamp=True)
    report = reviewer_report(day.ws).set_index("reviewer")
    assert report.loc["stamp", "flagged"], report.loc["stamp"].to_dict()
    assert "rubber-stamping" in " ".join(report.loc["stamp", "flags"])
    assert report.loc["stamp", "accepted_wrong"] == report.loc["stamp", "wrong_suggestions"] > 0
    assert not report.loc["carla", "flagged"] and report.loc["carla", "gold_accuracy"] == 1.0
    assert report.loc["carla", "gold_low"] < 1.0 < report.loc["carla", "gold_high"] + 1e-9
    assert main(["reviewers", "--workspace", str(day.ws.path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    flagged = {r["reviewer"]: r["flagged"] for r in out["reviewers"]}
    assert flagged["stamp"] and not flagged["carla"]
    sent = send_for_second_review(day.ws, "stamp", by="lead", last=20)
    assert sent == 20


def test_the_reviewers_page_names_the_flagged_reviewer_and_escapes_names(day):
    from workbench.app.context import AppContext
    from workbench.app.pages import reviewers
    from workbench.loop.gold import answer_gold

    hostile = "<img src=x onerror=alert(1)>"
    gold = day.ws.scalar("SELECT product_id FROM gold_items ORDER BY product_id LIMIT 1")
    answer_gold(day.ws, hostile, gold, "=HYPERLINK(\"http://x\")")
    page = reviewers.view(AppContext(day.ws))
    texts = " ".join(str(getattr(o, "object", "")) for o in page.objects)
    warnings = [o for o in page.objects if "rubber-stamping" in str(getattr(o, "object", ""))]
    assert warnings and "stamp" in str(warnings[0].object)
    assert "<img src=x" not in texts
    shown = page.objects[[i for i, o in enumerate(page.objects) if "wb-reviewers-table" in o.css_classes][0]].value
    assert set(shown["reviewer"]) >= {"carla", "stamp", hostile}  # a table cell: text, never markup


def test_the_review_budget(day):
    import pandas as pd

    from workbench.app.pages.live_accuracy import budget_html
    from workbench.loop.review_budget import review_budget, reviews_for_margin

    assert reviews_for_margin(0.9) == 3458  # 1.96^2 * 0.9 * 0.1 / 0.01^2 = 3457.3
    assert reviews_for_margin(float("nan")) == 9604  # the worst case, 50%
    assert reviews_for_margin(0.5, population=1000) == 906  # 9604 / (1 + 9603 / 1000)
    budget = review_budget(day.ws)
    rows = day.ws.df("SELECT batch_date, decision FROM classifications")
    weeks = rows.assign(week=pd.to_datetime(rows["batch_date"]).dt.to_period("W-SUN"))
    assert budget["weeks"] == weeks["week"].nunique() == 2  # 1 March is a Sunday, 2 March a Monday
    assert budget["queue_per_week"] == pytest.approx((weeks["decision"] == "review").sum() / 2)
    assert budget["arrivals_per_week"] == pytest.approx(len(rows) / 2)
    assert not budget["assumed"] and budget["random_reviews_per_week"] > 0
    html = budget_html(budget)
    assert f"data-reviews-needed='{budget['reviews_needed']}'" in html and "±1 pt at 95% confidence" in html
    assert budget["reviews_needed"] <= budget["arrivals_per_week"]  # the finite week bounds it
