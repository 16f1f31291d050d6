"""The review loop in a real browser (headless Chromium): login, review with the mouse, the
keyboard and the search box, viewers refused, and concurrent sessions that all land."""

from __future__ import annotations

import time
from datetime import date

import pytest

from _review_setup import build
from tests._browser import add_users, browser, login, require_chromium, serve_in_thread  # noqa: F401 (browser: a fixture)
from workbench.loop.labels import label_history
from workbench.loop.review_queue import build_queue
from workbench.loop.reviews import set_blind_random_sample
from workbench.loop.reviews import list_reviews
from workbench.loop.shelving import classify_file
from workbench.loop.thresholds import published_thresholds

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DAY = date(2026, 2, 2)
USERS = {"ana": ("ana-password", "reviewer"), "ben": ("ben-password", "reviewer"),
         "vic": ("vic-password", "viewer")}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A served app with login over a workspace whose review queue holds real products with photos."""
    require_chromium()
    from workbench.runs.evaluation import evaluate_run

    root = tmp_path_factory.mktemp("review_browser")
    rw = build(root, n_catalog=1200, batches={DAY: 150}, with_images=True)
    classify_file(rw.ws, rw.files[DAY], dataset="fashion", run_id=rw.run_main, batch_date=DAY)
    build_queue(rw.ws, DAY, n_random=40, n_uncertain=15, n_disagree=15, runs=(rw.run_main, rw.run_weak))
    # these sessions accept suggestions on random-sample items too (blind review: test_reviewer_quality)
    set_blind_random_sample(rw.ws, False)
    for run_id in (rw.run_weak, rw.run_main):
        evaluate_run(rw.ws, run_id)
    creds = root / "credentials.json"
    add_users(creds, USERS)
    server, url = serve_in_thread(rw.ws.path, creds)
    yield rw, url
    server.stop()


def as_user(browser, url: str, user: str):
    """A new browser context logged in as ``user``, on the review page."""
    context, page, _ = login(browser, url, user, USERS[user][0], "review", "text=Why it is here")
    return context, page


def reviews_of(ws, reviewer: str):
    return list_reviews(ws, reviewer=reviewer)


def focus_page(page) -> None:
    """Move the focus out of any input so that shortcuts reach the page."""
    page.get_by_text("Your latest decisions").click()


def shown_product(page) -> str:
    """The id of the product on screen."""
    return page.locator("[data-product-id]").first.get_attribute("data-product-id")


def wait_for_other_product(page, old: str) -> None:
    """Wait until the page shows another product than ``old``."""
    page.locator(f"[data-product-id]:not([data-product-id='{old}'])").first.wait_for()


def test_without_login_the_app_refuses(served, browser):
    _, url = served
    context = browser.new_context()
    page = context.new_page()
    response = page.goto(f"{url}/?page=review")
    assert "/login" in page.url and response.ok
    assert page.locator("input[name=password]").count() == 1
    assert page.get_by_text("Review queue").count() == 0
    page.fill("input[name=username]", "ana")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" in page.url and "Invalid username or password" in page.content()
    context.close()


def test_reviewer_accepts_and_corrects_through_the_search_box(served, browser, output_dir):
    rw, url = served
    ws = rw.ws
    context, page = as_user(browser, url, "ana")
    assert page.get_by_text("Reviewer: ana (reviewer)").count() == 1
    # walk the queue: accept a product the model got right, correct one it got wrong
    first = second = predicted = target = None
    for _ in range(40):
        pid = shown_product(page)
        guess = page.locator(".wb-predicted").first.inner_text()
        truth = rw.truth[pid]
        if first is None and truth == guess:
            first, predicted = pid, guess
            page.get_by_role("button", name="Accept (a)").click()
            page.get_by_text("Saved review").first.wait_for()
        elif first is not None and truth != guess:
            second, target = pid, truth
            # correct through the search box, reached with the "/" shortcut
            focus_page(page)
            page.keyboard.press("/")
            page.get_by_placeholder("Search categories… (press /)").type(truth.split(" > ")[-1].lower()[:12],
                                                                          delay=30)
            option = page.locator(".bk-menu > div", has_text=truth).first
            option.wait_for()
            page.screenshot(path=str(output_dir / "review_search.png"))
            option.click()
            page.get_by_role("button", name="Save correction (c)").click()
            page.get_by_text("Corrected to").first.wait_for()
            break
        else:
            page.get_by_role("button", name="Next (n)").click()
        wait_for_other_product(page, pid)
    assert first is not None and second is not None
    saved = reviews_of(ws, "ana")
    assert list(saved["decision"]) == ["correct", "accept"]
    assert list(saved["product_id"]) == [second, first]
    assert saved["final_leaf"].iloc[0] == target and saved["final_leaf"].iloc[1] == predicted
    assert saved["reviewed_at"].notna().all()
    for pid, leaf in ((first, predicted), (second, target)):
        history = label_history(ws, pid)
        human = history[history["source"] == "human"].iloc[-1]
        assert human["leaf"] == leaf and human["actor"] == "ana"
    for leaf in (target, predicted):  # both decisions are listed on the page
        page.locator(".wb-recent .tabulator-cell", has_text=leaf).first.wait_for()
    cells = page.locator(".wb-recent .tabulator-cell").all_inner_texts()
    assert cells.count("correct") == 1 and cells.count("accept") == 1
    page.screenshot(path=str(output_dir / "review_page.png"), full_page=True)  # docs/make_screenshots.py copies it
    # "u" undoes the correction: the product is back on screen, the acceptance stands
    focus_page(page)
    page.keyboard.press("u")
    page.get_by_text("Undid review").first.wait_for()
    page.locator(f"[data-product-id='{second}']").first.wait_for()
    assert list(reviews_of(ws, "ana")["product_id"]) == [first]
    context.close()


def test_viewer_may_look_but_submit_and_publish_are_refused(served, browser, output_dir):
    rw, url = served
    ws = rw.ws
    before = int(ws.scalar("SELECT count(*) FROM reviews"))
    published = published_thresholds(ws)
    context, page = as_user(browser, url, "vic")
    assert page.get_by_role("button", name="Accept (a)").is_disabled()
    assert page.get_by_text("submitting reviews needs the reviewer role").count() == 1
    focus_page(page)
    page.keyboard.press("a")  # the shortcut reaches the server, which refuses
    page.get_by_text("vic (viewer) may not submit reviews").first.wait_for()
    assert int(ws.scalar("SELECT count(*) FROM reviews")) == before
    page.screenshot(path=str(output_dir / "review_page_viewer.png"), full_page=True)
    page.goto(f"{url}/?page=thresholds")
    publish = page.get_by_role("button", name="Publish thresholds")
    publish.wait_for()
    assert publish.is_disabled()
    # even a button re-enabled in the browser is refused by the server
    page.evaluate("""() => {
        for (const doc of Bokeh.documents) for (const m of doc.all_models)
            if (m.label === "Publish thresholds") m.disabled = false; }""")
    page.wait_for_function("""() => [...Bokeh.documents[0].all_models]
        .some(m => m.label === "Publish thresholds" && !m.disabled)""")
    publish.click()
    page.get_by_text("vic (viewer) may not publish thresholds").first.wait_for()
    assert published_thresholds(ws) == published
    context.close()


def test_twenty_concurrent_submissions_from_two_sessions_all_land(served, browser):
    rw, url = served
    ws = rw.ws
    sessions = [as_user(browser, url, name) for name in ("ana", "ben")]
    shown = {name: shown_product(page) for name, (_, page) in zip(("ana", "ben"), sessions)}
    assert shown["ana"] != shown["ben"]  # each session holds its own item
    before = {n: len(reviews_of(ws, n)) for n in ("ana", "ben")}
    for _, page in sessions:
        focus_page(page)
    for _ in range(10):  # interleaved: both sessions have submissions in flight at once
        for _, page in sessions:
            page.keyboard.press("a")
    deadline = time.time() + 90
    while time.time() < deadline:
        counts = {n: len(reviews_of(ws, n)) - before[n] for n in ("ana", "ben")}
        if counts == {"ana": 10, "ben": 10}:
            break
        time.sleep(0.5)
    assert counts == {"ana": 10, "ben": 10}
    landed = ws.df("SELECT product_id FROM reviews WHERE NOT undone AND reviewer IN ('ana', 'ben') "
                   "AND reviewed_at >= (SELECT max(reviewed_at) FROM reviews) - INTERVAL 10 MINUTE")
    assert landed["product_id"].is_unique  # claims kept the two sessions on different products
    for _, page in sessions:
        page.get_by_text("Saved review").first.wait_for()
    for context, _ in sessions:
        context.close()


def test_live_accuracy_page_shows_the_random_sample_estimate(served, browser, output_dir):
    from workbench.loop.live_accuracy import live_accuracy_overall

    rw, url = served
    overall = live_accuracy_overall(rw.ws)
    assert overall["n"] > 0  # the sessions above reviewed random-sample items
    context, page = as_user(browser, url, "vic")  # viewers may look
    page.goto(f"{url}/?page=live_accuracy")
    figure = page.locator(".wb-live").first
    figure.wait_for()
    assert int(figure.get_attribute("data-n")) == overall["n"]
    assert float(figure.get_attribute("data-low")) == pytest.approx(overall["low"])
    page.screenshot(path=str(output_dir / "live_accuracy.png"), full_page=True)
    context.close()
