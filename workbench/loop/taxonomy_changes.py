"""Taxonomy changes without losing work: rename, move, merge, split, add and retire categories,
each recorded with who and when, each reversible.

Categories keep being identified by their full paths; a change **rewrites every stored path in
one transaction** and records what it rewrote:

* row by row (``taxonomy_rewrites``: table, row key, column, old and new value): products
  (``leaf``, ``category_path``, ``label_source``), the label history, reviews, the review queue,
  classifications, label-issue results, gold items and answers, API feedback;
* as a snapshot in the change's row (small tables): the categories, the rare-leaf merges, the
  published thresholds (a new ``threshold_history`` version when they change) and the
  standard-taxonomy mappings.

A run's own records (predictions, evaluation tables, ``classes.json``, department models) are the
run's and stay in the taxonomy it was trained on; the one predictor reads them through the
change map (:mod:`workbench.catalog.taxonomy_versions`), so an old run answers with current
paths.

What each operation does to products: rename and move carry a subtree; merge sends the sources'
products to the target (thresholds: the stricter); split places a leaf's products in new
children by a rule (keywords, a mapping, or a run's predictions restricted to the children) and
sends the rest to the review queue with the reason ``taxonomy split`` (a threshold override of
the leaf is inherited by the children and flagged); retire moves a leaf's products to its parent
when the parent becomes a leaf (the retired leaf was its only child), else to the review queue
with the reason ``category retired``. No product is lost: products are never deleted.

Undo takes back the newest change in force (undo is itself a change, with its own version):
every recorded value is restored, paths written since the change are mapped back where the
inverse is a path map (rename, move, split), and the snapshots are restored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd

from workbench.catalog.taxonomy import SEP, Taxonomy, node_id, split_node_id
from workbench.catalog.taxonomy_versions import change_log, current_version, map_path, under_any
from workbench.errors import WorkbenchError
from workbench.loop.labels import utc_now
from workbench.loop.review_queue import TAXONOMY_REASONS
from workbench.store import Workspace

TAXONOMY_SPLIT, CATEGORY_RETIRED = TAXONOMY_REASONS
OPS = ("rename", "move", "merge", "split", "add", "retire", "undo")

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
_KEEP = object()


@dataclass
class TaxonomyChange:
    """One recorded change: its ``version``, operation, what it did (``counts``), the node map
    (``path_map``: old -> new), ``flags`` for a person to check, and the products it queued."""

    version: int
    op: str
    arguments: dict
    path_map: dict[str, str]
    counts: dict[str, int]
    flags: list[str] = field(default_factory=list)
    by: str = ""

    def __str__(self) -> str:
        moved = ", ".join(f"{k}: {v:,}" for k, v in self.counts.items() if v)
        lines = [f"taxonomy version {self.version}: {self.op} {_describe(self.op, self.arguments)} "
                 f"by {self.by} ({moved or 'no stored path changed'})"]
        lines += [f"  check: {f}" for f in self.flags]
        return "\n".join(lines)


def _describe(op: str, args: Mapping) -> str:
    if op == "rename":
        return f"{args['node']!r} to {args['name']!r}"
    if op == "move":
        return f"{args['node']!r} under {args['parent'] or '(top level)'!r}"
    if op == "merge":
        return f"{', '.join(map(repr, args['sources']))} into {args['into']!r}"
    if op == "split":
        return f"{args['node']!r} into {', '.join(map(repr, args['children']))} by {args['rule']}"
    if op in ("add", "retire"):
        return repr(args["node"])
    if op == "undo":
        return f"version {args['version']}"
    return json.dumps(args)


# reading the workspace ------------------------------------------------------------------------

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


def _check_not_pinned(cur) -> None:
    from workbench.catalog.pinned_taxonomy import pinned_spec

    spec = pinned_spec(cur)
    if spec is not None:
        raise WorkbenchError(f"this workspace's taxonomy is the pinned {spec['kind']} tree (cold start), which "
                             "follows its source at every rebuild; pin the new version with `workbench cold-start` "
                             "instead of changing it here")


def _check_by(by: str) -> str:
    by = str(by or "").strip()
    if not by:
        raise WorkbenchError("say who changes the taxonomy (by='name', --by NAME)")
    return by


def _check_name(name: str) -> str:
    name = str(name or "").strip()
    if not name:
        raise WorkbenchError("a category name cannot be empty; give the new name")
    if SEP in name:
        raise WorkbenchError(f"a category name cannot contain {SEP!r} ({name!r}); give one name, "
                             "not a path (use `move` to change the parent)")
    return name


def _known(taxonomy: Taxonomy, node: str) -> str:
    node = str(node).strip()
    if node not in taxonomy:
        close = [n for n in taxonomy.nodes if n.lower().endswith(node.split(SEP)[-1].lower())][:3]
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else \
            " (paths as `workbench info` or `workbench taxonomy show` print them)"
        raise WorkbenchError(f"unknown category {node!r}{hint}")
    return node


# the engine: rewrite every stored path in one transaction ----------------------------------

def _key_json(keys: Sequence[str], values: Sequence[Any]) -> str:
    return json.dumps({k: (None if v is None else str(v)) for k, v in zip(keys, values)}, sort_keys=True)


def _update(cur, table: str, keys: Sequence[str], col: str, frame: pd.DataFrame) -> None:
    """``UPDATE table SET col = new`` for rows of ``frame`` (key columns as text, ``old``, ``new``)."""
    if frame.empty:
        return
    cur.register("_tx_rows", frame)
    try:
        join = " AND ".join(f'CAST(t."{k}" AS VARCHAR) = _tx_rows."k_{k}"' for k in keys)
        # table and column names come from this module's constants, never from input
        cur.execute(f'UPDATE "{table}" AS t SET "{col}" = _tx_rows.new FROM _tx_rows '
                    f'WHERE {join} AND t."{col}" IS NOT DISTINCT FROM _tx_rows.old').fetchall()
    finally:
        cur.unregister("_tx_rows")


def _record(cur, version: int, table: str, keys: Sequence[str], col: str, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    rows = pd.DataFrame({
        "version": version, "tbl": table,
        "row_key": [_key_json(keys, vals) for vals in frame[[f"k_{k}" for k in keys]].itertuples(index=False)],
        "col": col, "old_value": frame["old"].astype(object), "new_value": frame["new"].astype(object)})
    cur.register("_tx_record", rows)
    try:
        cur.execute("INSERT INTO taxonomy_rewrites BY NAME SELECT * FROM _tx_record")
    finally:
        cur.unregister("_tx_record")


def _frame(keys, rows, old, new) -> pd.DataFrame:
    data = {f"k_{k}": [None if r[i] is None else str(r[i]) for r in rows] for i, k in enumerate(keys)}
    data["old"] = pd.Series(old, dtype=object)
    data["new"] = pd.Series(new, dtype=object)
    return pd.DataFrame(data)


def _rewrite_rows(cur, version: int, path_map: Mapping[str, str],
                  product_leaf: Mapping[str, str | None] | None = None,
                  moved_nodes: Sequence[str] = ()) -> dict[str, int]:
    """Rewrite the path columns of :data:`ROW_TABLES` under ``path_map``; a product's own label
    on one of ``moved_nodes`` follows ``product_leaf`` instead. Returns rows changed per table."""
    tables = _tables(cur)
    counts: dict[str, int] = {}
    product_leaf = product_leaf or {}
    for table, keys, cols in ROW_TABLES:
        if table not in tables:
            continue
        present = {r[0] for r in cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
        cols = tuple(c for c in cols if c in present)
        if not cols or not set(keys) <= present:
            continue
        touched: set[str] = set()
        for col in cols:
            values = [r[0] for r in cur.execute(f'SELECT DISTINCT "{col}" FROM "{table}" '
                                                f'WHERE "{col}" IS NOT NULL').fetchall()]
            hit = [v for v in values if map_path(v, path_map) != v or under_any(v, moved_nodes) is not None]
            if not hit:
                continue
            pid_col = "product_id" if "product_id" in present else None
            select = ", ".join(f'"{k}"' for k in keys) + f', "{col}"' + (', "product_id"' if pid_col else "")
            rows = cur.execute(f'SELECT {select} FROM "{table}" WHERE "{col}" IN (SELECT unnest(?))',
                               [hit]).fetchall()
            per_product = (table, col) in PRODUCT_LABEL_COLUMNS
            keep, old, new = [], [], []
            for row in rows:
                value = row[len(keys)]
                target: Any = _KEEP
                if per_product and moved_nodes and value in moved_nodes and pid_col:
                    pid = str(row[-1])
                    if pid in product_leaf:
                        target = product_leaf[pid]
                        if target is None and table != "products":
                            target = _KEEP  # the history keeps the old path; the product is queued
                if target is _KEEP:
                    target = map_path(value, path_map)
                if target != value:
                    keep.append(row)
                    old.append(value)
                    new.append(target)
            frame = _frame(keys, keep, old, new)
            _update(cur, table, keys, col, frame)
            _record(cur, version, table, keys, col, frame)
            touched |= {json.dumps(r[:len(keys)], default=str) for r in keep}
        if touched:
            counts[table] = len(touched)
    return counts


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
    if inserted:
        cur.executemany("INSERT INTO review_queue (queue_date, product_id, reason, rank, status, run_id, "
                        "predicted_leaf, proba, in_random, detail, claimed_by, claimed_at, built_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", inserted)
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
    cur.register("_tx_restore", frame)
    try:
        cur.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM _tx_restore')
    finally:
        cur.unregister("_tx_restore")


def _write_categories(cur, nodes: Sequence[str], level_names: Sequence[str]) -> None:
    """The ``categories`` table of a node list, with products per node from ``products.leaf``."""
    taxonomy = Taxonomy.from_node_ids(nodes, level_names)
    counts = {str(leaf): int(n) for leaf, n in cur.execute(
        "SELECT leaf, count(*) FROM products WHERE leaf IS NOT NULL GROUP BY leaf").fetchall()}
    frame = taxonomy.to_frame({k: v for k, v in counts.items() if k in taxonomy})
    cur.execute("DELETE FROM categories")
    cur.register("_tx_categories", frame)
    try:
        cur.execute("INSERT INTO categories BY NAME SELECT * FROM _tx_categories")
    finally:
        cur.unregister("_tx_categories")


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
    cur.register("_tx_thresholds", frame)
    try:
        cur.execute("INSERT INTO thresholds BY NAME SELECT * FROM _tx_thresholds")
        history = cur.execute("SELECT coalesce(max(version), 0) + 1 FROM threshold_history").fetchall()[0][0]
        cur.execute("INSERT INTO threshold_history (version, scope, node, threshold, published_by, published_at, "
                    "run_id) SELECT ?, scope, node, threshold, ?, ?, run_id FROM _tx_thresholds",
                    [history, f"{by} (taxonomy version {version})", utc_now()])
    finally:
        cur.unregister("_tx_thresholds")


@dataclass
class _Plan:
    """What one operation changes, computed before the transaction writes."""

    op: str
    arguments: dict
    path_map: dict[str, str]
    nodes: list[str]                                    # the new taxonomy's nodes
    review_nodes: list[str] = field(default_factory=list)
    product_leaf: dict[str, str | None] = field(default_factory=dict)
    moved_nodes: list[str] = field(default_factory=list)
    queue_reason: str | None = None
    thresholds: Callable[[pd.DataFrame, Taxonomy], tuple[pd.DataFrame, list[str]]] | None = None
    mappings_drop: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


def _map_thresholds(path_map: Mapping[str, str]):
    def apply(frame: pd.DataFrame, taxonomy: Taxonomy) -> tuple[pd.DataFrame, list[str]]:
        frame = frame.copy()
        frame["node"] = [map_path(n, path_map) if isinstance(n, str) else n for n in frame["node"]]
        return frame, []
    return apply


def _apply(ws: Workspace, build: Callable[[duckdb.DuckDBPyConnection, Taxonomy], _Plan], by: str) -> TaxonomyChange:
    """Plan and write one change in one transaction."""
    by = _check_by(by)
    with ws.transaction() as cur:
        _check_not_pinned(cur)
        taxonomy = _taxonomy(cur)
        plan = build(cur, taxonomy)
        level_names = _level_names(cur, taxonomy)
        version = int(cur.execute("SELECT coalesce(max(version), 0) + 1 FROM taxonomy_changes").fetchall()[0][0])
        snapshot = _snapshot(cur)
        counts = _rewrite_rows(cur, version, plan.path_map, plan.product_leaf, plan.moved_nodes)
        _products_follow(cur, version, plan.product_leaf)
        queued_ids = [pid for pid, leaf in plan.product_leaf.items() if leaf is None]
        if plan.queue_reason:
            old_leaf = {pid: plan.moved_nodes[0] for pid in queued_ids}
            counts["queued"] = _queue(cur, version, queued_ids, plan.queue_reason, old_leaf,
                                      {"version": version, "op": plan.op, "by": by})
        counts["products moved"] = sum(1 for leaf in plan.product_leaf.values() if leaf is not None)
        flags = list(plan.flags)
        # the small tables
        thresholds = cur.execute("SELECT * FROM thresholds").df()
        if len(thresholds):
            new, notes = (plan.thresholds or _map_thresholds(plan.path_map))(thresholds, taxonomy)
            flags += notes
            if not new.reset_index(drop=True).equals(thresholds.reset_index(drop=True)):
                _write_thresholds(cur, version, new, by)
                counts["thresholds"] = int(len(new))
        tables = _tables(cur)
        if "taxonomy_mappings" in tables:
            maps = cur.execute("SELECT * FROM taxonomy_mappings").df()
            if len(maps):
                maps = maps[~maps["catalog_node"].isin(plan.mappings_drop)].copy()
                maps["_same"] = [map_path(n, plan.path_map) == n for n in maps["catalog_node"]]
                maps["catalog_node"] = [map_path(n, plan.path_map) for n in maps["catalog_node"]]
                maps = maps.sort_values("_same", ascending=False).drop_duplicates(
                    ["catalog_node", "target_kind"]).drop(columns="_same")
                _restore(cur, "taxonomy_mappings", json.loads(maps.to_json(orient="records", date_format="iso")))
        merges = cur.execute("SELECT * FROM category_merges").df()
        if len(merges):
            merges["original"] = [map_path(n, plan.path_map) for n in merges["original"]]
            merges["merged_into"] = [map_path(n, plan.path_map) for n in merges["merged_into"]]
            _restore(cur, "category_merges", json.loads(merges.drop_duplicates("original").to_json(orient="records")))
        _write_categories(cur, plan.nodes, level_names)
        cur.execute(
            "INSERT INTO taxonomy_changes (version, op, arguments, path_map, review_nodes, flags, counts, snapshot, "
            "actor, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [version, plan.op, json.dumps(plan.arguments), json.dumps(plan.path_map), json.dumps(plan.review_nodes),
             json.dumps(flags), json.dumps(counts), json.dumps(snapshot, default=str), by, utc_now()])
    return TaxonomyChange(version, plan.op, plan.arguments, plan.path_map, counts, flags, by)


def _mapped_nodes(taxonomy: Taxonomy, path_map: Mapping[str, str]) -> list[str]:
    return list(dict.fromkeys(map_path(n, path_map) for n in taxonomy.nodes))


# the operations -------------------------------------------------------------------------------

def rename(ws: Workspace, node: str, name: str, *, by: str) -> TaxonomyChange:
    """Give a category (and so its whole subtree's paths) a new last name."""
    def build(cur, taxonomy: Taxonomy) -> _Plan:
        old = _known(taxonomy, node)
        new_name = _check_name(name)
        new = node_id((*split_node_id(old)[:-1], new_name))
        if new == old:
            raise WorkbenchError(f"{old!r} already has the name {new_name!r}")
        if new in taxonomy:
            raise WorkbenchError(f"{new!r} exists already; merge the two with `workbench taxonomy merge` instead")
        path_map = {old: new}
        return _Plan("rename", {"node": old, "name": new_name}, path_map, _mapped_nodes(taxonomy, path_map))
    return _apply(ws, build, by)


def move(ws: Workspace, node: str, parent: str | None, *, by: str) -> TaxonomyChange:
    """Move a category with its subtree under another parent (``None`` or ``""``: the top level)."""
    def build(cur, taxonomy: Taxonomy) -> _Plan:
        old = _known(taxonomy, node)
        target = _known(taxonomy, parent) if parent else None
        if target is not None and (target == old or target.startswith(old + SEP)):
            raise WorkbenchError(f"cannot move {old!r} under its own subtree ({target!r})")
        if target is not None and taxonomy.is_leaf(target) and _n_products(cur, target):
            raise WorkbenchError(f"{target!r} is a leaf holding products; split it or move under another parent")
        new = node_id((*(split_node_id(target) if target else ()), taxonomy.name(old)))
        if new == old:
            raise WorkbenchError(f"{old!r} is already under {target or 'the top level'!r}")
        if new in taxonomy:
            raise WorkbenchError(f"{new!r} exists already; merge the two with `workbench taxonomy merge` instead")
        path_map = {old: new}
        return _Plan("move", {"node": old, "parent": target}, path_map, _mapped_nodes(taxonomy, path_map))
    return _apply(ws, build, by)


def _n_products(cur, node: str) -> int:
    return int(cur.execute("SELECT count(*) FROM products WHERE leaf = ? OR starts_with(leaf, ?)",
                           [node, node + SEP]).fetchall()[0][0])


def merge(ws: Workspace, sources: Sequence[str], into: str, *, by: str) -> TaxonomyChange:
    """Merge categories into one: the sources' products (or, for internal nodes, their
    children) go to ``into``, which is one of them or a new sibling path; a threshold override
    becomes the stricter (higher) of the merged categories' thresholds."""
    def build(cur, taxonomy: Taxonomy) -> _Plan:
        nodes = list(dict.fromkeys(_known(taxonomy, s) for s in sources))
        target = str(into).strip()
        if not target:
            raise WorkbenchError("say which category the merge goes into (--into PATH)")
        if target not in taxonomy and target not in nodes:
            for part in split_node_id(target):
                _check_name(part)
            parent = node_id(split_node_id(target)[:-1])
            if parent and parent not in taxonomy:
                raise WorkbenchError(f"the parent of {target!r} does not exist; add it first or merge into an "
                                     "existing category")
        everything = [*nodes, target] if target in taxonomy else nodes
        leaves = {taxonomy.is_leaf(n) for n in everything}
        if len(leaves) > 1:
            raise WorkbenchError("merge leaves with leaves, or parents with parents (their children are then "
                                 f"joined): {', '.join(repr(n) for n in everything)} mix both")
        sources_only = [n for n in nodes if n != target]
        if not sources_only:
            raise WorkbenchError("name at least one category besides the one merged into")
        for n in sources_only:
            if target.startswith(n + SEP):
                raise WorkbenchError(f"cannot merge {n!r} into its own subtree")
        path_map = {n: target for n in sources_only}

        def thresholds(frame: pd.DataFrame, tax: Taxonomy):
            cats = frame[frame["scope"] == "category"]
            explicit = [n for n in everything if n in set(cats["node"])]
            out = frame.copy()
            out["node"] = [map_path(n, path_map) if isinstance(n, str) else n for n in out["node"]]
            if not explicit:
                return out.drop_duplicates(["scope", "node"]), []
            values = [v for v in (_effective(frame, n, tax) for n in everything) if v is not None]
            stricter = max(values)
            out = out[~((out["scope"] == "category") & (out["node"] == target))]
            template = frame[frame["scope"] == "category"].iloc[[0]].copy()
            template["node"], template["threshold"] = target, stricter
            out = pd.concat([out, template], ignore_index=True)
            return out, [f"threshold of {target!r} is now {stricter:g}, the stricter of the merged categories'"]

        plan = _Plan("merge", {"sources": sources_only, "into": target}, path_map,
                     _mapped_nodes(taxonomy, path_map), thresholds=thresholds)
        return plan
    return _apply(ws, build, by)


def _word_rule(keywords: Mapping[str, Sequence[str]]) -> dict[str, re.Pattern]:
    out = {}
    for child, words in keywords.items():
        words = [str(w).strip() for w in words if str(w).strip()]
        if not words:
            raise WorkbenchError(f"the keyword rule gives no keyword for {child!r}; give at least one")
        out[child] = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)
    return out


