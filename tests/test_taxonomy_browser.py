"""The Taxonomy page in a real browser (headless Debian Chromium): an admin renames a category,
the Classify page then answers with the new path through a run trained before; a reviewer may
look but is refused by the server, even with the button re-enabled in the browser."""

from __future__ import annotations

import socket
import time

import pytest

from tests._browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from workbench import Workspace, ingest_dataset
from workbench.catalog.relabel import load_taxonomy
from workbench.catalog.taxonomy_versions import current_version
from workbench.runs.training import train_models
from workbench.security import auth
from workbench.security.login import serve_options

pytestmark = [pytest.mark.browser]

USERS = {"ana": ("ana-password-1", "admin"), "rita": ("rita-password-1", "reviewer")}
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    require_chromium()
    from workbench.app.serve import serve_app

    root = tmp_path_factory.mktemp("taxonomy_browser")
    ws = Workspace(root)
    ingest_dataset(ws, "fashion", sample=800, seed=1)
    train_models(ws, ["tfidf"], "grouped", seed=0)
    creds = root / "credentials.json"
    old = auth.BCRYPT_ROUNDS
    auth.BCRYPT_ROUNDS = 6
    for name, (password, role) in USERS.items():
        auth.add_user(creds, name, password, role)
    auth.BCRYPT_ROUNDS = old
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = serve_app(ws.path, port=port, threaded=True, auth=serve_options(creds), roles=auth.RolesFile(creds))
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    yield ws, f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def browser(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def login(browser, url: str, user: str):
    """A browser context logged in as ``user``, on the Taxonomy page."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", USERS[user][0])
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/login" not in u)
    page.goto(f"{url}/?page=taxonomy")
    page.locator(".wb-taxonomy-version").first.wait_for()
    return context, page, errors


def fill(page, css: str, text: str) -> None:
    box = page.locator(f"{css} input").first
    box.fill(text)
    box.press("Enter")


def test_admin_renames_in_the_browser_and_the_classify_page_follows(served, browser, output_dir):
    ws, url = served
    context, page, errors = login(browser, url, "ana")
    assert "Taxonomy version 0" in page.locator(".wb-taxonomy-version").first.inner_text()
    fill(page, ".wb-taxonomy-node", "Apparel > Topwear")
    fill(page, ".wb-taxonomy-arg", "Upper Wear")
    page.get_by_role("button", name="Apply change").click()
    page.get_by_text("taxonomy version 1: rename 'Apparel > Topwear' to 'Upper Wear' by ana").first.wait_for()
    page.get_by_text("Taxonomy version 1").first.wait_for()
    assert "Apparel > Upper Wear" in load_taxonomy(ws) and "Apparel > Topwear" not in load_taxonomy(ws)
    page.locator(".wb-taxonomy-history").get_by_text("rename").first.wait_for()
    page.screenshot(path=str(output_dir / "taxonomy_page_admin.png"), full_page=True)
    # a bad change: one line with the cause, nothing recorded
    fill(page, ".wb-taxonomy-node", "Apparel > Nowhere")
    fill(page, ".wb-taxonomy-arg", HOSTILE)
    page.get_by_role("button", name="Apply change").click()
    page.get_by_text("unknown category 'Apparel > Nowhere'").first.wait_for()
    assert current_version(ws) == 1
    # another page: the run trained before the change answers with the current path
    page.goto(f"{url}/?page=classify")
    fill(page, ".wb-title", "Nike Men Blue Polo T-shirt")
    page.locator(".wb-classify button").first.click()
    result = page.locator(".wb-result")
    result.get_by_text("Upper Wear").first.wait_for()
    assert "Topwear" not in result.inner_text()
    # the comparison page: the run is re-scored on the current taxonomy through the map, and says so
    page.goto(f"{url}/?page=comparison")
    page.locator(".wb-metrics").get_by_text("(via taxonomy map)").first.wait_for()
    page.get_by_text("are re-scored on the current taxonomy through the change map").first.wait_for()
    page.get_by_text("re-scored on taxonomy version 1 through the change map (trained on version 0)").first.wait_for()
    page.screenshot(path=str(output_dir / "comparison_taxonomy_map.png"), full_page=True)
    assert errors == []
    context.close()


def test_reviewer_may_look_but_the_server_refuses_a_change(served, browser, output_dir):
    ws, url = served
    version = current_version(ws)
    nodes = set(load_taxonomy(ws).nodes)
    context, page, errors = login(browser, url, "rita")
    apply = page.get_by_role("button", name="Apply change")
    assert apply.is_disabled()
    page.get_by_text("changing the taxonomy needs the admin role").first.wait_for()
    fill(page, ".wb-taxonomy-node", "Footwear > Shoes")
    fill(page, ".wb-taxonomy-arg", "Boots")
    page.evaluate("""() => {
        for (const doc of Bokeh.documents) for (const m of doc.all_models)
            if (m.label === "Apply change") m.disabled = false; }""")
    page.wait_for_function("""() => [...Bokeh.documents[0].all_models]
        .some(m => m.label === "Apply change" && !m.disabled)""")
    apply.click()
    page.get_by_text("rita (reviewer) may not change the taxonomy").first.wait_for()
    page.screenshot(path=str(output_dir / "taxonomy_page_reviewer.png"), full_page=True)
    assert current_version(ws) == version and set(load_taxonomy(ws).nodes) == nodes
    assert errors == []
    context.close()
