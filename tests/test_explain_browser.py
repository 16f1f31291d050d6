"""The reasons where people decide, in headless Chromium: the Classify page and a review item
show the title with its words marked, the words for the category and the runner-up, the
probability per level and the labelled products like it (with photos); a hostile title stays
text."""

from __future__ import annotations

from datetime import date

import pytest

from _review_setup import build
from tests._browser import Watched, browser, require_chromium, serve_in_thread, settle  # noqa: F401  (browser: a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DAY = date(2026, 2, 2)
HOSTILE = "<img src=x onerror=\"document.title='pwned'\"> Nike Men Running Shoes =HYPERLINK(\"http://x\")"
SELLER = "<img src=x onerror=\"document.title='pwned'\"> =HYPERLINK(\"http://x\")"


@pytest.fixture(scope="module")
def served(tmp_path_factory, output_dir):
    require_chromium()
    import workbench as wb
    from workbench.loop.review_queue import build_queue
    from workbench.loop.shelving import classify_file

    root = tmp_path_factory.mktemp("explain_browser")
    rw = build(root, n_catalog=700, batches={DAY: 40}, with_images=True)
    classify_file(rw.ws, rw.files[DAY], dataset="fashion", run_id=rw.run_main, batch_date=DAY)
    build_queue(rw.ws, DAY, n_random=10, n_uncertain=5, n_disagree=5, runs=(rw.run_main, rw.run_weak))
    from workbench.loop.reviews import set_blind_random_sample

    set_blind_random_sample(rw.ws, False)  # the random sample's items show the model's reasons too
    with rw.ws.transaction() as cur:  # a third of the titles as a hostile seller writes them
        cur.execute("UPDATE products SET title_raw = ? || ' ' || coalesce(title_raw, title) "
                    "WHERE hash(product_id) % 3 = 0", [SELLER])
    wb.embed_products(rw.ws)
    server, url = serve_in_thread(rw.ws.path)
    shots = output_dir / "explain"
    shots.mkdir(exist_ok=True)
    yield url, shots
    server.stop()


@pytest.fixture
def watched(browser):
    """A tall page (the reasons sit below the product), checked clean and closed after the test."""
    w = Watched(browser, {"width": 1500, "height": 1300})
    yield w
    w.check_clean()
    w.close()


def test_review_item_shows_its_reasons(served, watched):
    url, shots = served
    page = watched.open(f"{url}/?page=review", ".wb-review")
    box = page.locator(".wb-why-box")
    box.locator("mark").first.wait_for(timeout=120_000)
    text = box.locator(".wb-why").inner_text()
    assert "Words for it:" in text and "Words for the runner-up:" in text
    assert "Products like this were labelled" in text and ("agrees" in text or "differs" in text)
    assert box.locator("img.wb-why-photo").count() >= 1  # the neighbours' photos
    shown_title = page.locator(".wb-title").first.inner_text()
    assert box.locator(".wb-why-title").inner_text().strip() == shown_title.strip()
    page.screenshot(path=shots / "review_why.png", full_page=True)


def test_classify_page_marks_the_typed_title(served, watched):
    url, shots = served
    page = watched.open(f"{url}/?page=classify", ".wb-classify-page")
    page.locator(".wb-title input").fill(HOSTILE)
    page.locator(".wb-classify button").click()
    box = page.locator(".wb-why-box")
    box.locator("mark").first.wait_for(timeout=120_000)
    assert box.locator(".wb-why-title").inner_text().strip() == HOSTILE  # the seller's text, as text
    marked = [m.inner_text() for m in box.locator(".wb-why-title mark").all()]
    assert any("Shoes" in m or "Running" in m for m in marked)
    assert box.locator("img[src='x']").count() == 0 and page.title() != "pwned"
    assert "Footwear" in box.locator(".wb-why-levels").inner_text()
    page.screenshot(path=shots / "classify_why.png", full_page=True)


def test_bulk_grid_says_why_and_how_products_like_it_were_labelled(served, watched):
    url, shots = served
    page = watched.open(f"{url}/?page=review", ".wb-review")
    page.get_by_text("Bulk: same predicted category").click()
    cards = page.locator(".wb-bulk-card")
    cards.first.locator(".wb-why-short").wait_for(timeout=120_000)
    n = cards.count()
    assert n >= 2
    for i in range(n):
        card = cards.nth(i)
        reason = card.locator(".wb-why-short")
        text = reason.inner_text()
        assert text.startswith("Why: "), text
        assert "Products like this were labelled" in text
        agree, of = int(reason.get_attribute("data-agree")), int(reason.get_attribute("data-of"))
        assert of == 5 and f"({agree} of 5 agree)" in text
        # every label named comes with a count, and the counts add up to the five neighbours
        labelled = text.split("Products like this were labelled", 1)[1].rsplit("(", 1)[0]
        assert sum(int(part.rsplit("×", 1)[1]) for part in labelled.split(",")) == 5
    assert page.locator(".wb-bulk img[src='x']").count() == 0 and page.title() != "pwned"
    page.screenshot(path=shots / "review_bulk_why.png", full_page=True)


def test_drill_down_row_opens_its_reasons_and_what_misleads(served, watched):
    url, shots = served
    page = watched.open(f"{url}/?page=categories", ".wb-categories")
    page.locator(".wb-categories .tabulator-row").first.wait_for()
    page.wait_for_timeout(500)
    page.locator(".wb-categories .tabulator-row [tabulator-field=category]").first.click()
    rows = page.locator(".wb-drill-table .tabulator-row")
    rows.first.wait_for(timeout=60_000)
    assert page.locator(".wb-drill .wb-why").count() == 0  # nothing is explained before a row is opened
    settle(page)  # a click during the drill table's last redraw would land on a row that is gone
    title = rows.first.locator("[tabulator-field=title]").inner_text().strip()
    rows.first.locator(".tabulator-cell", has_text="►").click()
    why = page.locator(".wb-drill .wb-why").first
    why.wait_for(timeout=120_000)
    assert page.locator(".wb-drill .wb-why").count() == 1  # only the row opened
    text = why.inner_text()
    assert "Words for it:" in text and "Products like this were labelled" in text
    assert title.split()[-1] in why.locator(".wb-why-title").inner_text()
    page.locator(".wb-drill-misleads button").click()
    box = page.locator(".wb-misleading").first
    box.wait_for(timeout=120_000)
    wrong = int(box.get_attribute("data-products"))
    if wrong:
        assert "wrong prediction" in box.inner_text()
        assert box.locator("table.wb-misleading-terms tbody tr").count() >= 1
    else:
        assert box.inner_text().strip() == "No wrong prediction among these products."
    assert page.locator(".wb-drill img[src='x']").count() == 0 and page.title() != "pwned"
    page.screenshot(path=shots / "drill_why.png", full_page=True)
