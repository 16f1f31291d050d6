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

The machinery (one transaction per change) is :mod:`workbench.loop.taxonomy_rewrites`, the split
:mod:`workbench.loop.taxonomy_split`, the undo :mod:`workbench.loop.taxonomy_undo`; this module
holds the other operations, the one entry :func:`taxonomy_change` and the history.
"""

from __future__ import annotations

import json
from typing import Mapping, Sequence

import pandas as pd

from workbench.catalog.taxonomy import SEP, Taxonomy, node_id, split_node_id
from workbench.catalog.taxonomy_versions import change_log, map_path
from workbench.errors import WorkbenchError
from workbench.loop.taxonomy_plan import (TaxonomyChange, _apply, _check_name, _describe, _known, _mapped_nodes,
                                          _n_products, _Plan)
from workbench.loop.taxonomy_rewrites import CATEGORY_RETIRED, _effective
from workbench.loop.taxonomy_split import split
from workbench.loop.taxonomy_undo import undo
from workbench.store import Workspace

OPS = ("rename", "move", "merge", "split", "add", "retire", "undo")


# the operations -------------------------------------------------------------------------------

def _new_path(taxonomy: Taxonomy, op: str, arguments: dict, old: str, new: str, unchanged: str) -> _Plan:
    """The plan of a change that gives node ``old`` (and so its subtree) the path ``new``:
    refused with ``unchanged`` when it is the same path, and when ``new`` exists already."""
    if new == old:
        raise WorkbenchError(unchanged)
    if new in taxonomy:
        raise WorkbenchError(f"{new!r} exists already; merge the two with `workbench taxonomy merge` instead")
    path_map = {old: new}
    return _Plan(op, arguments, path_map, _mapped_nodes(taxonomy, path_map))


def rename(ws: Workspace, node: str, name: str, *, by: str) -> TaxonomyChange:
    """Give a category (and so its whole subtree's paths) a new last name."""
    def build(cur, taxonomy: Taxonomy) -> _Plan:
        old = _known(taxonomy, node)
        new_name = _check_name(name)
        new = node_id((*split_node_id(old)[:-1], new_name))
        return _new_path(taxonomy, "rename", {"node": old, "name": new_name}, old, new,
                         f"{old!r} already has the name {new_name!r}")
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
        return _new_path(taxonomy, "move", {"node": old, "parent": target}, old, new,
                         f"{old!r} is already under {target or 'the top level'!r}")
    return _apply(ws, build, by)


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


__all__ = ["OPS", "add", "merge", "move", "path_history", "rename", "retire", "taxonomy_change", "taxonomy_history"]
