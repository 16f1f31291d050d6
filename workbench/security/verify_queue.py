"""A bounded, ranked queue of password checks that a flood cannot monopolise.

bcrypt costs about a quarter of a second by design, so a server checks only a few passwords a
second. A plain first-come queue lets a flood of wrong passwords take every place, and real users
are told "busy" (issue 28: 17 of 18 real logins turned away by a flood from rotating addresses).
Here every check carries a rank (lower first: a trusted device, then the fewest recent attempts
and failures; see :meth:`workbench.security.throttle.LoginThrottle.standing`), asked again each
time a worker picks (a flood's early checks sink as its record grows). Workers always take the
best ranked check waiting, and when the queue is full a newcomer with a better rank than the worst
waiting check takes its place (that check is answered :class:`Busy`); a newcomer no better than
the worst is answered :class:`Busy` at once. So a real user waits at most for the checks in
progress and those ranked before theirs, never behind the flood.

Threads, no Panel or Tornado: the login handler awaits the returned future with
``asyncio.wrap_future``.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import Future
from typing import Any, Callable


class Busy(Exception):
    """The check was not queued, or was pushed out of the queue by a better ranked one."""


class VerificationQueue:
    """``workers`` threads running the best ranked of at most ``max_waiting`` queued checks."""

    def __init__(self, workers: int = 1, max_waiting: int = 8, name: str = "workbench-login"):
        if workers < 1 or max_waiting < 1:
            raise ValueError("a verification queue needs at least one worker and one place")
        self.max_waiting = max_waiting
        self._waiting: list[tuple[int, Future, Callable[[], tuple], Callable, tuple]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self.evicted = 0  # checks pushed out by better ranked ones (for the benchmark)
        for i in range(workers):
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True).start()

    def waiting(self) -> int:
        """How many checks wait for a worker now."""
        with self._cond:
            return len(self._waiting)

    def _ranked(self) -> list[tuple[tuple, int, int]]:
        """``(rank now, arrival, index)`` of every waiting check (called with the lock held)."""
        return sorted((tuple(e[2]()), e[0], i) for i, e in enumerate(self._waiting))

    def submit(self, rank: tuple | Callable[[], tuple], fn: Callable[..., Any], *args: Any) -> Future:
        """Queue ``fn(*args)`` at ``rank`` (a tuple, or a callable asked for the current rank;
        lower first, ties first come first served); the future fails with :class:`Busy` when it
        is refused or pushed out."""
        future: Future = Future()
        rank_now = rank if callable(rank) else (lambda fixed=tuple(rank): fixed)
        with self._cond:
            entry = (next(self._order), future, rank_now, fn, args)
            if len(self._waiting) >= self.max_waiting:
                worst_rank, worst_order, worst = self._ranked()[-1]
                if (worst_rank, worst_order) < (tuple(rank_now()), entry[0]):
                    future.set_exception(Busy("the verification queue is full of better ranked checks"))
                    return future
                self.evicted += 1
                self._waiting.pop(worst)[1].set_exception(
                    Busy("pushed out of the verification queue by a better ranked check"))
            self._waiting.append(entry)
            self._cond.notify()
        return future

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting:
                    self._cond.wait()
                _, future, _, fn, args = self._waiting.pop(self._ranked()[0][2])
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # the caller sees the check's own error
                future.set_exception(exc)
