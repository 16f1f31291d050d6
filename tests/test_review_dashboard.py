"""The best run by default on the command line, messages that name what they refer to, and the
review page's filters, bulk mode and empty state, on real fashion products (a catalog sample,
four tfidf runs: the best one, a worse one on the full training part, and two trained on samples,
the newest of all among them)."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from _review_setup import build
from workbench.app import AppContext, AppSettings
from workbench.app.pages import review as review_page
from workbench.app.state.review import ReviewState
from workbench.cli.main import main
from workbench.errors import WorkbenchError
from workbench.loop.queue_manual import send_to_queue
from workbench.loop.review_queue import build_queue, queue_counts
from workbench.loop.reviews import list_reviews
from workbench.loop.shelving import classify_file
from workbench.loop.thresholds import publish_thresholds
from workbench.runs.records import list_runs
from workbench.runs.training import train_models

DAY = date(2026, 3, 2)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    rw = build(tmp_path_factory.mktemp("review_dashboard"), n_catalog=1000, batches={DAY: 120})
    rw.run_worse = train_models(rw.ws, ["tfidf"], "grouped", params={"tfidf": {"C": 0.05}}, seed=0)[0]
    rw.run_newest = train_models(rw.ws, ["tfidf"], "grouped", sample=200, seed=3)[0]
    publish_thresholds(rw.ws, 0.6, by="lead", run_id=rw.run_worse)
    rw.summary = classify_file(rw.ws, rw.files[DAY], dataset="fashion", batch_date=DAY)  # no --run: the default
    rw.queue = build_queue(rw.ws, DAY, n_random=10, n_uncertain=10, n_disagree=10)
    return rw


def test_classify_queue_and_preview_use_the_best_run_not_the_newest(loop, capsys):
    ws = loop.ws
    runs = list_runs(ws)
    assert runs["run_id"].iloc[-1] == loop.run_newest  # the newest run is a sample-trained one
    summary = loop.summary
    assert summary.run_id == loop.run_main
    assert summary.notes and f"tuned on run {loop.run_worse}" in summary.notes[0]
    assert "warning: the published thresholds were tuned on run" in str(summary)
    assert loop.queue.runs == (loop.run_main, loop.run_worse)  # the best other run, not the newest
    assert main(["shelve-preview", "--json", "--workspace", str(ws.path)]) == 0
    out = capsys.readouterr()
    preview = json.loads(out.out)
    assert preview["run_id"] == loop.run_main and "tuned on run" in preview["warning"]
    assert "warning: the published thresholds were tuned on run" in out.err
    publish_thresholds(ws, 0.6, by="lead", run_id=loop.run_main)
    assert main(["shelve-preview", "--json", "--workspace", str(ws.path)]) == 0
    assert json.loads(capsys.readouterr().out)["warning"] is None


def test_a_classify_that_accepts_nothing_lists_the_reasons(loop, tmp_path, capsys):
    ws = loop.ws
    known = ws.df("SELECT product_id, title FROM products WHERE label_source = 'catalog' LIMIT 30")
    path = tmp_path / "again.csv"
    pd.DataFrame({"id": known["product_id"], "productDisplayName": known["title"]}).to_csv(path, index=False)
    with pytest.raises(WorkbenchError, match=r"30 rows rejected\): 30 x duplicate id: already in the workspace"):
        classify_file(ws, path, dataset="fashion", batch_date=DAY)
    assert main(["classify", str(path), "--dataset", "fashion", "--workspace", str(ws.path)]) == 2
    err = capsys.readouterr().err
    assert "30 x duplicate id: already in the workspace (e.g. row 1:" in err  # nothing was written by the call above
    assert "see the reject reasons above" not in err


def test_review_filters_by_reason_and_category(loop):
    ws = loop.ws
    items = ws.df("SELECT product_id, predicted_leaf FROM review_queue WHERE queue_date = ?", [DAY])
    family = items["predicted_leaf"].str.split(" > ").str[0].mode().iloc[0]
    state = ReviewState(workspace=ws, reviewer="ana")
    state.reason_filter = "uncertain"
    assert state.item is not None and "uncertain" in state.item["reasons"]
    state.reason_filter = "any reason"
    state.category_filter = family
    assert state.item["predicted_leaf"].startswith(family)
    state.category_filter = "No Such Category"
    assert state.item is None
    assert "No pending product matches these filters" in review_page.empty_text(state)
    state.close()


def test_bulk_mode_accepts_products_of_one_predicted_category(loop):
    ws = loop.ws
    ana = ReviewState(workspace=ws, reviewer="ana")
    grid = ana.load_bulk()
    assert grid and len({ana.bulk_category}) == 1
    leaf = ana.bulk_category
    pending = ws.df("SELECT product_id FROM review_queue WHERE queue_date = ? AND status = 'pending' "
                    "AND predicted_leaf = ?", [DAY, leaf])
    assert {g["product_id"] for g in grid} <= set(pending["product_id"])
    other = ReviewState(workspace=ws, reviewer="ben")
    assert not {g["product_id"] for g in grid} & {g["product_id"] for g in other.load_bulk(leaf)}  # claimed
    viewer = ReviewState(workspace=ws, reviewer="vic", role="viewer")
    viewer.load_bulk(leaf)
    with pytest.raises(WorkbenchError, match="may not submit reviews"):
        viewer.accept_many([grid[0]["product_id"]])
    chosen = [g["product_id"] for g in grid[:2]]
    before = queue_counts(ws, DAY)["done"]
    assert ana.accept_many(chosen) == len(chosen)
    saved = list_reviews(ws, reviewer="ana")
    assert set(saved["product_id"]) >= set(chosen) and set(saved["final_leaf"]) == {leaf}
    assert queue_counts(ws, DAY)["done"] == before + len(chosen)
    with pytest.raises(WorkbenchError, match="not in the grid"):
        ana.accept_many(["nope"])
    for s in (ana, other, viewer):
        s.close()


def claimed_by(ws, claimant) -> set[str]:
    return set(ws.df("SELECT product_id FROM review_queue WHERE claimed_by = ?", [claimant])["product_id"])


def test_the_bulk_grid_follows_the_filters_and_a_viewer_keeps_the_notice(loop):
    ws = loop.ws
    pending = ws.df("SELECT predicted_leaf FROM review_queue WHERE queue_date = ? AND status = 'pending' "
                    "AND predicted_leaf IS NOT NULL", [DAY])["predicted_leaf"]
    # the grid leaves out the random sample (reviewed one by one, blind)
    in_grid = ws.df("SELECT predicted_leaf FROM review_queue WHERE queue_date = ? AND status = 'pending' "
                    "AND predicted_leaf IS NOT NULL AND NOT coalesce(in_random, FALSE)", [DAY])["predicted_leaf"]
    families = in_grid.str.split(" > ").str[0].value_counts()
    family = families.index[-1]  # not the family of the most frequent leaf, so the grid must change
    page = review_page.view(AppContext(ws, AppSettings()))
    state = page.state
    page.mode.value = review_page.MODES[1]
    assert state.bulk and page.bulk.visible
    state.category_filter = family
    assert state.bulk and {g["product_id"] for g in state.bulk} == claimed_by(ws, state.claimant)
    assert state.bulk_category.startswith(family + " > ")
    assert all(leaf.startswith(family + " > ") for leaf in state.bulk_options().values())
    options = state.filter_options()
    assert family in options.values() and set(pending) <= set(options.values())
    state.close()
    viewer = AppContext(ws, AppSettings(roles={"vic": "viewer"}), user_override="vic")
    page = review_page.view(viewer)
    box = page.message.objects[0]
    assert "submitting reviews needs the reviewer role" in box.object and box.alert_type == "info"
    try:
        page.state.accept()
    except WorkbenchError as exc:
        page.state.report_error(exc)
    # the same alert changes in place (a redraw never replaces the message area)
    assert page.message.objects == [box] and "may not submit reviews" in box.object and box.alert_type == "danger"
    page.state.skip()  # the error is gone, the notice is back
    assert "submitting reviews needs the reviewer role" in box.object and box.alert_type == "info" and box.visible
    page.state.close()


def test_a_blind_item_shows_no_empty_suggestion_and_a_viewer_is_no_reviewer(loop):
    """A random-sample item showed 'Why this category?' over nothing and an empty top-5 table;
    a viewer read 'Reviewer: vic (viewer)'."""
    page = review_page.view(AppContext(loop.ws, AppSettings()))
    suggestion = page.select(lambda o: "wb-model-suggestion" in getattr(o, "css_classes", []))[0]
    page.state.reason_filter = "random"
    assert page.state.item.get("blind") and not suggestion.visible
    for reason in ("uncertain", "disagree", "dashboard"):
        page.state.reason_filter = reason
        for _ in range(40):
            if page.state.item is None or not page.state.item.get("blind"):
                break
            page.state.skip()
        if page.state.item is not None and not page.state.item.get("blind"):
            break
    assert page.state.item is not None and not page.state.item.get("blind") and suggestion.visible
    # at 1280 px the five controls did not fit one row and "Next" covered "Save correction": the
    # row wraps, its buttons keep their width
    import panel as pn

    row = page.select(lambda o: "wb-review-buttons" in getattr(o, "css_classes", []))[0]
    buttons = [b for b in row.objects if isinstance(b, pn.widgets.Button)]
    assert isinstance(row, pn.FlexBox) and len(buttons) == 4
    assert all(b.width and b.sizing_mode in (None, "fixed") for b in buttons)
    page.state.close()
    page = review_page.view(AppContext(loop.ws, AppSettings(roles={"vic": "viewer"}), user_override="vic"))
    who = page.select(lambda o: "wb-who" in getattr(o, "css_classes", []))[0]
    assert "Looking as: <b>vic</b> (viewer)" in who.object and "Reviewer" not in who.object
    page.state.close()


def test_items_sent_from_a_dashboard_show_who_sent_them_and_survive_a_rebuild(loop):
    ws = loop.ws
    catalog = ws.df("SELECT product_id FROM predictions WHERE run_id = ? AND part = 'test' AND rank = 1 "
                    "ORDER BY product_id LIMIT 2", [loop.run_main])["product_id"]
    send_to_queue(ws, catalog, by="ana", run_id=loop.run_main, source="Categories: Tshirts", queue_date=DAY)
    build_queue(ws, DAY, n_random=5, n_uncertain=5, n_disagree=0)
    state = ReviewState(workspace=ws, reviewer="ben")
    state.reason_filter = "dashboard"
    item = state.item
    assert item["product_id"] in set(catalog) and item["sender"] == "ana"
    assert len(item["top5"]) == 5  # from the run's recorded predictions
    html = review_page.product_html(item)
    assert "sent from the dashboard by ana" in html and "now labelled" in html
    state.close()


def test_the_empty_review_page_says_how_to_fill_the_queue(sample_workspace):
    ws = sample_workspace("empty_review", 200)
    page = review_page.view(AppContext(ws, AppSettings()))
    text = " ".join(str(getattr(p, "object", "")) for p in page.select(lambda o: hasattr(o, "object")))
    assert "The queue is empty: build one with `workbench queue build` or from any drill-down" in text \
        or "The queue is empty: build one with" in text
    accept = [b for b in page.select(lambda o: getattr(o, "label", "") == "Accept (a)")]
    assert accept and accept[0].disabled
