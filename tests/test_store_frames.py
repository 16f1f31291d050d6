"""A frame registered for a ``with`` block is gone after it, on every exit, in a real workspace."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from workbench import Workspace
from workbench.store.frames import insert_frame, registered


def _views(cur) -> set[str]:
    return {r[0] for r in cur.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}


def test_registered_frame_is_seen_inside_and_gone_after(tmp_path):
    ws = Workspace(tmp_path)
    with ws.transaction() as cur:
        with registered(cur, "_probe", pd.DataFrame({"a": [1, 2, 3]})) as name:
            assert name == "_probe"
            assert cur.execute("SELECT sum(a) FROM _probe").fetchall() == [(6,)]
        assert "_probe" not in _views(cur)
    with pytest.raises(duckdb.CatalogException, match="_probe"):
        ws.rows("SELECT * FROM _probe")


def test_an_error_inside_a_transaction_is_the_error_raised_and_nothing_is_written(tmp_path):
    """A failed statement aborts the transaction: unregistering then fails too, and must not hide
    the real error; the rollback leaves the table as it was and no view behind."""
    ws = Workspace(tmp_path)
    with ws.transaction() as cur:
        cur.execute("CREATE TABLE t_keys (k INTEGER PRIMARY KEY)")
        cur.execute("INSERT INTO t_keys VALUES (1)")
    with pytest.raises(duckdb.ConstraintException, match="(?i)duplicate key"):
        with ws.transaction() as cur:
            with registered(cur, "_dup", pd.DataFrame({"k": [2, 1]})):
                cur.execute("INSERT INTO t_keys SELECT k FROM _dup")
    assert ws.rows("SELECT k FROM t_keys ORDER BY k") == [(1,)]
    with ws.hold():
        assert "_dup" not in _views(ws.cursor())


def test_a_python_error_outside_a_transaction_still_unregisters(tmp_path):
    ws = Workspace(tmp_path)
    with ws.own_cursor() as cur:
        with pytest.raises(ValueError, match="boom"):
            with registered(cur, "_gone", pd.DataFrame({"a": [1]})):
                raise ValueError("boom")
        assert "_gone" not in _views(cur)


def test_insert_frame_by_name_and_by_position(tmp_path):
    ws = Workspace(tmp_path)
    with ws.transaction() as cur:
        cur.execute("CREATE TABLE t_rows (a INTEGER, b VARCHAR)")
        insert_frame(cur, "t_rows", pd.DataFrame({"b": ["x"], "a": [1]}))  # columns matched by name
        insert_frame(cur, "t_rows", pd.DataFrame({"first": [2], "second": ["y"]}), by_name=False)
        assert "_rows" not in _views(cur)
    assert ws.rows("SELECT a, b FROM t_rows ORDER BY a") == [(1, "x"), (2, "y")]
