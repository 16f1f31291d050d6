"""Undo the newest taxonomy change in force (undo is itself a change, with its own version):
every recorded value is restored, paths written since the change are mapped back where the
inverse is a path map (rename, move, split: :func:`_inverse_map`), and the snapshots are
restored."""

from __future__ import annotations

import json
from typing import Mapping

import pandas as pd

from workbench.catalog.taxonomy import node_id, split_node_id
from workbench.errors import WorkbenchError
from workbench.loop.labels import utc_now
from workbench.loop.taxonomy_plan import TaxonomyChange, _check_by, _n_products
from workbench.loop.taxonomy_rewrites import (ROW_TABLES, _level_names, _restore, _rewrite_rows, _taxonomy,
                                              _write_categories, _write_thresholds)
from workbench.store import Workspace
from workbench.store.frames import registered


def _in_force(cur) -> pd.DataFrame:
    return cur.execute("SELECT version, op, arguments, path_map, snapshot FROM taxonomy_changes "
                       "WHERE undone_by IS NULL AND undoes IS NULL ORDER BY version").df()


def undo(ws: Workspace, version: int | None = None, *, by: str) -> TaxonomyChange:
    """Take back the newest change in force (``version``, when given, must be that one): every
    path it rewrote is restored, paths written since are mapped back where the inverse is a
    path map, and the thresholds, mappings and categories are as before. Recorded as a change."""
    by = _check_by(by)
    with ws.transaction() as cur:
        live = _in_force(cur)
        if live.empty:
            raise WorkbenchError("no taxonomy change to undo")
        last = live.iloc[-1]
        target = int(last["version"])
        if version is not None and int(version) != target:
            raise WorkbenchError(f"undo the newer changes first: version {target} ({last['op']}) is the newest "
                                 f"change in force; undo it, then version {version}")
        op, args = str(last["op"]), json.loads(last["arguments"])
        path_map, snapshot = json.loads(last["path_map"]), json.loads(last["snapshot"])
        rewrites = cur.execute("SELECT tbl, row_key, col, old_value, new_value FROM taxonomy_rewrites "
                               "WHERE version = ?", [target]).df()
        queued = rewrites[(rewrites["tbl"] == "review_queue") & (rewrites["col"] == "__row__")]
        if len(queued):
            keys = [json.loads(k) for k in queued["row_key"]]
            queued_keys = pd.DataFrame({"d": [k["queue_date"] for k in keys], "p": [k["product_id"] for k in keys]})
            with registered(cur, "_tx_queued", queued_keys):
                done = cur.execute(
                    "SELECT count(*) FROM review_queue q JOIN _tx_queued k ON CAST(q.queue_date AS VARCHAR) = k.d "
                    "AND q.product_id = k.p WHERE q.status <> 'pending'").fetchall()[0][0]
            if done:
                raise WorkbenchError(f"{done} products this change queued were reviewed since; undoing it would "
                                     "drop their reviews. Move them with a new change instead")
        if op == "add":
            n = _n_products(cur, args["node"])
            if n:
                raise WorkbenchError(f"{args['node']!r} holds {n:,} products since it was added; merge or move "
                                     "them first")
        new_version = int(cur.execute("SELECT coalesce(max(version), 0) + 1 FROM taxonomy_changes").fetchall()[0][0])
        counts: dict[str, int] = {}
        for (table, col), rows in rewrites.groupby(["tbl", "col"], sort=False):
            keys = _keys_of(table)
            if col == "__row__":
                parsed = [json.loads(k) for k in rows["row_key"]]
                frame = pd.DataFrame({f"k_{k}": [p[k] for p in parsed] for k in keys})
                with registered(cur, "_tx_rows", frame):
                    join = " AND ".join(f'CAST(t."{k}" AS VARCHAR) = _tx_rows."k_{k}"' for k in keys)
                    cur.execute(f'DELETE FROM "{table}" AS t USING _tx_rows WHERE {join}').fetchall()
                counts["queue items removed"] = len(frame)
                continue
            _restore_column(cur, target, new_version, table, keys, col)
            counts[table] = counts.get(table, 0) + len(rows)
        inverse = _inverse_map(op, args, path_map)
        if inverse:
            for table, n in _rewrite_rows(cur, new_version, inverse).items():
                counts[table] = counts.get(table, 0) + n
        level_names = _level_names(cur, _taxonomy(cur))
        for table in ("category_merges", "taxonomy_mappings"):
            if table in snapshot:
                _restore(cur, table, snapshot[table])
        if "thresholds" in snapshot:
            before = pd.DataFrame(snapshot["thresholds"])
            current = cur.execute("SELECT scope, node, threshold FROM thresholds ORDER BY scope, node").df()
            if not before.empty or not current.empty:
                _restore(cur, "thresholds", snapshot["thresholds"])
                restored = cur.execute("SELECT * FROM thresholds").df()
                _write_thresholds(cur, new_version, restored, by)
        nodes = [r["node_id"] for r in snapshot.get("categories", [])]
        _write_categories(cur, nodes, level_names)
        cur.execute(
            "INSERT INTO taxonomy_changes (version, op, arguments, path_map, review_nodes, flags, counts, snapshot, "
            "actor, changed_at, undoes) VALUES (?, 'undo', ?, ?, '[]', '[]', ?, '{}', ?, ?, ?)",
            [new_version, json.dumps({"version": target, "op": op}), json.dumps(inverse), json.dumps(counts),
             by, utc_now(), target])
        cur.execute("UPDATE taxonomy_changes SET undone_by = ? WHERE version = ?", [new_version, target])
    return TaxonomyChange(new_version, "undo", {"version": target, "op": op}, inverse, counts, [], by)


def _restore_column(cur, version: int, new_version: int, table: str, keys, col: str) -> None:
    """Give one column the values change ``version`` found, where it still holds what the change
    wrote, and record that under ``new_version`` (set-based: one UPDATE, one INSERT)."""
    extract = ", ".join(f"json_extract_string(row_key, '$.{k}') AS \"k_{k}\"" for k in keys)
    # table, column and key names come from ROW_TABLES, never from input
    cur.execute(f"CREATE OR REPLACE TEMP TABLE _tx_undo AS SELECT row_key, old_value, new_value, {extract} "
                "FROM taxonomy_rewrites WHERE version = ? AND tbl = ? AND col = ?", [version, table, col])
    join = " AND ".join(f'CAST(t."{k}" AS VARCHAR) = u."k_{k}"' for k in keys)
    cur.execute(f'UPDATE "{table}" AS t SET "{col}" = u.old_value FROM _tx_undo u WHERE {join} '
                f'AND CAST(t."{col}" AS VARCHAR) IS NOT DISTINCT FROM u.new_value')
    cur.execute("INSERT INTO taxonomy_rewrites (version, tbl, row_key, col, old_value, new_value) "
                "SELECT ?, ?, row_key, ?, new_value, old_value FROM _tx_undo", [new_version, table, col])
    cur.execute("DROP TABLE _tx_undo")


def _keys_of(table: str) -> tuple[str, ...]:
    for name, keys, _ in ROW_TABLES:
        if name == table:
            return keys
    raise WorkbenchError(f"no row key known for table {table!r}")  # only this module writes rewrites


def _inverse_map(op: str, args: Mapping, path_map: Mapping[str, str]) -> dict[str, str]:
    """The path map that sends paths written after a change back (rename, move, split)."""
    if op in ("rename", "move"):
        return {new: old for old, new in path_map.items()}
    if op == "split":
        return {node_id((*split_node_id(args["node"]), c)): args["node"] for c in args["children"]}
    return {}

