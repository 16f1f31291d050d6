"""The served dashboards in headless Debian Chromium (Playwright drives /usr/bin/chromium).

The app is served by ``workbench serve`` in a subprocess on a copy of ``evaluated_ws`` (1,500 real
fashion products, two evaluated tfidf runs, a stored projection), with a 50 KB upload limit so
the too-large case is cheap. Every test saves a screenshot under ``test-output/browser/``.
"""

from __future__ import annotations

import re
import glob
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests._browser import CHROMIUM, Watched, browser, require_chromium, shots_folder  # noqa: F401  (browser: a fixture)
from tests._dashboard_setup import (add_projection, copy_workspace, free_port, held_out_products, start_server,
                                    stop, wait_http, workbench_cli)
from workbench import Workspace
from workbench.app.template import discover_pages, page_slug
from workbench.evaluate import coverage_at
from workbench.runs.evaluation_tables import stored_metrics
from workbench.models.base import CategoryClassifier
from workbench.catalog.relabel import load_taxonomy
from workbench.runs.records import list_runs, load_predictions
from workbench.catalog.text import clean_series

pytestmark = pytest.mark.browser

UPLOAD_LIMIT_MB = 0.05


@pytest.fixture(scope="module")
def shots(output_dir) -> Path:
    return shots_folder(output_dir, "browser")


@pytest.fixture(scope="module")
def site(evaluated_ws, tmp_path_factory, shots):
    """A served copy of the evaluated workspace, plus what the tests compare against."""
    require_chromium()
    root = copy_workspace(evaluated_ws, tmp_path_factory.mktemp("browser_ws"), artifacts=True)  # its models too
    ws = Workspace(root)
    add_projection(ws)
    runs = list_runs(ws)
    metrics = {r: stored_metrics(ws, r) for r in runs["run_id"]}
    best = max(metrics, key=lambda r: metrics[r]["accuracy"])
    expected = {
        "best_run": best, "metrics": metrics[best], "predictions": load_predictions(ws, best),
        "taxonomy": load_taxonomy(ws), "artifact_dir": runs.set_index("run_id").loc[best, "artifact_dir"],
        "held_out": held_out_products(ws, 40, seed=11),
    }
    ws.rows("CHECKPOINT")
    ws.close()  # the server process takes the database over
    port = free_port()
    proc = start_server([*workbench_cli(), "serve", "--workspace", str(root), "--port", str(port),
                         "--upload-limit-mb", str(UPLOAD_LIMIT_MB), "--no-show"], shots / "server.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        yield {"url": f"http://127.0.0.1:{port}/", "root": root, "proc": proc, **expected}
    finally:
        stop(proc)


@pytest.fixture
def watched(browser):
    w = Watched(browser)
    yield w
    w.close()


def figure(page, name: str) -> float | None:
    raw = page.locator(f".wb-{name}").get_attribute("data-value")
    return None if raw in (None, "", "None") else float(raw)


def test_every_page_opens_without_console_errors_or_outside_requests(site, watched, shots):
    page = watched.open(site["url"])
    pages = discover_pages()
    for module in pages[1:] + pages[:1]:  # the first page is open already: visit it last
        page.locator(".wb-nav button", has_text=re.compile(f"^{re.escape(module.TITLE)}$")).click()
        page.wait_for_timeout(300)
        page.wait_for_load_state("networkidle")
        page.locator(".wb-content").get_by_text(module.TITLE).first.wait_for(timeout=60_000)
        page.screenshot(path=shots / f"page_{page_slug(module)}.png", full_page=True)
        # the open page is in the URL (synced from the server a moment after the page is drawn)
        page.wait_for_function("slug => location.search.includes('page=' + slug)", arg=page_slug(module),
                               timeout=15_000)
        assert f"page={page_slug(module)}" in page.url
    # a page opened directly by its URL
    page = watched.open(site["url"] + "?page=severity", ".wb-severity")
    assert page.locator(".wb-worst .tabulator-row").count() > 0
    watched.check_clean()


def test_threshold_slider_matches_the_evaluation(site, watched, shots):
    page = watched.open(site["url"] + "?page=thresholds", ".wb-thresholds")
    preds = site["predictions"]
    before = page.locator(".wb-threshold").inner_text()
    handle = page.locator(".wb-threshold-slider .noUi-handle")
    track = page.locator(".wb-threshold-slider .noUi-base").bounding_box()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] + 0.62 * track["width"], track["y"] + track["height"] / 2, steps=8)
    page.mouse.up()
    page.locator(".wb-threshold").filter(has_not_text=before).wait_for(timeout=20_000)
    page.wait_for_timeout(500)
    t = figure(page, "threshold")
    assert 0.5 < t < 0.75
    expected = coverage_at(preds.y_true, preds.proba, classes=preds.classes, threshold=t)
    assert figure(page, "coverage") == pytest.approx(expected["coverage"], abs=1e-12)
    assert figure(page, "accuracy") == pytest.approx(expected["accuracy"], abs=1e-12)
    assert figure(page, "shelved") == expected["n_covered"]
    assert figure(page, "review") == len(preds.y_true) - expected["n_covered"]
    page.screenshot(path=shots / "threshold_slider.png", full_page=True)

    # the threshold `workbench evaluate` found for 95% accuracy gives its stored coverage
    metrics = site["metrics"]
    t95 = metrics["threshold_at"]["0.95"]
    box = page.locator(".wb-exact input")
    box.fill(repr(t95))
    box.press("Enter")
    page.locator(".wb-threshold").filter(has_text=f"{t95:.3f}").wait_for(timeout=20_000)
    page.wait_for_timeout(500)
    assert figure(page, "threshold") == pytest.approx(t95, abs=1e-12)
    assert figure(page, "coverage") == pytest.approx(metrics["coverage_at"]["0.95"], abs=1e-12)
    assert figure(page, "accuracy") == pytest.approx(metrics["accuracy_at"]["0.95"], abs=1e-12)
    page.screenshot(path=shots / "threshold_at_95.png", full_page=True)
    watched.check_clean()


