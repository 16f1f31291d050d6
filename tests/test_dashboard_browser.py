"""What a merchandiser sees in the served dashboards, in headless Chromium at 1440 x 900: percent
axes in the first and a later session, tables that fit, the best run by default, drill-downs
from every figure to a product table and its CSV, send-to-review landing in the queue, the
per-category page, the cost model, arrow keys and bulk review.

The app is served by ``workbench serve`` on a copy of ``evaluated_ws`` (1,500 real fashion
products, two evaluated tfidf runs) with a stored projection, a third run (newest, trained on a
sample, so flagged) and thresholds published on the weak run. Expected figures are computed from
the stored predictions before the server takes the database. The tests run in file order (the
first one is the first browser session after start-up, the last one a later session).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests._browser import (AXES, CHROMIUM, require_chromium, CLIPPED_TABLES, PLOT_POINT, SHOW_PLOT, WIDE, Watched,  # noqa: F401
                            browser, read_csv_download, settle, shots_folder, watched)
from tests._dashboard_setup import add_projection, copy_workspace, free_port, start_server, stop, wait_http, workbench_cli
from workbench import Workspace
from workbench.app.template import discover_pages, page_slug
from workbench.evaluate.cost import cheapest_threshold, cost_curve
from workbench.loop.thresholds import publish_thresholds
from workbench.runs.evaluation import evaluate_run
from workbench.runs.records import list_runs, load_predictions
from workbench.runs.selection import default_run
from workbench.runs.training import train_models

pytestmark = pytest.mark.browser

#: axis labels of figures whose values are shares
SHARE_AXES = ("coverage (share shelved automatically)", "accuracy among shelved", "accuracy", "mean confidence",
              "share of products")
PAGES_WITH_SHARES = ("comparison", "thresholds", "severity")


@pytest.fixture(scope="module")
def shots(output_dir) -> Path:
    return shots_folder(output_dir, "dashboards")


@pytest.fixture(scope="module")
def served(evaluated_ws, tmp_path_factory, shots):
    require_chromium()
    root = copy_workspace(evaluated_ws, tmp_path_factory.mktemp("dashboard_ws"), artifacts=True)
    ws = Workspace(root)
    add_projection(ws)
    runs = list_runs(ws)
    weak = runs.loc[runs["sample"].notna(), "run_id"].iloc[0]
    newest = train_models(ws, ["tfidf"], "grouped", sample=300, seed=1)[0]
    evaluate_run(ws, newest)
    best = default_run(ws, need_model=False)
    publish_thresholds(ws, 0.8, by="lead", run_id=weak)
    preds = load_predictions(ws, best)
    pred = preds.proba.argmax(axis=1)
    info = {"best": best, "newest": newest, "weak": weak, "classes": preds.classes, "y_true": preds.y_true,
            "pred": preds.classes[pred], "conf": preds.proba.max(axis=1).astype(np.float32),
            "ids": preds.product_ids, "n_products": int(ws.scalar("SELECT count(*) FROM products")),
            "photo": ws.df("SELECT p.product_id, p.title FROM products p JOIN projection USING (product_id) "
                           "WHERE p.image IS NOT NULL ORDER BY p.product_id LIMIT 1").iloc[0].to_dict(),
            "projection": ws.df("SELECT product_id, x, y FROM projection").set_index("product_id")}
    assert best != newest  # the newest run is flagged (sample), so it must not be the default
    ws.rows("CHECKPOINT")
    ws.close()
    port = free_port()
    log = shots / "server.log"
    proc = start_server([*workbench_cli(), "serve", "--workspace", str(root), "--port", str(port), "--no-show"], log)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        yield {"url": f"http://127.0.0.1:{port}/", "proc": proc, "log": log, **info}
    finally:
        stop(proc)


def open_page(watched, served, slug: str):
    page = watched.open(served["url"] + f"?page={slug}", ".wb-page")
    page.wait_for_timeout(800)
    return page


def share_axes(page) -> list[list[str]]:
    return [a for a in page.evaluate(AXES) if a[1] in SHARE_AXES]


def assert_percent_axes(watched, served, shots, tag: str) -> None:
    for slug in PAGES_WITH_SHARES:
        page = open_page(watched, served, slug)
        page.wait_for_function(f"() => ({AXES})().length > 0")
        axes = share_axes(page)
        assert axes, slug
        wrong = [a for a in axes if a[3] != "25%"]
        page.screenshot(path=shots / f"percent_{tag}_{slug}.png")
        assert not wrong, (slug, wrong)  # every axis of a share formats 0.25 as 25%


def drill_heading(page, after: str | None = None) -> tuple[int, str]:
    """The product table's heading: its count and text (``after``: the text of the heading
    before the click, waited away, so that the answer is the new table's)."""
    heading = page.locator(".wb-drill-heading[data-n]").first
    heading.wait_for()
    for _ in range(300):
        if after is None or heading.inner_text() != after:
            break
        page.wait_for_timeout(200)
    return int(heading.get_attribute("data-n")), heading.inner_text()


