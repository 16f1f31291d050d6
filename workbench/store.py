"""The workspace: one DuckDB file per workspace directory, plus an artifacts folder.

All reads and writes of the pipeline go through :class:`Workspace`. Writes run inside
transactions (a failure leaves the store as it was) and are serialised inside the process,
because DuckDB has a single writer. Each thread gets its own cursor on one shared
connection, as DuckDB recommends for multi-threaded use.

DuckDB lets one process open a database file read-write, or several open it read-only.
``Workspace(path, read_only=True)`` is the second kind (the HTTP API reads its serving
snapshot that way, for a moment, when no other process holds the file): it never creates
tables and refuses writes.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.paths import workspace_dir

SCHEMA_VERSION = 1

CORE_DDL = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS sources (
    fingerprint VARCHAR PRIMARY KEY, path VARCHAR, dataset VARCHAR, mapping JSON,
    options JSON, accepted BIGINT, rejected BIGINT, ingested_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS products (
    product_id VARCHAR PRIMARY KEY, title VARCHAR, title_raw VARCHAR,
    description VARCHAR, description_raw VARCHAR, brand VARCHAR, price DOUBLE, price_currency VARCHAR,
    category_raw VARCHAR, category_path VARCHAR, title_key VARCHAR, leaf VARCHAR, department VARCHAR, image VARCHAR,
    extra JSON, label_source VARCHAR, source VARCHAR, ingested_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS rejects (
    source VARCHAR, row_number BIGINT, product_id VARCHAR, reason VARCHAR, raw JSON);
CREATE TABLE IF NOT EXISTS categories (
    node_id VARCHAR PRIMARY KEY, name VARCHAR, parent_id VARCHAR, level INTEGER,
    level_name VARCHAR, is_leaf BOOLEAN, n_products BIGINT);
CREATE TABLE IF NOT EXISTS category_merges (original VARCHAR PRIMARY KEY, merged_into VARCHAR, n_products BIGINT);
CREATE TABLE IF NOT EXISTS splits (
    kind VARCHAR, product_id VARCHAR, part VARCHAR, PRIMARY KEY (kind, product_id));
"""


_CONNECTIONS: dict[Path, duckdb.DuckDBPyConnection] = {}
_CONNECTIONS_LOCK = threading.Lock()
_WRITE_LOCKS: dict[Path, threading.RLock] = {}
_READ_ONLY: set[Path] = set()


class DatabaseInUse(WorkbenchError):
    """Another process holds the workspace database (DuckDB allows one writer process)."""


def _shared_connection(db_path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    with _CONNECTIONS_LOCK:
        con = _CONNECTIONS.get(db_path)
        if con is None:
            new = not db_path.exists()
            try:
                con = duckdb.connect(str(db_path), read_only=read_only)
                if new and not read_only:
                    db_path.chmod(0o600)  # products, reviews and names are nobody else's to read
            except duckdb.IOException as exc:
                raise DatabaseInUse(
                    f"cannot open workspace database {db_path}: {exc}. "
                    "Stop the other process using it (e.g. a served dashboard) and retry."
                ) from exc
            _CONNECTIONS[db_path] = con
            _WRITE_LOCKS[db_path] = threading.RLock()
            if read_only:
                _READ_ONLY.add(db_path)
        return con


class Workspace:
    """A workspace directory holding ``workbench.duckdb`` and an ``artifacts/`` folder.

    ``read_only=True`` opens an existing database for reading only (see the module's note).
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
            _shared_connection(self.db_path, read_only=True)
            return
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new workspace is the owner's only
        with self.transaction() as cur:
            cur.execute(CORE_DDL)
            cur.execute(
                "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                [str(SCHEMA_VERSION)],
            )
        version = self.meta("schema_version")
        if version != str(SCHEMA_VERSION):
            raise WorkbenchError(
                f"workspace {self.path} has schema version {version}, this workbench expects "
                f"{SCHEMA_VERSION}; use a new --workspace directory or upgrade the workbench."
            )

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    @property
    def artifacts(self) -> Path:
        """Folder for model files, probability matrices and other large artifacts."""
        p = self.path / "artifacts"
        p.mkdir(mode=0o700, exist_ok=True)
        return p

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the workspace database."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = _shared_connection(self.db_path, self.read_only).cursor()
            self._local.cursor = cur
        return cur

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run writes atomically and one writer at a time; roll back on any error."""
        if self.read_only or self.db_path in _READ_ONLY:
            raise WorkbenchError(f"workspace {self.path} is open read-only here; write from the "
                                 "process that holds it (the dashboards or the command line)")
        _shared_connection(self.db_path)
        lock = _WRITE_LOCKS[self.db_path]
        with lock:
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")

    def ensure(self, ddl: str) -> None:
        """Create tables a module owns (idempotent ``CREATE TABLE IF NOT EXISTS`` statements);
        nothing on a read-only workspace, whose readers check for the tables they need."""
        if self.read_only:
            return
        with self.transaction() as cur:
            cur.execute(ddl)

    def df(self, sql: str, params: list[Any] | tuple | None = None) -> pd.DataFrame:
        """Run a read query with bound parameters and return a DataFrame."""
        return self.cursor().execute(sql, params or []).df()

    def scalar(self, sql: str, params: list[Any] | tuple | None = None) -> Any:
        """Run a query returning one value."""
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

    def close(self) -> None:
        """Close this process's connection to the workspace database."""
        with _CONNECTIONS_LOCK:
            con = _CONNECTIONS.pop(self.db_path, None)
            _WRITE_LOCKS.pop(self.db_path, None)
            _READ_ONLY.discard(self.db_path)
        self._local = threading.local()
        if con is not None:
            con.close()
