"""Published confidence thresholds: the set the shelving step, dashboards and the review loop use.

``thresholds`` holds the current set: one ``scope='global'`` row (``node`` NULL) and one
``scope='category'`` row per override (a leaf, or an internal node whose predicted leaves it
covers; the most specific override wins). Every publication also appends its full set to
``threshold_history`` under a new ``version``.

A published set remembers the run it was tuned on (``run_id``): a threshold that gives 95%
accuracy with one model can give 80% with another, so applying the set to another run warns
(:func:`threshold_run_warning`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Mapping

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.evaluate.shelving import check_threshold
from workbench.runs.predictor import published_thresholds  # noqa: F401  (read here by the loop's callers)
from workbench.store import Workspace


def _known_nodes(ws: Workspace) -> set[str] | None:
    nodes = ws.df("SELECT node_id FROM categories")["node_id"]
    return set(nodes) if len(nodes) else None


def publish_thresholds(ws: Workspace, global_threshold: float, overrides: Mapping[str, float] | None = None,
                       by: str = "unknown", run_id: str | None = None) -> int:
    """Replace the published thresholds with a global value and per-category ``overrides``,
    recorded as published ``by`` someone and tuned on ``run_id``, in one transaction; returns
    the history version."""
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
    with ws.transaction() as cur:
        cur.execute("DELETE FROM thresholds")
        cur.executemany("INSERT INTO thresholds (scope, node, threshold, published_by, published_at, run_id) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [[scope, node, value, by, now, run_id] for scope, node, value in rows])
        version = cur.execute("SELECT coalesce(max(version), 0) + 1 FROM threshold_history").fetchone()[0]
        cur.executemany("INSERT INTO threshold_history (version, scope, node, threshold, published_by, "
                        "published_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [[version, scope, node, value, by, now, run_id] for scope, node, value in rows])
    return int(version)


def published_run(ws: Workspace) -> str | None:
    """The run the published thresholds were tuned on (``None``: nothing published, or a set
    published before runs were remembered)."""
    if not ws.has_table("thresholds") or not ws.scalar(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'thresholds' "
            "AND column_name = 'run_id'"):
        return None
    value = ws.scalar("SELECT run_id FROM thresholds WHERE scope = 'global' LIMIT 1")
    return None if value is None else str(value)


def threshold_run_warning(ws: Workspace, run_id: str | None) -> str | None:
    """A one-line warning when the published thresholds were tuned on another run than ``run_id``."""
    tuned = published_run(ws)
    if tuned is None or run_id is None or str(run_id) == tuned:
        return None
    return (f"the published thresholds were tuned on run {tuned}, not on run {run_id}: their coverage and "
            f"accuracy differ with another model; tune and publish them for {run_id} in the threshold "
            f"explorer, or use --run {tuned}")


def threshold_history(ws: Workspace) -> pd.DataFrame:
    """Every published set, newest version first (a DataFrame)."""
    return ws.df("SELECT * FROM threshold_history ORDER BY version DESC, scope DESC, node")
