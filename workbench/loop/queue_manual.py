"""The review queue by hand: products a person sends from a dashboard drill-down, and bulk
review (claiming many items of one predicted category at once).

Items sent from a dashboard carry the reason ``dashboard`` (shown as "sent from the dashboard by
NAME"); they are never part of the random sample, so live accuracy ignores them, and rebuilding
the day's queue keeps them.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Sequence

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.loop.labels import utc_now
from workbench.loop.review_queue import DASHBOARD, filter_sql
from workbench.loop.shelving import to_date
from workbench.store import Workspace

def send_to_queue(ws: Workspace, product_ids: Sequence[str], *, by: str, run_id: str | None = None,
                  source: str = "", queue_date: str | date | None = None) -> int:
    """Put products into a day's review queue (default: today, UTC) with the reason
    ``dashboard``, recorded as sent by ``by`` from ``source`` (e.g. the drill-down's title).

    The prediction shown to the reviewer is ``run_id``'s top-1 (its recorded predictions, else
    its newest classification); without one, the product's current category. A product already
    in that day's queue keeps its item, gains the reason and is pending again. Returns how many
    items were added or updated.
    """
    by = str(by or "").strip()
    if not by:
        raise WorkbenchError("say who sends the products to review (by='name')")
    ids = list(dict.fromkeys(str(p) for p in product_ids))
    if not ids:
        raise WorkbenchError("no products to send; select some rows of the table first")
    day = to_date(queue_date) or utc_now().date()
    known = ws.df("SELECT product_id, leaf FROM products WHERE product_id IN (SELECT unnest(?))", [ids])
    missing = sorted(set(ids) - set(known["product_id"]))
    if missing:
        raise WorkbenchError(f"{len(missing)} products are not in the workspace (e.g. {missing[0]!r})")
    predicted = dict(zip(known["product_id"], known["leaf"]))
    proba: dict[str, float] = {}
    if run_id is not None:
        rows = ws.df("SELECT product_id, leaf, proba FROM predictions WHERE run_id = ? AND rank = 1 "
                     "AND product_id IN (SELECT unnest(?))", [str(run_id), ids])
        if ws.has_table("classifications"):
            newer = ws.df("SELECT product_id, leaf, proba FROM classifications WHERE run_id = ? AND product_id "
                          "IN (SELECT unnest(?)) QUALIFY row_number() OVER (PARTITION BY product_id "
                          "ORDER BY classified_at DESC) = 1", [str(run_id), ids])
            rows = pd.concat([newer, rows[~rows["product_id"].isin(newer["product_id"])]])
        predicted.update(zip(rows["product_id"], rows["leaf"]))
        proba.update(zip(rows["product_id"], rows["proba"].astype(float)))
    detail = json.dumps({DASHBOARD: {"by": by, "from": str(source)[:300]}})
    now = utc_now()
    with ws.transaction() as cur:
        existing = {r[0]: r[1] for r in cur.execute(
            "SELECT product_id, reason FROM review_queue WHERE queue_date = ? AND product_id IN (SELECT unnest(?))",
            [day, ids]).fetchall()}
        rank = cur.execute("SELECT coalesce(max(rank), 0) FROM review_queue WHERE queue_date = ?", [day]).fetchone()[0]
        for pid in ids:
            if pid in existing:  # already in that day's queue: gains the reason (and is pending again)
                reasons = [r for r in str(existing[pid]).split(",") if r]
                cur.execute("UPDATE review_queue SET reason = ?, status = 'pending', detail = "
                            "json_merge_patch(coalesce(detail, '{}'), ?) WHERE queue_date = ? AND product_id = ?",
                            [",".join(dict.fromkeys([*reasons, DASHBOARD])), detail, day, pid])
                continue
            rank += 1
            cur.execute("INSERT INTO review_queue (queue_date, product_id, reason, rank, status, run_id, "
                        "predicted_leaf, proba, in_random, detail, built_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, "
                        "FALSE, ?, ?)", [day, pid, DASHBOARD, rank, run_id, predicted.get(pid), proba.get(pid),
                                         detail, now])
    return len(ids)


def dashboard_sender(detail: str | dict | None) -> str | None:
    """Who sent an item from a dashboard (from its ``detail``), or ``None``."""
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            return None
    sender = (detail or {}).get(DASHBOARD) or {}
    return sender.get("by") if isinstance(sender, dict) else None


def claim_many(ws: Workspace, queue_date: str | date, product_ids: Sequence[str], claimant: str, *,
               stale_after: float = 600) -> list[str]:
    """Claim several pending items at once (a bulk review grid): those nobody else holds (claims
    older than ``stale_after`` seconds lapse); the claimant's other claims are released.
    Returns the ids claimed."""
    day = to_date(queue_date)
    now = utc_now()
    stale = now - timedelta(seconds=stale_after)
    ids = [str(p) for p in product_ids]
    with ws.transaction() as cur:
        cur.execute("UPDATE review_queue SET claimed_by = NULL, claimed_at = NULL WHERE claimed_by = ? "
                    "AND NOT (queue_date = ? AND product_id IN (SELECT unnest(?)))", [claimant, day, ids])
        rows = cur.execute(
            "UPDATE review_queue SET claimed_by = ?, claimed_at = ? WHERE queue_date = ? AND status = 'pending' "
            "AND product_id IN (SELECT unnest(?)) AND (claimed_by IS NULL OR claimed_by = ? OR claimed_at < ?) "
            "RETURNING product_id", [claimant, now, day, ids, claimant, stale]).fetchall()
    claimed = {r[0] for r in rows}
    return [p for p in ids if p in claimed]


def pending_by_category(ws: Workspace, queue_date: str | date, *, claimant: str | None = None,
                        stale_after: float = 600, reason: str | None = None,
                        category: str | None = None) -> pd.DataFrame:
    """Pending items nobody else holds, one row each (``product_id, predicted_leaf, proba, rank,
    title, run_id``), for the bulk grid; most frequent predicted leaf first. ``reason`` and ``category``
    filter as on the review page (one reason; predicted under one category). Items of the random
    sample are left out: they are reviewed one by one, blind (the grid shows the suggestion)."""
    stale = utc_now() - timedelta(seconds=stale_after)
    where, params = filter_sql(reason, category, "q")
    frame = ws.df("SELECT q.product_id, q.predicted_leaf, q.proba, q.rank, p.title, q.run_id FROM review_queue q "
                  "JOIN products p USING (product_id) WHERE q.queue_date = ? AND q.status = 'pending' "
                  "AND q.predicted_leaf IS NOT NULL AND NOT coalesce(q.in_random, FALSE) AND (q.claimed_by IS NULL OR q.claimed_by = ? "
                  "OR q.claimed_at < ?)" + where + " ORDER BY q.rank",
                  [to_date(queue_date), claimant, stale, *params])
    counts = frame["predicted_leaf"].map(frame["predicted_leaf"].value_counts())
    return frame.assign(_n=counts).sort_values(["_n", "predicted_leaf", "rank"], ascending=[False, True, True],
                                               kind="mergesort").drop(columns="_n").reset_index(drop=True)