def set_exact_threshold(page, value: float) -> None:
    box = page.locator(".wb-exact input")
    box.fill(str(value))
    box.press("Enter")
    page.locator(".wb-threshold").filter(has_text=f"{value:.3f}").wait_for(timeout=20_000)


def test_two_sessions_keep_separate_thresholds(site, browser, shots):
    a, b = Watched(browser), Watched(browser)
    try:
        pa = a.open(site["url"] + "?page=thresholds", ".wb-thresholds")
        pb = b.open(site["url"] + "?page=thresholds", ".wb-thresholds")
        start = figure(pb, "threshold")
        target = 0.437 if abs(start - 0.437) > 1e-6 else 0.612
        set_exact_threshold(pa, target)
        pb.wait_for_timeout(1000)
        assert figure(pa, "threshold") == pytest.approx(target)
        assert figure(pb, "threshold") == pytest.approx(start)  # B did not move
        pa.locator(".wb-publish button").click()
        pa.get_by_text("Published version").wait_for(timeout=20_000)
        pa.screenshot(path=shots / "sessions_a_published.png", full_page=True)
        assert figure(pb, "threshold") == pytest.approx(start)
        # a new session of B starts from what A published
        pb.reload()
        pb.wait_for_selector(".wb-thresholds", timeout=60_000)
        pb.locator(".wb-threshold").filter(has_text=f"{target:.3f}").wait_for(timeout=20_000)
        pb.get_by_text(f"global threshold {target:.3f}").first.wait_for(timeout=20_000)
        pb.screenshot(path=shots / "sessions_b_after_reload.png", full_page=True)
        a.check_clean()
        b.check_clean()
    finally:
        a.close()
        b.close()


def test_sibling_confusion_shows_the_children_of_a_parent(site, watched, shots):
    tax = site["taxonomy"]
    parent = max((n for n in tax.internal_nodes() if tax.level(n) == 1), key=lambda n: len(tax.children(n)))
    page = watched.open(site["url"] + "?page=confusion", ".wb-confusion")
    page.locator(".wb-parent select").select_option(parent)
    children = page.locator(".wb-children")
    for child in tax.children(parent):
        children.get_by_text(child, exact=True).first.wait_for(timeout=20_000)
    assert children.locator("tbody tr").count() == len(tax.children(parent))
    page.screenshot(path=shots / "sibling_confusion.png", full_page=True)
    watched.check_clean()


def test_classify_a_typed_product(site, watched, shots):
    tax = site["taxonomy"]
    product = site["held_out"].iloc[0]
    page = watched.open(site["url"] + "?page=classify", ".wb-classify-page")
    page.locator(".wb-title input").fill(product["productDisplayName"])
    page.locator(".wb-classify button").click()
    rows = page.locator(".wb-top5 .tabulator-row")
    rows.first.wait_for(timeout=60_000)
    assert rows.count() == 5
    # each path shows its last two levels, the whole path on hover
    shown = [rows.nth(i).locator(".tabulator-cell[tabulator-field=category] .wb-path").get_attribute("title")
             for i in range(5)]
    assert all(c in tax.leaves for c in shown)
    model = CategoryClassifier.load(Path(site["artifact_dir"]) / "model")
    title = clean_series(pd.Series([product["productDisplayName"]]))
    assert shown[0] == model.predict(pd.DataFrame({"title": title}))[0]
    page.get_by_text("review").first.wait_for()  # the shelving decision is stated
    page.screenshot(path=shots / "classify_typed.png", full_page=True)
    watched.check_clean()


