"""A flood of wrong passwords from rotating loopback addresses (real source addresses: each
connection binds another 127.0.N.M, which Linux routes to the loopback), and a real user logging
in meanwhile: how the login throttle holds under a flood. Used by tests/test_login_flood.py and
benchmarks/security.py."""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections import Counter
from urllib.parse import urlencode


def post_login(port: int, user: str, password: str, source: str = "127.0.0.1", cookies: dict | None = None,
               timeout: float = 60) -> tuple[int, float, dict, str]:
    """POST the login form from ``source``: ``(status, seconds, {cookie: value}, body)``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    head = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookies:
        head["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    t0 = time.perf_counter()
    try:
        conn.request("POST", "/login", urlencode({"username": user, "password": password, "next": "/"}), head)
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        seconds = time.perf_counter() - t0
        lines = response.msg.get_all("Set-Cookie") or []
        jar = {line.split("=", 1)[0]: line.split("=", 1)[1].split(";", 1)[0] for line in lines}
        return response.status, seconds, jar, body
    finally:
        conn.close()


class Flood:
    """``clients`` threads posting wrong passwords as fast as the server answers, each request from
    the next address of 127.0.1.1 .. 127.0.``networks``.250 (so no address is used twice in a row
    and every address only a few times), the user names cycling through ``names`` and made-up
    ones. ``statuses`` counts the answers."""

    def __init__(self, port: int, clients: int = 12, names: tuple[str, ...] = (), networks: int = 8):
        self.port, self.clients, self.names = port, clients, names
        self.addresses = itertools.cycle(f"127.0.{n}.{h}" for h in range(1, 251) for n in range(1, networks + 1))
        self.statuses: Counter[int] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(clients)]

    def _run(self, k: int) -> None:
        for i in itertools.count():
            if self._stop.is_set():
                return
            with self._lock:
                source = next(self.addresses)
            targets = self.names or ("",)
            name = targets[i % len(targets)] if i % 2 == 0 and self.names else f"guess{k}-{i}"
            try:
                status = post_login(self.port, name, f"wrong-{k}-{i}", source)[0]
            except OSError:
                status = 0
            with self._lock:
                self.statuses[status] += 1

    def __enter__(self) -> "Flood":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)


def real_logins(port: int, user: str, password: str, n: int, source: str = "127.0.0.1",
                cookies: dict | None = None, pause: float = 0.3) -> list[tuple[int, float, str]]:
    """``n`` logins of a real user (one at a time, ``pause`` s apart): ``[(status, seconds, message)]``,
    the message being the login page's error line when there is one."""
    out = []
    for _ in range(n):
        status, seconds, _, body = post_login(port, user, password, source, cookies)
        message = body.split('class="errormessage">', 1)[1].split("<", 1)[0] if "errormessage" in body else ""
        out.append((status, seconds, message))
        time.sleep(pause)
    return out
