"""Per-key rate limits: one token bucket per API key.

A key with rate ``600/min`` has a bucket of 600 requests that refills at 10 per second; a
request takes one token, and with none left it is refused with the seconds until the next one
(``Retry-After``). Buckets live in the API process (one process serves; see the README).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from workbench.service.keys import parse_rate


@dataclass
class _Bucket:
    rate: str
    capacity: float
    per_second: float
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by key name (a changed rate starts a fresh bucket)."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, name: str, rate: str) -> float:
        """Take one token from ``name``'s bucket: 0 when allowed, else the seconds to wait."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None or bucket.rate != rate:
                capacity, period = parse_rate(rate)
                bucket = _Bucket(rate, capacity, capacity / period, capacity, now)
                self._buckets[name] = bucket
            bucket.tokens = min(bucket.capacity, bucket.tokens + (now - bucket.updated) * bucket.per_second)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / bucket.per_second


def retry_after(seconds: float) -> str:
    """The ``Retry-After`` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
