"""A pandas frame seen by SQL for the length of a ``with`` block.

Writes of many rows go through a frame registered on the transaction's cursor (one statement
over a frame, never ``executemany`` row by row). The frame must be unregistered afterwards, or
it outlives the write on this thread's cursor; :func:`registered` does that on every exit.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import duckdb
import pandas as pd


@contextmanager
def registered(cur: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> Iterator[str]:
    """Register ``frame`` on ``cur`` as the view ``name`` for the block; unregister it on exit,
    also after an error (in an aborted transaction the rollback drops it, and the block's own
    error is what is raised)."""
    cur.register(name, frame)
    try:
        yield name
    except BaseException:
        try:
            cur.unregister(name)
        except duckdb.Error:
            pass  # "current transaction is aborted": the caller's rollback drops the view
        raise
    cur.unregister(name)


def insert_frame(cur: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, *,
                 by_name: bool = True, name: str = "_rows") -> None:
    """``INSERT INTO table`` the rows of ``frame``, columns matched by name (``by_name=False``:
    by position, the table's order). ``table`` is a caller's constant, never input."""
    with registered(cur, name, frame):
        cur.execute(f"INSERT INTO {table} {'BY NAME ' if by_name else ''}SELECT * FROM {name}")
