"""The workspace: one DuckDB file per workspace directory, plus an artifacts folder.

All reads and writes of the pipeline go through :class:`Workspace`. Several processes use one
workspace at once (the dashboards, the HTTP API, the command line, notebooks, Dask clients),
and DuckDB lets one process open the file at a time, so no process keeps it open longer than
one unit of work:

- ``ws.df(...)``, ``ws.scalar(...)`` open the file, read, and close it;
- ``with ws.transaction() as cur:`` opens it, runs the writes atomically (a failure leaves the
  store as it was), bumps the workspace's change counter, commits and closes;
- ``with ws.hold():`` keeps it open across several reads that must see one state (a page's data,
  a job's inputs); holds nest and are shared by the threads of a process.

Whose turn it is between processes is decided by :mod:`workbench.store.lock` (a fair queue with
backoff, ``$WORKBENCH_WAIT``); inside a process, threads share an open file, and a new thread
does not join a hold another process is waiting behind for more than a short while, so a busy
server cannot starve the command line. The schema is :mod:`workbench.store.schema`, migrated
once when a workspace is first opened by a process.

Servers notice other processes' writes through :meth:`Workspace.change_counter`, a file beside
the database that every write transaction bumps after it commits (reading it needs no turn).
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.paths import workspace_dir
from workbench.store.lock import DatabaseInUse, WorkspaceLock
from workbench.store.schema import CORE_DDL, SCHEMA_VERSION, pending

__all__ = ["CORE_DDL", "SCHEMA_VERSION", "DatabaseInUse", "Workspace"]

#: a thread may join an open hold while another process waits for at most this long
JOIN_GRACE = 0.2


class _Holding:
    """This process's turn on one database file, shared by its threads.

    The process keeps one in-memory DuckDB instance per workspace and ATTACHes the file for
    each turn, DETACHing it after (about 1 ms, against 10-40 ms to start a DuckDB instance);
    detaching checkpoints the file and releases DuckDB's own lock on it."""

    ALIAS = "ws"

    def __init__(self, db_path: Path):
        self.db_path = db_path
        self.lock = WorkspaceLock(db_path.parent)
        self.cond = threading.Condition()
        self.count = 0
        self.busy = False  # a thread is attaching or detaching the file
        self.base: duckdb.DuckDBPyConnection | None = None
        self.attached = False
        self.generation = 0
        self.cursors: list[duckdb.DuckDBPyConnection] = []
        self.write_lock = threading.RLock()
        self.owner_threads: dict[int, int] = {}
        self.migrated = False

    def enter(self) -> None:
        me = threading.get_ident()
        with self.cond:
            if self.owner_threads.get(me):  # nested in this thread: always joins
                self.owner_threads[me] += 1
                self.count += 1
                return
            start = time.monotonic()
            while True:
                if self.attached and not self.busy:
                    # join the open turn, unless another process waits: then let the turn end first
                    # (for a short while only, so a parent thread waiting on this one never deadlocks)
                    if time.monotonic() - start >= JOIN_GRACE or not self.lock.waiting_others():
                        self.count += 1
                        self.owner_threads[me] = 1
                        return
                    self.cond.wait(0.005)
                elif not self.attached and not self.busy:
                    self.busy = True
                    break
                else:
                    self.cond.wait(0.05)
        try:
            self.lock.acquire()
            try:
                self._attach()
            except BaseException:
                self.lock.release()
                raise
        except BaseException:
            with self.cond:
                self.busy = False
                self.cond.notify_all()
            raise
        with self.cond:
            self.generation += 1
            self.attached = True
            self.count = 1
            self.owner_threads[me] = 1
            self.busy = False
            self.cond.notify_all()

    def _attach(self) -> None:
        if self.base is None:
            self.base = duckdb.connect(":memory:")
        new = not self.db_path.exists()
        try:
            self.base.execute(f"ATTACH ? AS {self.ALIAS}", [str(self.db_path)])
        except duckdb.IOException as exc:  # a process outside the queue (an older workbench) holds it
            raise DatabaseInUse(f"cannot open workspace database {self.db_path}: {exc}. A process that does "
                                "not take turns holds it (an older workbench?); stop it and retry") from exc
        self.base.execute(f"USE {self.ALIAS}")
        if new:
            self.db_path.chmod(0o600)  # products, reviews and names are nobody else's to read

    def exit(self) -> None:
        me = threading.get_ident()
        with self.cond:
            self.count -= 1
            left = self.owner_threads.get(me, 1) - 1
            if left:
                self.owner_threads[me] = left
            else:
                self.owner_threads.pop(me, None)
            if self.count > 0:
                return
            cursors, self.cursors = self.cursors, []
            self.owner_threads.clear()
            self.busy = True  # nobody joins while the file is being detached
        try:
            for cur in cursors:
                try:
                    cur.close()
                except duckdb.Error:
                    pass
            if self.base is not None:
                try:
                    self.base.execute("USE memory")
                    self.base.execute(f"DETACH {self.ALIAS}")
                except duckdb.Error:
                    self.base.close()  # closing the instance detaches everything
                    self.base = None
        finally:
            self.lock.release()
            with self.cond:
                self.attached = False
                self.busy = False
                self.cond.notify_all()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self.cond:
            if not self.attached or self.base is None:
                raise WorkbenchError("the workspace database is not open here; use ws.df(), ws.scalar(), "
                                     "`with ws.hold():` or `with ws.transaction():`")
            cur = self.base.cursor()
            self.cursors.append(cur)
        cur.execute(f"USE {self.ALIAS}")
        return cur


