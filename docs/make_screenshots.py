"""Screenshots of the real app for the README, taken in headless Debian Chromium at 1440 px wide:
every page the app lists, as it opens (``docs/img/pages/<page title>.png``, 1440 x 900, the pages
taken from the app's own navigation), and ``docs/img/model_comparison.png``, ``threshold_explorer.png``, ``sibling_confusion.png`` (a cell
clicked: its products listed), ``categories.png``, ``embedding_map.png`` (a product hovered) and
``review_page.png`` (products sent from a drill-down, in the queue), then starts ``workbench api``
beside the dashboards, classifies some of the workspace's test products through it (with two
feedbacks) and takes ``monitoring_page.png`` (the Monitoring page with that traffic).
``docs/img/cycle_history.png`` is copied from ``test-output/cycle_history.png`` (``tests/test_cycle.py``:
the loop's decisions on the Monitoring page) when it exists.

Builds (or reuses) a workspace the way ``make demo`` does, with ``workbench demo --no-serve`` on a
real fashion sample, without the neural families (training them on a shared 2-core machine takes
most of an hour; ``--models`` changes that), serves it with ``workbench serve`` and photographs
the pages.
Usage: ``python docs/make_screenshots.py [--workspace DIR] [--sample 8000] [--models tfidf,xgboost]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
sys.path.insert(0, str(ROOT))

from tests._browser import PLOT_POINT, SHOW_PLOT  # noqa: E402  (the same JavaScript the browser tests use)


def build(root: Path, sample: int, models: str) -> None:
    """Make the workspace as ``make demo`` does (``workbench demo --no-serve``), with ``models`` only."""
    subprocess.run([sys.executable, "-m", "workbench.cli.main", "demo", "--workspace", str(root), "--sample",
                    str(sample), "--models", models, "--no-serve"], check=True)


def photograph_every_page(browser, url: str) -> list[Path]:
    """Every page of the app's navigation as it opens, at 1440 x 900 (``docs/img/pages/<page>.png``)."""
    folder = OUT / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(120_000)
    page.goto(url)
    page.wait_for_selector(".wb-nav button")
    written = []
    for title in [t.strip() for t in page.locator(".wb-nav button").all_inner_texts() if t.strip()]:
        page.locator(".wb-nav button", has_text=title).first.click()
        page.locator(".wb-content h2", has_text=title).first.wait_for()
        settle(page)
        slug = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")
        page.screenshot(path=folder / f"{slug}.png")
        written.append(folder / f"{slug}.png")
    page.close()
    return written


def settle(page, ms: int = 2500) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(ms)


def optional(name: str, take) -> None:
    """Take one detailed screenshot; a workspace that lacks what it needs (a small sample) skips it."""
    try:
        take()
    except Exception as exc:  # noqa: BLE001 - the page shots above are the ones that must exist
        print(f"skipped {name}: {type(exc).__name__}: {str(exc).splitlines()[0]}")


