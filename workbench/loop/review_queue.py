"""The daily review queue: which classified products people look at, and why.

Built for one batch date from four sources, each item tagged with its reason(s):

* ``random``: a seeded random sample of everything classified that day. Its reviews measure
  live accuracy without bias (see :mod:`workbench.loop.live_accuracy`).
* ``disagree``: products where two runs predict different leaves.
* ``uncertain``: the least confident predictions (lowest top-1 probability, or smallest margin
  between the first two), where a label teaches the model most.
* ``suspect``: catalog products whose *own label* looks wrong (the newest ``workbench
  label-issues`` scan, most suspect first), shown as "suspect catalog label: suggested X".
  Accepting takes the suggested leaf; keeping the catalog's leaf is a correction to it. Either
  way the label becomes a reviewer's (source ``human``), which ``retrain`` trains on.

A product picked by several sources is one item with all its reasons. People add items too:
:func:`send_to_queue` puts products found in a dashboard's drill-down into a day's queue with
the reason ``dashboard`` (shown as "sent from the dashboard by NAME"), and a taxonomy change
queues the products it cannot place (``taxonomy split``, ``category retired``). Rebuilding a
day's queue keeps the items already reviewed, the ones people sent and the ones a taxonomy
change queued. Reviewers *claim* the next item so that two sessions never
show the same product at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Sequence

import numpy as np
import pandas as pd

from workbench.catalog.summary_view import SummaryView
from workbench.errors import WorkbenchError
from workbench.loop.labels import utc_now
from workbench.loop.shelving import batch_dates, latest_classifications, predict_products, to_date
from workbench.runs.selection import ranked_runs
from workbench.store import Workspace
from workbench.store.frames import insert_frame

REASONS = ("random", "disagree", "uncertain", "suspect")
#: the reason of items a person sent from a dashboard drill-down (never part of the random sample)
DASHBOARD = "dashboard"
#: the reasons of items a taxonomy change queued (:mod:`workbench.loop.taxonomy_changes`)
TAXONOMY_REASONS = ("taxonomy split", "category retired")
ALL_REASONS = (*REASONS, DASHBOARD, *TAXONOMY_REASONS)
UNCERTAINTY = ("top1", "margin")


@dataclass
class QueueSummary(SummaryView):
    """A built queue: its date, items per reason, and runs compared for disagreements."""

    queue_date: date
    items: int
    per_reason: dict[str, int]
    population: int
    kept_reviewed: int = 0
    runs: tuple[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    issues_run: str | None = None

    def __str__(self) -> str:
        reasons = ", ".join(f"{r} {self.per_reason.get(r, 0)}" for r in REASONS)
        lines = [f"review queue {self.queue_date}: {self.items} items from {self.population} classified "
                 f"products ({reasons})"]
        if self.runs:
            lines.append(f"  disagreements between runs {self.runs[0]} and {self.runs[1]}")
        if self.issues_run:
            lines.append(f"  suspect catalog labels from the label-issues scan of run {self.issues_run}")
        if self.kept_reviewed:
            lines.append(f"  {self.kept_reviewed} items already reviewed were kept")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def random_sample(product_ids: Sequence[str], n: int, *, seed: int, queue_date: date) -> list[str]:
    """A seeded sample of ``n`` ids (order of draw), the same for the same ids, seed and date."""
    ids = sorted(map(str, product_ids))
    n = min(max(int(n), 0), len(ids))
    rng = np.random.default_rng([int(seed), queue_date.toordinal()])
    return [ids[i] for i in rng.choice(len(ids), size=n, replace=False)]


def least_confident(population: pd.DataFrame, n: int, uncertainty: str = "top1") -> list[str]:
    """The ``n`` products with the lowest top-1 probability (or smallest top-1/top-2 margin)."""
    if uncertainty not in UNCERTAINTY:
        raise WorkbenchError(f"uncertainty must be one of {', '.join(UNCERTAINTY)}, not {uncertainty!r}")
    column = "proba" if uncertainty == "top1" else "margin"
    ordered = population.sort_values([column, "product_id"], kind="mergesort")
    return ordered["product_id"].head(max(int(n), 0)).tolist()


def _leaves_of_run(ws: Workspace, run_id: str, ids: list[str]) -> pd.DataFrame:
    """Top-1 leaf and probability of a run for the products (from its classifications, else predicted)."""
    stored = ws.df("SELECT product_id, leaf, proba FROM classifications WHERE run_id = ? "
                   "AND product_id IN (SELECT unnest(?)) QUALIFY row_number() OVER "
                   "(PARTITION BY product_id ORDER BY classified_at DESC) = 1", [run_id, ids])
    missing = sorted(set(ids) - set(stored["product_id"]))
    if missing:
        proba, classes = predict_products(ws, run_id, missing)
        best = proba.argmax(axis=1)
        stored = pd.concat([stored, pd.DataFrame({"product_id": missing, "leaf": classes[best],
                                                  "proba": proba[np.arange(len(missing)), best]})],
                           ignore_index=True)
    return stored.set_index("product_id").loc[ids].reset_index()


def disagreements(ws: Workspace, ids: list[str], runs: tuple[str, str], n: int) -> pd.DataFrame:
    """Up to ``n`` products whose top-1 leaf differs between the two runs; the most confident
    disagreements (by the lower of the two probabilities) first."""
    a = _leaves_of_run(ws, runs[0], ids)
    b = _leaves_of_run(ws, runs[1], ids)
    frame = pd.DataFrame({"product_id": ids, "leaf_a": a["leaf"], "proba_a": a["proba"],
                          "leaf_b": b["leaf"], "proba_b": b["proba"]})
    frame = frame[frame["leaf_a"] != frame["leaf_b"]].copy()
    frame["strength"] = np.minimum(frame["proba_a"], frame["proba_b"])
    frame = frame.sort_values(["strength", "product_id"], ascending=[False, True], kind="mergesort")
    return frame.head(max(int(n), 0)).reset_index(drop=True)


def _pick_runs(ws: Workspace, population: pd.DataFrame, runs: Sequence[str] | None) -> tuple[tuple[str, str] | None, str | None]:
    if runs:
        if len(runs) != 2 or runs[0] == runs[1]:
            raise WorkbenchError(f"--runs takes two different run ids separated by a comma, got {list(runs)}")
        return (str(runs[0]), str(runs[1])), None
    primary = str(population["run_id"].mode().iloc[0])
    # the challenger is the best other run by the default-run rule, never simply the newest
    ranked = ranked_runs(ws)
    others = [r for r in ranked.loc[ranked["has_model"], "run_id"] if r != primary]
    if not others:
        return None, "only one run has a saved model, so there are no disagreements to sample"
    return (primary, str(others[0])), None


def suspect_reason(suggested: str) -> str:
    """What a reviewer reads for a suspect item."""
    return f"suspect catalog label: suggested {suggested}"


def _suspects(ws: Workspace, n: int, issues_run: str | None) -> tuple[pd.DataFrame, str | None]:
    from workbench.loop.label_issues import latest_issues_run, suspect_candidates

    issues_run = issues_run or latest_issues_run(ws)
    if issues_run is None:
        raise WorkbenchError("no label-issues scan yet: run `workbench label-issues` before "
                             "`workbench queue build --suspect N`")
    found = suspect_candidates(ws, n, issues_run)
    if found.empty:
        return found.assign(top5=[]), issues_run
    top = ws.df("SELECT product_id, leaf, proba FROM predictions WHERE run_id = ? AND rank <= 5 "
                "AND product_id IN (SELECT unnest(?)) ORDER BY product_id, rank",
                [issues_run, found["product_id"].tolist()])
    top5 = {pid: [{"leaf": leaf, "proba": float(p)} for leaf, p in zip(g["leaf"], g["proba"])]
            for pid, g in top.groupby("product_id", sort=False)}
    return found.assign(top5=found["product_id"].map(lambda p: top5.get(p, []))), issues_run


def build_queue(ws: Workspace, queue_date: str | date | None = None, *, n_random: int = 50,
                n_uncertain: int = 50, n_disagree: int = 50, runs: Sequence[str] | None = None,
                uncertainty: str = "top1", seed: int = 0, n_suspect: int = 0,
                issues_run: str | None = None) -> QueueSummary:
    """Build (or rebuild) the review queue of a batch date (default: the newest batch).

    Sizes are per source; a product chosen by several sources is one item with all reasons.
    ``runs`` names the two runs compared for disagreements (default: the batch's run and the
    best other run with a saved model, by :func:`workbench.runs.selection.ranked_runs`).
    ``n_suspect`` adds that many suspect catalog labels from the label-issues scan of
    ``issues_run`` (default: the newest scan); a queue of suspects alone needs no classified
    batch (its date defaults to today). Items already reviewed are kept as they are.
    """
    for name, value in (("random", n_random), ("uncertain", n_uncertain), ("disagree", n_disagree),
                        ("suspect", n_suspect)):
        if int(value) < 0:
            raise WorkbenchError(f"the {name} sample size must be >= 0, not {value}")
    suspects, issues_run = _suspects(ws, n_suspect, issues_run) if n_suspect else (None, None)
    notes: list[str] = []
    day = to_date(queue_date) or (_newest_batch(ws) if not n_suspect or batch_dates(ws) else utc_now().date())
    population = latest_classifications(ws, day)
    if population.empty and not n_suspect:
        raise WorkbenchError(f"no products were classified on {day}; run `workbench classify` first "
                             "or pick another --date")
    if population.empty:
        notes.append(f"no products were classified on {day}: the queue holds suspect catalog labels only")
        n_random = n_uncertain = n_disagree = 0
    ids = population["product_id"].tolist()
    reasons: dict[str, list[str]] = {}
    detail: dict[str, dict] = {}
    order: list[str] = []

    def add(pid: str, reason: str, info: dict) -> None:
        if pid not in reasons:
            reasons[pid] = []
            order.append(pid)
        reasons[pid].append(reason)
        detail.setdefault(pid, {})[reason] = info

    for i, pid in enumerate(random_sample(ids, n_random, seed=seed, queue_date=day)):
        add(pid, "random", {"draw": i + 1, "seed": seed})
    chosen_runs, note = _pick_runs(ws, population, runs) if n_disagree else (None, None)
    notes += [note] if note else []
    if chosen_runs:
        for row in disagreements(ws, ids, chosen_runs, n_disagree).itertuples():
            add(row.product_id, "disagree", {"runs": list(chosen_runs), "leaves": [row.leaf_a, row.leaf_b],
                                              "proba": [float(row.proba_a), float(row.proba_b)]})
    by_id = population.set_index("product_id")
    for pid in least_confident(population, n_uncertain, uncertainty):
        add(pid, "uncertain", {"measure": uncertainty, "proba": float(by_id.at[pid, "proba"]),
                               "margin": float(by_id.at[pid, "margin"])})
    shown = {pid: (row.run_id, row.leaf, float(row.proba)) for pid, row in zip(by_id.index, by_id.itertuples())}
    for row in (suspects.itertuples() if suspects is not None else ()):
        add(row.product_id, "suspect", {"given": row.given_leaf, "suggested": row.suggested_leaf,
                                        "score": float(row.score), "run": issues_run, "top5": row.top5,
                                        "reason": suspect_reason(row.suggested_leaf)})
        # an item also picked from today's classifications keeps showing that prediction
        shown.setdefault(row.product_id, (issues_run, row.suggested_leaf, float(row.suggested_proba)))

    items = pd.DataFrame({
        "queue_date": day, "product_id": order,
        "reason": [",".join(r for r in REASONS if r in reasons[p]) for p in order],
        "rank": np.arange(1, len(order) + 1, dtype=np.int32), "status": "pending",
        "run_id": [shown[p][0] for p in order],
        "predicted_leaf": [shown[p][1] for p in order],
        "proba": np.array([shown[p][2] for p in order], dtype=float),
        "in_random": ["random" in reasons[p] for p in order],
        "detail": [json.dumps(detail[p]) for p in order],
        "claimed_by": None, "claimed_at": pd.NaT, "built_at": utc_now()})
    with ws.transaction() as cur:
        cur.execute("DELETE FROM review_queue WHERE queue_date = ? AND status = 'pending' "
                    "AND NOT list_has_any(string_split(reason, ','), ?)", [day, [DASHBOARD, *TAXONOMY_REASONS]])
        kept = set(r[0] for r in cur.execute("SELECT product_id FROM review_queue WHERE queue_date = ?",
                                             [day]).fetchall())
        new = items[~items["product_id"].isin(kept)]
        insert_frame(cur, "review_queue", new, name="_queue")
    counts = {r: int(sum(r in reasons[p] for p in order)) for r in REASONS}
    return QueueSummary(day, len(order), counts, len(ids), len(kept), chosen_runs, notes, issues_run)


def _newest_batch(ws: Workspace) -> date:
    dates = batch_dates(ws)
    if not dates:
        raise WorkbenchError(f"nothing classified in {ws.path} yet; run `workbench classify PATH` first")
    return dates[0]


def queue_dates(ws: Workspace) -> list[date]:
    """Dates that have a review queue, newest first."""
    frame = ws.df("SELECT DISTINCT queue_date FROM review_queue ORDER BY queue_date DESC")
    return [to_date(d) for d in frame["queue_date"]]


def queue_items(ws: Workspace, queue_date: str | date | None = None, status: str | None = None) -> pd.DataFrame:
    """The items of a day's queue (default: the newest queue), in review order, with titles."""
    dates = queue_dates(ws)
    day = to_date(queue_date) or (dates[0] if dates else None)
    if day is None:
        return ws.df("SELECT * FROM review_queue WHERE false")
    sql = ("SELECT q.*, p.title, p.brand, p.leaf AS current_leaf, p.label_source FROM review_queue q "
           "JOIN products p USING (product_id) WHERE q.queue_date = ?")
    params: list = [day]
    if status is not None:
        sql += " AND q.status = ?"
        params.append(status)
    return ws.df(sql + " ORDER BY q.rank", params)


