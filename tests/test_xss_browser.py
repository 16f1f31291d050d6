"""Seller-supplied text never runs as code in the served app (headless Chromium).

The workspace holds real fashion products whose titles, descriptions, brands and category names
carry script and formulas (``tests/_hostile_setup.py``); every payload sets ``window.__xss`` or
opens a dialog if it runs. Every page found by ``discover_pages`` is opened (pages added later
are walked too), the review page is used with the mouse (accept, correct to a hostile category,
undo, the search box), the classify page gets a hostile title and a file with a hostile name,
and its download must hold no live formula. An oversized upload is cut off while it arrives.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from _browser import read_csv_download
from _hostile_setup import CHROMIUM, FORMULAS, XSS, Watched, chromium, free_port, hostile, wait_port
from workbench.app.template import discover_pages, page_slug
from workbench.catalog.people_csv import FORMULA_PREFIXES, neutralise_cell

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UPLOAD_LIMIT_MB = 1.0
HOSTILE_FILE = "<img src=x onerror=alert(9)>.csv"
HOSTILE_PHOTO = "<img src=x onerror=alert(10)>.jpg"
NOT_A_PHOTO = "\"'><svg onload=alert(14)>.png"
FASHION_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "fashion" / "images_small"


@pytest.fixture(scope="module")
def site(hostile_ws):
    """The hostile workspace served in this process (no login: the local user reviews)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("headless Chromium is not installed at /usr/bin/chromium")
    from workbench.app.serve import serve_app

    port = free_port()
    server = serve_app(hostile_ws.ws.path, port=port, threaded=True, upload_limit_mb=UPLOAD_LIMIT_MB)
    wait_port(port)
    yield hostile_ws, f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def browser(site):
    with chromium() as b:
        yield b


@pytest.fixture
def watched(browser):
    w = Watched(browser)
    yield w
    w.close()


def open_page(w: Watched, url: str, slug: str):
    page = w.page
    page.goto(f"{url}/?page={slug}")
    page.wait_for_selector(".wb-content")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    return page


def languages_for(index: int, options: list[str]) -> list[str]:
    """Two of the sidebar's languages for the ``index``-th page, a different two on each page, so
    that the walk shows every language on some page (the select is the same on every page; the
    hostile names are the catalog's own, shown as they are in any language)."""
    return [options[(2 * index + k) % len(options)] for k in (1, 2)]


def test_every_page_shows_hostile_text_as_text(site, watched, output_dir):
    hw, url = site
    shown_languages = set()
    for index, module in enumerate(discover_pages()):
        slug = page_slug(module)
        page = open_page(watched, url, slug)
        page.locator(".wb-content").get_by_text(module.TITLE).first.wait_for()
        page.locator(".wb-language select").evaluate("s => s.setAttribute('data-wb-language', '')")
        for select in page.locator("select:not([multiple])").all():  # every choice of category, run, level
            if not select.is_visible():
                continue
            values = select.evaluate("s => [...s.options].map(o => o.value)")
            if select.get_attribute("data-wb-language") is not None:  # the sidebar's language
                values = languages_for(index, values)
                shown_languages.update(values)
            for value in values[:12]:
                select.select_option(value, timeout=10_000)
                page.wait_for_timeout(150)
        box = page.locator(".bk-Canvas, canvas").first
        if box.count():
            frame = box.bounding_box()
            if frame:  # hover tooltips of plots over their points
                for i in range(12):
                    page.mouse.move(frame["x"] + frame["width"] * (0.1 + 0.07 * i),
                                    frame["y"] + frame["height"] * (0.2 + 0.05 * i))
                    page.wait_for_timeout(60)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=output_dir / f"xss_{slug}.png", full_page=True)
        watched.assert_inert(f"page {slug}")
    # the hostile category names are on the pages, as text
    page = open_page(watched, url, "confusion")
    page.get_by_text("onerror", exact=False).first.wait_for()
    # the sidebar names the workspace, never where it lies on the server
    page.get_by_text(f"Workspace: {hw.ws.path.name}").first.wait_for()
    assert page.get_by_text(str(hw.ws.path.parent)).count() == 0
    watched.assert_inert("the sidebar")
    # every language of the sidebar's select was chosen on some page
    options = page.locator(".wb-language select").evaluate("s => [...s.options].map(o => o.value)")
    assert set(options) <= shown_languages, set(options) - shown_languages


