"""Shared pieces of the browser tests: Debian Chromium's launch options, a page that records its
console errors and outside requests, and the JavaScript that reads what a person sees (Bokeh's
axis formatters, where a data point is on screen, whether a table is cut off)."""

from __future__ import annotations

import csv
import io
import socket
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "http://localhost", "ws://localhost", "data:", "blob:", "about:")
WIDE = {"width": 1440, "height": 900}


def require_chromium() -> None:
    """Skip the calling test (or fixture) where Debian's Chromium is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian Chromium is not installed (make test installs it: apt-get install chromium)")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc=None, timeout: float = 120) -> None:
    """Wait until something listens on ``port`` (fails early when the server process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def add_users(creds: Path, users: dict) -> None:
    """Write ``users`` (name -> (password, role)) to the credentials file ``creds``, hashed with
    a cheap bcrypt cost (test logins, not the real cost)."""
    from workbench.security import auth

    old = auth.BCRYPT_ROUNDS
    auth.BCRYPT_ROUNDS = 6
    try:
        for name, (password, role) in users.items():
            auth.add_user(creds, name, password, role)
    finally:
        auth.BCRYPT_ROUNDS = old


def serve_in_thread(path, creds: Path | None = None):
    """The app over the workspace at ``path`` served in this process on 127.0.0.1 (with the login
    of ``creds`` when given), once it listens: ``(server, url)``; ``server.stop()`` ends it."""
    from workbench.app.serve import serve_app

    port = free_port()
    logins = {}
    if creds is not None:
        from workbench.security import auth
        from workbench.security.login import serve_options

        logins = {"auth": serve_options(creds), "roles": auth.RolesFile(creds)}
    server = serve_app(path, port=port, threaded=True, **logins)
    wait_port(port, timeout=60)
    return server, f"http://127.0.0.1:{port}"


def login(browser, url: str, user: str, password: str, slug: str, marker: str, viewport=None):
    """A new browser context logged in through the form as ``user``, on the page ``slug`` once
    ``marker`` shows: ``(context, page, errors)`` (``errors``: the page's script errors)."""
    context = browser.new_context(viewport=viewport or {"width": 1500, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/login" not in u)
    page.goto(f"{url}/?page={slug}")
    page.locator(marker).first.wait_for()
    return context, page, errors


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright, for one test module (skipped without it)."""
    from playwright.sync_api import sync_playwright

    require_chromium()

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def watched(browser):
    """A :class:`Watched` page at 1440 x 900 (``WIDE``) for one test, closed after it."""
    w = Watched(browser, WIDE)
    yield w
    w.close()


def shots_folder(output_dir: Path, name: str) -> Path:
    """The folder ``output_dir/name`` for a module's screenshots (made when missing)."""
    folder = output_dir / name
    folder.mkdir(exist_ok=True)
    return folder


#: what changes while a page is still being drawn: elements (through every shadow root), the
#: page's height, each table's and figure's box and scroll width, and the loading spinners shown
LAYOUT = """() => {
  const out = [0, document.documentElement.scrollHeight];
  const seen = new Set();
  function walk(root) {
    for (const el of root.querySelectorAll("*")) {
      out[0]++;
      if (el.shadowRoot && !seen.has(el.shadowRoot)) { seen.add(el.shadowRoot); walk(el.shadowRoot); }
      if (el.matches(".pn-loading")) out.push("loading");
      if (el.matches("table, .tabulator, canvas")) {
        const r = el.getBoundingClientRect();
        out.push([Math.round(r.width), Math.round(r.height), el.scrollWidth]);
      }
    }
  }
  walk(document);
  return JSON.stringify(out);
}"""


def settle(page, quiet_ms: int = 500, timeout_s: float = 30) -> None:
    """Wait until the page is drawn: no HTTP request for 500 ms (Playwright's ``networkidle``),
    no loading spinner, and its layout (:data:`LAYOUT`) unchanged for ``quiet_ms``; after
    ``timeout_s`` it goes on (the checks that follow report what they find)."""
    page.wait_for_load_state("networkidle")
    deadline = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = page.evaluate(LAYOUT)
        if now != last or "loading" in now:
            last, since = now, time.monotonic()
        elif (time.monotonic() - since) * 1000 >= quiet_ms:
            return
        page.wait_for_timeout(100)


class Watched:
    """A page with its console errors, page errors and requests to other hosts recorded."""

    def __init__(self, browser, viewport=None):
        self.context = browser.new_context(viewport=viewport or {"width": 1400, "height": 1000}, accept_downloads=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.errors: list[str] = []
        self.external: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: None if r.url.startswith(LOCAL) else self.external.append(r.url))

    def open(self, url: str, marker: str = ".wb-content"):
        self.page.goto(url)
        self.page.wait_for_selector(marker, timeout=120_000)
        self.page.wait_for_load_state("networkidle")
        return self.page

    def check_clean(self):
        assert self.external == [], self.external  # first: an outside request also logs a console error
        assert self.errors == [], self.errors

    def close(self):
        self.context.close()


#: every axis of every Bokeh figure on the page: [title, axis label, formatter type, 0.25 formatted]
AXES = """() => {
  const out = [];
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    if (!(m.type === "Plot" || m.type === "Figure")) continue;
    for (const axis of [...m.left, ...m.below, ...m.right, ...m.above]) {
      if (!axis.formatter) continue;
      let shown;
      try { shown = axis.formatter.doFormat([0.25], {loc: 0})[0]; } catch (e) { shown = String(e); }
      out.push([(m.title && m.title.text) || "", axis.axis_label || "", axis.formatter.type, String(shown)]);
    }
  }
  return out;
}"""

#: where (x, y) of the figure whose title contains ``title`` is on screen (factors for categorical axes)
PLOT_POINT = """([title, x, y]) => {
  for (const v of Bokeh.index.query(v => v.model && (v.model.type === "Plot" || v.model.type === "Figure"))) {
    const t = (v.model.title && v.model.title.text) || "";
    if (!t.includes(title)) continue;
    const sx = typeof x === "number" ? x : v.frame.x_range.synthetic(x);
    const sy = typeof y === "number" ? y : v.frame.y_range.synthetic(y);
    const r = v.canvas_view.el.getBoundingClientRect();
    return [r.left + v.frame.x_scale.compute(sx), r.top + v.frame.y_scale.compute(sy)];
  }
  return null;
}"""

#: scrolls the Bokeh figure whose title contains the argument into the middle of the window (a
#: mouse click only reaches what is on screen); false when there is none
SHOW_PLOT = """(title) => {
  for (const v of Bokeh.index.query(v => v.model && (v.model.type === "Plot" || v.model.type === "Figure"))) {
    const t = (v.model.title && v.model.title.text) || "";
    if (!t.includes(title)) continue;
    v.canvas_view.el.scrollIntoView({block: "center", inline: "nearest"});
    return true;
  }
  return false;
}"""

#: every visible table (HTML or Tabulator, inside Bokeh's shadow roots) that is cut off: wider
#: than its visible box (it would scroll) or reaching past the window's right edge
CLIPPED_TABLES = """() => {
  const out = [];
  const seen = new Set();
  function describe(el) {
    const host = el.closest("[class*='wb-']") || el;
    return String(host.className || el.tagName).slice(0, 80);
  }
  function check(el) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return;
    if (el.scrollWidth > el.clientWidth + 1 || r.right > window.innerWidth + 1)
      out.push([describe(el), el.scrollWidth, el.clientWidth, Math.round(r.right)]);
  }
  function walk(root) {
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot && !seen.has(el.shadowRoot)) { seen.add(el.shadowRoot); walk(el.shadowRoot); }
      if (el.classList && el.classList.contains("tabulator-tableholder")) check(el);
      if (el.tagName === "TABLE") { check(el); if (el.parentElement) check(el.parentElement); }
    }
  }
  walk(document);
  return out;
}"""


def read_csv_download(page, button_selector: str, tries: int = 3) -> list[dict]:
    """Click a download button and parse the CSV file it gives; a click that gave no file in 20 s
    (the table re-rendered under the pointer on a loaded machine) is repeated, as a person would."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    button = page.locator(button_selector)
    for attempt in range(tries):
        page.wait_for_timeout(300)
        button.scroll_into_view_if_needed()
        try:
            with page.expect_download(timeout=20_000) as info:
                button.click()
            break
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise
    path = info.value.path()
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(io.StringIO(handle.read())))


#: what a person reading the open page would trip over, walked through every shadow root:
#: ``breaks``: table headers whose text breaks onto a new line inside a word (the characters'
#: line boxes, read with DOM ranges); ``clipped``: cells and headers whose text is cut
#: (scrollWidth > clientWidth); ``markdown``: visible text with a literal ``**`` or backtick;
#: ``red``: visible alarms (a danger alert, a crossed statistic, red text); ``undefined``: a
#: glossary term (argument: its spellings) in visible text with no definition on hover
READABILITY = """(terms) => {
  const out = {breaks: [], clipped: [], markdown: [], red: [], undefined: []};
  const seen = new Set();
  const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const escapeRe = s => s.replace(/[.*+?^${}()|[\\]\\\\]/g, "\\\\$&");
  const termRe = new RegExp("(^|[^\\\\w/-])(" + terms.map(escapeRe).join("|") + ")(?![\\\\w-])", "i");
  function text(el) { return (el.innerText || el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 80); }
  function breaksInsideWord(el) {
    const chars = [];
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      for (let i = 0; i < n.data.length; i++) {
        const range = document.createRange(); range.setStart(n, i); range.setEnd(n, i + 1);
        const rects = range.getClientRects();
        if (rects.length) chars.push([n.data[i], rects[0].top]);
      }
    }
    for (let i = 1; i < chars.length; i++) {
      if (chars[i][1] > chars[i - 1][1] + 4 && !/[\\s\\-\\/>…]/.test(chars[i - 1][0]) && !/\\s/.test(chars[i][0]))
        return true;
    }
    return false;
  }
  function defined(node) {
    for (let el = node.parentElement; el; el = el.parentElement) {
      if (el.classList && el.classList.contains("wb-term") && el.getAttribute("title")) return true;
      if (el.tagName === "CODE") return true;  // a command or a run id, not a metric name
    }
    return false;
  }
  function isRed(el) {
    const c = getComputedStyle(el).color;
    const m = c.match(/rgba?\\((\\d+), (\\d+), (\\d+)/);
    return m && +m[1] > 180 && +m[2] < 80 && +m[3] < 80;
  }
  function walk(root) {
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot && !seen.has(el.shadowRoot)) { seen.add(el.shadowRoot); walk(el.shadowRoot); }
      if (!visible(el)) continue;
      const header = el.matches("th, .tabulator-col-title");
      const cell = el.matches("td, .tabulator-cell:not(.empty)");
      if (header && breaksInsideWord(el)) out.breaks.push(text(el));
      if ((header || cell) && el.scrollWidth > el.clientWidth + 1 && text(el))
        out.clipped.push([text(el), el.scrollWidth, el.clientWidth]);
      if (el.matches(".tabulator-tableholder, table") && el.scrollWidth > el.clientWidth + 1)
        out.clipped.push(["table scrolls sideways: " + text(el).slice(0, 40), el.scrollWidth, el.clientWidth]);
      if (el.tagName === "TABLE" && el.parentElement && el.parentElement.scrollWidth > el.parentElement.clientWidth + 1)
        out.clipped.push(["table wider than its box: " + text(el).slice(0, 40), el.parentElement.scrollWidth,
                          el.parentElement.clientWidth]);
      if (el.matches(".tabulator, table") && el.getBoundingClientRect().right > window.innerWidth + 1)
        out.clipped.push(["table past the window: " + text(el).slice(0, 40), Math.round(el.getBoundingClientRect().right),
                          window.innerWidth]);
      if (el.matches(".alert-danger, .wb-crossed, [data-status='crossed']")) out.red.push(text(el));
      for (const n of el.childNodes) {
        if (n.nodeType !== 3 || !n.data.trim()) continue;
        if (/\\*\\*|`/.test(n.data)) out.markdown.push(n.data.trim().slice(0, 80));
        if (isRed(el)) out.red.push(n.data.trim().slice(0, 80));
        if (termRe.test(n.data) && !defined(n)) out.undefined.push(n.data.trim().slice(0, 80));
      }
    }
  }
  walk(document);
  return out;
}"""
