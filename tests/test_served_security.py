"""Logins and rights of the served app under attack (HTTP clients and headless Chromium).

The hostile workspace is served in this process with a login (bcrypt at the real cost), a
throttle of 4 failures per name and 8 per address with a 6 s lockout, and ``use_xheaders`` so
that clients can stand for different addresses. What is checked: anonymous visitors reach the
login page and static files only; the login page works offline and keeps the page asked for;
cookies are HttpOnly, SameSite=Lax, Secure over HTTPS and dead after logout; a brute-force
client is locked out while other users' requests stay fast; removed and downgraded users lose
write rights in tabs already open; a viewer's tab claims nothing.
"""

from __future__ import annotations

import http.client
import io
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest

from _hostile_setup import CHROMIUM, Watched, chromium, free_port, wait_port
from workbench.security import auth
from workbench.security.login import serve_options
from workbench.security.throttle import ThrottleSettings
from workbench.cli.main import main
from workbench.loop.thresholds import published_thresholds

pytestmark = [pytest.mark.browser, pytest.mark.slow]

USERS = {"rae": ("rae-password", "reviewer"), "dan": ("dan-password", "reviewer"),
         "vic": ("vic-password", "viewer"), "uma": ("uma-password", "reviewer")}
THROTTLE = ThrottleSettings(max_failures=4, max_address_failures=8, window_s=120, lockout_s=6)
PROBE = "wb_probe_component"


