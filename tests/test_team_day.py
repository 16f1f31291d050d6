"""A team day on one workspace, with real processes at the same time: ``workbench serve`` and
``workbench api`` running; ``workbench train`` from the command line; a notebook process reading
runs and submitting 50 reviews; two reviewers in separate browser contexts accepting 20 products
each; 200 API classify requests with feedback. Everything lands exactly once, the served
comparison page lists the new run without a restart, no reviewed product is left in a queue, and
a reviewer whose product was labelled meanwhile is told so in the browser."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from datetime import date

import pytest

from tests._browser import CHROMIUM, require_chromium
from tests._dashboard_setup import free_port, start_server, stop, wait_http, workbench_cli
from tests._review_setup import build
from tests._service_setup import start_api
from workbench.security import auth
from workbench.loop.review_queue import build_queue
from workbench.loop.shelving import classify_file
from workbench.service.files import ServiceFiles
from workbench.service.keys import add_key

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DAY = date(2026, 3, 3)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
USERS = {"ana": "ana-password", "ben": "ben-password"}
NOTEBOOK_REVIEWS = 50
BROWSER_REVIEWS = 20
API_REQUESTS = 200


@pytest.fixture(scope="module")
def team(tmp_path_factory, output_dir):
    """The workspace with a day's queue, users, a key, and both servers running."""
    require_chromium()
    root = tmp_path_factory.mktemp("team_day")
    rw = build(root, n_catalog=1200, batches={DAY: 260})
    classify_file(rw.ws, rw.files[DAY], dataset="fashion", run_id=rw.run_main, batch_date=DAY)
    build_queue(rw.ws, DAY, n_random=60, n_uncertain=50, n_disagree=30, runs=(rw.run_main, rw.run_weak))
    from workbench.loop.reviews import set_blind_random_sample

    set_blind_random_sample(rw.ws, False)  # the reviewers accept suggestions, random sample included
    creds = rw.ws.path / "credentials.json"
    rounds, auth.BCRYPT_ROUNDS = auth.BCRYPT_ROUNDS, 6
    for name, password in USERS.items():
        auth.add_user(creds, name, password, "reviewer")
    auth.BCRYPT_ROUNDS = rounds
    files = ServiceFiles(rw.ws.path)
    key = add_key(files.keys, "shop", "classify", "100000/min")
    logs = output_dir / "team_day"
    logs.mkdir(exist_ok=True)
    port = free_port()
    dashboards = start_server([*workbench_cli(), "serve", "--workspace", str(rw.ws.path), "--port", str(port),
                               "--no-show"], logs / "serve.log")
    api_proc = None
    try:
        wait_http(f"http://127.0.0.1:{port}/login", dashboards)
        api_proc, api = start_api(rw.ws.path, logs / "api.log", "--flush-seconds", "0.2", key=key)
        yield {"rw": rw, "url": f"http://127.0.0.1:{port}", "api": api, "key": key, "logs": logs}
    finally:
        if api_proc is not None:
            stop(api_proc)
        stop(dashboards)


def login(browser, url: str, user: str):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(f"{url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", USERS[user])
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/login" not in u)
    page.goto(f"{url}/?page=review")
    page.get_by_text("Why it is here").first.wait_for()
    return context, page


def notebook_process(path) -> subprocess.Popen:
    """What a data scientist's kernel does meanwhile: read the runs, review 50 products from the
    far end of the queue (the browsers start at the front)."""
    code = f"""
        import workbench as wb
        ws = wb.Workspace({str(path)!r})
        assert len(wb.list_runs(ws)) >= 2
        wb.compare_runs(ws)
        items = ws.df("SELECT product_id FROM review_queue WHERE queue_date = ? AND status = 'pending' "
                      "ORDER BY rank DESC LIMIT {NOTEBOOK_REVIEWS}", ["{DAY.isoformat()}"])
        for pid in items["product_id"]:
            wb.submit_review(ws, pid, reviewer="nora", queue_date="{DAY.isoformat()}")
        print("reviewed", len(items), flush=True)
        """
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def api_traffic(api, key, titles, acknowledged: list, errors: list) -> None:
    """200 classify requests, each followed by a feedback on its prediction."""
    for i, title in enumerate(titles):
        status, answer, _ = api.post("/v1/classify", {"title": title}, key)
        if status != 200:
            errors.append((status, answer))
            continue
        pid = answer["predictions"][0]["prediction_id"] if "predictions" in answer else answer["prediction_id"]
        status, fb, _ = api.post("/v1/feedback", {"prediction_id": pid, "accepted": i % 3 != 0, "by": "seller"}, key)
        if status == 200:
            acknowledged.append(pid)
        else:
            errors.append((status, fb))


