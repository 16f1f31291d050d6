"""A fair queue between processes for the workspace database file.

DuckDB lets one process open a database file at a time. Every process of a workspace (the
dashboards, the HTTP API, the command line, notebooks, Dask clients) opens it for one unit of
work and closes it, so they take turns. This module decides whose turn it is:

- a waiter writes a ticket (``<workspace>/.lock/queue/<nanoseconds>-<pid>-<n>``) and waits until
  its ticket is the oldest of the living ones, then takes an exclusive ``flock`` on
  ``<workspace>/.lock/holder`` (the kernel releases it if the holder dies, even by ``kill -9``);
- tickets of dead processes are removed by whoever sees them, so a crash never blocks the queue;
- waiters poll with a backoff from 1 ms to 25 ms; after 2 s a waiter prints one line naming the
  holder (its command and pid) and keeps waiting, up to ``$WORKBENCH_WAIT`` seconds (default
  120), then fails with one line naming who held the file and for how long.

The holder writes ``pid``, command and start time into the holder file, which is what those
lines quote.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import WorkbenchError

#: seconds a process waits for the workspace before it gives up (``$WORKBENCH_WAIT`` overrides)
DEFAULT_WAIT = 120.0
#: seconds of waiting after which the waiter says who holds the workspace
ANNOUNCE_AFTER = 2.0
_COUNTER = itertools.count()


class DatabaseInUse(WorkbenchError):
    """The workspace database stayed held by another process for longer than the wait limit."""


def wait_limit() -> float:
    """The longest wait for the workspace, from ``$WORKBENCH_WAIT`` (seconds), else 120 s."""
    raw = os.environ.get("WORKBENCH_WAIT", "").strip()
    if not raw:
        return DEFAULT_WAIT
    try:
        value = float(raw)
    except ValueError:
        raise WorkbenchError(f"WORKBENCH_WAIT={raw!r} is not a number of seconds; set e.g. WORKBENCH_WAIT=120")
    return max(0.0, value)


def _command_line() -> str:
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:4]]
    return " ".join(a for a in argv if a)[:120]


def process_alive(pid: int) -> bool:
    """Whether a process of this machine with that pid is alive (ours always is)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Holder:
    """Who holds the workspace now, as the holder wrote it."""

    pid: int | None
    command: str
    since: float | None

    def describe(self) -> str:
        """``workbench serve (pid 123) for 3.2 s`` or what is known of it."""
        who = f"`{self.command}` (pid {self.pid})" if self.pid else "another process"
        if self.since:
            who += f" for {max(0.0, time.time() - self.since):.1f} s"
        return who


class WorkspaceLock:
    """The fair, crash-safe queue for one workspace's database file."""

    def __init__(self, workspace: Path):
        self.folder = Path(workspace) / ".lock"
        self.queue = self.folder / "queue"
        self.holder_file = self.folder / "holder"
        self._fd: int | None = None

    def _prepare(self) -> None:
        self.queue.mkdir(mode=0o700, parents=True, exist_ok=True)

    def holder(self) -> Holder:
        """The process holding the workspace, as it described itself."""
        try:
            info = json.loads(self.holder_file.read_text().strip() or "{}")
        except (OSError, ValueError):
            info = {}
        return Holder(info.get("pid"), str(info.get("command", "another process")), info.get("since"))

    def _living_tickets(self) -> list[str]:
        tickets = []
        for name in sorted(os.listdir(self.queue)):
            try:
                pid = int(name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if process_alive(pid):
                tickets.append(name)
            else:
                try:
                    (self.queue / name).unlink()
                except FileNotFoundError:
                    pass
        return tickets

    def waiting_others(self) -> bool:
        """Whether another process waits in the queue now (cheap: one directory listing)."""
        own = f"-{os.getpid()}-"
        try:
            return any(own not in name for name in os.listdir(self.queue))
        except FileNotFoundError:
            return False

    def _holder_fd(self) -> int:
        if self._fd is None:
            self._prepare()
            self._fd = os.open(self.holder_file, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def _take(self, fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        record = json.dumps({"pid": os.getpid(), "command": _command_line(), "since": time.time()})
        os.pwrite(fd, record.ljust(512).encode()[:512], 0)  # fixed size: no truncate needed
        return True

    def acquire(self, what: str = "the workspace database") -> float:
        """Wait for this process's turn and take the file; returns the seconds waited."""
        fd = self._holder_fd()
        if not os.listdir(self.queue) and self._take(fd):  # nobody waits: no ticket needed
            return 0.0
        limit = wait_limit()
        start = time.monotonic()
        ticket = self.queue / f"{time.time_ns():020d}-{os.getpid()}-{next(_COUNTER)}"
        ticket.write_text(_command_line())
        announced = False
        delay = 0.001
        try:
            while True:
                tickets = self._living_tickets()
                if (not tickets or tickets[0] == ticket.name) and self._take(fd):
                    break
                waited = time.monotonic() - start
                if waited >= limit:
                    raise DatabaseInUse(
                        f"{what} in {self.folder.parent} is held by {self.holder().describe()}; "
                        f"waited {waited:.0f} s (WORKBENCH_WAIT={limit:g}). Retry when it is done, or "
                        "raise WORKBENCH_WAIT")
                if not announced and waited >= ANNOUNCE_AFTER:
                    print(f"waiting for {what}: held by {self.holder().describe()} "
                          f"(waiting up to {limit:g} s, WORKBENCH_WAIT)", file=sys.stderr, flush=True)
                    announced = True
                time.sleep(delay)
                delay = min(delay * 1.5, 0.025)
        finally:
            try:
                ticket.unlink()
            except FileNotFoundError:
                pass
        return time.monotonic() - start

    def release(self) -> None:
        """Give the file to the next in the queue."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def forget(self) -> None:
        """In a forked child: drop the parent's file without unlocking it (the parent holds it)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
