"""The API and the dashboards on one workspace at the same time, each taking short turns on the
database: ``workbench api`` writes its own serving snapshot and brings its feedback into the label
history within seconds; the Monitoring page (headless
Chromium) shows the traffic, marks statistics, shows caller text as text, and promotes and
shadows runs that the running API then uses."""

from __future__ import annotations

import time

import pytest

from tests._dashboard_setup import free_port, start_server, stop, wait_http, workbench_cli
from tests._service_setup import apparel_products, copy_workspace, start_api
from tests._browser import CHROMIUM, Watched, browser, require_chromium  # noqa: F401 (the fixture)
from workbench import Workspace
from workbench.service.files import ServiceFiles
from workbench.service.keys import add_key

pytestmark = pytest.mark.browser
HOSTILE = "<img src=x onerror=alert(1)> =HYPERLINK(\"http://evil\") Nike Men Shorts"


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout} s")


@pytest.fixture(scope="module")
def both(apparel_ws, tmp_path_factory, output_dir):
    require_chromium()
    root = copy_workspace(apparel_ws.ws, tmp_path_factory.mktemp("both_ws"))
    files = ServiceFiles(root)
    shots = output_dir / "browser"
    shots.mkdir(exist_ok=True)
    port = free_port()
    dashboards = start_server([*workbench_cli(), "serve", "--workspace", str(root), "--port", str(port),
                               "--no-show"], shots / "serve-with-api.log")
    api_proc = None
    try:
        wait_http(f"http://127.0.0.1:{port}/", dashboards)
        key = add_key(files.keys, "shop", "classify", "100000/min")
        api_proc, api = start_api(root, shots / "api-with-serve.log", "--flush-seconds", "0.2", key=key)
        yield {"root": root, "files": files, "url": f"http://127.0.0.1:{port}/", "api": api, "key": key,
               "api_proc": api_proc, "dashboards": dashboards, "output": output_dir,
               "shots": shots, "weak": apparel_ws.weak, "full": apparel_ws.full,
               "test": apparel_products(apparel_ws.ws, "test"), "log": shots / "api-with-serve.log"}
    finally:
        if api_proc is not None:
            stop(api_proc)
        stop(dashboards)


def test_api_and_dashboards_serve_one_workspace_together(both, browser):
    api, key = both["api"], both["key"]
    assert "held by another process" not in both["log"].read_text()  # nobody is turned away any more
    rows = both["test"].head(60)
    products = [{"title": t} for t in rows["title"]]
    status, answer, _ = api.post("/v1/classify", {"products": products}, key)
    assert status == 200, answer
    preds = answer["predictions"]
    time.sleep(0.05)
    assert api.post("/v1/classify", {"title": HOSTILE}, key)[0] == 200  # the newest request
    products.append({"title": HOSTILE})
    for p in preds[:2]:
        assert api.post("/v1/feedback", {"prediction_id": p["prediction_id"], "accepted": True, "by": "seller"},
                        key)[0] == 200

    watched = Watched(browser)
    try:
        page = watched.open(both["url"] + "?page=monitoring", marker=".wb-monitoring")
        page.set_viewport_size({"width": 1440, "height": 900})
        page.wait_for_selector(".wb-monitor-stats tr[data-key='volume']", timeout=240_000)
        # the API imports its feedback into the label history within seconds
        for _ in range(12):
            if page.locator(".wb-feedback").get_attribute("data-imported") == "2":
                break
            page.wait_for_timeout(5000)
            page.locator("button", has_text="Refresh").click()
            page.wait_for_selector(".wb-feedback", timeout=120_000)
        assert page.locator(".wb-feedback").get_attribute("data-imported") == "2"
        volume = page.locator(".wb-monitor-stats tr[data-key='volume'] .wb-stat-value").inner_text()
        assert volume == str(len(products))
        statuses = page.locator(".wb-monitor-stats tr").evaluate_all("rows => rows.map(r => r.dataset.status)")
        assert "ok" in statuses and set(statuses) <= {None, "ok", "crossed", "too few", "skipped"}
        assert page.locator(".wb-monitor-alerts").get_attribute("data-crossed") is not None
        # the caller's title is text on the page, never markup
        recent = page.locator(".wb-recent").inner_text()
        assert "<img src=x onerror=alert(1)>" in recent
        assert page.locator(".wb-recent img").count() == 0
        box = page.locator("table.wb-stats").first.bounding_box()
        assert box["x"] + box["width"] <= 1440  # the statistics fit a 1440 x 900 screen, no sideways scroll
        assert page.evaluate("document.documentElement.scrollWidth") <= 1440
        page.screenshot(path=both["output"] / "monitoring_page.png")  # docs/make_screenshots.py copies it
        watched.check_clean()

        # promotion through the page: the gate refuses the weak run, the shadow is set
        page.locator(".wb-monitoring select").last.select_option(both["weak"])
        page.locator(".wb-promote button").click()
        page.get_by_text("refused").first.wait_for(timeout=60_000)
        page.locator(".wb-shadow button").click()
        page.get_by_text("Shadow run set.").wait_for(timeout=60_000)
    finally:
        watched.close()
    wait_until(lambda: api.get("/v1/health", key)[1]["shadow_run_id"] == both["weak"], 60,
               "the running API did not take the shadow run set on the page")
    assert api.get("/v1/health", key)[1]["run_id"] == both["full"]

    # once both stop, the workspace holds what the dashboards' process wrote
    from workbench.loop.labels import label_history
    from workbench.runs.registry import serving_history

    stop(both["api_proc"])
    stop(both["dashboards"])
    ws = Workspace(both["root"])
    try:
        history = label_history(ws)
        feedback = history[history["source"] == "feedback"]
        assert len(feedback) == 2 and set(feedback["leaf"]) <= {p["category"] for p in preds[:2]}
        events = serving_history(ws)
        assert events["event"].tolist()[:2] == ["shadow", "refuse"] and set(events["actor"]) == {"local"}
    finally:
        ws.close()
