"""Rebuild the workspace taxonomy, every catalog product's leaf and both splits.

Runs inside the caller's transaction after products change (a new file ingested, a
review). Catalog labels follow their ``category_path`` through the rare-leaf merges; human
labels keep the leaf the reviewer chose.
"""

from __future__ import annotations

import json
from typing import Sequence

import duckdb
import numpy as np
import pandas as pd

from workbench.catalog.catalog_taxonomy import build_catalog_taxonomy
from workbench.catalog.splits import compute_splits
from workbench.catalog.taxonomy import Taxonomy, split_node_id
from workbench.store.frames import insert_frame, registered


def rebuild_taxonomy_and_splits(cur: duckdb.DuckDBPyConnection, options,
                                level_names: Sequence[str] | None = None) -> int:
    """Recompute categories, merges, leaves and splits; returns the number of merged nodes.

    A workspace whose taxonomy is a pinned standard tree (cold start) keeps that tree.
    """
    from workbench.catalog.pinned_taxonomy import pinned_spec, rebuild_pinned

    spec = pinned_spec(cur)
    if spec is not None:
        return rebuild_pinned(cur, spec, options)
    stored = cur.execute("SELECT value FROM meta WHERE key = 'level_names'").fetchone()
    if level_names is None and stored:
        level_names = json.loads(stored[0])
    frame = cur.execute(
        "SELECT product_id, CASE WHEN label_source = 'human' THEN leaf ELSE category_path END AS path, "
        "title_key FROM products WHERE category_path IS NOT NULL OR label_source = 'human' "
        "ORDER BY product_id").df()
    # work on distinct paths: a million products share a few hundred paths
    codes, uniques = pd.factorize(frame["path"])
    weights = np.bincount(codes[codes >= 0], minlength=len(uniques))
    built = build_catalog_taxonomy([split_node_id(p) for p in uniques], min_count=options.min_count,
                                   merge=options.merge, level_names=level_names, weights=weights)
    leaf_of_code = np.array([leaf or None for leaf in built.leaves] + [None], dtype=object)
    frame["leaf"] = leaf_of_code[codes]
    taxonomy: Taxonomy = built.taxonomy
    categories = taxonomy.to_frame(built.counts)
    merges = pd.DataFrame(
        [(orig, new) for orig, new in built.merges.items()], columns=["original", "merged_into"])
    path_counts = pd.Series(weights, index=uniques)
    merges["n_products"] = merges["original"].map(path_counts).fillna(0).astype("int64")
    labelled = frame[frame["leaf"].notna()]
    splits, leakage = compute_splits(labelled, seed=options.seed, fractions=options.fractions)

    with registered(cur, "_leaves", frame[["product_id", "leaf"]]):
        cur.execute("UPDATE products SET leaf = _leaves.leaf FROM _leaves "
                    "WHERE products.product_id = _leaves.product_id")
    for table, data in (("categories", categories), ("category_merges", merges), ("splits", splits)):
        cur.execute(f"DELETE FROM {table}")  # fixed table names, no user input
        insert_frame(cur, table, data)
    for key, value in (("level_names", json.dumps(taxonomy.level_names)),
                       ("leakage", json.dumps(leakage)),
                       ("split_options", json.dumps({"seed": options.seed, "fractions": list(options.fractions)})),
                       ("taxonomy_options", json.dumps({"min_count": options.min_count, "merge": options.merge,
                                                        "max_depth": options.max_depth}))):
        cur.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [key, value])
    return len(merges)


def load_taxonomy(ws) -> Taxonomy:
    """The workspace's taxonomy (from its ``categories`` table)."""
    from workbench.errors import WorkbenchError

    frame = ws.df("SELECT * FROM categories")
    if frame.empty:
        raise WorkbenchError(f"workspace {ws.path} has no taxonomy yet; run `workbench ingest` first")
    return Taxonomy.from_frame(frame)
