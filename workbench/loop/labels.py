"""Label provenance: who or what put each product in its category, and when.

``labels`` is a history: a row per label ever given (``source`` is ``catalog``, ``human``,
``model`` or ``feedback``), with its actor, time and reason. Rows are never deleted; an undone
review marks its label ``retracted``. A product's current label is its newest non-retracted
label of the highest precedence (human > catalog > model) and is mirrored in ``products.leaf``
/ ``label_source``, which every other module reads. A ``feedback`` label (what a caller of the
HTTP API said about a prediction, see :mod:`workbench.loop.feedback`) stays in the history
only: it never becomes a product's current label, so it is never trained on until a reviewer
confirms it with a review.

Retraining reads catalog and human labels only (:func:`retraining_frame`): a model trained on
its own unreviewed predictions learns its own mistakes.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Sequence

import duckdb
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.catalog.relabel import rebuild_taxonomy_and_splits
from workbench.catalog.splits import split_frame
from workbench.store import Workspace
from workbench.store.frames import registered

SOURCES = ("catalog", "human", "model", "feedback")
TRAINABLE_SOURCES = ("catalog", "human")
PRECEDENCE = {"human": 3, "catalog": 2, "model": 1}


def utc_now() -> datetime:
    """The current UTC time without a timezone (how the store keeps timestamps)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def record_model_labels(cur: duckdb.DuckDBPyConnection, frame: pd.DataFrame, *, run_id: str,
                        at: datetime) -> None:
    """Shelve ``frame`` (``product_id, leaf, reason``) as model labels inside the caller's transaction.

    Only products without a catalog or human label are touched; older model labels of the same
    products are superseded by the newer rows.
    """
    if frame.empty:
        return
    rows = frame[["product_id", "leaf", "reason"]].copy()
    rows["actor"] = f"run:{run_id}"
    rows["run_id"] = run_id
    rows["created_at"] = at
    with registered(cur, "_model_labels", rows):
        cur.execute(
            "INSERT INTO labels (product_id, leaf, source, actor, created_at, reason, run_id) "
            "SELECT m.product_id, m.leaf, 'model', m.actor, m.created_at, m.reason, m.run_id "
            "FROM _model_labels m JOIN products p USING (product_id) "
            "WHERE p.label_source IS NULL OR p.label_source = 'model'")
        cur.execute(
            "UPDATE products SET leaf = m.leaf, label_source = 'model' FROM _model_labels m "
            "WHERE products.product_id = m.product_id "
            "AND (products.label_source IS NULL OR products.label_source = 'model')")


def unshelve(cur: duckdb.DuckDBPyConnection, product_ids: Sequence[str]) -> None:
    """Take products off the shelf (their model labels retracted) inside the caller's transaction."""
    ids = list(map(str, product_ids))
    if not ids:
        return
    cur.execute("UPDATE labels SET retracted = TRUE WHERE source = 'model' AND NOT retracted "
                "AND product_id IN (SELECT unnest(?))", [ids])
    cur.execute("UPDATE products SET leaf = NULL, label_source = NULL "
                "WHERE label_source = 'model' AND product_id IN (SELECT unnest(?))", [ids])


def set_human_label(cur: duckdb.DuckDBPyConnection, product_id: str, leaf: str, *, actor: str,
                    at: datetime, reason: str, review_id: int | None = None) -> None:
    """Give a product a reviewer's label inside the caller's transaction.

    ``products.leaf`` becomes the leaf and ``label_source`` ``human``; the taxonomy rebuild
    (see :mod:`workbench.catalog.relabel`) keeps a human leaf as it is. A catalog label being
    overridden is first written to the history, so undoing the review can restore it.
    """
    row = cur.execute("SELECT leaf, label_source, ingested_at FROM products WHERE product_id = ?",
                      [product_id]).fetchone()
    if row is None:
        raise WorkbenchError(f"no product {product_id!r} in the workspace; check the product id")
    old_leaf, old_source, ingested_at = row
    if old_source == "catalog" and old_leaf is not None:
        known = cur.execute("SELECT count(*) FROM labels WHERE product_id = ? AND source = 'catalog'",
                            [product_id]).fetchone()[0]
        if not known:
            cur.execute("INSERT INTO labels (product_id, leaf, source, actor, created_at, reason) "
                        "VALUES (?, ?, 'catalog', 'ingest', ?, 'catalog label before review')",
                        [product_id, old_leaf, ingested_at])
    cur.execute("INSERT INTO labels (product_id, leaf, source, actor, created_at, reason, review_id) "
                "VALUES (?, ?, 'human', ?, ?, ?, ?)", [product_id, leaf, actor, at, reason, review_id])
    cur.execute("UPDATE products SET leaf = ?, label_source = 'human' WHERE product_id = ?",
                [leaf, product_id])