def split(ws: Workspace, node: str, children: Sequence[str], *, by: str,
          keywords: Mapping[str, Sequence[str]] | None = None, mapping: Mapping[str, str] | None = None,
          run: str | None = None, min_confidence: float = 0.5) -> TaxonomyChange:
    """Split a leaf into new children. The rule that places its products is one of ``keywords``
    (``{child: [words]}``: a title or description holding a word of exactly one child goes
    there), ``mapping`` (``{product_id: child}``, from a notebook) or ``run`` (that run's
    predictions restricted to the children: the most probable child with at least
    ``min_confidence`` of the children's probability). Products the rule cannot place go to the
    review queue with the reason ``taxonomy split``; a threshold override of the leaf now
    covers its children (inherited) and is flagged."""
    rules = [r for r in (keywords, mapping, run) if r]
    if len(rules) != 1:
        raise WorkbenchError("a split takes one rule: keywords (--keywords CHILD=word,word), a mapping "
                             "(--mapping FILE.csv of product_id,child) or a run (--run RUN)")
    names = [_check_name(c) for c in children]
    if len(names) < 2 or len(set(names)) != len(names):
        raise WorkbenchError(f"a split needs at least two distinct children, got {names}")

    def build(cur, taxonomy: Taxonomy) -> _Plan:
        leaf = _known(taxonomy, node)
        if not taxonomy.is_leaf(leaf):
            raise WorkbenchError(f"{leaf!r} has children already; split one of its leaves, or add a child")
        paths = {n: node_id((*split_node_id(leaf), n)) for n in names}
        products = cur.execute("SELECT product_id, title, description FROM products WHERE leaf = ? "
                               "ORDER BY product_id", [leaf]).df()
        if keywords:
            unknown = sorted(set(keywords) - set(names))
            if unknown:
                raise WorkbenchError(f"keywords for {unknown}, which are not among the children {names}")
            patterns = _word_rule(keywords)
            placed = {}
            for pid, title, desc in products.itertuples(index=False):
                text = f"{title or ''} {desc or ''}"
                hits = [c for c, p in patterns.items() if p.search(text)]
                placed[str(pid)] = paths[hits[0]] if len(hits) == 1 else None
            rule = "keywords"
        elif mapping:
            bad = sorted({str(c) for c in mapping.values()} - set(names))
            if bad:
                raise WorkbenchError(f"the mapping names {bad[:3]}, which are not among the children {names}")
            placed = {str(pid): paths.get(str(mapping.get(str(pid)))) if str(pid) in mapping else None
                      for pid in products["product_id"]}
            rule = "mapping"
        else:
            placed = _place_by_run(ws, cur, str(run), products, paths, min_confidence)
            rule = f"run {run}"
        level_names = _level_names(cur, taxonomy)
        nodes = [*taxonomy.nodes, *paths.values()]
        Taxonomy.from_node_ids(nodes, level_names)  # checks the new tree
        placed_n = sum(v is not None for v in placed.values())
        return _Plan("split", {"node": leaf, "children": names, "rule": rule}, {}, nodes,
                     review_nodes=[leaf], product_leaf=placed, moved_nodes=[leaf], queue_reason=TAXONOMY_SPLIT,
                     thresholds=_inherit(leaf),
                     flags=[f"{placed_n:,} of {len(placed):,} products placed by the rule; the rest wait in "
                            f"the review queue ({TAXONOMY_SPLIT!r})"])
    return _apply(ws, build, by)


