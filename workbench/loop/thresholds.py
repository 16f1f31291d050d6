"""Published confidence thresholds: the set the shelving step, dashboards and the review loop use.

``thresholds`` holds the current set: one ``scope='global'`` row (``node`` NULL) and one
``scope='category'`` row per override (a leaf, or an internal node whose predicted leaves it
covers; the most specific override wins). Every publication also appends its full set to
``threshold_history`` under a new ``version``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Mapping

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.evaluate.shelving import check_threshold
from workbench.store import Workspace

THRESHOLDS_DDL = """
CREATE TABLE IF NOT EXISTS thresholds (
    scope VARCHAR CHECK (scope IN ('global', 'category')), node VARCHAR, threshold DOUBLE,
    published_by VARCHAR, published_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS threshold_history (
    version INTEGER, scope VARCHAR, node VARCHAR, threshold DOUBLE,
    published_by VARCHAR, published_at TIMESTAMP);
"""


def _known_nodes(ws: Workspace) -> set[str] | None:
    nodes = ws.df("SELECT node_id FROM categories")["node_id"]
    return set(nodes) if len(nodes) else None


def publish_thresholds(ws: Workspace, global_threshold: float, overrides: Mapping[str, float] | None = None,
                       by: str = "unknown") -> int:
    """Replace the published thresholds with a global value and per-category ``overrides``,
    recorded as published ``by`` someone, in one transaction; returns the history version."""
    if not str(by).strip():
        raise WorkbenchError("say who publishes the thresholds (by='name')")
    rows = [("global", None, check_threshold(global_threshold, "global threshold"))]
    known = _known_nodes(ws)
    for node, value in sorted((overrides or {}).items()):
        if known is not None and node not in known:
            raise WorkbenchError(f"cannot publish a threshold for unknown category {node!r}; "
                                 "use a node id from the categories table")
        rows.append(("category", str(node), check_threshold(value, f"threshold for {node!r}")))
    now = datetime.now(timezone.utc)
    ws.ensure(THRESHOLDS_DDL)
    with ws.transaction() as cur:
        cur.execute("DELETE FROM thresholds")
        cur.executemany("INSERT INTO thresholds VALUES (?, ?, ?, ?, ?)",
                        [[scope, node, value, by, now] for scope, node, value in rows])
        version = cur.execute("SELECT coalesce(max(version), 0) + 1 FROM threshold_history").fetchone()[0]
        cur.executemany("INSERT INTO threshold_history VALUES (?, ?, ?, ?, ?, ?)",
                        [[version, scope, node, value, by, now] for scope, node, value in rows])
    return int(version)


def published_thresholds(ws: Workspace) -> tuple[float | None, dict[str, float]]:
    """The current ``(global threshold or None, {node: threshold})``; ``(None, {})`` when none."""
    if not ws.has_table("thresholds"):
        return None, {}
    rows = ws.df("SELECT scope, node, threshold FROM thresholds")
    glob = rows.loc[rows["scope"] == "global", "threshold"]
    cats = rows[rows["scope"] == "category"]
    return (float(glob.iloc[0]) if len(glob) else None,
            {str(n): float(t) for n, t in zip(cats["node"], cats["threshold"])})


def threshold_history(ws: Workspace) -> pd.DataFrame:
    """Every published set, newest version first (a DataFrame)."""
    ws.ensure(THRESHOLDS_DDL)
    return ws.df("SELECT * FROM threshold_history ORDER BY version DESC, scope DESC, node")