def test_review_accept_correct_and_undo_on_hostile_items(site, watched, output_dir):
    hw, url = site
    page = open_page(watched, url, "review")
    page.get_by_text("Why it is here").first.wait_for()

    def hostile_on_screen() -> bool:
        title = page.locator(".wb-title").first.inner_text()
        predicted = page.locator(".wb-predicted").first.inner_text()
        return any(c in title + predicted for c in "<[\"=")

    for _ in range(30):  # find a product whose title or predicted category carries a payload
        if hostile_on_screen():
            break
        old = page.locator("[data-product-id]").first.get_attribute("data-product-id")
        page.get_by_role("button", name="Next (n)").click()
        page.locator(f"[data-product-id]:not([data-product-id='{old}'])").first.wait_for()
    title = page.locator(".wb-title").first.inner_text()
    assert any(c in title + page.locator(".wb-predicted").first.inner_text() for c in "<[\"=")
    page.get_by_role("button", name="Accept (a)").click()
    page.get_by_text("Saved review").first.wait_for()
    message = page.get_by_text("Saved review").first.inner_text()
    assert title.strip()[:25] in message  # the raw title is quoted, as text
    watched.assert_inert("accepting a hostile product")

    # correct to a hostile category through the top 5
    cells = page.locator(".wb-top5 .tabulator-cell[tabulator-field=category]")
    cells.first.wait_for()
    categories = cells.all_inner_texts()
    pick = next(i for i, c in enumerate(categories) if any(x in c for x in "<=\"") and i > 0)
    page.locator(".wb-top5 .tabulator-row").nth(pick).get_by_text("choose").click()
    page.get_by_text("Corrected to").first.wait_for()
    # the table shows the last two levels (the message the whole path, cut when long)
    assert categories[pick].removeprefix("… > ")[:30] in page.get_by_text("Corrected to").first.inner_text()
    watched.assert_inert("correcting to a hostile category")

    # the search box suggests hostile categories as text
    page.get_by_placeholder("Search categories… (press /)").type("onerror", delay=30)
    page.locator(".bk-menu > div").first.wait_for()
    watched.assert_inert("the category search box")
    page.keyboard.press("Escape")

    page.get_by_role("button", name="Undo last (u)").click()
    page.get_by_text("Undid review").first.wait_for()
    assert categories[pick].removeprefix("… > ") in page.get_by_text("Undid review").first.inner_text()
    page.locator(".wb-recent .tabulator-cell[tabulator-field=product]").first.wait_for()
    page.screenshot(path=output_dir / "xss_review_after_undo.png", full_page=True)
    watched.assert_inert("undoing a correction")


def live_formula(cell: str) -> bool:
    return isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES) and neutralise_cell(cell) != cell


def test_classify_hostile_title_file_name_and_a_download_without_formulas(site, watched, tmp_path, output_dir):
    hw, url = site
    page = open_page(watched, url, "classify")
    page.locator(".wb-title input").fill(XSS[0] + " Nike Men Running Shoes")
    page.locator(".wb-classify button").click()
    page.locator(".wb-top5 .tabulator-row").first.wait_for()
    watched.assert_inert("classifying a hostile title")

    rows = hostile(pd.DataFrame({"productDisplayName": ["Puma Men Black T-shirt", "Nike Women Shoes",
                                                         "Titan Men Watch", "Lavie Women Handbag"] * 5}))
    upload = rows.rename(columns={"productDisplayName": "title"})[["title", "brand", "desc"]]
    upload["note"] = (FORMULAS * 4)[:len(upload)]
    path = tmp_path / HOSTILE_FILE
    upload.to_csv(path, index=False)
    page.locator(".wb-upload input[type=file]").set_input_files(str(path))
    button = page.locator(".wb-download button")
    button.wait_for()
    page.get_by_text(f"products from {HOSTILE_FILE}").first.wait_for()  # the file name, as text
    page.screenshot(path=output_dir / "xss_classify_upload.png", full_page=True)
    watched.assert_inert("uploading a file with a hostile name")
    with page.expect_download() as info:
        button.click()
    saved = tmp_path / "downloaded.csv"
    info.value.save_as(saved)
    assert "<" not in info.value.suggested_filename
    out = pd.read_csv(saved, dtype=str, keep_default_na=False)
    assert len(out) == len(upload)
    live = [c for c in out.to_numpy().ravel() if live_formula(c)]
    assert live == []
    assert set(out["note"]) == {"'" + f for f in FORMULAS}  # the seller's cells, made inert
    assert pd.to_numeric(out["confidence"]).between(0, 1).all()  # numbers stay numbers


