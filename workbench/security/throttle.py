"""Throttling of failed logins, per account and per client address, with a temporary lockout.

After ``max_failures`` failed logins for one user name within ``window_s`` seconds, that name is
locked for ``lockout_s`` seconds: every attempt is refused without looking at the password
(the right one too), so guessing stops paying. The same holds for a client address after
``max_address_failures`` failures, whichever names it tried (password spraying). Names that do
not exist are counted like real ones, so a lockout tells nothing about which names exist.
A success clears the name's failures. Lockouts are logged on ``workbench.auth``.

The table lives in the server's memory (a restart forgets it) and is pruned as it goes, so a
flood of made-up names cannot grow it without bound. No Panel or Tornado here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from workbench.errors import WorkbenchError

log = logging.getLogger("workbench.auth")


@dataclass(frozen=True)
class ThrottleSettings:
    """How many failures lock what, and for how long (seconds)."""

    max_failures: int = 5
    max_address_failures: int = 20
    window_s: float = 900.0
    lockout_s: float = 900.0
    max_entries: int = 100_000

    def __post_init__(self):
        if self.max_failures < 1 or self.max_address_failures < 1:
            raise WorkbenchError("login failures before a lockout must be at least 1, e.g. 5")
        if self.window_s <= 0 or self.lockout_s <= 0:
            raise WorkbenchError("login throttle window and lockout must be positive seconds, e.g. 900")


@dataclass
class _Record:
    failures: list[float]
    locked_until: float = 0.0


class LoginThrottle:
    """Failure counts and lockouts of user names and client addresses (thread-safe)."""

    def __init__(self, settings: ThrottleSettings | None = None, clock: Callable[[], float] = time.monotonic):
        self.settings = settings or ThrottleSettings()
        self.clock = clock
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()
        self._lock = threading.Lock()

    def _record(self, key: tuple[str, str], now: float) -> _Record:
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = _Record([])
            while len(self._records) > self.settings.max_entries:
                self._records.popitem(last=False)  # the oldest entry goes first
        else:
            self._records.move_to_end(key)
        record.failures = [t for t in record.failures if now - t < self.settings.window_s]
        return record

    def locked_for(self, user: str, address: str) -> float:
        """Seconds the name or the address is still locked (0: the attempt may be checked)."""
        now = self.clock()
        with self._lock:
            left = [self._records[k].locked_until - now for k in (("user", user), ("address", address))
                    if k in self._records]
        return max([0.0, *left])

    def failure(self, user: str, address: str) -> float:
        """Record a failed login; returns the lockout it started (seconds, 0 when none)."""
        now = self.clock()
        started = 0.0
        s = self.settings
        with self._lock:
            for kind, value, limit in (("user", user, s.max_failures), ("address", address, s.max_address_failures)):
                record = self._record((kind, value), now)
                record.failures.append(now)
                if len(record.failures) >= limit and record.locked_until <= now:
                    record.locked_until = now + s.lockout_s
                    record.failures = []
                    started = s.lockout_s
                    log.warning("login: %s %r locked for %.0f s after %d failed attempts (last from %s)",
                                "account" if kind == "user" else "address", value, s.lockout_s, limit, address)
        log.info("login: failed for %r from %s", user, address)
        return started

    def success(self, user: str, address: str) -> None:
        """A successful login clears the name's failures (the address keeps its count)."""
        with self._lock:
            self._records.pop(("user", user), None)
        log.info("login: %r signed in from %s", user, address)