def queue_counts(ws: Workspace, queue_date: str | date | None = None) -> dict[str, int]:
    """``{"pending": n, "done": n, "random": n, ...}`` for a day's queue."""
    items = queue_items(ws, queue_date)
    counts = {"total": len(items), "pending": int((items["status"] == "pending").sum()),
              "done": int((items["status"] == "done").sum())}
    for reason in ALL_REASONS:
        counts[reason] = int(items["reason"].str.split(",").map(lambda r, x=reason: x in r).sum()) if len(items) else 0
    return counts


def filter_sql(reason: str | None, category: str | None, table: str = "") -> tuple[str, list]:
    """SQL conditions (and parameters) for items of one reason and/or predicted under one category
    (``table``: the queue's alias in a join, e.g. ``"q"``)."""
    col = f"{table}." if table else ""
    sql, params = "", []
    if reason:
        sql += f" AND list_contains(string_split({col}reason, ','), ?)"
        params.append(str(reason))
    if category:
        sql += f" AND ({col}predicted_leaf = ? OR starts_with({col}predicted_leaf, ?))"
        params += [str(category), f"{category} > "]
    return sql, params


def claim_next(ws: Workspace, queue_date: str | date, claimant: str, *, stale_after: float = 600,
               skip: Sequence[str] = (), reason: str | None = None, category: str | None = None) -> dict | None:
    """Claim the first pending item nobody else holds (claims older than ``stale_after`` seconds
    lapse); the claimant's previous claim is released. ``reason`` / ``category`` keep only items
    of that reason / predicted under that category. Returns the queue row, or ``None``."""
    day = to_date(queue_date)
    now = utc_now()
    stale = now - timedelta(seconds=stale_after)
    where, params = filter_sql(reason, category)
    with ws.transaction() as cur:
        cur.execute("UPDATE review_queue SET claimed_by = NULL, claimed_at = NULL WHERE claimed_by = ?",
                    [claimant])
        row = cur.execute(
            "SELECT product_id FROM review_queue WHERE queue_date = ? AND status = 'pending' "
            "AND (claimed_by IS NULL OR claimed_at < ?) AND product_id NOT IN (SELECT unnest(?))" + where
            + " ORDER BY rank LIMIT 1", [day, stale, [str(s) for s in skip], *params]).fetchone()
        if row is None:
            return None
        cur.execute("UPDATE review_queue SET claimed_by = ?, claimed_at = ? WHERE queue_date = ? "
                    "AND product_id = ?", [claimant, now, day, row[0]])
        item = cur.execute("SELECT * FROM review_queue WHERE queue_date = ? AND product_id = ?",
                           [day, row[0]]).df()
    return item.iloc[0].to_dict()


