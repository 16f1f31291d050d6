"""Throttling of failed logins, per account and per client address, with a temporary lockout.

After ``max_failures`` failed logins for one user name within ``window_s`` seconds, that name is
locked for ``lockout_s`` seconds: every attempt is refused without looking at the password
(the right one too), so guessing stops paying. The same holds for a client address after
``max_address_failures`` failures, whichever names it tried (password spraying). Names that do
not exist are counted like real ones, so a lockout tells nothing about which names exist.
A success clears the name's failures. Lockouts are logged on ``workbench.auth``.

A flood of wrong passwords aimed at a real user's name would lock that user out too (the lockout
is the attacker's weapon then). A browser that has logged in as a name before carries a signed
*device* cookie for it (``device`` below, OWASP's "device cookies"): from such a device the name's
and the address's lockouts do not apply; the device has a lockout of its own after
``max_failures`` failures, so a stolen cookie buys no more guesses than a name does.
:meth:`LoginThrottle.standing` ranks an attempt for the verification queue
(:mod:`workbench.security.verify_queue`): a trusted device first, then by the recent attempts of
its network (IPv4 /24, IPv6 /64; every attempt counts, refused ones too, decaying with a
``pressure_half_life_s`` half-life) plus the recent failures of its name and address, so that a
flood from rotating addresses waits behind real users.

The table lives in the server's memory (a restart forgets it) and is pruned as it goes, so a
flood of made-up names cannot grow it without bound. No Panel or Tornado here.
"""

from __future__ import annotations

import ipaddress
import logging
import math
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
    pressure_half_life_s: float = 60.0

    def __post_init__(self):
        if self.max_failures < 1 or self.max_address_failures < 1:
            raise WorkbenchError("login failures before a lockout must be at least 1, e.g. 5")
        if self.window_s <= 0 or self.lockout_s <= 0:
            raise WorkbenchError("login throttle window and lockout must be positive seconds, e.g. 900")


@dataclass
class _Record:
    failures: list[float]
    locked_until: float = 0.0


def network_of(address: str) -> str:
    """The client's network for the flood ranking: IPv4 /24, IPv6 /64 (the address itself when
    it is not an IP address)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False))


class LoginThrottle:
    """Failure counts and lockouts of user names and client addresses (thread-safe)."""

    def __init__(self, settings: ThrottleSettings | None = None, clock: Callable[[], float] = time.monotonic):
        self.settings = settings or ThrottleSettings()
        self.clock = clock
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()
        self._pressure: OrderedDict[str, tuple[float, float]] = OrderedDict()  # network -> (attempts, at)
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

    def locked_for(self, user: str, address: str, device: str | None = None) -> float:
        """Seconds the name or the address (or, from a trusted ``device``, that device) is still
        locked (0: the attempt may be checked)."""
        now = self.clock()
        keys = (("device", device),) if device else (("user", user), ("address", address))
        with self._lock:
            left = [self._records[k].locked_until - now for k in keys if k in self._records]
        return max([0.0, *left])

    def _pressure_of(self, network: str, now: float) -> float:
        attempts, at = self._pressure.get(network, (0.0, now))
        return attempts * math.exp2(-(now - at) / self.settings.pressure_half_life_s)

    def attempt(self, address: str) -> None:
        """Count a login attempt of the address's network (every POST, refused ones too)."""
        now = self.clock()
        network = network_of(address)
        with self._lock:
            self._pressure[network] = (self._pressure_of(network, now) + 1.0, now)
            self._pressure.move_to_end(network)
            while len(self._pressure) > self.settings.max_entries:
                self._pressure.popitem(last=False)

    def standing(self, user: str, address: str, device: str | None = None) -> tuple[int, float]:
        """The attempt's place in the verification queue, lower first: ``(0, recent failures of
        the device)`` from a trusted device, else ``(1, recent attempts of the address's network +
        recent failures of the name and of the address)``."""
        now = self.clock()
        window = self.settings.window_s
        keys = (("device", device),) if device else (("user", user), ("address", address))
        with self._lock:
            count = sum(sum(1 for t in self._records[k].failures if now - t < window)
                        for k in keys if k in self._records)
            pressure = 0.0 if device else self._pressure_of(network_of(address), now)
        return (0 if device else 1, round(count + pressure, 3))

    def failure(self, user: str, address: str, device: str | None = None) -> float:
        """Record a failed login; returns the lockout it started (seconds, 0 when none). From a
        trusted ``device`` the device's count goes up, the name's and the address's do not."""
        now = self.clock()
        started = 0.0
        s = self.settings
        counted = ((("device", device, s.max_failures),) if device else
                   (("user", user, s.max_failures), ("address", address, s.max_address_failures)))
        with self._lock:
            for kind, value, limit in counted:
                record = self._record((kind, value), now)
                record.failures.append(now)
                if len(record.failures) >= limit and record.locked_until <= now:
                    record.locked_until = now + s.lockout_s
                    record.failures = []
                    started = s.lockout_s
                    log.warning("login: %s %r locked for %.0f s after %d failed attempts (last from %s)",
                                {"user": "account"}.get(kind, kind), value if kind != "device" else user,
                                s.lockout_s, limit, address)
        log.info("login: failed for %r from %s%s", user, address, " (trusted device)" if device else "")
        return started

    def success(self, user: str, address: str, device: str | None = None) -> None:
        """A successful login clears the name's (and the device's) failures; the address keeps its count."""
        with self._lock:
            self._records.pop(("user", user), None)
            if device:
                self._records.pop(("device", device), None)
        log.info("login: %r signed in from %s", user, address)
