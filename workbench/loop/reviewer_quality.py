"""Reviewer quality: accuracy on gold items, agreement on double-reviewed products, flags.

* Per reviewer: gold answers, accuracy with a Wilson interval, and on the gold items the model
  gets wrong how often the reviewer accepted the model's (wrong) suggestion. A reviewer is
  *flagged* when their gold accuracy is below ``min_accuracy`` (after :data:`MIN_GOLD` answers) or
  when they rubber-stamp: the Wilson lower bound of their acceptance of wrong suggestions is above
  ``stamp_bar`` (a careful reviewer accepts a wrong suggestion only by mistake).
* Agreement on products two or more reviewers decided (each reviewer's newest decision): Cohen's
  kappa per pair of reviewers, Krippendorff's alpha overall and per top-level category.
* A flagged reviewer's recent decisions, or the products reviewers disagree on, can be sent to
  another review (the queue's ``dashboard`` reason, naming why).
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.loop.agreement import cohen_kappa, krippendorff_alpha
from workbench.loop.live_accuracy import wilson_interval
from workbench.store import Workspace

#: gold answers needed before a low gold accuracy flags a reviewer
MIN_GOLD = 10
DEFAULT_MIN_ACCURACY = 0.8
#: acceptance of the model's wrong suggestions (lower bound) above which a reviewer rubber-stamps
DEFAULT_STAMP_BAR = 0.5


def reviewer_flags(gold_n: int, gold_correct: int, wrong_n: int, wrong_accepted: int, *,
                   min_accuracy: float = DEFAULT_MIN_ACCURACY, stamp_bar: float = DEFAULT_STAMP_BAR,
                   confidence: float = 0.95) -> list[str]:
    """Why a reviewer's decisions need a second look (empty when they do not)."""
    flags = []
    if gold_n >= MIN_GOLD and gold_correct / gold_n < min_accuracy:
        flags.append(f"gold accuracy {gold_correct / gold_n:.0%} is below {min_accuracy:.0%}")
    if wrong_n:
        low, _ = wilson_interval(wrong_accepted, wrong_n, confidence)
        if low > stamp_bar:
            flags.append(f"rubber-stamping: accepted the model's wrong suggestion on {wrong_accepted} of "
                         f"{wrong_n} gold items")
    return flags


def reviewer_report(ws: Workspace, *, min_accuracy: float = DEFAULT_MIN_ACCURACY,
                    stamp_bar: float = DEFAULT_STAMP_BAR, confidence: float = 0.95) -> pd.DataFrame:
    """One row per reviewer: ``reviews``, ``gold`` (answers), ``gold_correct``, ``gold_accuracy``
    with ``gold_low`` / ``gold_high`` (Wilson), ``wrong_suggestions`` (gold items the model got
    wrong), ``accepted_wrong`` and its share, ``flags`` and ``flagged``."""
    with ws.hold():
        reviews = ws.df("SELECT reviewer, count(*) AS reviews FROM reviews WHERE NOT undone GROUP BY reviewer")
        gold = ws.df(
            "SELECT reviewer, count(*) AS gold, count(*) FILTER (WHERE leaf = gold_leaf) AS gold_correct, "
            "count(*) FILTER (WHERE suggested_leaf IS NOT NULL AND suggested_leaf <> gold_leaf) AS wrong_suggestions, "
            "count(*) FILTER (WHERE suggested_leaf IS NOT NULL AND suggested_leaf <> gold_leaf "
            "AND leaf = suggested_leaf) AS accepted_wrong FROM gold_answers GROUP BY reviewer")
    frame = reviews.merge(gold, on="reviewer", how="outer").fillna(0)
    rows = []
    for r in frame.sort_values("reviewer").to_dict("records"):
        n, ok = int(r["gold"]), int(r["gold_correct"])
        wn, wa = int(r["wrong_suggestions"]), int(r["accepted_wrong"])
        low, high = wilson_interval(ok, n, confidence)
        flags = reviewer_flags(n, ok, wn, wa, min_accuracy=min_accuracy, stamp_bar=stamp_bar,
                               confidence=confidence)
        rows.append({"reviewer": r["reviewer"], "reviews": int(r["reviews"]), "gold": n, "gold_correct": ok,
                     "gold_accuracy": ok / n if n else math.nan, "gold_low": low, "gold_high": high,
                     "wrong_suggestions": wn, "accepted_wrong": wa,
                     "accepted_wrong_share": wa / wn if wn else math.nan,
                     "flags": flags, "flagged": bool(flags)})
    return pd.DataFrame(rows, columns=["reviewer", "reviews", "gold", "gold_correct", "gold_accuracy", "gold_low",
                                       "gold_high", "wrong_suggestions", "accepted_wrong", "accepted_wrong_share",
                                       "flags", "flagged"])


