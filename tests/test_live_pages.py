"""Pages follow the workspace in place, checked without a browser on a copy of ``evaluated_ws``:
the watch turns writes into the session's news counters (any write, runs, published
thresholds), and pages built for a session follow them while the visitor's input stays."""

from __future__ import annotations

import pytest

from tests._dashboard_setup import copy_workspace
from workbench import Workspace
from workbench.app.context import AppContext, AppSettings
from workbench.app.live import WorkspaceNews, WorkspaceWatch
from workbench.app.pages import comparison, review, thresholds
from workbench.app.template import Navigator, follows
from workbench.loop.queue_manual import send_to_queue
from workbench.loop.reviews import submit_review
from workbench.loop.thresholds import publish_thresholds
from workbench.runs.records import load_predictions
from workbench.runs.selection import default_run


@pytest.fixture
def ws(evaluated_ws, tmp_path):
    return Workspace(copy_workspace(evaluated_ws, tmp_path / "ws"))


def test_the_watch_turns_writes_into_news(ws):
    news = WorkspaceNews()
    watch = WorkspaceWatch(ws, news)
    assert watch.check() is False and news.writes == 0  # nothing written yet
    publish_thresholds(ws, 0.7, by="nora")
    assert watch.check() is True
    assert (news.writes, news.runs, news.published) == (1, 0, 1)
    product = ws.scalar("SELECT product_id FROM products ORDER BY product_id LIMIT 1")
    submit_review(ws, product, reviewer="carl", final_leaf=ws.scalar(
        "SELECT leaf FROM products WHERE product_id = ?", [product]))
    assert watch.check() is False  # a review is news for the pages that follow every write only
    assert (news.writes, news.runs, news.published) == (2, 0, 1)
    assert watch.check() is False and news.writes == 2  # nothing new: nobody is bothered


def test_open_pages_follow_published_thresholds_and_new_runs_keeping_the_input(ws):
    ctx = AppContext(ws, AppSettings())
    watch = WorkspaceWatch(ws, ctx.news)
    page = thresholds.view(ctx)
    assert follows(page)
    page.state.threshold = 0.42
    page.state.overrides = {}
    publish_thresholds(ws, 0.66, by="nora")
    watch.check()
    assert page.state.published["threshold"] == pytest.approx(0.66)
    assert page.state.threshold == 0.42  # the visitor's threshold stays

    board = comparison.view(ctx)
    before = list(board.state.runs)
    # a run completes elsewhere: a copy of the best run's records under a new id
    best = default_run(ws, need_model=False)
    new = best + "x"
    with ws.transaction() as cur:
        cur.execute("CREATE TEMP TABLE r AS SELECT * FROM runs WHERE run_id = ?", [best])
        cur.execute("UPDATE r SET run_id = ?", [new])
        cur.execute("INSERT INTO runs SELECT * FROM r")
        cur.execute("CREATE TEMP TABLE e AS SELECT * FROM evaluations WHERE run_id = ?", [best])
        cur.execute("UPDATE e SET run_id = ?", [new])
        cur.execute("INSERT INTO evaluations SELECT * FROM e")
    assert watch.check() is True and ctx.news.runs == 1
    assert board.state.runs == before + [new]  # the new run joins the figures
    assert new in set(board.state.metrics_table()["run_id"])
    assert new in list(page.state.param.run_id.objects)  # and the open explorer's picker
    assert page.state.threshold == 0.42


def test_the_navigator_builds_an_empty_page_again_and_leaves_a_following_one(ws):
    ctx = AppContext(ws, AppSettings())
    nav = Navigator(ctx, [thresholds, comparison], first="thresholds")
    shown = nav.content.objects[0]
    nav.built["comparison"] = object()  # an empty state: it does not follow
    nav.refresh()
    assert nav.content.objects[0] is shown and "comparison" not in nav.built