_HOLDINGS: dict[Path, _Holding] = {}
_HOLDINGS_LOCK = threading.Lock()


def _holding(db_path: Path) -> _Holding:
    holding = _HOLDINGS.get(db_path)
    if holding is None:
        with _HOLDINGS_LOCK:
            holding = _HOLDINGS.get(db_path)
            if holding is None:
                holding = _HOLDINGS[db_path] = _Holding(db_path)
    return holding


def _forget_after_fork() -> None:
    """A forked child starts with no turn: the parent's file, locks and DuckDB are the parent's."""
    global _HOLDINGS_LOCK
    for holding in _HOLDINGS.values():
        holding.lock.forget()
    _HOLDINGS.clear()
    _HOLDINGS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


class Workspace:
    """A workspace directory holding ``workbench.duckdb`` and an ``artifacts/`` folder.

    ``read_only=True`` refuses writes from this object (and creates nothing): for readers such
    as the HTTP API that must never change the workspace.
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False):
        self.path = workspace_dir(path)
        self.db_path = self.path / "workbench.duckdb"
        self._local = threading.local()
        self.read_only = read_only
        if read_only:
            if not self.db_path.exists():
                raise WorkbenchError(f"no workspace database in {self.path}; build one first with "
                                     "`workbench ingest`, or pass --workspace DIR")
        else:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new workspace is the owner's only
        self.migrate()

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    @property
    def _holding(self) -> _Holding:
        return _holding(self.db_path)

    # -- opening and closing ---------------------------------------------------------------
    def migrate(self) -> None:
        """Apply the schema migrations this workspace lacks (once per process and file)."""
        holding = self._holding
        if holding.migrated:
            return
        with self.hold():
            cur = self.cursor()
            has_meta = cur.execute("SELECT count(*) FROM information_schema.tables "
                                   "WHERE table_name = 'meta'").fetchone()[0]
            raw = (cur.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                   if has_meta else None)
            version = int(raw[0]) if raw else 0
            if version > SCHEMA_VERSION:
                raise WorkbenchError(
                    f"workspace {self.path} has schema version {version}, written by a newer workbench; "
                    f"this one knows versions up to {SCHEMA_VERSION}. Upgrade the workbench to open it.")
            steps = pending(version)
            if steps and self.read_only:
                raise WorkbenchError(f"workspace {self.path} needs schema migrations {steps[0][0]}-"
                                     f"{steps[-1][0]}; open it once from the command line (`workbench info`)")
            if steps:
                with holding.write_lock:
                    cur.execute("BEGIN TRANSACTION")
                    try:
                        for number, _name, step in steps:
                            step(cur)
                            cur.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) "
                                        "DO UPDATE SET value = excluded.value", [str(number)])
                    except BaseException:
                        cur.execute("ROLLBACK")
                        raise
                    cur.execute("COMMIT")
            holding.migrated = True

    @contextmanager
    def hold(self) -> Iterator["Workspace"]:
        """Keep the database open for several reads (or writes) that belong together."""
        holding = self._holding
        holding.enter()
        try:
            yield self
        finally:
            holding.exit()

    @property
    def artifacts(self) -> Path:
        """Folder for model files, probability matrices and other large artifacts."""
        p = self.path / "artifacts"
        p.mkdir(mode=0o700, exist_ok=True)
        return p

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor inside an open :meth:`hold` (or transaction)."""
        holding = self._holding
        cached = getattr(self._local, "cursor", None)
        if cached is not None and cached[0] == holding.generation and holding.attached:
            return cached[1]
        cur = holding.cursor()
        self._local.cursor = (holding.generation, cur)
        return cur

    @contextmanager
    def own_cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived cursor of its own inside a hold (for streamed results and registered
        frames, which must not meet an unfinished result on this thread's shared cursor)."""
        with self.hold():
            cur = self._holding.cursor()
            try:
                yield cur
            finally:
                cur.close()

    def rows(self, sql: str, params: list[Any] | tuple | None = None) -> list[tuple]:
        """Run a read query and return its rows as tuples."""
        with self.hold():
            return self.cursor().execute(sql, params or []).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run writes atomically, one writer at a time, in one short hold; roll back on any error.

        Keep the body to about a second of work: other processes wait while it runs (write large
        results in chunks, each its own transaction)."""
        if self.read_only:
            raise WorkbenchError(f"workspace {self.path} is open read-only here; write from the "
                                 "command line, the dashboards or a notebook")
        holding = self._holding
        with self.hold():
            with holding.write_lock:
                cur = self.cursor()
                nested = getattr(self._local, "in_transaction", False)
                if nested:
                    yield cur
                    return
                cur.execute("BEGIN TRANSACTION")
                self._local.in_transaction = True
                try:
                    yield cur
                    counter = cur.execute(
                        "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) "
                        "WHERE key = 'change_counter' RETURNING value").fetchone()
                except BaseException:
                    self._local.in_transaction = False
                    cur.execute("ROLLBACK")
                    raise
                self._local.in_transaction = False
                cur.execute("COMMIT")
        self._announce_change(counter[0] if counter else None)

    def ensure(self, ddl: str) -> None:
        """Run extra ``CREATE ... IF NOT EXISTS`` statements (the schema itself lives in
        :mod:`workbench.store.schema`; this is for a caller's temporary tables)."""
        if self.read_only:
            return
        with self.transaction() as cur:
            cur.execute(ddl)

    # -- reading ---------------------------------------------------------------------------
    def df(self, sql: str, params: list[Any] | tuple | None = None) -> pd.DataFrame:
        """Run a read query with bound parameters and return a DataFrame."""
        with self.hold():
            return self.cursor().execute(sql, params or []).df()

    def scalar(self, sql: str, params: list[Any] | tuple | None = None) -> Any:
        """Run a query returning one value."""
        with self.hold():
            row = self.cursor().execute(sql, params or []).fetchone()
        return None if row is None else row[0]

    def meta(self, key: str) -> str | None:
        """Read a value from the workspace's key-value ``meta`` table."""
        return self.scalar("SELECT value FROM meta WHERE key = ?", [key])

    def set_meta(self, key: str, value: str, cur: duckdb.DuckDBPyConnection | None = None) -> None:
        """Write a value into ``meta`` (inside the caller's transaction when ``cur`` is given)."""
        sql = "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        if cur is not None:
            cur.execute(sql, [key, value])
        else:
            with self.transaction() as c:
                c.execute(sql, [key, value])

    def has_table(self, name: str) -> bool:
        """Whether the workspace has a table of that name."""
        return bool(self.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]))

    # -- noticing other processes' writes --------------------------------------------------
    @property
    def changes_file(self) -> Path:
        """The file every write transaction rewrites after it commits (its change counter)."""
        return self.path / ".lock" / "changes"

    def _announce_change(self, counter: str | None) -> None:
        try:
            tmp = self.changes_file.with_name(f"changes.{os.getpid()}.{threading.get_ident()}")
            tmp.write_text(str(counter or time.time_ns()))
            os.replace(tmp, self.changes_file)
        except OSError:
            pass

    def change_counter(self) -> str:
        """A token that changes whenever any process committed a write (no turn needed)."""
        try:
            stat = self.changes_file.stat()
            return f"{stat.st_mtime_ns}:{self.changes_file.read_text()}"
        except OSError:
            return "0"

    def close(self) -> None:
        """Nothing stays open between units of work; kept for callers that close explicitly."""
        self._local = threading.local()