def _inherit(leaf: str):
    def apply(frame: pd.DataFrame, taxonomy: Taxonomy):
        has = ((frame["scope"] == "category") & (frame["node"] == leaf)).any()
        return frame.copy(), ([f"threshold override of {leaf!r} is inherited by its new children; review it"]
                              if has else [])
    return apply


def _place_by_run(ws: Workspace, cur, run_id: str, products: pd.DataFrame, paths: Mapping[str, str],
                  min_confidence: float) -> dict[str, str | None]:
    """Each product's most probable new child under a run (its classes named like the
    children, by full path or by last name), or ``None`` below ``min_confidence``."""
    from workbench.runs.predictor import Predictor, run_model

    model = run_model(ws, run_id)
    classes = [str(c) for c in model.classes_]
    columns = {}
    for name, path in paths.items():
        match = [i for i, c in enumerate(classes) if c == path or c.split(SEP)[-1].strip().lower() == name.lower()]
        if match:
            columns[path] = match
    if not columns:
        raise WorkbenchError(f"run {run_id} knows none of the children {list(paths)}; train a run that has "
                             "them, or split by keywords or a mapping")
    if products.empty:
        return {}
    full = cur.execute("SELECT product_id, title, description, brand, price, department, extra FROM products "
                       "WHERE product_id IN (SELECT unnest(?)) ORDER BY product_id",
                       [products["product_id"].tolist()]).df()
    predictor = Predictor(model, run_id, Taxonomy.from_node_ids(classes))
    proba = predictor.score(predictor.frame(full))
    targets = list(columns)
    scores = np.stack([proba[:, columns[t]].sum(axis=1) for t in targets], axis=1)
    share = scores / np.clip(scores.sum(axis=1, keepdims=True), 1e-12, None)
    best = share.argmax(axis=1)
    return {str(pid): (targets[b] if share[i, b] >= min_confidence else None)
            for i, (pid, b) in enumerate(zip(full["product_id"], best))}