def click_at(page, title: str, x, y) -> None:
    assert page.evaluate(SHOW_PLOT, title), f"no figure titled {title!r}"  # below the fold on a long page
    page.wait_for_timeout(300)
    point = page.evaluate(PLOT_POINT, [title, x, y])
    for _ in range(50):  # a figure still redrawing (another parent chosen) has no such tick yet: NaN
        if point is None or all(v == v for v in point):
            break
        page.wait_for_timeout(200)
        point = page.evaluate(PLOT_POINT, [title, x, y])
    assert point is not None, f"no figure titled {title!r}"
    assert all(v == v for v in point), f"the figure {title!r} has no tick {x!r} / {y!r}"
    page.mouse.click(*point)


# 1. percent axes, first session after start-up ----------------------------------------------

def test_percent_axes_in_the_first_session_after_start_up(served, watched, shots):
    assert_percent_axes(watched, served, shots, "first")
    watched.check_clean()


# 2. the best run by default ---------------------------------------------------------------

def test_every_page_opens_on_the_best_run_and_the_comparison_flags_sampled_runs(served, watched, shots):
    best = served["best"]
    for slug in ("thresholds", "confusion", "severity", "embedding", "categories"):
        page = open_page(watched, served, slug)
        chosen = page.locator(".wb-run select").first
        text = chosen.evaluate("s => s.options[s.selectedIndex].text")
        assert best in text, (slug, text)
    page = open_page(watched, served, "classify")
    # the label every picker uses: "tfidf · 1a2b3c (RUN ID)"
    assert page.locator(".wb-run select").first.evaluate("s => s.options[s.selectedIndex].text").endswith(f"· {best.rsplit('-', 1)[-1]} ({best})")
    page.get_by_text(f"tuned on run {served['weak']}").first.wait_for()  # published on another run: warned
    page = open_page(watched, served, "comparison")
    rows = page.locator(".wb-metrics tbody tr")
    texts = [rows.nth(i).inner_text() for i in range(rows.count())]
    assert any("(default)" in t and best.rsplit("-", 1)[-1] in t for t in texts)
    assert sum("trained on a sample of" in t for t in texts) == 2
    page.screenshot(path=shots / "comparison_default_and_flags.png")
    watched.check_clean()


# 3. drill-down from each figure --------------------------------------------------------------