def photograph(url: str) -> list[Path]:
    """Open each page, act on it as a merchandiser would, and save the screenshots."""
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        written += photograph_every_page(browser, url)
        page = browser.new_page(viewport={"width": 1440, "height": 1100})
        page.set_default_timeout(120_000)

        def shot(name: str) -> None:
            page.screenshot(path=OUT / name)
            written.append(OUT / name)

        def model_comparison():
            page.goto(url + "?page=comparison")
            page.wait_for_selector(".wb-metrics tbody tr")
            settle(page)
            shot("model_comparison.png")

        optional('model comparison', model_comparison)

        def threshold_explorer():
            page.goto(url + "?page=thresholds")
            page.wait_for_selector(".wb-thresholds")
            page.locator(".wb-suggest button").click()
            page.wait_for_timeout(1500)
            settle(page)
            page.locator(".wb-cost-model").scroll_into_view_if_needed()
            settle(page, 800)
            shot("threshold_explorer.png")

        optional('threshold explorer', threshold_explorer)

        def sibling_confusion():
            page.goto(url + "?page=confusion")
            page.wait_for_selector(".wb-confusion")
            page.locator(".wb-parent select").select_option("Footwear > Shoes")  # its children: Casual Shoes, …
            settle(page)
            page.evaluate(SHOW_PLOT, "Confusion among")
            page.wait_for_timeout(300)
            # the off-diagonal cell when the sample has products there, else the diagonal one
            for cell in (["Casual Shoes", "Sports Shoes"], ["Casual Shoes", "Casual Shoes"]):
                page.mouse.click(*page.evaluate(PLOT_POINT, ["Confusion among", *cell]))
                heading = page.locator(".wb-drill-heading[data-n]").first
                heading.wait_for()
                if int(heading.get_attribute("data-n") or 0) > 0:
                    break
            ticks = page.locator(".wb-drill-table .tabulator-row input[type=checkbox]")
            for i in range(min(3, ticks.count())):
                ticks.nth(i).click()
            page.locator(".wb-drill-send button").click()
            page.get_by_text("to today's review queue").first.wait_for()
            settle(page, 800)
            shot("sibling_confusion.png")

        optional('sibling confusion', sibling_confusion)

        def categories():
            page.goto(url + "?page=categories")
            page.wait_for_selector(".wb-categories .tabulator-row")
            page.locator(".wb-categories .tabulator-row [tabulator-field=category]").first.click()
            page.locator(".wb-drill-heading[data-n]").first.wait_for()
            settle(page)
            shot("categories.png")
            if page.get_by_text("to today's review queue").count() == 0:  # the confusion step sent none
                ticks = page.locator(".wb-drill-table .tabulator-row input[type=checkbox]")
                for i in range(min(3, ticks.count())):
                    ticks.nth(i).click()
                page.locator(".wb-drill-send button").click()
                page.get_by_text("to today's review queue").first.wait_for()

        optional('categories', categories)

        def embedding_map():
            page.goto(url + "?page=embedding")
            page.wait_for_selector(".wb-map canvas")
            page.locator(".wb-map canvas").first.scroll_into_view_if_needed()
            settle(page)
            box = page.locator(".wb-map canvas").first.bounding_box()
            for fx, fy in ((0.45, 0.5), (0.5, 0.45), (0.55, 0.55), (0.4, 0.6), (0.6, 0.4)):
                page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=4)
                page.wait_for_timeout(1200)
                page.mouse.move(box["x"] + fx * box["width"] + 1, box["y"] + fy * box["height"] + 1)
                try:
                    page.locator(".wb-map-tip").first.wait_for(timeout=3000)
                    break
                except Exception:  # no product under the mouse there: try another spot
                    continue
            shot("embedding_map.png")

        optional('embedding map', embedding_map)

        def review_page():
            page.goto(url + "?page=review")
            page.wait_for_selector(".wb-review")
            page.locator(".wb-reason-filter select").select_option("dashboard")
            page.locator(".wb-reason-dashboard").first.wait_for()
            settle(page)
            shot("review_page.png")

        optional('review page', review_page)
        browser.close()
    return written


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(port: int, path: str, body: dict | None, key: str) -> tuple[int, dict]:
    """One request to the API (``GET`` without a body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST" if body is not None else "GET", path,
                     body=None if body is None else json.dumps(body).encode(),
                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def monitoring_with_traffic(root: Path, url: str, n: int = 120) -> list[Path]:
    """Start ``workbench api`` beside the dashboards, classify ``n`` of the workspace's test
    products through it in batches of 20 (two feedbacks), and photograph the Monitoring page."""
    from playwright.sync_api import sync_playwright

    from workbench import Workspace
    from workbench.service.files import ServiceFiles
    from workbench.service.keys import add_key

    ws = Workspace(root)
    titles = ws.df("SELECT p.title_raw AS title FROM products p JOIN splits s USING (product_id) WHERE s.kind = "
                   "'grouped' AND s.part = 'test' ORDER BY p.product_id LIMIT ?", [n])["title"].tolist()
    key = add_key(ServiceFiles(root).keys, "screenshots", "classify", "100000/min")
    port = free_port()
    log = root / "api.log"
    with open(log, "w") as handle:
        api = subprocess.Popen([sys.executable, "-m", "workbench.cli.main", "api", "--workspace", str(root),
                                "--port", str(port), "--flush-seconds", "0.2"], stdout=handle,
                               stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            try:
                if call(port, "/v1/health", None, key)[0] == 200:
                    break
            except OSError:
                time.sleep(0.5)
        predictions = []
        for start in range(0, len(titles), 20):
            status, answer = call(port, "/v1/classify", {"products": [{"title": t} for t in titles[start:start + 20]]},
                                  key)
            if status != 200:
                raise RuntimeError(f"the API answered {status}: {answer}")
            predictions += answer["predictions"]
        for p in predictions[:2]:
            call(port, "/v1/feedback", {"prediction_id": p["prediction_id"], "accepted": True, "by": "seller"}, key)
        time.sleep(3)  # the request log is flushed every 0.2 s
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(240_000)
            page.goto(url + "?page=monitoring")
            page.wait_for_selector(".wb-monitor-stats tr[data-key='volume']")
            settle(page)
            page.screenshot(path=OUT / "monitoring_page.png")
            browser.close()
    finally:
        api.terminate()
        api.wait()
    return [OUT / "monitoring_page.png"]


def main() -> None:
    """Build or reuse the workspace, serve it and write the README's images."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default=None, help="workspace to photograph (built if missing)")
    parser.add_argument("--sample", type=int, default=8000, help="fashion products when building")
    parser.add_argument("--models", default="tfidf,xgboost", help="model families when building")
    parser.add_argument("--port", type=int, default=None, help="default: a free port")
    args = parser.parse_args()
    if args.port is None:
        args.port = free_port()
    root = Path(args.workspace or tempfile.mkdtemp(prefix="screenshots_ws_"))
    if not (root / "workbench.duckdb").exists():
        build(root, args.sample, args.models)
    OUT.mkdir(parents=True, exist_ok=True)
    log = root / "serve.log"
    with open(log, "w") as handle:
        server = subprocess.Popen([sys.executable, "-m", "workbench.cli.main", "serve", "--workspace", str(root),
                                   "--port", str(args.port)], stdout=handle, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            if "dashboards ready" in log.read_text():
                break
            time.sleep(0.5)
        url = f"http://127.0.0.1:{args.port}/"
        urllib.request.urlopen(url, timeout=300)
        written = photograph(url)
        written += monitoring_with_traffic(root, url)
    finally:
        server.terminate()
        server.wait()
    print("wrote " + ", ".join(str(p.relative_to(ROOT)) for p in written))
    taken = ROOT / "test-output" / "cycle_history.png"  # tests/test_cycle.py
    if taken.exists():
        shutil.copyfile(taken, OUT / "cycle_history.png")
        print(f"copied {taken} to {OUT / 'cycle_history.png'}")


if __name__ == "__main__":
    main()