def add(ws: Workspace, node: str, *, by: str) -> TaxonomyChange:
    """Add an empty category (a full path whose parent exists, or a new top-level name)."""
    def build(cur, taxonomy: Taxonomy) -> _Plan:
        path = split_node_id(str(node).strip())
        for part in path:
            _check_name(part)
        new = node_id(path)
        if new in taxonomy:
            raise WorkbenchError(f"{new!r} exists already")
        parent = node_id(path[:-1])
        if parent and parent not in taxonomy:
            raise WorkbenchError(f"the parent {parent!r} does not exist; add it first")
        if parent and taxonomy.is_leaf(parent) and _n_products(cur, parent):
            raise WorkbenchError(f"{parent!r} is a leaf holding {_n_products(cur, parent):,} products; split it "
                                 "into children instead, so its products are placed")
        return _Plan("add", {"node": new}, {}, [*taxonomy.nodes, new])
    return _apply(ws, build, by)


def retire(ws: Workspace, node: str, *, by: str) -> TaxonomyChange:
    """Retire a leaf: its products go to the parent when the parent becomes a leaf (the retired
    one was its only child), else to the review queue with the reason ``category retired``."""
    def build(cur, taxonomy: Taxonomy) -> _Plan:
        leaf = _known(taxonomy, node)
        if not taxonomy.is_leaf(leaf):
            raise WorkbenchError(f"{leaf!r} has children; retire or merge its leaves first")
        parent = taxonomy.parent(leaf)
        nodes = [n for n in taxonomy.nodes if n != leaf]
        if not nodes:
            raise WorkbenchError("cannot retire the only category of the taxonomy")
        if parent is not None and not taxonomy.siblings(leaf):
            path_map = {leaf: parent}
            return _Plan("retire", {"node": leaf, "to": parent}, path_map, nodes,
                         thresholds=_drop_threshold(leaf, path_map), mappings_drop=[leaf])
        ids = [str(r[0]) for r in cur.execute("SELECT product_id FROM products WHERE leaf = ? ORDER BY product_id",
                                              [leaf]).fetchall()]
        return _Plan("retire", {"node": leaf, "to": "review queue"}, {}, nodes, review_nodes=[leaf],
                     product_leaf={pid: None for pid in ids}, moved_nodes=[leaf], queue_reason=CATEGORY_RETIRED,
                     thresholds=_drop_threshold(leaf, {}), mappings_drop=[leaf])
    return _apply(ws, build, by)