def test_a_confusion_cell_lists_its_products_and_their_csv(served, watched, shots):
    page = open_page(watched, served, "confusion")
    true_top = np.array([t.split(" > ")[0] for t in served["y_true"]])
    pred_top = np.array([t.split(" > ")[0] for t in served["pred"]])
    child = "Apparel"
    expected = set(served["ids"][(true_top == child) & (pred_top == child)])
    click_at(page, "Confusion among", child, child)
    n, text = drill_heading(page)
    assert n == len(expected) and "true Apparel, predicted Apparel" in text
    assert page.locator(".wb-drill-table .tabulator-row").count() == min(n, 10)
    rows = read_csv_download(page, ".wb-drill-csv button")
    assert {r["product_id"] for r in rows} == expected
    assert list(rows[0]) == ["product_id", "title", "true path", "predicted path", "confidence"]
    assert all(r["true path"].startswith("Apparel > ") for r in rows)
    page.screenshot(path=shots / "drill_confusion.png")
    watched.check_clean()


def test_a_severity_bar_and_the_points_of_curves_list_their_products(served, watched, shots):
    right = int((served["y_true"] == served["pred"]).sum())
    page = open_page(watched, served, "severity")
    label = next(t for t in page.locator(".wb-run select").first.evaluate(
        "s => [...s.options].map(o => o.text)") if served["best"] in t).split(" (")[0]
    click_at(page, "Errors by tree distance", ["0", label], 0.5)
    n, text = drill_heading(page)
    assert n == right and text.split(": ", 1)[1].startswith("right")
    page.screenshot(path=shots / "drill_severity.png")

    page = open_page(watched, served, "comparison")
    click_at(page, "Accuracy vs coverage, all runs", 0.5, 0.99)
    n, text = drill_heading(page)
    threshold = float(re.search(r"threshold (\d\.\d+)", text).group(1))
    assert "wrong but shelved" in text
    rows = read_csv_download(page, ".wb-drill-csv button")
    assert len(rows) == n and all(r["true path"] != r["predicted path"] for r in rows)
    if served["best"].rsplit("-", 1)[-1] in text:  # the nearest point may be another run's
        conf, wrong = served["conf"], served["y_true"] != served["pred"]
        assert abs(n - int(((conf >= np.float32(threshold) - 5e-4) & wrong).sum())) <= \
            int(((np.abs(conf - threshold) < 5e-4) & wrong).sum())
    click_at(page, "Calibration", 0.9, 0.9)
    n, text = drill_heading(page, after=text)
    assert re.search(r"confidence \d+%-\d+%", text) and n > 0
    page.screenshot(path=shots / "drill_curves.png")
    watched.check_clean()


def test_the_map_hover_shows_title_category_and_photo_and_a_box_lists_products(served, watched, shots):
    page = open_page(watched, served, "embedding")
    page.locator(".wb-map canvas").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    product = served["photo"]
    xy = served["projection"].loc[product["product_id"]]
    point = page.evaluate(PLOT_POINT, ["Products coloured by", float(xy["x"]), float(xy["y"])])
    page.mouse.move(point[0] + 1, point[1] + 1)
    page.wait_for_timeout(1500)
    page.mouse.move(*point)
    tip = page.locator(".wb-map-tip").first
    tip.wait_for()
    text = tip.inner_text()
    assert product["title"] in text and " > " in text
    assert tip.locator("img").get_attribute("src").startswith("data:image/jpeg;base64,")
    assert "colour" not in text and not re.search(r"\bx\b|\by\b", text)
    page.screenshot(path=shots / "map_hover.png")
    # a box around the whole map lists every product
    proj = served["projection"]
    low = page.evaluate(PLOT_POINT, ["Products coloured by", float(proj["x"].min()), float(proj["y"].min())])
    high = page.evaluate(PLOT_POINT, ["Products coloured by", float(proj["x"].max()), float(proj["y"].max())])
    page.mouse.move(low[0] - 5, low[1] + 5)
    page.mouse.down()
    page.mouse.move(high[0] + 5, high[1] - 5, steps=12)
    page.mouse.up()
    n, text = drill_heading(page)
    assert n == served["n_products"] and "inside the box" in text
    rows = read_csv_download(page, ".wb-drill-csv button")
    assert len(rows) == n
    page.screenshot(path=shots / "map_box.png")
    watched.check_clean()


# 4. the per-category page ---------------------------------------------------------------------