def test_a_team_day_on_one_workspace(team):
    from playwright.sync_api import sync_playwright

    rw, url = team["rw"], team["url"]
    ws = rw.ws
    runs_before = set(ws.df("SELECT run_id FROM runs")["run_id"])
    titles = ws.df("SELECT title_raw FROM products ORDER BY product_id LIMIT ?", [API_REQUESTS])["title_raw"].tolist()
    acknowledged, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        sessions = {name: login(browser, url, name) for name in USERS}
        # everyone at once
        train = subprocess.Popen([*workbench_cli(), "train", "--models", "tfidf", "--workspace", str(ws.path)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        notebook = notebook_process(ws.path)
        traffic = threading.Thread(target=api_traffic, args=(team["api"], team["key"], titles, acknowledged, errors))
        traffic.start()
        for _ in range(BROWSER_REVIEWS):
            for name, (_, page) in sessions.items():
                before = page.locator("[data-product-id]").first.get_attribute("data-product-id")
                page.get_by_role("button", name="Accept (a)").click()
                page.locator(f"[data-product-id]:not([data-product-id='{before}'])").first.wait_for()
        train_out, train_err = train.communicate(timeout=900)
        nb_out, nb_err = notebook.communicate(timeout=900)
        traffic.join(timeout=900)
        assert train.returncode == 0, train_err
        assert notebook.returncode == 0 and f"reviewed {NOTEBOOK_REVIEWS}" in nb_out, nb_err
        assert not errors, errors[:3]
        assert "Traceback" not in train_err + nb_err

        # every review, feedback row and run exactly once
        reviews = ws.df("SELECT reviewer, product_id FROM reviews WHERE NOT undone")
        counts = reviews["reviewer"].value_counts().to_dict()
        assert counts == {"ana": BROWSER_REVIEWS, "ben": BROWSER_REVIEWS, "nora": NOTEBOOK_REVIEWS}
        assert reviews["product_id"].is_unique
        new_runs = set(ws.df("SELECT run_id FROM runs")["run_id"]) - runs_before
        assert len(new_runs) == 1
        new_run = new_runs.pop()
        assert ws.scalar("SELECT complete FROM runs WHERE run_id = ?", [new_run])
        assert len(acknowledged) == API_REQUESTS
        deadline = time.monotonic() + 60  # the API brings its feedback in within seconds
        while ws.scalar("SELECT count(*) FROM feedback") < API_REQUESTS and time.monotonic() < deadline:
            time.sleep(1)
        stored = ws.df("SELECT prediction_id FROM feedback")["prediction_id"].astype(str)
        assert sorted(stored) == sorted(acknowledged)
        # no reviewed product is still waiting in a queue
        assert ws.scalar("SELECT count(*) FROM review_queue WHERE status = 'pending' AND product_id IN "
                         "(SELECT product_id FROM reviews WHERE NOT undone)") == 0

        # the served comparison lists the new run without a restart: in a new page, and in the open one
        _, page = sessions["ana"]
        page.goto(f"{url}/?page=comparison")
        suffix = new_run.rsplit("-", 1)[-1]
        page.get_by_text(suffix).first.wait_for(timeout=60_000)

        # a product labelled elsewhere while ben has it open: ben is told, in the browser
        _, page = sessions["ben"]
        shown = page.locator("[data-product-id]").first.get_attribute("data-product-id")
        from workbench.loop.reviews import submit_review

        submit_review(ws, shown, reviewer="carl", queue_date=DAY)
        page.get_by_role("button", name="Accept (a)").click()
        page.get_by_text("carl (human) labelled this product").first.wait_for(timeout=60_000)
        history = ws.df("SELECT actor, retracted FROM labels WHERE product_id = ? AND source = 'human'", [shown])
        assert {"ben", "carl"} <= set(history["actor"])
        page.screenshot(path=team["logs"] / "conflict.png")

        # a product labelled in a notebook while ana has it open: her page says so within seconds,
        # before she does anything (the page follows the workspace's change counter)
        _, page = sessions["ana"]
        page.goto(f"{url}/?page=review")
        page.get_by_text("Why it is here").first.wait_for()
        shown = page.locator("[data-product-id]").first.get_attribute("data-product-id")
        t0 = time.monotonic()
        submit_review(ws, shown, reviewer="carl", queue_date=DAY)
        page.get_by_text("while you had it open").first.wait_for(timeout=30_000)
        told_after = time.monotonic() - t0
        assert told_after < 15, told_after  # 2 s between looks, plus a loaded machine's rendering
        for context, _ in sessions.values():
            context.close()
        browser.close()