def peek_next(ws: Workspace, queue_date: str | date, *, stale_after: float = 600,
              skip: Sequence[str] = (), reason: str | None = None, category: str | None = None) -> dict | None:
    """The item :func:`claim_next` would hand out, without claiming it: what a viewer, who may
    look but not review, is shown (it stays free for the reviewers)."""
    stale = utc_now() - timedelta(seconds=stale_after)
    where, params = filter_sql(reason, category)
    item = ws.df("SELECT * FROM review_queue WHERE queue_date = ? AND status = 'pending' "
                 "AND (claimed_by IS NULL OR claimed_at < ?) AND product_id NOT IN (SELECT unnest(?))" + where
                 + " ORDER BY rank LIMIT 1", [to_date(queue_date), stale, [str(s) for s in skip], *params])
    return None if item.empty else item.iloc[0].to_dict()


def release_claims(ws: Workspace, claimant: str) -> None:
    """Give back whatever a claimant holds (a closed browser session)."""
    with ws.transaction() as cur:
        cur.execute("UPDATE review_queue SET claimed_by = NULL, claimed_at = NULL WHERE claimed_by = ?",
                    [claimant])


#: when this process started: claims taken before it belong to sessions of an earlier server
PROCESS_STARTED = utc_now()


def orphaned_claim(ws: Workspace, queue_date: str | date, reviewer: str,
                   before: datetime | None = None) -> str | None:
    """The pending item a reviewer claimed in a session of an earlier server (restarted since),
    so that the reviewer gets it back instead of it staying locked; ``None`` if there is none."""
    before = before or PROCESS_STARTED
    return ws.scalar("SELECT product_id FROM review_queue WHERE queue_date = ? AND status = 'pending' "
                     "AND starts_with(claimed_by, ?) AND claimed_at < ? ORDER BY claimed_at DESC LIMIT 1",
                     [to_date(queue_date), f"{reviewer}:", before])


def claim(ws: Workspace, queue_date: str | date, product_id: str, claimant: str) -> dict | None:
    """Claim one given pending item (e.g. the one an undo put back); ``None`` if it is not pending."""
    day = to_date(queue_date)
    with ws.transaction() as cur:
        cur.execute("UPDATE review_queue SET claimed_by = NULL, claimed_at = NULL WHERE claimed_by = ?",
                    [claimant])
        item = cur.execute("SELECT * FROM review_queue WHERE queue_date = ? AND product_id = ? "
                           "AND status = 'pending'", [day, str(product_id)]).df()
        if item.empty:
            return None
        cur.execute("UPDATE review_queue SET claimed_by = ?, claimed_at = ? WHERE queue_date = ? "
                    "AND product_id = ?", [claimant, utc_now(), day, str(product_id)])
    return item.iloc[0].to_dict()