def upload(page, path: Path):
    page.locator(".wb-upload input[type=file]").set_input_files(str(path))


def test_upload_a_csv_and_download_the_predictions(site, watched, shots, tmp_path):
    rows = site["held_out"]
    path = tmp_path / "new_products.csv"
    rows[["id", "productDisplayName", "gender"]].to_csv(path, index=False)
    page = watched.open(site["url"] + "?page=classify", ".wb-classify-page")
    upload(page, path)
    button = page.locator(".wb-download button")
    button.wait_for(timeout=60_000)
    with page.expect_download() as info:
        button.click()
    saved = tmp_path / "downloaded.csv"
    info.value.save_as(saved)
    out = pd.read_csv(saved, dtype={"id": str})
    assert len(out) == len(rows) and list(out["id"]) == list(rows["id"].astype(str))
    model = CategoryClassifier.load(Path(site["artifact_dir"]) / "model")
    expected = model.predict(pd.DataFrame({"title": clean_series(rows["productDisplayName"])}))
    assert list(out["predicted_category"]) == list(expected)
    assert set(out["decision"]) <= {"shelved", "review"}
    assert {"category_5", "probability_5", "threshold"} <= set(out.columns)
    page.screenshot(path=shots / "classify_upload.png", full_page=True)
    watched.check_clean()


def test_bad_uploads_give_a_message_and_the_server_keeps_serving(site, watched, shots, tmp_path):
    image = sorted(glob.glob(str(Path(__file__).resolve().parents[2] / "shared/datasets/fashion/images/*.jpg")))
    cases = {
        "latin1.csv": ("title\nCaf\u00e9 cr\u00e8me Men Shirt\n".encode("latin-1"), "not valid UTF-8"),
        "notitle.csv": (b"sku,price\n1,2\n", "has no title column"),
        "big.csv": (b"title\n" + b"Nike Men Blue Running Shoes size 42\n" * 3000, "too large"),
    }
    if image:
        cases["photo.jpg"] = (Path(image[0]).read_bytes(), "is not a CSV file")
    else:
        cases["notes.pdf"] = (b"%PDF-1.4 not a csv", "is not a CSV file")
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        page = watched.open(site["url"] + "?page=classify", ".wb-classify-page")
        upload(page, path)
        page.get_by_text(message).first.wait_for(timeout=30_000)
        page.screenshot(path=shots / f"bad_upload_{Path(name).stem}.png", full_page=True)
    # still serving: a product typed afterwards is classified
    page.locator(".wb-title input").fill(site["held_out"].iloc[1]["productDisplayName"])
    page.locator(".wb-classify button").click()
    page.locator(".wb-top5 .tabulator-row").first.wait_for(timeout=60_000)
    assert site["proc"].poll() is None
    # FilePond logs nothing for a rejected file; nothing else may have failed
    watched.check_clean()


def test_the_comparison_page_says_which_run_was_trained_on_a_sample(site, watched, shots):
    page = watched.open(site["url"] + "?page=comparison", ".wb-comparison")
    notice = page.locator(".wb-sample-notice").first
    assert notice.is_visible()
    # the alert's text sits in its Bokeh shadow root
    text = notice.evaluate("el => (el.shadowRoot ? el.shadowRoot.textContent : el.textContent).trim()")
    assert "Trained on a sample of the training part, so not comparable" in text and "(400 products)." in text
    cells = page.locator(".wb-metrics tbody tr").all_inner_texts()
    assert sum("sample of 400" in row for row in cells) == 1
    page.screenshot(path=shots / "comparison_sample_notice.png", full_page=True)
    watched.check_clean()


def test_panel_serve_glob_serves_the_same_app(evaluated_ws, site, watched, shots, tmp_path):
    root = copy_workspace(evaluated_ws, tmp_path / "ws")
    n_runs = len(list_runs(evaluated_ws))
    port = free_port()
    files = sorted(glob.glob("dashboards/*.py", root_dir=Path(__file__).resolve().parent.parent))
    proc = start_server([sys.executable, "-m", "panel", "serve", *files, "--port", str(port),
                         "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}",
                         "--args", "--workspace", str(root)], shots / "panel_serve.log")
    try:
        url = f"http://127.0.0.1:{port}/app"
        wait_http(url, proc)
        page = watched.open(url + "?page=comparison", ".wb-comparison")
        assert page.locator(".wb-metrics tbody tr").count() == n_runs
        page.screenshot(path=shots / "panel_serve_glob.png", full_page=True)
        watched.check_clean()
    finally:
        stop(proc)