def retract_review_label(cur: duckdb.DuckDBPyConnection, review_id: int) -> None:
    """Retract the label a review gave and restore the product's previous current label."""
    row = cur.execute("SELECT product_id FROM labels WHERE review_id = ?", [review_id]).fetchone()
    if row is None:
        return
    cur.execute("UPDATE labels SET retracted = TRUE WHERE review_id = ?", [review_id])
    sync_product(cur, row[0])


def sync_product(cur: duckdb.DuckDBPyConnection, product_id: str) -> None:
    """Mirror a product's current label (from the history) into ``products``."""
    rows = cur.execute(
        "SELECT leaf, source FROM labels WHERE product_id = ? AND NOT retracted AND source <> 'feedback' "
        "ORDER BY created_at DESC, label_id DESC", [product_id]).fetchall()
    if not rows:
        # a catalog label never overridden lives only in products; anything else is now unlabelled
        cur.execute("UPDATE products SET leaf = NULL, label_source = NULL "
                    "WHERE product_id = ? AND label_source IN ('human', 'model')", [product_id])
        return
    leaf, source = max(rows, key=lambda r: PRECEDENCE[r[1]])  # max keeps the newest of a tie
    cur.execute("UPDATE products SET leaf = ?, label_source = ? WHERE product_id = ?",
                [leaf, source, product_id])


def label_history(ws: Workspace, product_id: str | None = None) -> pd.DataFrame:
    """Every label given (of one product when ``product_id`` is given), oldest first."""
    sql = "SELECT * FROM labels"
    params: list = []
    if product_id is not None:
        sql += " WHERE product_id = ?"
        params.append(str(product_id))
    return ws.df(sql + " ORDER BY created_at, label_id", params)


def current_labels(ws: Workspace, sources: Sequence[str] | None = None) -> pd.DataFrame:
    """Labelled products with their current leaf, source, and when that label was given."""
    sql = ("SELECT p.product_id, p.leaf, p.label_source AS source, "
           "coalesce(l.created_at, p.ingested_at) AS labelled_at FROM products p "
           "LEFT JOIN (SELECT product_id, source, max(created_at) AS created_at FROM labels "
           "WHERE NOT retracted GROUP BY product_id, source) l "
           "ON l.product_id = p.product_id AND l.source = p.label_source WHERE p.leaf IS NOT NULL")
    params: list = []
    if sources is not None:
        unknown = sorted(set(sources) - set(SOURCES))
        if unknown:
            raise WorkbenchError(f"unknown label source(s) {unknown}; use {', '.join(SOURCES)}")
        sql += " AND p.label_source IN (SELECT unnest(?))"
        params.append(list(sources))
    return ws.df(sql + " ORDER BY p.product_id", params)


def label_counts(ws: Workspace) -> dict[str, int]:
    """How many products carry each label source right now."""
    frame = ws.df("SELECT label_source, count(*) AS n FROM products WHERE leaf IS NOT NULL "
                  "GROUP BY label_source")
    return {str(s): int(n) for s, n in zip(frame["label_source"], frame["n"])}


def refresh_taxonomy_and_splits(ws: Workspace) -> int:
    """Rebuild the taxonomy and both splits with the workspace's recorded options, so that
    products labelled by reviewers join the splits; returns the number of merged nodes."""
    taxonomy = json.loads(ws.meta("taxonomy_options") or "{}")
    split = json.loads(ws.meta("split_options") or "{}")
    if not taxonomy:
        raise WorkbenchError(f"workspace {ws.path} has no catalog taxonomy yet; run `workbench ingest` first")
    options = SimpleNamespace(min_count=taxonomy.get("min_count", 1), merge=taxonomy.get("merge", "parent"),
                              max_depth=taxonomy.get("max_depth"), seed=split.get("seed", 0),
                              fractions=tuple(split.get("fractions", (0.70, 0.15, 0.15))))
    with ws.transaction() as cur:
        return rebuild_taxonomy_and_splits(cur, options)


def retraining_frame(ws: Workspace, split: str = "grouped") -> pd.DataFrame:
    """The products a retraining may learn from: catalog and human labels with their split part,
    never the model's own unreviewed labels."""
    frame = split_frame(ws, split, label_sources=TRAINABLE_SOURCES)
    if (~frame["label_source"].isin(TRAINABLE_SOURCES)).any():
        raise WorkbenchError("retraining frame holds labels that are not catalog or human; "
                             "this is a bug in the label filter")
    return frame