def _drop_threshold(leaf: str, path_map: Mapping[str, str]):
    def apply(frame: pd.DataFrame, taxonomy: Taxonomy):
        has = (frame["scope"] == "category") & (frame["node"] == leaf)
        out = frame[~has].copy()
        out["node"] = [map_path(n, path_map) if isinstance(n, str) else n for n in out["node"]]
        return out, ([f"threshold override of retired {leaf!r} dropped"] if has.any() else [])
    return apply


# undo -----------------------------------------------------------------------------------------

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
            cur.register("_tx_queued", pd.DataFrame({"d": [k["queue_date"] for k in keys],
                                                     "p": [k["product_id"] for k in keys]}))
            try:
                done = cur.execute(
                    "SELECT count(*) FROM review_queue q JOIN _tx_queued k ON CAST(q.queue_date AS VARCHAR) = k.d "
                    "AND q.product_id = k.p WHERE q.status <> 'pending'").fetchall()[0][0]
            finally:
                cur.unregister("_tx_queued")
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
            parsed = [json.loads(k) for k in rows["row_key"]]
            if col == "__row__":
                frame = pd.DataFrame({f"k_{k}": [p[k] for p in parsed] for k in keys})
                cur.register("_tx_rows", frame)
                try:
                    join = " AND ".join(f'CAST(t."{k}" AS VARCHAR) = _tx_rows."k_{k}"' for k in keys)
                    cur.execute(f'DELETE FROM "{table}" AS t USING _tx_rows WHERE {join}').fetchall()
                finally:
                    cur.unregister("_tx_rows")
                counts["queue items removed"] = len(frame)
                continue
            frame = pd.DataFrame({f"k_{k}": [p[k] for p in parsed] for k in keys})
            frame["old"] = rows["new_value"].astype(object).where(rows["new_value"].notna(), None).tolist()
            frame["new"] = rows["old_value"].astype(object).where(rows["old_value"].notna(), None).tolist()
            _update(cur, table, keys, col, frame)
            _record(cur, new_version, table, keys, col, frame)
            counts[table] = counts.get(table, 0) + len(frame)
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