def test_the_bulk_grid_drops_products_reviewed_elsewhere(ws):
    best = default_run(ws, need_model=False)
    preds = load_predictions(ws, best)
    top = preds.classes[preds.proba.argmax(axis=1)]
    leaf = max(set(top), key=lambda c: int((top == c).sum()))
    ids = [str(p) for p, t in zip(preds.product_ids, top) if t == leaf][:5]
    send_to_queue(ws, ids, by="lead", run_id=best, source="test")
    ctx = AppContext(ws, AppSettings())
    page = review.view(ctx)
    state = page.state
    page.mode.value = review.MODES[1]
    grid = [item["product_id"] for item in state.bulk]
    assert len(grid) >= 3
    taken = grid[1]
    submit_review(ws, taken, reviewer="carl", queue_date=state.queue_date,
                  final_leaf=ws.scalar("SELECT leaf FROM products WHERE product_id = ?", [taken]))
    ctx.news.writes += 1  # what the session's watch does after the write
    assert [item["product_id"] for item in state.bulk] == [p for p in grid if p != taken]
    assert "left the grid, taken elsewhere" in state.message and "reviewed by carl" in state.message
    # a product taken between two looks is not saved over
    other = grid[2]
    submit_review(ws, other, reviewer="carl", queue_date=state.queue_date,
                  final_leaf=ws.scalar("SELECT leaf FROM products WHERE product_id = ?", [other]))
    state.accept_many([other])
    assert "taken elsewhere meanwhile" in state.message
    assert ws.scalar("SELECT count(*) FROM reviews WHERE product_id = ?", [other]) == 1
    state.close()


def test_a_bulk_accept_stays_said_when_the_page_follows_the_workspace(ws):
    best = default_run(ws, need_model=False)
    preds = load_predictions(ws, best)
    top = preds.classes[preds.proba.argmax(axis=1)]
    right = top == preds.y_true  # accepting the model's category changes no catalog label: saved at once
    leaf = max(set(top[right]), key=lambda c: int(((top == c) & right).sum()))
    ids = [str(p) for p, t, r in zip(preds.product_ids, top, right) if t == leaf and r][:4]
    assert len(ids) >= 3
    send_to_queue(ws, ids, by="lead", run_id=best, source="test")
    ctx = AppContext(ws, AppSettings())
    page = review.view(ctx)
    state, box = page.state, page.message.objects[0]
    hidden = state.item["product_id"]  # the one-at-a-time view's item, claimed before the grid shows
    page.mode.value = review.MODES[1]
    grid = [item["product_id"] for item in state.bulk]
    assert hidden in grid and len(grid) == len(ids)
    accepted = [hidden] + [p for p in grid if p != hidden][:len(grid) - 2]
    kept = [p for p in grid if p not in accepted]
    assert state.accept_many(accepted) == len(accepted)
    said = state.message
    assert said.startswith(f"Accepted {len(accepted)} products as") and state.message_kind == "success"
    ctx.news.writes += 1  # the session's next look at the workspace sees its own writes
    # the outcome stays, in the same alert: not replaced by "labelled elsewhere" for the hidden item
    assert state.message == said and page.message.objects == [box] and box.visible and box.alert_type == "success"
    assert box.object.startswith(f"Accepted {len(accepted)} products")
    # another reviewer takes a product of the grid: the news follows the outcome, which stays
    submit_review(ws, kept[0], reviewer="carl", queue_date=state.queue_date,
                  final_leaf=ws.scalar("SELECT leaf FROM products WHERE product_id = ?", [kept[0]]))
    ctx.news.writes += 1
    assert state.message.startswith(said + " Since then, 1 product left the grid, taken elsewhere")
    assert "reviewed by carl" in state.message and [item["product_id"] for item in state.bulk] == kept[1:]
    page.mode.value = review.MODES[0]  # back to one at a time: the next product, not the one decided
    assert state.item is None or state.item["product_id"] not in accepted
    state.close()