def test_drill_downs_bulk_review_and_highlight_show_hostile_text_as_text(site, watched, output_dir):
    """The widgets that came with the dashboards, languages and label work: a hostile category's
    product table and its CSV, the map's highlight picker (Choices.js renders labels as HTML),
    the bulk review grid and its category picker."""
    hw, url = site
    page = open_page(watched, url, "categories")
    search = page.locator(".wb-category-search input")
    for word in ("onerror", "HYPERLINK"):  # a category with script in its name, one with a formula in its path
        search.fill(word)
        search.press("Enter")
        # paths show their last two levels; the whole path is the hover (title) of the cell
        row = page.locator(".wb-categories .tabulator-row",
                           has=page.locator(f".wb-path[title*='{word}']")).first
        row.wait_for()
        page.wait_for_timeout(500)
        row.locator("[tabulator-field=category]").click()
        heading = page.locator(f".wb-drill-heading[data-n]:has-text('{word}')").first
        heading.wait_for()
        page.locator(".wb-drill-table .tabulator-row").first.wait_for()
        watched.assert_inert(f"the product table of a category named with {word}")
    assert "HYPERLINK" in heading.inner_text()
    page.screenshot(path=output_dir / "xss_categories_drill.png", full_page=True)
    rows = read_csv_download(page, ".wb-drill-csv button")
    cells = [v for r in rows for v in r.values()]
    assert rows and any(c.startswith("'=HYPERLINK") for c in cells)  # the formula path, made inert
    assert [c for c in cells if live_formula(c)] == []

    page = open_page(watched, url, "embedding")
    level = page.locator(".wb-map select", has_text="1. ").first  # the category level
    for value in level.evaluate("s => [...s.options].map(o => o.value)"):
        level.select_option(value)
        page.wait_for_timeout(400)
        box = page.locator(".wb-highlight input").first
        box.click()
        box.type("onerror", delay=20)
        page.wait_for_timeout(400)
        shown = page.locator(".wb-highlight .choices__list--dropdown").first.inner_text()
        watched.assert_inert(f"the map's highlight picker at level {value}")
        page.keyboard.press("Escape")
        if "onerror" in shown:
            assert "<img src=x" in shown or "<svg onload" in shown  # the label as text, not as markup
            break
    else:
        raise AssertionError("no hostile category in the map's highlight picker")

    page = open_page(watched, url, "review")
    page.get_by_text("Bulk: same predicted category").click()
    picker = page.locator(".wb-bulk-category select")
    picker.wait_for()
    labels = picker.evaluate("s => [...s.options].map(o => o.text)")
    hostile_labels = [x for x in labels if any(c in x for c in "<=\"")]
    assert hostile_labels, labels
    for label in hostile_labels[:3]:
        picker.select_option(label=label)
        page.locator(".wb-bulk-card").first.wait_for()
        page.wait_for_timeout(300)
        watched.assert_inert(f"the bulk grid of {label}")
    page.locator(".wb-bulk-all button").click()
    page.locator(".wb-bulk-accept button").click()
    page.get_by_text("Accepted").first.wait_for()
    assert any(x in page.get_by_text("Accepted").first.inner_text() for x in ("<", "=", "\""))
    page.screenshot(path=output_dir / "xss_review_bulk.png", full_page=True)
    watched.assert_inert("bulk accepting hostile products")


def test_taxonomy_mapping_page_with_hostile_categories(site, watched, output_dir):
    """The catalog's hostile categories mapped onto Shopify: listed, picked and accepted as text."""
    from workbench.embeddings.taxonomy_mapping import map_catalog

    hw, url = site
    mapped = map_catalog(hw.ws, "shopify", method="lexical", under=["Apparel & Accessories"])
    assert mapped["catalog_node"].str.contains("onerror").any()
    page = open_page(watched, url, "taxonomy_mapping")
    page.locator(".wb-mapping .tabulator-row").first.wait_for()
    page.screenshot(path=output_dir / "xss_taxonomy_mapping_table.png", full_page=True)
    row = page.locator(".wb-mapping .tabulator-row", has_text="onerror").first
    for _ in range(5):  # the table is paged
        if row.count():
            break
        page.locator(".wb-mapping button.tabulator-page[data-page=next]").click()
        page.wait_for_timeout(500)
    assert row.count(), page.locator(".wb-mapping").inner_text()
    row.locator("[tabulator-field='catalog category']").click()
    page.locator(".wb-mapping-node", has_text="onerror").first.wait_for()
    page.locator(".wb-map-accept button").click()
    page.locator(".wb-message .alert").first.wait_for()
    page.screenshot(path=output_dir / "xss_taxonomy_mapping.png", full_page=True)
    watched.assert_inert("accepting the mapping of a hostile category")


