"""Every page the app lists, read as a merchandiser would on a fresh demo workspace, at 1440x900
and 1280x800, in headless Debian Chromium: no table header breaks inside a word, no cell is cut
off, no raw Markdown (``**``, backticks) shows, nothing is red before any traffic or review, and
every glossary term carries its definition on hover where it appears.

The workspace is made the way a new user makes it, ``workbench demo --sample N --no-serve``
without the neural families (``--models tfidf,xgboost``), then served with ``workbench serve``.
The pages come from the app's own navigation, not from a list kept here.
"""

from __future__ import annotations

import re

import subprocess
from pathlib import Path

import pytest

from tests._browser import READABILITY, Watched, browser, require_chromium, settle, shots_folder  # noqa: F401  (browser: a fixture)
from tests._dashboard_setup import free_port, start_server, stop, wait_http, workbench_cli
from workbench.app.glossary import JARGON_SPELLINGS

pytestmark = pytest.mark.browser

SAMPLE = 900
VIEWPORTS = {"1440x900": {"width": 1440, "height": 900}, "1280x800": {"width": 1280, "height": 800}}


@pytest.fixture(scope="module")
def shots(output_dir) -> Path:
    return shots_folder(output_dir, "readable")


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory, shots):
    """A workspace made by ``workbench demo --no-serve`` (no neural families), served."""
    require_chromium()
    root = tmp_path_factory.mktemp("demo_ws")
    made = subprocess.run([*workbench_cli(), "demo", "--workspace", str(root), "--sample", str(SAMPLE),
                           "--models", "tfidf,xgboost", "--no-serve"], capture_output=True, text=True, timeout=1800)
    (shots / "demo.log").write_text(made.stdout + made.stderr)
    assert made.returncode == 0, made.stderr[-2000:]
    port = free_port()
    proc = start_server([*workbench_cli(), "serve", "--workspace", str(root), "--port", str(port), "--no-show"],
                        shots / "server.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        yield {"url": f"http://127.0.0.1:{port}/", "root": root}
    finally:
        stop(proc)


def app_pages(page) -> list[str]:
    """The titles of the pages the app's navigation lists."""
    page.wait_for_selector(".wb-nav button")
    return [t.strip() for t in page.locator(".wb-nav button").all_inner_texts() if t.strip()]


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_every_page_reads_without_help(demo_site, browser, shots, size):
    watched = Watched(browser, VIEWPORTS[size])
    try:
        page = watched.open(demo_site["url"])
        titles = app_pages(page)
        assert len(titles) >= 8, titles
        problems = {}
        for title in titles:
            page.locator(".wb-nav button", has_text=re.compile(f"^{re.escape(title)}$")).click()
            page.locator(".wb-content h2", has_text=title).first.wait_for(timeout=120_000)
            settle(page)
            found = page.evaluate(READABILITY, list(JARGON_SPELLINGS))
            page.screenshot(path=shots / f"{size}_{title.replace(' ', '_').lower()}.png", full_page=True)
            found = {k: v for k, v in found.items() if v}
            if found:
                problems[title] = found
        # a drill-down's product table, filled: paths, titles and percentages fit too
        page.locator(".wb-nav button", has_text="Categories").first.click()
        page.locator(".wb-categories .tabulator-row [tabulator-field=category]").first.click()
        page.locator(".wb-drill-heading[data-n]").first.wait_for(timeout=120_000)
        settle(page)
        found = {k: v for k, v in page.evaluate(READABILITY, list(JARGON_SPELLINGS)).items() if v}
        page.screenshot(path=shots / f"{size}_categories_drill.png", full_page=True)
        if found:
            problems["Categories, a row clicked"] = found
        assert problems == {}
        watched.check_clean()
    finally:
        watched.close()
