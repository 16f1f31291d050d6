"""The page a person is looking at follows writes made by another process, in place, without
losing what the person typed or ticked (headless Chromium, ``workbench serve`` on a copy of
``evaluated_ws``): thresholds published from a notebook show on the open Threshold explorer while
its own threshold stays; a run trained and evaluated in another process joins the open Model
comparison and the run picker of a page opened before; products of the open bulk review grid
that another process reviews leave it, the ticks of the others stay; the counts follow."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests._browser import WIDE, Watched, browser, require_chromium  # noqa: F401 (the fixture)
from tests._dashboard_setup import ROOT, copy_workspace, free_port, start_server, stop, wait_http, workbench_cli
from workbench import Workspace
from workbench.loop.queue_manual import send_to_queue
from workbench.runs.records import list_runs, load_predictions
from workbench.runs.selection import default_run

pytestmark = pytest.mark.browser
#: a page looks at the change counter every 2 s; a loaded machine renders slowly
FOLLOWS_WITHIN_MS = 45_000


def elsewhere(root, code: str) -> str:
    """Run ``code`` in another Python process (as a notebook would) on the workspace ``ws``."""
    done = subprocess.run([sys.executable, "-c", "from workbench import Workspace\n"
                           f"ws = Workspace({str(root)!r})\n" + code],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.fixture(scope="module")
def site(evaluated_ws, tmp_path_factory, output_dir):
    """The served copy, with today's queue holding products of one predicted leaf (sent from a
    dashboard, so the bulk grid has them)."""
    require_chromium()
    root = copy_workspace(evaluated_ws, tmp_path_factory.mktemp("live_ws"), artifacts=True)
    ws = Workspace(root)
    best = default_run(ws, need_model=False)
    preds = load_predictions(ws, best)
    top = preds.classes[preds.proba.argmax(axis=1)]
    leaf = max(set(top), key=lambda c: int((top == c).sum()))
    ids = [str(p) for p, t in zip(preds.product_ids, top) if t == leaf][:6]
    send_to_queue(ws, ids, by="lead", run_id=best, source="test: one leaf")
    day = ws.scalar("SELECT max(queue_date) FROM review_queue")
    runs_before = set(list_runs(ws)["run_id"])
    ws.rows("CHECKPOINT")
    ws.close()
    shots = output_dir / "live_pages"
    shots.mkdir(exist_ok=True)
    port = free_port()
    proc = start_server([*workbench_cli(), "serve", "--workspace", str(root), "--port", str(port), "--no-show"],
                        shots / "server.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        yield {"url": f"http://127.0.0.1:{port}/", "root": root, "ids": ids, "day": day, "shots": shots,
               "runs_before": runs_before}
    finally:
        stop(proc)


def test_the_open_page_follows_writes_made_elsewhere(site, browser):
    root, shots = site["root"], site["shots"]
    watched = Watched(browser, WIDE)
    try:
        page = watched.open(site["url"] + "?page=thresholds", ".wb-thresholds")
        box = page.locator(".wb-exact input")
        box.fill("0.42")
        box.press("Enter")
        page.locator(".wb-threshold").filter(has_text="0.420").wait_for(timeout=20_000)
        page.get_by_text("nothing yet; until you publish").first.wait_for()

        # a notebook publishes other thresholds: the published line follows, the explored one stays
        elsewhere(root, "from workbench.loop.thresholds import publish_thresholds\n"
                        "publish_thresholds(ws, 0.66, by='nora')")
        page.get_by_text("global threshold 0.660").first.wait_for(timeout=FOLLOWS_WITHIN_MS)
        assert page.locator(".wb-threshold").first.inner_text() == "0.420"
        assert float(page.locator(".wb-exact input").input_value()) == 0.42
        run_options = page.locator(".wb-run select option").count()
        page.screenshot(path=shots / "thresholds_followed.png")

        # a run trained and evaluated in another process joins the open comparison and the picker
        # of the threshold explorer opened before, which keeps its chosen run
        chosen = page.locator(".wb-run select").input_value()
        page.locator(".wb-nav button", has_text="Model comparison").click()
        page.locator(".wb-metrics tbody tr").first.wait_for()
        rows = page.locator(".wb-metrics tbody tr").count()
        new_run = elsewhere(root, "from workbench.runs.training import train_models\n"
                                  "from workbench.runs.evaluation import evaluate_run\n"
                                  "run = train_models(ws, ['tfidf'], 'grouped', sample=300, seed=5)[0]\n"
                                  "evaluate_run(ws, run)\nprint(run)").splitlines()[-1]
        assert new_run not in site["runs_before"]
        suffix = new_run.rsplit("-", 1)[-1]
        page.locator(".wb-metrics tbody tr", has_text=suffix).first.wait_for(timeout=FOLLOWS_WITHIN_MS)
        assert page.locator(".wb-metrics tbody tr").count() == rows + 1
        assert page.locator(".wb-page h2").first.inner_text() == "Model comparison"  # not reloaded, not moved
        page.screenshot(path=shots / "comparison_followed.png")
        page.locator(".wb-nav button", has_text="Threshold explorer").click()
        page.locator(".wb-run select option", has_text=suffix).first.wait_for(state="attached")
        assert page.locator(".wb-run select option").count() == run_options + 1
        assert page.locator(".wb-run select").input_value() == chosen
        assert page.locator(".wb-threshold").first.inner_text() == "0.420"
        watched.check_clean()
    finally:
        watched.close()


def test_the_bulk_grid_drops_products_reviewed_elsewhere_and_keeps_the_ticks(site, browser):
    root, ids = site["root"], site["ids"]
    watched = Watched(browser, WIDE)
    try:
        page = watched.open(site["url"] + "?page=review", ".wb-review")
        page.locator(".wb-reason-filter select").select_option("dashboard")
        page.get_by_text("Bulk: same predicted category").click()
        cards = page.locator(".wb-bulk-card")
        cards.first.wait_for()
        shown = [c.get_attribute("data-product-id") for c in page.locator(".wb-bulk-card-body").all()]
        assert len(shown) >= 3 and set(shown) <= set(ids)
        pending = int(page.locator("[data-pending]").first.get_attribute("data-pending"))
        # tick the first and the third; the second is reviewed in another process meanwhile
        page.locator(".wb-bulk-tick input").nth(0).check()
        page.locator(".wb-bulk-tick input").nth(2).check()
        taken = shown[1]
        title = elsewhere(root, "from workbench.loop.reviews import submit_review\n"
                                f"leaf = ws.scalar('SELECT leaf FROM products WHERE product_id = ?', [{taken!r}])\n"
                                f"submit_review(ws, {taken!r}, reviewer='carl', final_leaf=leaf, "
                                f"queue_date={str(site['day'])!r})\n"
                                f"print(ws.scalar('SELECT title FROM products WHERE product_id = ?', [{taken!r}]))")
        page.locator(f".wb-bulk-card-body[data-product-id='{taken}']").wait_for(state="detached",
                                                                                 timeout=FOLLOWS_WITHIN_MS)
        said = page.get_by_text("left the grid, taken elsewhere").first
        said.wait_for(timeout=20_000)
        message = said.inner_text()
        assert "reviewed by carl" in message and title in message, message
        left = [c.get_attribute("data-product-id") for c in page.locator(".wb-bulk-card-body").all()]
        assert left == [p for p in shown if p != taken]
        ticks = [page.locator(".wb-bulk-tick input").nth(i).is_checked() for i in range(len(left))]
        assert ticks[:2] == [True, True] and not any(ticks[2:])  # the first and the (former) third
        page.locator(f"[data-pending='{pending - 1}']").first.wait_for(timeout=20_000)  # the counts follow
        page.locator(".wb-bulk-category option", has_text=f"({len(shown) - 1} pending)").first.wait_for(
            state="attached", timeout=20_000)
        page.screenshot(path=site["shots"] / "bulk_followed.png")

        # and a claim: the product is reviewed through the grid only once, by carl
        reviews = elsewhere(root, f"print(ws.scalar('SELECT count(*) FROM reviews WHERE product_id = ?', [{taken!r}]))")
        assert reviews == "1"
        watched.check_clean()
    finally:
        watched.close()
