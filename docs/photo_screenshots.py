"""Screenshots of the photo features for the README: ``docs/img/classify_photo.png`` (the Classify
page with a photo uploaded beside the title, classified by a ``fusion`` run) and
``docs/img/map_image_vectors.png`` (the embedding map placed by image vectors).

Needs a workspace with a trained ``fusion`` run, ``workbench embed --images`` and
``workbench project --images`` done; serves it with ``workbench serve`` on a free port and
drives Debian's Chromium headless. Usage: ``python docs/photo_screenshots.py --workspace DIR``.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
PHOTOS = ROOT.parent / "shared" / "datasets" / "fashion" / "images_small"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    """Serve the workspace and photograph the two pages."""
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--title", default="Nike Men Black Shoes")
    parser.add_argument("--photo", default=str(PHOTOS / "1637.jpg"))
    args = parser.parse_args()
    port = free_port()
    log = Path(args.workspace) / "serve-screenshots.log"
    with open(log, "w") as handle:
        server = subprocess.Popen([sys.executable, "-m", "workbench.cli.main", "serve", "--workspace", args.workspace,
                                   "--port", str(port), "--no-show"], stdout=handle, stderr=subprocess.STDOUT)
    try:
        for _ in range(900):
            if "dashboards ready" in log.read_text() or server.poll() is not None:
                break
            time.sleep(1)
        url = f"http://127.0.0.1:{port}/"
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url + "?page=classify", timeout=300_000)
            page.locator(".wb-classify-page").wait_for(timeout=300_000)
            select = page.locator(".wb-classify-page select").first
            fusion = [o for o in select.locator("option").all_inner_texts() if "fusion" in o]
            if fusion:
                select.select_option(label=fusion[-1])
            page.locator(".wb-title input").fill(args.title)
            page.locator(".wb-photo-upload input[type=file]").set_input_files(args.photo)
            try:
                page.locator(".wb-photo-preview").wait_for(timeout=400_000)
            except Exception:
                page.screenshot(path=Path(args.workspace) / "photo-failed.png", full_page=True)
                raise
            page.locator(".wb-classify button").click()
            page.locator(".wb-top5 .tabulator-row").first.wait_for(timeout=300_000)
            page.screenshot(path=OUT / "classify_photo.png", full_page=True)
            page.goto(url + "?page=embedding", timeout=300_000)
            page.locator(".wb-map").wait_for(timeout=300_000)
            select = page.locator(".wb-map select").first
            image = [o for o in select.locator("option").all_inner_texts() if o.startswith("image vectors")]
            if not image:
                raise SystemExit("no image-vector projection in the workspace; run `workbench project --images`")
            select.select_option(label=image[0])
            page.wait_for_timeout(8000)
            page.screenshot(path=OUT / "map_image_vectors.png", full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print("wrote", OUT / "classify_photo.png", "and", OUT / "map_image_vectors.png")


if __name__ == "__main__":
    main()