def test_classify_photos_with_hostile_names_and_an_oversized_photo(site, watched, tmp_path):
    """The Classify page's photo: a real photo and a file that is no image, both with script in
    their names, then a 3 MB photo with the browser's size check switched off (cut off at the
    server's limit while it arrives)."""
    _, url = site
    photo = tmp_path / HOSTILE_PHOTO
    photo.write_bytes(next(iter(sorted(FASHION_PHOTOS.glob("*.jpg")))).read_bytes())
    fake = tmp_path / NOT_A_PHOTO
    fake.write_text("title\nNike Men Shoes\n")
    big = tmp_path / "big.jpg"
    big.write_bytes(photo.read_bytes() + bytes(3 * 1024 * 1024))
    page = open_page(watched, url, "classify")
    drop = page.locator(".wb-photo-upload input[type=file]")
    drop.set_input_files(str(photo))
    page.locator(".wb-photo-preview").first.wait_for()
    watched.assert_inert("a photo with a hostile file name")
    drop.set_input_files(str(fake))
    page.locator(".wb-photo .alert", has_text="svg onload").first.wait_for()
    watched.assert_inert("a file with a hostile name that is no photo")
    raise_browser_limit(page)
    drop.set_input_files(str(big))
    refusal = page.get_by_text("is larger than the upload limit").first
    refusal.wait_for()
    page.wait_for_timeout(500)
    text = refusal.inner_text()
    kept = re.search(r"stopped after ([\d.]+) MB", text)
    assert kept and float(kept.group(1)) <= UPLOAD_LIMIT_MB + 1, text
    watched.assert_inert("an oversized photo")


@pytest.fixture(scope="module")
def served_process(hostile_ws, tmp_path_factory, output_dir):
    """A copy of the hostile workspace served by ``workbench serve`` in its own process, so that
    its memory is the server's alone (in this process pytest's log capture keeps every record)."""
    from _dashboard_setup import copy_workspace, start_server, stop, wait_http, workbench_cli

    root = copy_workspace(hostile_ws.ws, tmp_path_factory.mktemp("upload_ws"), artifacts=True)  # its models too
    port = free_port()
    proc = start_server([*workbench_cli(), "serve", "--workspace", str(root), "--port", str(port),
                         "--upload-limit-mb", str(UPLOAD_LIMIT_MB), "--no-show"], output_dir / "upload_server.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/favicon.ico", proc)
        deadline = time.monotonic() + 180  # measure after the start-up warming, not during it
        while "dashboards ready" not in (output_dir / "upload_server.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def raise_browser_limit(page) -> None:
    """What an attacker does in the console: switch the drop area's size check off."""
    page.evaluate("""() => { for (const doc of Bokeh.documents) for (const m of doc.all_models)
        if ('max_file_size' in m && 'chunk_size' in m) m.max_file_size = '500MB'; }""")


def test_an_oversized_upload_is_cut_off_while_it_arrives(served_process, watched, tmp_path, output_dir):
    """The browser's size check is switched off and 50 MB sent: the server stops keeping the file
    at the limit and its memory (RSS of the server process, sampled every 20 ms) stays flat."""
    proc, url = served_process
    server = psutil.Process(proc.pid)
    rss = lambda: server.memory_info().rss / 1024 / 1024  # noqa: E731
    line = b"Nike Men Blue Running Shoes size 42 with a long enough description of the product\n"
    files = {}
    for name, mb in (("warm.csv", 3), ("big.csv", 50)):
        files[name] = tmp_path / name
        files[name].write_bytes(b"title\n" + line * (mb * 1024 * 1024 // len(line)))
    page = open_page(watched, url, "classify")
    raise_browser_limit(page)
    # a first refused upload pays the one-time costs (code paths, buffers) before measuring
    page.locator(".wb-upload input[type=file]").set_input_files(str(files["warm.csv"]))
    page.get_by_text("Upload complete").first.wait_for(timeout=60_000)
    page.reload()
    page.wait_for_selector(".wb-upload")
    raise_browser_limit(page)
    page.wait_for_timeout(1000)
    samples, done = [], threading.Event()

    def sample():
        while not done.is_set():
            samples.append(rss())
            time.sleep(0.02)

    base = [rss() for _ in range(10)]
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    page.locator(".wb-upload input[type=file]").set_input_files(str(files["big.csv"]))
    page.get_by_text("is larger than the upload limit").first.wait_for()
    page.get_by_text("Upload complete").first.wait_for(timeout=120_000)  # the browser sent every chunk
    page.wait_for_timeout(500)
    done.set()
    sampler.join()
    growth = max(samples) - sorted(base)[len(base) // 2]
    text = page.get_by_text("is larger than the upload limit").first.inner_text()
    page.screenshot(path=output_dir / "upload_cut_off.png", full_page=True)
    print(f"refused 50 MB upload: server RSS grew {growth:.1f} MB at most over {time.perf_counter() - t0:.1f} s; {text}")
    kept = float(re.search(r"stopped after ([\d.]+) MB", text).group(1))
    assert kept <= UPLOAD_LIMIT_MB + 1  # cut off at the limit, not after the 50 MB
    assert growth < 20, f"server memory grew {growth:.1f} MB during a refused 50 MB upload"
    assert proc.poll() is None