def test_the_category_page_is_searchable_and_opens_the_drill_down(served, watched, shots):
    page = open_page(watched, served, "categories")
    leaves, counts = np.unique(served["y_true"], return_counts=True)
    leaf = leaves[counts.argmax()]
    name = leaf.split(" > ")[-1]
    page.locator(".wb-category-search input").fill(name)
    page.locator(".wb-category-search input").press("Enter")
    matching = sum(name.lower() in c.lower() for c in served["classes"])
    rows = page.locator(".wb-categories .tabulator-row")
    for _ in range(300):  # the filtered rows replace the full table
        if 0 < rows.count() <= matching:
            break
        page.wait_for_timeout(200)
    assert 0 < rows.count() <= matching
    # a path shows its last two levels (the whole path on hover)
    row = page.locator(".wb-categories .tabulator-row", has_text=" > ".join(leaf.split(" > ")[-2:])).first
    assert row.locator(f"[tabulator-field=category] [title='{leaf}']").count() == 1
    assert int(row.locator("[tabulator-field=support]").inner_text()) == counts.max()
    row.locator("[tabulator-field=category]").click()
    n, text = drill_heading(page)
    expected = int(((served["y_true"] == leaf) | (served["pred"] == leaf)).sum())
    assert n == expected and leaf in text
    page.screenshot(path=shots / "categories.png")
    watched.check_clean()


# 5. the threshold explorer ---------------------------------------------------------------------

def figure(page, name: str) -> float:
    return float(page.locator(f".wb-{name}").get_attribute("data-value"))


def test_threshold_cost_model_arrow_keys_and_searchable_picker(served, watched, shots):
    page = open_page(watched, served, "thresholds")
    page.get_by_text(f"tuned on run {served['weak']}").first.wait_for()
    for selector, value in ((".wb-cost-wrong input", "10"), (".wb-cost-review input", "1")):
        page.locator(selector).fill(value)
        page.locator(selector).press("Enter")
    correct = served["y_true"] == served["pred"]
    best = cheapest_threshold(cost_curve(served["conf"], correct), 10.0, 1.0)
    cell = page.locator(".wb-cost-best")
    page.locator(f".wb-cost-best[data-cost='{best.cost!r}']").wait_for()
    assert float(cell.get_attribute("data-threshold")) == pytest.approx(best.threshold)
    page.locator(".wb-use-cheapest button").click()
    page.locator(".wb-threshold").filter(has_text=f"{min(best.threshold, 1):.3f}").wait_for()
    # arrow keys move the threshold by 0.01
    start = figure(page, "threshold")
    page.get_by_text("Cost model").first.click()
    page.keyboard.press("ArrowLeft")
    page.locator(".wb-threshold").filter(has_text=f"{round(start - 0.01, 3):.3f}").wait_for()
    # the category picker searches any part of the path; a hand-made override survives suggestions
    picker = page.locator(".wb-override-node input")
    picker.fill("")
    picker.type("tshirt", delay=40)
    option = page.locator(".bk-menu > div", has_text="Tshirts").first
    option.wait_for()
    page.wait_for_timeout(300)  # the menu is redrawn after the last key; a click before lands on a stale item
    option.click()
    expect(picker).to_have_value(re.compile("Tshirts"))  # chosen before "Add override" is pressed
    add, row = page.get_by_role("button", name="Add override"), page.locator(".wb-overrides .tabulator-row", has_text="Tshirts")
    add.click()
    try:
        row.first.wait_for(timeout=15_000)
    except PlaywrightTimeout:  # on a loaded machine the picker's value can reach the server after the click
        add.click()
        row.first.wait_for()
    page.locator(".wb-suggest button").click()
    page.get_by_text("of your own overrides").first.wait_for()
    assert page.locator(".wb-overrides .tabulator-row", has_text="Tshirts").count() >= 1
    page.screenshot(path=shots / "thresholds_cost_model.png", full_page=True)
    watched.check_clean()