# the notebook entry, the history ---------------------------------------------------------------

def taxonomy_change(ws: Workspace, op: str, *args, by: str, **kwargs) -> TaxonomyChange:
    """One entry for every operation: ``wb.taxonomy_change(ws, "rename", "A > B", "C", by="ana")``,
    ``"move", NODE, PARENT``, ``"merge", [A, B], into=B``, ``"split", NODE, [C1, C2],
    keywords={...} | mapping={...} | run=RUN``, ``"add", PATH``, ``"retire", LEAF``,
    ``"undo"`` (the newest change)."""
    functions = {"rename": rename, "move": move, "merge": merge, "split": split, "add": add,
                 "retire": retire, "undo": undo}
    if op not in functions:
        raise WorkbenchError(f"unknown taxonomy operation {op!r}; use one of {', '.join(OPS)}")
    return functions[op](ws, *args, by=by, **kwargs)


def taxonomy_history(ws: Workspace) -> pd.DataFrame:
    """Every change, newest first: version, operation, what, by, when, counts, flags and which
    version undid it (a DataFrame)."""
    log = change_log(ws)
    if log.empty:
        return pd.DataFrame(columns=["version", "op", "what", "by", "at", "counts", "flags", "undone_by"])
    return pd.DataFrame({
        "version": log["version"].astype(int), "op": log["op"],
        "what": [_describe(op, json.loads(a)) for op, a in zip(log["op"], log["arguments"])],
        "by": log["actor"], "at": log["changed_at"],
        "counts": [", ".join(f"{k} {v}" for k, v in json.loads(c).items() if v) for c in log["counts"]],
        "flags": ["; ".join(json.loads(f)) for f in log["flags"]],
        "undone_by": [None if pd.isna(u) else int(u) for u in log["undone_by"]],
    }).sort_values("version", ascending=False).reset_index(drop=True)


def path_history(ws: Workspace, table: str = "reviews") -> pd.DataFrame:
    """The paths a table's rows had before each change: ``row_key, col, old_value, new_value,
    version, op`` (reviews and labels keep their old path with the change that rewrote it)."""
    return ws.df("SELECT r.row_key, r.col, r.old_value, r.new_value, r.version, c.op FROM taxonomy_rewrites r "
                 "JOIN taxonomy_changes c USING (version) WHERE r.tbl = ? ORDER BY r.version", [table])


__all__ = ["CATEGORY_RETIRED", "TAXONOMY_SPLIT", "TaxonomyChange", "add", "current_version", "merge", "move",
           "path_history", "rename", "retire", "split", "taxonomy_change", "taxonomy_history", "undo"]
