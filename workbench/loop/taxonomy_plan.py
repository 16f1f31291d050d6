"""A taxonomy change as a plan (:class:`_Plan`: the new nodes, the path map, the products a split
or retire moves or queues, the thresholds' rule) written in one transaction by :func:`_apply`,
and the :class:`TaxonomyChange` it returns; the checks of a change's input."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Mapping

import duckdb
import pandas as pd

from workbench.catalog.taxonomy import SEP, Taxonomy
from workbench.catalog.taxonomy_versions import map_path
from workbench.errors import WorkbenchError
from workbench.loop.labels import utc_now
from workbench.loop.taxonomy_rewrites import (_level_names, _products_follow, _queue, _restore, _rewrite_rows,
                                              _snapshot, _tables, _taxonomy, _write_categories, _write_thresholds)
from workbench.store import Workspace


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
    queue_detail: dict = field(default_factory=dict)     # added to each queued item's detail
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
                                      {"version": version, "op": plan.op, "by": by, **plan.queue_detail})
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
    if plan.queue_reason and counts.get("queued"):  # after the change: the one predictor reads the new map
        from workbench.loop.taxonomy_top5 import store_top5

        try:
            store_top5(ws, version, plan.queue_reason)
        except (WorkbenchError, OSError):
            pass  # the change is made; its items then show no top-5 (no usable default run)
    return TaxonomyChange(version, plan.op, plan.arguments, plan.path_map, counts, flags, by)


def _mapped_nodes(taxonomy: Taxonomy, path_map: Mapping[str, str]) -> list[str]:
    return list(dict.fromkeys(map_path(n, path_map) for n in taxonomy.nodes))


def _n_products(cur, node: str) -> int:
    return int(cur.execute("SELECT count(*) FROM products WHERE leaf = ? OR starts_with(leaf, ?)",
                           [node, node + SEP]).fetchall()[0][0])