def _decisions(ws: Workspace) -> pd.DataFrame:
    """Each reviewer's newest standing decision per product, on products two or more decided."""
    return ws.df(
        "WITH d AS (SELECT product_id, reviewer, final_leaf FROM reviews WHERE NOT undone "
        "QUALIFY row_number() OVER (PARTITION BY product_id, reviewer ORDER BY reviewed_at DESC, review_id DESC) = 1) "
        "SELECT d.*, p.leaf AS current_leaf FROM d JOIN products p USING (product_id) WHERE d.product_id IN "
        "(SELECT product_id FROM d GROUP BY product_id HAVING count(*) >= 2) ORDER BY product_id, reviewer")


def agreement_report(ws: Workspace) -> dict[str, Any]:
    """``double_reviewed`` (products), ``share`` (of reviewed products), ``pairs`` (reviewer a, b,
    common products ``n``, ``agree`` share, ``kappa``), ``alpha`` overall and ``alpha_by_category``
    (top-level category of the product's current label), ``disagreements`` (product ids)."""
    decisions = _decisions(ws)
    reviewed = int(ws.scalar("SELECT count(DISTINCT product_id) FROM reviews WHERE NOT undone"))
    wide = decisions.pivot(index="product_id", columns="reviewer", values="final_leaf") if len(decisions) else \
        pd.DataFrame()
    pairs = []
    for a, b in combinations(sorted(wide.columns), 2):
        both = wide[[a, b]].dropna()
        if len(both):
            pairs.append({"a": a, "b": b, "n": len(both), "agree": float((both[a] == both[b]).mean()),
                          "kappa": cohen_kappa(list(both[a]), list(both[b]))})

    def alpha(frame: pd.DataFrame) -> float:
        return krippendorff_alpha([[None if pd.isna(v) else v for v in row] for row in frame.itertuples(index=False)])

    top = decisions.drop_duplicates("product_id").set_index("product_id")["current_leaf"].map(
        lambda leaf: str(leaf).split(" > ")[0] if isinstance(leaf, str) else "(unlabelled)")
    by_category = {str(c): alpha(wide.loc[top[top == c].index]) for c in sorted(top.unique())} if len(wide) else {}
    disagree = [str(p) for p, row in wide.iterrows() if row.dropna().nunique() > 1] if len(wide) else []
    return {"double_reviewed": int(len(wide)), "reviewed": reviewed,
            "share": len(wide) / reviewed if reviewed else math.nan,
            "pairs": pd.DataFrame(pairs, columns=["a", "b", "n", "agree", "kappa"]),
            "alpha": alpha(wide) if len(wide) else math.nan, "alpha_by_category": by_category,
            "disagreements": disagree}


def send_for_second_review(ws: Workspace, reviewer: str, *, by: str, last: int = 50) -> int:
    """Send a reviewer's ``last`` standing decisions to today's queue for another reviewer;
    returns how many products were sent."""
    from workbench.loop.queue_manual import send_to_queue

    ids = ws.df("SELECT product_id, max(reviewed_at) AS t FROM reviews WHERE reviewer = ? AND NOT undone "
                "GROUP BY product_id ORDER BY t DESC LIMIT ?", [str(reviewer), int(last)])["product_id"]
    if ids.empty:
        raise WorkbenchError(f"{reviewer!r} has no standing reviews to send to a second review")
    return send_to_queue(ws, ids.astype(str).tolist(), by=by, source=f"second review of {reviewer}")


def send_disagreements(ws: Workspace, *, by: str) -> int:
    """Send the products reviewers disagree on to today's queue, for a third reviewer or an admin."""
    from workbench.loop.queue_manual import send_to_queue

    ids = agreement_report(ws)["disagreements"]
    if not ids:
        return 0
    return send_to_queue(ws, ids, by=by, source="reviewers disagree")
