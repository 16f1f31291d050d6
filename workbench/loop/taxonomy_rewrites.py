"""The machinery of a taxonomy change: **every stored path is rewritten in one transaction**
(:func:`workbench.loop.taxonomy_plan._apply` calls these), and what was rewritten is recorded so an undo
(:mod:`workbench.loop.taxonomy_undo`) gives it back:

* row by row (``taxonomy_rewrites``: table, row key, column, old and new value): products
  (``leaf``, ``category_path``, ``label_source``), the label history, reviews, the review queue,
  classifications, label-issue results, gold items and answers, API feedback;
* as a snapshot in the change's row (small tables): the categories, the rare-leaf merges, the
  published thresholds (a new ``threshold_history`` version when they change) and the
  standard-taxonomy mappings.

The operations that plan a change are in :mod:`workbench.loop.taxonomy_changes` and
:mod:`workbench.loop.taxonomy_split`.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import duckdb
import pandas as pd

from workbench.catalog.taxonomy import Taxonomy
from workbench.catalog.taxonomy_versions import map_path
from workbench.errors import WorkbenchError
from workbench.loop.labels import utc_now
from workbench.loop.review_queue import TAXONOMY_REASONS
from workbench.store.frames import insert_frame, registered

TAXONOMY_SPLIT, CATEGORY_RETIRED = TAXONOMY_REASONS

#: tables whose paths follow every change row by row: (table, key columns, path columns)
ROW_TABLES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("products", ("product_id",), ("leaf", "category_path")),
    ("labels", ("label_id",), ("leaf",)),
    ("reviews", ("review_id",), ("predicted_leaf", "final_leaf")),
    ("review_queue", ("queue_date", "product_id"), ("predicted_leaf",)),
    ("classifications", ("product_id", "run_id", "batch_date"), ("leaf",)),
    ("label_issues", ("run_id", "product_id", "rank"), ("given_leaf", "suggested_leaf")),
    ("gold_items", ("product_id",), ("leaf", "suggested_leaf")),
    ("gold_answers", ("answer_id",), ("leaf", "gold_leaf", "suggested_leaf")),
    ("feedback", ("feedback_id",), ("category", "predicted")),
)
#: columns that hold a product's own label: they follow a split or retire product by product
PRODUCT_LABEL_COLUMNS = {("products", "leaf"), ("labels", "leaf"), ("reviews", "final_leaf"),
                         ("gold_items", "leaf")}
SNAPSHOT_TABLES = ("categories", "category_merges", "thresholds", "taxonomy_mappings")

def _taxonomy(cur: duckdb.DuckDBPyConnection) -> Taxonomy:
    frame = cur.execute("SELECT node_id, level, level_name FROM categories").df()
    if frame.empty:
        raise WorkbenchError("the workspace has no taxonomy yet; run `workbench ingest` first")
    return Taxonomy.from_frame(frame)


def _level_names(cur, taxonomy: Taxonomy) -> list[str]:
    stored = cur.execute("SELECT value FROM meta WHERE key = 'level_names'").fetchall()
    return json.loads(stored[0][0]) if stored else list(taxonomy.level_names)


def _tables(cur) -> set[str]:
    return {r[0] for r in cur.execute("SELECT table_name FROM information_schema.tables").fetchall()}


# the engine: rewrite every stored path in one transaction ----------------------------------

def _update(cur, table: str, keys: Sequence[str], col: str, frame: pd.DataFrame) -> None:
    """``UPDATE table SET col = new`` for rows of ``frame`` (key columns as text, ``old``, ``new``)."""
    if frame.empty:
        return
    with registered(cur, "_tx_rows", frame):
        join = " AND ".join(f'CAST(t."{k}" AS VARCHAR) = _tx_rows."k_{k}"' for k in keys)
        # table and column names come from this module's constants, never from input
        cur.execute(f'UPDATE "{table}" AS t SET "{col}" = _tx_rows.new FROM _tx_rows '
                    f'WHERE {join} AND t."{col}" IS NOT DISTINCT FROM _tx_rows.old').fetchall()


def _record(cur, version: int, table: str, keys: Sequence[str], col: str, frame: pd.DataFrame) -> None:
    """Record the rows of ``frame`` (key columns as text, ``old``, ``new``) as rewritten by
    ``version`` (the row key a JSON object of the key columns, built by SQL)."""
    if frame.empty:
        return
    key = "json_object(" + ", ".join(f"'{k}', \"k_{k}\"" for k in keys) + ")"
    with registered(cur, "_tx_record", frame):
        cur.execute(f"INSERT INTO taxonomy_rewrites (version, tbl, row_key, col, old_value, new_value) "
                    f"SELECT ?, ?, {key}, ?, CAST(old AS VARCHAR), CAST(new AS VARCHAR) FROM _tx_record",
                    [version, table, col])


def _frame(keys, rows, old, new) -> pd.DataFrame:
    data = {f"k_{k}": [None if r[i] is None else str(r[i]) for r in rows] for i, k in enumerate(keys)}
    data["old"] = pd.Series(old, dtype=object)
    data["new"] = pd.Series(new, dtype=object)
    return pd.DataFrame(data)


def _rewrite_rows(cur, version: int, path_map: Mapping[str, str],
                  product_leaf: Mapping[str, str | None] | None = None,
                  moved_nodes: Sequence[str] = ()) -> dict[str, int]:
    """Rewrite the path columns of :data:`ROW_TABLES` under ``path_map``; a product's own label
    on one of ``moved_nodes`` follows ``product_leaf`` instead (``None``: the product loses its
    leaf; the history keeps the old path). Set-based: the few distinct paths are mapped here, the
    rows are rewritten and recorded by SQL. Returns rows changed per table."""
    tables = _tables(cur)
    counts: dict[str, int] = {}
    moved = list(moved_nodes)
    leaf_frame = pd.DataFrame({"pid": list((product_leaf or {}).keys()),
                               "target": pd.Series(list((product_leaf or {}).values()), dtype=object)})
    with registered(cur, "_tx_leaf", leaf_frame):
        cur.execute("CREATE OR REPLACE TEMP TABLE _tx_touched (tbl VARCHAR, row_key VARCHAR)")
        try:
            for table, keys, cols in ROW_TABLES:
                if table not in tables:
                    continue
                present = {r[0] for r in cur.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
                cols = tuple(c for c in cols if c in present)
                if not cols or not set(keys) <= present:
                    continue
                per_table = 0
                for col in cols:
                    values = [r[0] for r in cur.execute(f'SELECT DISTINCT "{col}" FROM "{table}" '
                                                        f'WHERE "{col}" IS NOT NULL').fetchall()]
                    per_product = (table, col) in PRODUCT_LABEL_COLUMNS and bool(moved) and "product_id" in present \
                        and len(leaf_frame) > 0
                    mapped = {v: map_path(v, path_map) for v in values}
                    mapped = {v: n for v, n in mapped.items() if n != v}
                    if not mapped and not (per_product and set(moved) & set(values)):
                        continue
                    per_table = max(per_table, _rewrite_column(cur, version, table, keys, col, mapped,
                                                               moved if per_product else []))
                if per_table:
                    counts[table] = int(cur.execute("SELECT count(DISTINCT row_key) FROM _tx_touched WHERE tbl = ?",
                                                    [table]).fetchall()[0][0])
        finally:
            cur.execute("DROP TABLE IF EXISTS _tx_touched")
    return counts


def _rewrite_column(cur, version: int, table: str, keys: Sequence[str], col: str, mapped: Mapping[str, str],
                    moved: Sequence[str]) -> int:
    """One column of one table: values in ``mapped`` (old -> new) follow it; with ``moved``, rows
    of those values follow ``_tx_leaf`` (pid, target) by product. Returns the rows rewritten."""
    pairs = pd.DataFrame({"old": list(mapped), "new": pd.Series(list(mapped.values()), dtype=object)})
    with registered(cur, "_tx_map", pairs):
        keep_none = table == "products"  # a product loses its leaf; a history row keeps its old path
        key_cols = ", ".join(f't."{k}"' for k in keys)
        key_json = "json_object(" + ", ".join(f"'{k}', CAST(t.\"{k}\" AS VARCHAR)" for k in keys) + ")"
        if moved:
            per = (f'LEFT JOIN _tx_leaf p ON CAST(t."product_id" AS VARCHAR) = p.pid '
                   f'AND t."{col}" IN (SELECT unnest(?))')
            new = (f"CASE WHEN p.pid IS NOT NULL AND (p.target IS NOT NULL OR {str(keep_none).upper()}) "
                   f'THEN p.target ELSE coalesce(m.new, t."{col}") END')
            params = [list(moved)]
        else:
            per, new, params = "", f'coalesce(m.new, t."{col}")', []
        # table and column names come from this module's constants, never from input
        cur.execute(f'CREATE OR REPLACE TEMP TABLE _tx_changes AS SELECT {key_cols}, {key_json} AS row_key, '
                    f't."{col}" AS old, {new} AS new FROM "{table}" t LEFT JOIN _tx_map m ON t."{col}" = m.old {per} '
                    f'WHERE t."{col}" IS NOT NULL AND (m.old IS NOT NULL'
                    f'{" OR p.pid IS NOT NULL" if moved else ""})', params)
        cur.execute("DELETE FROM _tx_changes WHERE new IS NOT DISTINCT FROM old")
        n = int(cur.execute("SELECT count(*) FROM _tx_changes").fetchall()[0][0])
        if n:
            join = " AND ".join(f't."{k}" = c."{k}"' for k in keys)
            cur.execute(f'UPDATE "{table}" AS t SET "{col}" = c.new FROM _tx_changes c WHERE {join} '
                        f'AND t."{col}" IS NOT DISTINCT FROM c.old')
            cur.execute("INSERT INTO taxonomy_rewrites (version, tbl, row_key, col, old_value, new_value) "
                        "SELECT ?, ?, row_key, ?, old, new FROM _tx_changes", [version, table, col])
            cur.execute("INSERT INTO _tx_touched SELECT ?, row_key FROM _tx_changes", [table])
        cur.execute("DROP TABLE _tx_changes")
        return n


def _products_follow(cur, version: int, product_leaf: Mapping[str, str | None]) -> None:
    """A product moved by a split or retire: its catalog path follows its new leaf, and a product
    left without a leaf is left without a label source too (it waits in the review queue)."""
    if not product_leaf:
        return
    ids = list(product_leaf)
    rows = cur.execute("SELECT product_id, category_path, label_source FROM products "
                       "WHERE product_id IN (SELECT unnest(?))", [ids]).fetchall()
    path_rows, path_old, path_new, src_rows, src_old, src_new = [], [], [], [], [], []
    for pid, path, source in rows:
        leaf = product_leaf[str(pid)]
        if leaf is None:
            if path is not None and source != "human":
                path_rows.append((pid,)), path_old.append(path), path_new.append(None)
            if source is not None:
                src_rows.append((pid,)), src_old.append(source), src_new.append(None)
        elif source != "human" and path != leaf:
            path_rows.append((pid,)), path_old.append(path), path_new.append(leaf)
    for col, keep, old, new in (("category_path", path_rows, path_old, path_new),
                                ("label_source", src_rows, src_old, src_new)):
        frame = _frame(("product_id",), keep, old, new)
        _update(cur, "products", ("product_id",), col, frame)
        _record(cur, version, "products", ("product_id",), col, frame)


def _queue(cur, version: int, product_ids: Sequence[str], reason: str, old_leaf: Mapping[str, str],
           detail: Mapping[str, Any]) -> int:
    """Put products in today's review queue with ``reason`` (an item already there gets the
    reason added and becomes pending again); recorded so an undo takes them out."""
    if not product_ids:
        return 0
    day = utc_now().date()
    existing = {str(r[0]): (r[1], r[2]) for r in cur.execute(
        "SELECT product_id, reason, status FROM review_queue WHERE queue_date = ? "
        "AND product_id IN (SELECT unnest(?))", [day, list(product_ids)]).fetchall()}
    rank = int(cur.execute("SELECT coalesce(max(rank), 0) FROM review_queue WHERE queue_date = ?",
                           [day]).fetchall()[0][0])
    now = utc_now()
    inserted = []
    for pid in product_ids:
        info = json.dumps({reason: {**detail, "old leaf": old_leaf.get(pid)}})
        if pid in existing:
            reason_old, status_old = existing[pid]
            reasons = ",".join(dict.fromkeys([*(reason_old or "").split(","), reason]).keys()).strip(",")
            for col, old, new in (("reason", reason_old, reasons), ("status", status_old, "pending")):
                frame = _frame(("queue_date", "product_id"), [(day, pid)], [old], [new])
                _update(cur, "review_queue", ("queue_date", "product_id"), col, frame)
                _record(cur, version, "review_queue", ("queue_date", "product_id"), col, frame)
            continue
        rank += 1
        inserted.append((day, pid, reason, rank, "pending", None, old_leaf.get(pid), None, False, info,
                         None, None, now))
    if inserted:  # one statement over a frame: executemany goes row by row
        columns = ["queue_date", "product_id", "reason", "rank", "status", "run_id", "predicted_leaf", "proba",
                   "in_random", "detail", "claimed_by", "claimed_at", "built_at"]
        frame = pd.DataFrame(inserted, columns=columns).astype(
            {"run_id": object, "proba": float, "claimed_by": object, "claimed_at": "datetime64[us]"})
        with registered(cur, "_tx_queue", frame):
            cur.execute(f"INSERT INTO review_queue ({', '.join(columns)}) SELECT {', '.join(columns)} FROM _tx_queue")
        frame = _frame(("queue_date", "product_id"), [(r[0], r[1]) for r in inserted],
                       [None] * len(inserted), ["inserted"] * len(inserted))
        _record(cur, version, "review_queue", ("queue_date", "product_id"), "__row__", frame)
    return len(product_ids)


def _snapshot(cur) -> dict[str, list[dict]]:
    tables = _tables(cur)
    out = {}
    for table in SNAPSHOT_TABLES:
        if table in tables:
            frame = cur.execute(f'SELECT * FROM "{table}"').df()  # fixed names
            out[table] = json.loads(frame.to_json(orient="records", date_format="iso"))
    return out


def _restore(cur, table: str, rows: list[dict]) -> None:
    cur.execute(f'DELETE FROM "{table}"')  # fixed names
    if not rows:
        return
    frame = pd.DataFrame(rows)
    for col in frame.columns:
        if frame[col].map(lambda v: isinstance(v, (dict, list))).any():
            frame[col] = frame[col].map(lambda v: None if v is None else json.dumps(v))
    insert_frame(cur, f'"{table}"', frame, name="_tx_restore")


def _write_categories(cur, nodes: Sequence[str], level_names: Sequence[str]) -> None:
    """The ``categories`` table of a node list, with products per node from ``products.leaf``."""
    taxonomy = Taxonomy.from_node_ids(nodes, level_names)
    counts = {str(leaf): int(n) for leaf, n in cur.execute(
        "SELECT leaf, count(*) FROM products WHERE leaf IS NOT NULL GROUP BY leaf").fetchall()}
    frame = taxonomy.to_frame({k: v for k, v in counts.items() if k in taxonomy})
    cur.execute("DELETE FROM categories")
    insert_frame(cur, "categories", frame, name="_tx_categories")


def _effective(threshold_rows: pd.DataFrame, node: str, taxonomy: Taxonomy) -> float | None:
    glob = threshold_rows.loc[threshold_rows["scope"] == "global", "threshold"]
    cats = threshold_rows[threshold_rows["scope"] == "category"]
    overrides = dict(zip(cats["node"], cats["threshold"]))
    for anc in reversed(taxonomy.ancestors(node)):
        if anc in overrides:
            return float(overrides[anc])
    return float(glob.iloc[0]) if len(glob) else None


def _write_thresholds(cur, version: int, frame: pd.DataFrame, by: str) -> None:
    cur.execute("DELETE FROM thresholds")
    if frame.empty:
        return
    frame = frame.copy()
    with registered(cur, "_tx_thresholds", frame):
        cur.execute("INSERT INTO thresholds BY NAME SELECT * FROM _tx_thresholds")
        history = cur.execute("SELECT coalesce(max(version), 0) + 1 FROM threshold_history").fetchall()[0][0]
        cur.execute("INSERT INTO threshold_history (version, scope, node, threshold, published_by, published_at, "
                    "run_id) SELECT ?, scope, node, threshold, ?, ?, run_id FROM _tx_thresholds",
                    [history, f"{by} (taxonomy version {version})", utc_now()])