@pytest.fixture(scope="module")
def site(hostile_ws, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("headless Chromium is not installed at /usr/bin/chromium")
    from workbench.app.serve import serve_app

    root = tmp_path_factory.mktemp("served_security")
    creds = root / "credentials.json"
    for name, (password, role) in USERS.items():
        auth.add_user(creds, name, password, role)  # bcrypt at the real cost (12)
    probe_dir = root / "probe"
    probe_dir.mkdir()
    (probe_dir / f"{PROBE}.py").write_text(f"open({str(root / 'imported')!r}, 'w').close()\nX = 1\n")
    sys.path.insert(0, str(probe_dir))  # an installed module the components route must not import
    port = free_port()
    server = serve_app(hostile_ws.ws.path, port=port, threaded=True, use_xheaders=True,
                       auth=serve_options(creds, throttle=THROTTLE), roles=auth.RolesFile(creds))
    wait_port(port)
    from panel.io.state import state

    deadline = time.monotonic() + 60  # Panel's thread registers the server just after the port opens
    while server.server_id not in state._servers and time.monotonic() < deadline:
        time.sleep(0.05)
    routes = [r.matcher.regex.pattern for r in state._servers[server.server_id][0]._tornado.wildcard_router.rules]
    yield {"hw": hostile_ws, "url": f"http://127.0.0.1:{port}", "port": port, "creds": creds, "root": root,
           "routes": routes}
    server.stop()
    sys.path.remove(str(probe_dir))


@pytest.fixture(scope="module")
def browser(site):
    with chromium() as b:
        yield b


def request(site, method: str, path: str, *, form: dict | None = None, headers: dict | None = None,
            cookies: dict | None = None):
    """One HTTP request without following redirects: ``(status, headers, body, seconds)``."""
    conn = http.client.HTTPConnection("127.0.0.1", site["port"], timeout=60)
    head = dict(headers or {})
    body = None
    if form is not None:
        body = urlencode(form)
        head["Content-Type"] = "application/x-www-form-urlencoded"
    if cookies:
        head["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    t0 = time.perf_counter()
    conn.request(method, path, body, head)
    response = conn.getresponse()
    data = response.read()
    seconds = time.perf_counter() - t0
    conn.close()
    return response.status, response.msg, data.decode("utf-8", "replace"), seconds


def login(site, user: str, password: str | None = None, address: str = "10.0.0.1", **headers):
    """POST the login form; ``(status, {cookie: value}, [Set-Cookie lines])``."""
    status, msg, _, _ = request(site, "POST", "/login", form={"username": user, "password": password or
                                                            USERS[user][0], "next": "/?page=review"},
                                headers={"X-Forwarded-For": address, **headers})
    lines = msg.get_all("Set-Cookie") or []
    jar = {line.split("=", 1)[0]: line.split("=", 1)[1].split(";", 1)[0] for line in lines}
    return status, jar, lines


PUBLIC = {"/login": 200, "/logout": 200, "/favicon.ico": 200, "/static/x": 404, "/static/extensions/x": 404}


def concrete(pattern: str) -> str:
    """A path a route pattern matches (``/static/(.*)$`` -> ``/static/x``)."""
    path = pattern.rstrip("$").replace("(?!extensions/)", "").replace("(.*)", "x").replace("/?", "/")
    return path if path.startswith("/") else "/" + path


def test_anonymous_visitors_reach_the_login_page_and_static_files_only(site):
    """Every route of the built server, requested without a login: the login pages and static
    files answer, everything else sends to the login page (the websocket refuses)."""
    assert len(site["routes"]) >= 10
    for path in sorted({concrete(p) for p in site["routes"]}):
        status, msg, _, _ = request(site, "GET", path)
        if path in PUBLIC:
            assert status == PUBLIC[path], (path, status)
        elif path == "/ws":
            assert status == 403
        else:
            assert status == 302 and "login?next=" in msg["Location"], (path, status)
    assert request(site, "GET", "/static/extensions/panel/images/logo_stacked.png")[0] == 200
    for path in ("/?page=review", "/autoload.js?bokeh-autoload-element=x", f"/components/{PROBE}/X/__css__/a.css"):
        status, msg, _, _ = request(site, "GET", path)
        assert status == 302 and "login?next=" in msg["Location"], (path, status)
    # logged in, the components route still imports nothing new
    _, jar, _ = login(site, "dan")
    status = request(site, "GET", f"/components/{PROBE}/X/__css__/a.css", cookies=jar)[0]
    assert status == 404 and PROBE not in sys.modules and not (site["root"] / "imported").exists()


def test_login_page_works_offline_and_keeps_the_page_asked_for(site, browser):
    w = Watched(browser)
    external = []
    local = (site["url"], "ws://127.0.0.1", "data:", "blob:", "about:")
    w.page.on("request", lambda r: None if r.url.startswith(local) else external.append(r.url))
    page = w.page
    page.goto(f"{site['url']}/?page=review")
    assert "/login?next=" in page.url
    assert page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    page.fill("input[name=username]", "uma")
    page.fill("input[name=password]", "not her password")
    page.click("button[type=submit]")
    page.get_by_text("Invalid username or password").wait_for()
    assert external == []  # the login page needs nothing from outside (Panel's own pulls its logo from a CDN)
    page.fill("input[name=username]", "uma")
    page.fill("input[name=password]", USERS["uma"][0])
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/login" not in u)
    assert page.url.endswith("/?page=review")  # the page asked for, after a failed attempt too
    page.get_by_text("Why it is here").first.wait_for()
    page.get_by_text(f"Workspace: {site['hw'].ws.path.name}").first.wait_for()
    # a hostile next parameter is neither echoed as markup nor followed off-site
    page.goto(f"{site['url']}/login?next=" + "/%22%3E%3Cscript%3Ewindow.__xss%3D1%3C/script%3E")
    page.goto(f"{site['url']}/login?next=https://evil.example/")
    assert page.locator("input[name=next]").get_attribute("value") == "/"
    w.assert_inert("the login page")
    w.close()


def test_cookies_are_httponly_samesite_secure_over_https_and_die_at_logout(site):
    status, jar, lines = login(site, "dan")
    assert status == 302 and {"user", "wb_session"} <= set(jar)
    for line in lines:
        if not line.startswith("is_guest"):
            assert "HttpOnly" in line and "SameSite=Lax" in line and "Secure" not in line, line
    _, _, secure = login(site, "dan", **{"X-Forwarded-Proto": "https"})
    assert all("Secure" in line for line in secure if not line.startswith("is_guest"))
    assert request(site, "GET", "/metadata", cookies=jar)[0] == 200
    assert request(site, "GET", "/logout", cookies=jar)[0] == 200
    status, msg, _, _ = request(site, "GET", "/metadata", cookies=jar)  # the same cookies, replayed
    assert status == 302 and "login" in msg["Location"]


def p95(values) -> float:
    return float(np.percentile(values, 95))


def test_brute_force_is_locked_out_while_other_users_stay_fast(site, caplog):
    """Four clients post wrong passwords as fast as they can; a logged-in user's requests are
    timed meanwhile. p95 must stay under 200 ms (or 4x the idle p95 if this shared machine is so
    loaded that idle requests are slow already); the idle figures are printed beside it."""
    _, jar, _ = login(site, "dan", address="10.0.0.2")

    def timed(n: int) -> list[float]:
        out = []
        for i in range(n):
            path = "/metadata" if i % 2 else "/login"
            status, _, _, seconds = request(site, "GET", path, cookies=jar)
            assert status == 200
            out.append(seconds)
            time.sleep(0.05)
        return out

    idle = timed(40)
    stop, statuses = threading.Event(), []

    def hammer(k: int):
        i = 0
        while not stop.is_set():
            statuses.append(login(site, f"guess{k}-{i}", "wrong password", address=f"10.9.0.{k}")[0])
            i += 1

    threads = [threading.Thread(target=hammer, args=(k,), daemon=True) for k in range(1, 5)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    busy = timed(60)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    limit = max(0.2, 4 * p95(idle))
    print(f"other users' requests: idle p95 {p95(idle) * 1000:.0f} ms, while {len(statuses)} login attempts "
          f"hammered: p95 {p95(busy) * 1000:.0f} ms, median {np.median(busy) * 1000:.0f} ms (limit {limit * 1000:.0f})")
    assert p95(busy) < limit
    assert set(statuses) <= {401, 429}

    # one account: N failures lock it, from any address, the right password too, until the lockout ends
    with caplog.at_level("WARNING", logger="workbench.auth"):
        codes = [login(site, "uma", "wrong password", address="10.8.0.1")[0] for _ in range(THROTTLE.max_failures)]
    assert codes == [401] * THROTTLE.max_failures
    assert "account 'uma' locked for 6 s after 4 failed attempts" in caplog.text
    status, msg, body, seconds = request(site, "POST", "/login", form={"username": "uma", "password": USERS["uma"][0]},
                                         headers={"X-Forwarded-For": "10.8.0.2"})
    assert status == 429 and "Too many failed logins" in body and int(msg["Retry-After"]) >= 1
    assert seconds < 0.2 or seconds < p95(idle) * 4  # refused without a bcrypt check
    time.sleep(THROTTLE.lockout_s + 0.5)
    assert login(site, "uma", address="10.8.0.2")[0] == 302


def review_page(browser, site, user: str) -> Watched:
    w = Watched(browser)
    w.login(site["url"], user, USERS[user][0], "/?page=review")
    w.page.get_by_text("Why it is here").first.wait_for()
    return w


def release_claims(ws) -> None:
    """Free every claim of the shared hostile workspace's queue: tabs of other tests and modules
    (the XSS walk on the same pytest worker, a login test's review tab) hold theirs until the
    server discards their closed sessions, which takes longer on a loaded machine."""
    with ws.transaction() as cur:
        cur.execute("UPDATE review_queue SET claimed_by = NULL, claimed_at = NULL")


def claims_of(ws, user: str) -> int:
    return int(ws.scalar("SELECT count(*) FROM review_queue WHERE claimed_by LIKE ?", [f"{user}:%"]))


def test_a_viewers_tab_claims_nothing(site, browser):
    ws = site["hw"].ws
    release_claims(ws)
    vic = review_page(browser, site, "vic")
    first = vic.page.locator("[data-product-id]").first.get_attribute("data-product-id")
    assert claims_of(ws, "vic") == 0
    vic.page.get_by_role("button", name="Next (n)").click()
    vic.page.locator(f"[data-product-id]:not([data-product-id='{first}'])").first.wait_for()
    assert claims_of(ws, "vic") == 0
    dan = review_page(browser, site, "dan")  # what the viewer looked at is still free for a reviewer
    assert dan.page.locator("[data-product-id]").first.get_attribute("data-product-id") == first
    assert claims_of(ws, "dan") == 1
    for w in (vic, dan):
        w.close()


def test_removed_and_downgraded_users_open_tabs_are_refused_on_their_next_write(site, browser, monkeypatch):
    ws, creds = site["hw"].ws, site["creds"]
    release_claims(ws)
    rae, dan = review_page(browser, site, "rae"), review_page(browser, site, "dan")
    publisher = Watched(browser)
    publisher.login(site["url"], "dan", USERS["dan"][0], "/?page=thresholds")
    publish = publisher.page.get_by_role("button", name="Publish thresholds")
    publish.wait_for()
    before, published = int(ws.scalar("SELECT count(*) FROM reviews")), published_thresholds(ws)

    assert main(["users", "remove", "rae", "--credentials", str(creds)]) == 0
    rae.page.get_by_role("button", name="Accept (a)").click()
    rae.page.get_by_text("rae is no longer a user of this workbench").first.wait_for()
    assert claims_of(ws, "rae") == 0  # a refused tab holds nothing back

    monkeypatch.setattr("sys.stdin", io.StringIO(USERS["dan"][0] + "\n"))
    assert main(["users", "add", "dan", "--role", "viewer", "--password-stdin", "--credentials", str(creds)]) == 0
    dan.page.get_by_role("button", name="Accept (a)").click()
    dan.page.get_by_text("dan (viewer) may not submit reviews").first.wait_for()
    publish.click()
    publisher.page.get_by_text("dan (viewer) may not publish thresholds").first.wait_for()
    assert int(ws.scalar("SELECT count(*) FROM reviews")) == before
    assert published_thresholds(ws) == published and claims_of(ws, "dan") == 0
    # and the removed user's next page load is a login page
    rae.page.goto(f"{site['url']}/?page=review")
    assert "/login" in rae.page.url
    for w in (rae, dan, publisher):
        w.close()


def test_a_tab_whose_login_ended_is_refused(site, browser):
    ws = site["hw"].ws
    uma = review_page(browser, site, "uma")
    other = uma.context.new_page()
    other.goto(f"{site['url']}/logout")
    other.get_by_text("You are logged out").wait_for()
    before = int(ws.scalar("SELECT count(*) FROM reviews"))
    uma.page.get_by_role("button", name="Accept (a)").click()
    uma.page.get_by_text("uma has logged out").first.wait_for()
    assert int(ws.scalar("SELECT count(*) FROM reviews")) == before
    uma.close()


def test_a_viewers_wide_header_uploads_are_refused_while_other_sessions_are_answered(site, browser, tmp_path):
    """A viewer uploads CSVs whose header has 4,000 columns (27 KB; it froze every session for 17 s
    before issue 28) and 1,000,000 columns (8.9 MB, under the size limit; it never finished).
    Another user's requests keep being answered while each arrives and is checked, and each
    refusal is one line naming the limit it passed."""
    _, jar, _ = login(site, "dan", address="10.0.0.3")
    vic = Watched(browser)
    expected = {4_000: "wide4000.csv has 4,000 columns, above the limit of 500; keep the title, description and "
                       "brand columns and the attributes you need",
                1_000_000: "wide1000000.csv: line 1 is 7,888,887 bytes, above the limit of 1,048,576 bytes per "
                           "line; check that the file is a CSV with one product per line"}
    try:
        page = vic.login(site["url"], "vic", USERS["vic"][0], "/?page=classify")
        page.wait_for_selector(".wb-upload input[type=file]", state="attached")
        for width, message in expected.items():
            path = tmp_path / f"wide{width}.csv"
            path.write_text("title," + ",".join(f"c{i}" for i in range(width - 1)) + "\nNike shoes" +
                            "," * (width - 1) + "\n")
            assert width < 1_000_000 or 8 << 20 < path.stat().st_size < 10 << 20
            answers, stop = [], threading.Event()

            def other_session():
                while not stop.is_set():
                    status, _, _, seconds = request(site, "GET", "/metadata", cookies=jar)
                    answers.append((time.monotonic(), status, seconds))
                    time.sleep(0.05)

            watcher = threading.Thread(target=other_session, daemon=True)
            watcher.start()
            time.sleep(0.3)
            sent = time.monotonic()
            page.locator(".wb-upload input[type=file]").set_input_files(str(path))
            refusal = page.get_by_text(message).first
            refusal.wait_for(timeout=120_000)
            refused = time.monotonic()
            time.sleep(0.3)
            stop.set()
            watcher.join(timeout=60)
            assert refusal.inner_text().strip() == message
            during = [(t, s, sec) for t, s, sec in answers if sent <= t <= refused]
            assert during, f"no other session was answered while wide{width}.csv was read and checked"
            assert all(s == 200 for _, s, _ in answers)
            print(f"{width:,} columns: {len(during)} answers to another session during the upload, slowest "
                  f"{max(x[2] for x in during):.2f} s; refusal {refused - sent:.1f} s after the file was chosen")
    finally:
        vic.close()
