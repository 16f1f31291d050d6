"""A standard tree as the workspace's own taxonomy, for a catalog with no categories (cold start).

``pin_standard_taxonomy(ws, "shopify", under="Electronics")`` makes (a subtree of) a public
tree the workspace taxonomy: table ``categories`` holds its nodes, meta key
``pinned_taxonomy`` remembers which tree, and every later rebuild of the taxonomy and splits
(after reviews, for retraining) keeps that tree instead of deriving one from the products'
paths: reviewers' labels are leaves of it, and products join the splits as they get labels.
The pinned tree is the workspace's taxonomy, so it can be changed like any other (rename, move,
merge, split, add, retire); a rebuild then keeps the changed tree (:func:`changed_tree`).
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from workbench.catalog.splits import compute_splits
from workbench.catalog.taxonomy import SEP, Taxonomy
from workbench.catalog.taxonomy_sources import SourceTaxonomy, load_source
from workbench.errors import WorkbenchError
from workbench.store import Workspace
from workbench.store.frames import insert_frame

META_KEY = "pinned_taxonomy"


def subtree(source: SourceTaxonomy, under: str | None) -> Taxonomy:
    """The standard tree, or the part of it below the node ``under`` (a full path; the node is
    kept as the top level so paths stay the standard's own)."""
    if not under:
        return source.taxonomy
    tree = source.taxonomy
    if under not in tree:
        roots = ", ".join(tree.roots[:8])
        raise WorkbenchError(f"{under!r} is not a node of the {source.kind} taxonomy; use a full path "
                             f"such as one of {roots}")
    return Taxonomy((tree.path(leaf) for leaf in tree.leaves_under(under)), tree.level_names)


def pinned_spec(cur_or_ws) -> dict | None:
    """The pinned tree's ``{"kind", "under", "language"}``, or ``None``."""
    if isinstance(cur_or_ws, Workspace):
        value = cur_or_ws.meta(META_KEY)
    else:
        row = cur_or_ws.execute("SELECT value FROM meta WHERE key = ?", [META_KEY]).fetchone()
        value = row[0] if row else None
    return json.loads(value) if value else None


def pinned_tree(spec: dict) -> Taxonomy:
    """The taxonomy a pinned spec names."""
    options = {"language": spec["language"]} if spec["kind"] == "shopify" and spec.get("language") else {}
    return subtree(load_source(spec["kind"], **options), spec.get("under"))


def _write_tree(cur: duckdb.DuckDBPyConnection, tree: Taxonomy, options) -> None:
    frame = cur.execute("SELECT product_id, leaf, title_key FROM products WHERE label_source = 'human' "
                        "AND leaf IS NOT NULL ORDER BY product_id").df()
    frame = frame[frame["leaf"].isin(set(tree.leaves))]
    counts = frame["leaf"].value_counts().to_dict()
    splits, leakage = compute_splits(frame, seed=options.seed, fractions=options.fractions)
    for table, data in (("categories", tree.to_frame(counts)), ("splits", splits)):
        cur.execute(f"DELETE FROM {table}")  # fixed table names, no user input
        insert_frame(cur, table, data)
    cur.execute("DELETE FROM category_merges")
    for key, value in (("level_names", json.dumps(tree.level_names)), ("leakage", json.dumps(leakage)),
                       ("split_options", json.dumps({"seed": options.seed, "fractions": list(options.fractions)})),
                       ("taxonomy_options", json.dumps({"min_count": 1, "merge": "parent", "max_depth": None}))):
        cur.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [key, value])


def changed_tree(cur: duckdb.DuckDBPyConnection) -> Taxonomy | None:
    """The workspace's own tree when taxonomy changes are in force on the pinned tree (renames,
    merges, ... of :mod:`workbench.loop.taxonomy_changes`: the stored categories), else ``None``."""
    tables = {r[0] for r in cur.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "taxonomy_changes" not in tables:
        return None
    live = cur.execute("SELECT count(*) FROM taxonomy_changes WHERE undone_by IS NULL AND undoes IS NULL").fetchone()
    if not live[0]:
        return None
    frame = cur.execute("SELECT node_id, level, level_name FROM categories").df()
    return Taxonomy.from_frame(frame) if len(frame) else None


def rebuild_pinned(cur: duckdb.DuckDBPyConnection, spec: dict, options) -> int:
    """The rebuild of a workspace with a pinned tree: the tree stays (with the taxonomy changes
    in force made to it), splits follow the labels."""
    _write_tree(cur, changed_tree(cur) or pinned_tree(spec), options)
    return 0


def pin_standard_taxonomy(ws: Workspace, kind: str, under: str | None = None, language: str | None = None,
                          seed: int = 0, fractions=(0.70, 0.15, 0.15)) -> Taxonomy:
    """Make (a subtree of) a standard tree the workspace taxonomy; refused when the catalog
    has categories of its own (map those with ``workbench map-taxonomy`` instead)."""
    own = ws.scalar("SELECT count(*) FROM products WHERE label_source = 'catalog'")
    if own:
        raise WorkbenchError(f"the catalog has {own:,} products with categories of its own; map its "
                             f"taxonomy with `workbench map-taxonomy --to {kind}` instead of replacing it")
    spec = {"kind": str(kind).lower(), "under": under, "language": language}
    tree = pinned_tree(spec)
    options = pd.Series({"seed": seed, "fractions": tuple(fractions)})
    with ws.transaction() as cur:
        _write_tree(cur, tree, options)
        cur.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [META_KEY, json.dumps(spec)])
    return tree


def is_under(node: str, root: str) -> bool:
    """Whether ``node`` is ``root`` or below it."""
    return node == root or node.startswith(root + SEP)
