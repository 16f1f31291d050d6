"""The stored mapping of a catalog's categories onto a standard tree, and its review.

Table ``taxonomy_mappings``: one row per (catalog node, target kind) with the proposed or
chosen target node, its source id (Shopify gid, Google id, Best Buy id), the score, the top-3
alternatives (JSON), who proposed it (``method``) and its ``status``: ``proposed`` (by
``workbench map-taxonomy``), ``accepted`` (a person kept the proposal) or ``edited`` (a person
picked another node). Re-proposing keeps accepted and edited rows. Products get their standard
path from their leaf's row (:func:`standard_paths`).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd

from workbench.catalog.taxonomy_sources import KINDS
from workbench.errors import WorkbenchError
from workbench.store import Workspace
from workbench.store.frames import registered

STATUSES = ("proposed", "accepted", "edited")
REVIEWED = ("accepted", "edited")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def check_kind(kind: str) -> str:
    """A standard tree's kind (``shopify``, ``google``, ``bestbuy``)."""
    kind = str(kind).lower()
    if kind not in KINDS:
        raise WorkbenchError(f"unknown standard taxonomy {kind!r}; use one of {', '.join(KINDS)}")
    return kind


def store_proposals(ws: Workspace, kind: str, proposals: pd.DataFrame, method: str) -> int:
    """Write proposals (``catalog_node, target_node, target_id, score, alternatives``) for
    ``kind``, keeping rows a person accepted or edited; returns the number of rows written."""
    kind = check_kind(kind)
    rows = proposals.copy()
    rows["alternatives"] = [json.dumps(a, ensure_ascii=False) for a in rows["alternatives"]]
    rows = rows.assign(target_kind=kind, method=method, status="proposed", proposed_at=_now(),
                       reviewer=None, reviewed_at=None)
    with ws.transaction() as cur:
        kept = {r[0] for r in cur.execute(
            "SELECT catalog_node FROM taxonomy_mappings WHERE target_kind = ? AND status IN ('accepted', 'edited')",
            [kind]).fetchall()}
        rows = rows[~rows["catalog_node"].isin(kept)]
        cur.execute("DELETE FROM taxonomy_mappings WHERE target_kind = ? AND status = 'proposed'", [kind])
        with registered(cur, "_proposals", rows):
            cur.execute("INSERT INTO taxonomy_mappings BY NAME SELECT catalog_node, target_kind, target_node, "
                        "target_id, score, alternatives, method, status, proposed_at, reviewer, "
                        "reviewed_at FROM _proposals")
    return len(rows)


def load_mapping(ws: Workspace, kind: str) -> pd.DataFrame:
    """The stored mapping onto ``kind``, catalog nodes top-down; ``alternatives`` decoded."""
    kind = check_kind(kind)
    frame = ws.df("SELECT * FROM taxonomy_mappings WHERE target_kind = ? ORDER BY catalog_node", [kind])
    frame["alternatives"] = frame["alternatives"].map(lambda v: json.loads(v) if isinstance(v, str) else [])
    return frame


def mapped_kinds(ws: Workspace) -> list[str]:
    """The standard trees the catalog has a stored mapping onto."""
    return ws.df("SELECT DISTINCT target_kind FROM taxonomy_mappings ORDER BY 1")["target_kind"].tolist()


def _review(ws: Workspace, kind: str, node: str, target: str | None, target_id: str | None,
            status: str, reviewer: str) -> None:
    reviewer = str(reviewer or "").strip()
    if not reviewer:
        raise WorkbenchError("a mapping review needs the reviewer's name")
    with ws.transaction() as cur:
        row = cur.execute("SELECT target_node FROM taxonomy_mappings WHERE catalog_node = ? AND target_kind = ?",
                          [node, kind]).fetchone()
        if row is None:
            raise WorkbenchError(f"catalog category {node!r} has no {kind} mapping; run "
                                 f"`workbench map-taxonomy --to {kind}` first")
        cur.execute("UPDATE taxonomy_mappings SET target_node = coalesce(?, target_node), "
                    "target_id = coalesce(?, target_id), status = ?, reviewer = ?, reviewed_at = ? "
                    "WHERE catalog_node = ? AND target_kind = ?",
                    [target, target_id, status, reviewer, _now(), node, kind])


def accept_mapping(ws: Workspace, kind: str, node: str, reviewer: str) -> None:
    """A person keeps the proposed target of ``node``."""
    _review(ws, check_kind(kind), node, None, None, "accepted", reviewer)


def choose_mapping(ws: Workspace, kind: str, node: str, target: str, target_id: str, reviewer: str) -> None:
    """A person maps ``node`` onto another target node (``target_id``: its source id)."""
    _review(ws, check_kind(kind), node, target, target_id, "edited", reviewer)


def standard_paths(ws: Workspace, kind: str) -> pd.DataFrame:
    """Every labelled product with its catalog leaf and its standard path in ``kind``:
    ``product_id, title, leaf, <kind>_path, <kind>_id, mapping_status`` (the leaf's own row, or
    its nearest mapped ancestor's)."""
    mapping = load_mapping(ws, kind)
    if mapping.empty:
        raise WorkbenchError(f"the catalog has no mapping onto {kind}; run `workbench map-taxonomy --to {kind}`")
    by_node = {r.catalog_node: r for r in mapping.itertuples(index=False)}
    products = ws.df("SELECT product_id, title, leaf FROM products WHERE leaf IS NOT NULL ORDER BY product_id")

    def row_of(leaf: str):
        parts = leaf.split(" > ")
        for depth in range(len(parts), 0, -1):
            hit = by_node.get(" > ".join(parts[:depth]))
            if hit is not None:
                return hit
        return None

    rows = {leaf: row_of(leaf) for leaf in products["leaf"].unique()}
    products[f"{kind}_path"] = products["leaf"].map(lambda x: rows[x].target_node if rows[x] else None)
    products[f"{kind}_id"] = products["leaf"].map(lambda x: rows[x].target_id if rows[x] else None)
    products["mapping_status"] = products["leaf"].map(lambda x: rows[x].status if rows[x] else None)
    return products
