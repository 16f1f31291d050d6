"""Screenshots of the real app for the README: ``docs/img/model_comparison.png`` and
``docs/img/threshold_explorer.png``; ``docs/img/review_page.png`` is copied from
``test-output/review_page.png``, which the review browser test (``tests/test_review_browser.py``)
takes mid-review, and ``docs/img/monitoring_page.png`` from ``test-output/monitoring_page.png``
(``tests/test_service_dashboards.py``, the API and the dashboards serving together), when they exist.

Builds (or reuses) a workspace from a real fashion sample with three evaluated tfidf runs,
serves it with ``workbench serve`` and photographs two pages in headless Debian Chromium.
Usage: ``python docs/make_screenshots.py [--workspace DIR] [--sample 8000]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"


def build(root: Path, sample: int) -> None:
    """Ingest the sample and train and evaluate three tfidf variants."""
    from workbench import Workspace, ingest_dataset
    from workbench.runs.evaluation import evaluate_run
    from workbench.runs.training import train_models

    ws = Workspace(root)
    ingest_dataset(ws, "fashion", sample=sample, seed=0)
    runs = (train_models(ws, ["tfidf"], "grouped", sample=600, seed=0)
            + train_models(ws, ["tfidf"], "grouped", params={"tfidf": {"classifier": "logreg", "C": 5.0}}, seed=0)
            + train_models(ws, ["tfidf"], "grouped", seed=0))
    for run_id in runs:
        evaluate_run(ws, run_id)
    ws.close()


def main() -> None:
    """Photograph the pages and write the README's images."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default=None, help="workspace to photograph (built if missing)")
    parser.add_argument("--sample", type=int, default=8000, help="fashion products when building")
    parser.add_argument("--port", type=int, default=5897)
    args = parser.parse_args()
    root = Path(args.workspace or tempfile.mkdtemp(prefix="screenshots_ws_"))
    if not (root / "workbench.duckdb").exists():
        build(root, args.sample)
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
        urllib.request.urlopen(url, timeout=60)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1500, "height": 1250})
            page.goto(url + "?page=comparison")
            page.wait_for_selector(".wb-metrics tbody tr")
            page.wait_for_timeout(2500)
            page.screenshot(path=OUT / "model_comparison.png")
            page.goto(url + "?page=thresholds")
            page.wait_for_selector(".wb-thresholds")
            box = page.locator(".wb-exact input")
            box.fill("0.5")
            box.press("Enter")
            page.locator(".wb-threshold").filter(has_text="0.500").wait_for()
            page.locator(".wb-thresholds button", has_text="Use per-category thresholds").click()
            page.wait_for_timeout(2500)
            page.screenshot(path=OUT / "threshold_explorer.png")
            browser.close()
    finally:
        server.terminate()
        server.wait()
    print(f"wrote {OUT / 'model_comparison.png'} and {OUT / 'threshold_explorer.png'}")
    for name in ("review_page.png", "monitoring_page.png"):
        taken = ROOT / "test-output" / name
        if taken.exists():
            shutil.copyfile(taken, OUT / name)
            print(f"copied {taken} to {OUT / name}")


if __name__ == "__main__":
    main()