# 6. review queue: empty state, send from a drill-down, filters, bulk ------------------------------

def test_send_to_review_lands_in_the_queue_and_bulk_accept(served, watched, shots):
    page = open_page(watched, served, "review")
    page.get_by_text("The queue is empty: build one with").first.wait_for()
    page = open_page(watched, served, "confusion")
    click_at(page, "Confusion among", "Apparel", "Apparel")
    drill_heading(page)
    ticks = page.locator(".wb-drill-table .tabulator-row input[type=checkbox]")
    for i in range(3):
        ticks.nth(i).click()
    page.locator(".wb-drill-send button").click()
    page.get_by_text("Sent 3 products to today's review queue").first.wait_for()
    page = open_page(watched, served, "review")
    page.locator(".wb-reason-filter select").select_option("dashboard")
    badge = page.locator(".wb-reason-dashboard").first
    badge.wait_for()
    assert badge.inner_text() == "sent from the dashboard by local"
    counts = page.locator("[data-pending]").first
    assert int(counts.get_attribute("data-pending")) == 3
    page.screenshot(path=shots / "review_from_dashboard.png")
    # bulk: the three products share a predicted leaf family; accept the ticked ones in one pass
    page.get_by_text("Bulk: same predicted category").click()
    cards = page.locator(".wb-bulk-card")
    cards.first.wait_for()
    n = cards.count()
    page.locator(".wb-bulk-all button").click()
    page.locator(".wb-bulk-accept button").click()
    # the drill-down's products are test-part errors: accepting the model's leaf contradicts the
    # catalog label, so those wait for one more confirmation each (issue 31)
    # the words in the page's message area, visible (not any hidden node holding them)
    message = page.locator(".wb-message").get_by_text("Accepted ").filter(visible=True)
    message.wait_for()  # strict: exactly one
    text = message.inner_text()
    saved = int(re.search(r"Accepted (\d+) products", text).group(1))
    held = int(m.group(1)) if (m := re.search(r"Not saved: (\d+) in the test part", text)) else 0
    assert saved + held == n
    page.locator(f"[data-pending='{3 - saved}']").first.wait_for()
    # the page looks at the workspace every 2 s and redraws the grid and the counts: the outcome stays
    page.wait_for_timeout(4_500)
    expect(message).to_be_visible()
    assert message.inner_text() == text
    page.screenshot(path=shots / "review_bulk.png")
    watched.check_clean()


# 1 again: tables fit, and a later session still reads percents -----------------------------------

def test_no_table_is_cut_off_at_1440x900_on_any_page(served, watched, shots):
    clipped = {}
    for module in discover_pages():
        slug = page_slug(module)
        page = watched.open(served["url"] + f"?page={slug}", ".wb-page")
        if slug == "confusion":
            settle(page)  # the figure drawn before it is clicked
            click_at(page, "Confusion among", "Apparel", "Apparel")
            drill_heading(page)
        if slug == "thresholds":
            page.locator(".wb-suggest button").click()
            page.locator(".wb-overrides .tabulator-row").first.wait_for()
        if slug == "classify":
            page.locator(".wb-title input").fill("Nike Men Blue Running Shoes")
            page.locator(".wb-classify button").click()
            page.locator(".wb-top5 .tabulator-row").first.wait_for()
        settle(page)  # the tables drawn and laid out: what is measured next
        page.screenshot(path=shots / f"fit_{slug}.png", full_page=True)
        found = page.evaluate(CLIPPED_TABLES)
        if found:
            clipped[slug] = found
    assert clipped == {}
    assert "FIXED_SIZING_MODE" not in Path(served["log"]).read_text()
    watched.check_clean()


def test_percent_axes_in_a_later_session(served, watched, shots):
    # the sessions of the tests above have closed and been discarded by the server by now
    assert_percent_axes(watched, served, shots, "later")
    watched.check_clean()
