"""Benchmark of the served app's defences: the login under a brute-force client, name-hiding
timing, and the memory of a refused upload. Each figure is compared in the same run with the
behaviour it replaced.

* **Login under attack**: a tiny Panel app behind the workbench's login (bcrypt at the real cost
  12, throttle limits raised so that every attempt costs a bcrypt check) is served in this
  process; ``--clients`` threads post wrong passwords as fast as they can, each from its own
  address (``X-Forwarded-For``), while a logged-in user's requests (``GET /metadata``, the
  login page) are timed. The same run repeats it with the bcrypt check on the event loop (what
  Panel's ``BasicLoginHandler`` and the workbench did before): the ratio is the figure.
* **Login under a flood** (issue 28, item 6): the same app with the default throttle (5 failures
  per name, 20 per address); ``--flood-clients`` threads post wrong passwords from rotating real
  source addresses (127.0.1.1 .. 127.0.8.250; half at ana's name, half at made-up ones) while ana
  (who logged in from her browser before: device cookie) and ben (first visit) log in again and
  again. Figures: real logins that got in, their median and longest time. The same run repeats
  it with the queue as it was (first come first served, "busy" beyond 8 waiting, no device
  cookies); before issue 28 that turned away 17 of 18 real logins.
* **Unknown vs known user**: median time of a wrong password for a real user and for a name that
  does not exist, with the dummy hash at the file's cost (now) and at cost 4 (before).
* **Wide-header upload** (issue 28): another session's longest wait while a 4,000-, 10,000- and
  1,000,000-column header is checked and refused, in a worker thread (now) and on the event loop.
* **Refused upload**: 50 chunks of 1 MB fed to Panel's ``FileDropper`` and to
  ``LimitedFileDropper`` (limit 1 MB); tracemalloc peak of each.

Usage: ``python benchmarks/security.py [--clients 3] [--seconds 10] [--flood-clients 10] [--logins 8]
[--only flood]``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import statistics
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import bcrypt
import numpy as np


def request(port: int, method: str, path: str, form=None, headers=None, cookies=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    head = dict(headers or {})
    body = urlencode(form) if form else None
    if form:
        head["Content-Type"] = "application/x-www-form-urlencoded"
    if cookies:
        head["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    t0 = time.perf_counter()
    conn.request(method, path, body, head)
    response = conn.getresponse()
    response.read()
    seconds = time.perf_counter() - t0
    jar = {c.split("=", 1)[0]: c.split("=", 1)[1].split(";", 1)[0] for c in response.msg.get_all("Set-Cookie") or []}
    conn.close()
    return response.status, seconds, jar


def serve_login(creds: Path, throttle=None):
    """A one-page app behind the workbench's login; returns (thread, port, provider). Without
    ``throttle`` the limits are raised so that every attempt costs a bcrypt check."""
    import panel as pn

    from workbench.security import auth, login
    from workbench.security.hardening import start_server
    from workbench.security.throttle import ThrottleSettings

    with socket_port() as port:
        pass
    throttle = throttle or ThrottleSettings(max_failures=10**6, max_address_failures=10**6)
    options = login.serve_options(creds, throttle=throttle)
    provider = options["auth_provider"]
    thread = start_server({"/": lambda: pn.pane.Markdown("hello")},
                          dict(port=port, address="127.0.0.1", show=False, websocket_origin=[f"127.0.0.1:{port}"],
                               http_server_kwargs={"xheaders": True}, **options), threaded=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            request(port, "GET", "/login")
            break
        except OSError:
            time.sleep(0.2)
    return thread, port, provider


class socket_port:
    """A free port (context manager so the socket closes before the server binds it)."""

    def __enter__(self):
        import socket

        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        return self.s.getsockname()[1]

    def __exit__(self, *exc):
        self.s.close()


def attack(port: int, cookies: dict, clients: int, seconds: float) -> dict:
    """Latency of another user's requests, idle and while ``clients`` threads post wrong passwords."""

    def timed(stop_after: float) -> list[float]:
        out, end, i = [], time.perf_counter() + stop_after, 0
        while time.perf_counter() < end:
            path = "/metadata" if i % 2 else "/login"
            status, s, _ = request(port, "GET", path, cookies=cookies)
            assert status == 200, status
            out.append(s)
            i += 1
            time.sleep(0.05)
        return out

    idle = timed(4)
    stop, attempts = threading.Event(), []

    def hammer(k: int):
        i = 0
        while not stop.is_set():
            status, s, _ = request(port, "POST", "/login", form={"username": f"guess{i}", "password": "wrong"},
                                   headers={"X-Forwarded-For": f"10.9.0.{k}"})
            attempts.append((status, s))
            i += 1

    threads = [threading.Thread(target=hammer, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    time.sleep(1)
    busy = timed(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    ms = lambda v: round(1000 * float(v), 1)  # noqa: E731
    return {"idle_median_ms": ms(statistics.median(idle)), "idle_p95_ms": ms(np.percentile(idle, 95)),
            "median_ms": ms(statistics.median(busy)), "p95_ms": ms(np.percentile(busy, 95)),
            "max_ms": ms(max(busy)), "requests": len(busy), "login_attempts": len(attempts),
            "attempt_statuses": sorted({a[0] for a in attempts})}


def login_figures(clients: int, seconds: float) -> dict:
    from workbench.security import auth

    tmp = Path(tempfile.mkdtemp(prefix="wb-bench-security-"))
    creds = tmp / "credentials.json"
    auth.add_user(creds, "ana", "ana-password", "reviewer")
    thread, port, provider = serve_login(creds)
    status, _, cookies = request(port, "POST", "/login", form={"username": "ana", "password": "ana-password"})
    assert status == 302, status
    pool = attack(port, cookies, clients, seconds)

    async def on_the_loop(user, password, address, device=None):  # the check as it was: on the event loop
        return auth.verify_password(provider.credentials, user, password)

    provider.check_password = on_the_loop
    loop = attack(port, cookies, clients, seconds)
    thread.stop()
    return {"pool": pool, "on_loop": loop}


def flood_figures(clients: int, logins: int) -> dict:
    """Real logins during a flood from rotating addresses, with the ranked queue and device
    cookies (now) and with the first-come queue as it was (before), in one run."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from workbench.security.login_flood import Flood, post_login, real_logins
    from workbench.security import auth, login
    from workbench.security.throttle import LoginThrottle, ThrottleSettings
    from workbench.security.verify_queue import Busy

    tmp = Path(tempfile.mkdtemp(prefix="wb-bench-flood-"))
    creds = tmp / "credentials.json"
    users = {"ana": "ana-password-1", "ben": "ben-password-2"}
    for name, password in users.items():
        auth.add_user(creds, name, password, "reviewer")
    thread, port, provider = serve_login(creds, ThrottleSettings())
    ranked_check = provider.check_password
    before_pool = ThreadPoolExecutor(max_workers=login.LOGIN_WORKERS)

    class Before(LoginThrottle):  # no device cookies
        def locked_for(self, user, address, device=None):
            return super().locked_for(user, address)

        def failure(self, user, address, device=None):
            return super().failure(user, address)

        def success(self, user, address, device=None):
            return super().success(user, address)

    async def first_come(user, password, address, device=None):  # the queue as it was
        if provider.pending[address] >= 1 or sum(provider.pending.values()) >= login.MAX_PENDING:
            raise Busy("busy")
        provider.pending[address] += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                before_pool, auth.verify_password, provider.credentials, user, password)
        finally:
            provider.pending[address] -= 1
            if provider.pending[address] <= 0:
                del provider.pending[address]

    out = {}
    for variant in ("now", "before"):
        provider.throttle = LoginThrottle(ThrottleSettings()) if variant == "now" else Before(ThrottleSettings())
        provider.check_password = ranked_check if variant == "now" else first_come
        status, _, jar, _ = post_login(port, "ana", users["ana"], "127.0.0.1")
        device = {"wb_device": jar["wb_device"]} if "wb_device" in jar else None
        with Flood(port, clients=clients, names=("ana",)) as flood:
            time.sleep(2.0)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(2) as both:
                ana = both.submit(real_logins, port, "ana", users["ana"], logins, "127.0.0.1", device)
                ben = both.submit(real_logins, port, "ben", users["ben"], logins, "127.0.0.2")
                ana, ben = ana.result(), ben.result()
            seconds = time.perf_counter() - t0
        got_in = [t for s, t, _ in ana + ben if s == 302]
        out[variant] = {
            "ana_in": f"{sum(s == 302 for s, _, _ in ana)}/{logins}", "ben_in": f"{sum(s == 302 for s, _, _ in ben)}/{logins}",
            "median_s": round(statistics.median(got_in), 2) if got_in else None,
            "max_s": round(max(got_in), 2) if got_in else None,
            "refusals": sorted({m[:40] for s, _, m in ana + ben if s != 302}),
            "flood_requests_per_s": round(sum(flood.statuses.values()) / (seconds + 2.0)),
            "flood_answers": dict(flood.statuses)}
        time.sleep(1.0)
    thread.stop()
    return out


def timing_figures(n: int = 7) -> dict:
    from workbench.security import auth

    tmp = Path(tempfile.mkdtemp(prefix="wb-bench-timing-"))
    creds = tmp / "credentials.json"
    auth.add_user(creds, "ana", "ana-password", "reviewer")
    auth.warm_dummy_hash(creds)
    old_dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(4))
    known, unknown, before = [], [], []
    for _ in range(n):
        for out, check in ((known, lambda: auth.verify_password(creds, "ana", "wrong")),
                           (unknown, lambda: auth.verify_password(creds, "mallory", "wrong")),
                           (before, lambda: bcrypt.checkpw(b"wrong", old_dummy))):
            t0 = time.perf_counter()
            check()
            out.append(time.perf_counter() - t0)
    med = {k: statistics.median(v) * 1000 for k, v in (("known", known), ("unknown", unknown), ("before", before))}
    return {"known_ms": round(med["known"], 1), "unknown_ms": round(med["unknown"], 1),
            "unknown_before_ms": round(med["before"], 2), "ratio_now": round(med["unknown"] / med["known"], 3),
            "ratio_before": round(med["before"] / med["known"], 4)}


def upload_figures(chunks: int = 50) -> dict:
    import panel as pn

    from workbench.security.limited_dropper import LimitedFileDropper

    out = {}
    for name, widget in (("panel_FileDropper", pn.widgets.FileDropper()),
                         ("LimitedFileDropper", LimitedFileDropper(limit_bytes=1024 * 1024))):
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for i in range(1, chunks + 1):
            widget._process_event(SimpleNamespace(event_name="upload_event", data={
                "name": "big.csv", "chunk": i, "total_chunks": chunks, "data": bytes(1_000_000), "type": "x"}))
        out[name] = round((tracemalloc.get_traced_memory()[1] - base) / 2**20, 1)
        tracemalloc.stop()
    return out


def wide_upload_figures(shapes=((4_000, 1), (10_000, 1), (1_000_000, 1), (400, 12_000))) -> dict:
    """Another session's wait while a wide-header CSV is uploaded: an asyncio loop (the server's)
    ticks every 10 ms while ``read_upload`` checks the file, once in a worker thread
    (:func:`workbench.security.upload_limits.run_limited`, now) and once on the loop itself (as
    the Classify page did); the figure is the longest gap between ticks, the wait another
    session's request would have had. Before issue 28, 4,000 columns stalled the loop 17 s. The
    last shape is inside the limits (4.8 million cells): read in full."""
    import asyncio

    from workbench.security.upload import read_upload
    from workbench.errors import WorkbenchError
    from workbench.security.upload_limits import run_limited

    out = {}
    for width, rows in shapes:
        raw = ("title," + ",".join(f"c{i}" for i in range(width - 1)) + "\n" +
               ("Nike shoes" + ",x" * (width - 1) + "\n") * rows).encode()

        def work():
            try:
                read_upload("wide.csv", raw, limit_bytes=10 << 20, max_rows=100_000)
            except WorkbenchError as exc:
                return str(exc)
            return "read"

        async def scenario(off_loop: bool):
            gaps, stop = [], asyncio.Event()

            async def ticker():
                last = time.perf_counter()
                while not stop.is_set():
                    await asyncio.sleep(0.01)
                    now = time.perf_counter()
                    gaps.append(now - last)
                    last = now

            tick = asyncio.create_task(ticker())
            await asyncio.sleep(0.05)
            t0 = time.perf_counter()
            answer = await run_limited(work, seconds=600) if off_loop else work()
            seconds = time.perf_counter() - t0
            await asyncio.sleep(0.05)
            stop.set()
            await tick
            return {"refusal_s": round(seconds, 3), "longest_wait_s": round(max(gaps), 3), "answer": answer[:60]}

        out[(width, rows)] = {"worker": asyncio.run(scenario(True)), "on_loop": asyncio.run(scenario(False))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--flood-clients", type=int, default=10)
    parser.add_argument("--logins", type=int, default=8, help="logins of each real user during the flood")
    parser.add_argument("--only", choices=["flood"], help="run only this part")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    for variant, f in flood_figures(args.flood_clients, args.logins).items():
        print(f"login flood, {args.flood_clients} clients from rotating addresses, queue {variant}: {f}", flush=True)
    if args.only == "flood":
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
        return
    for (width, rows), f in wide_upload_figures().items():
        print(f"upload of {width:,} columns x {rows:,} rows: another session's longest wait {f['worker']['longest_wait_s']} s "
              f"with the check in a worker (refused after {f['worker']['refusal_s']} s: {f['worker']['answer']!r}); "
              f"{f['on_loop']['longest_wait_s']} s with it on the loop", flush=True)
    print("refused 50 MB upload, peak traced MB:", upload_figures(), flush=True)
    print("timing, wrong password (ms):", timing_figures(), flush=True)
    figures = login_figures(args.clients, args.seconds)
    for name, f in figures.items():
        print(f"login attack, bcrypt {name}: {f}", flush=True)
    print(f"p95 ratio on-loop / pool: {figures['on_loop']['p95_ms'] / figures['pool']['p95_ms']:.1f}x; "
          f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
