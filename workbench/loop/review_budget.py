"""The review budget: how many random-sample reviews a week keep live accuracy known to within
a margin (default +-1 point at 95% confidence), and how many queue items a week the current
threshold creates.

The reviews needed follow the normal approximation of a proportion, ``n0 = z^2 p (1 - p) / m^2``
with ``p`` the live accuracy so far (50%, the worst case, before any review), corrected for a
finite week of ``N`` arrivals: ``n = n0 / (1 + (n0 - 1) / N)``.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from workbench.errors import WorkbenchError
from workbench.loop.live_accuracy import live_accuracy_overall
from workbench.store import Workspace


def reviews_for_margin(accuracy: float, *, margin: float = 0.01, confidence: float = 0.95,
                       population: int | None = None) -> int:
    """Random-sample reviews that estimate ``accuracy`` to within ``+-margin`` at ``confidence``
    (out of ``population`` products, when given)."""
    if not 0 < margin < 1:
        raise WorkbenchError(f"margin {margin!r} must be between 0 and 1, e.g. 0.01 for +-1 point")
    if not 0 < confidence < 1:
        raise WorkbenchError(f"confidence {confidence!r} must be between 0 and 1, e.g. 0.95")
    p = 0.5 if accuracy is None or math.isnan(accuracy) else min(max(float(accuracy), 0.0), 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    n0 = z * z * p * (1 - p) / (margin * margin)
    if population:
        n0 = n0 / (1 + (n0 - 1) / population)
    return int(math.ceil(n0))


def review_budget(ws: Workspace, *, margin: float = 0.01, confidence: float = 0.95, weeks: int = 4) -> dict:
    """``accuracy`` (live, or 0.5 with ``assumed``), ``arrivals_per_week`` and ``queue_per_week``
    (products the threshold sent to review; means over the last ``weeks`` weeks with arrivals),
    ``reviews_needed`` per week for ``+-margin``, ``random_reviews_per_week`` (random-sample
    reviews done, same weeks) and ``weeks`` counted."""
    overall = live_accuracy_overall(ws, confidence=confidence)
    assumed = not overall["n"]
    accuracy = 0.5 if assumed else float(overall["accuracy"])
    with ws.hold():
        weekly = ws.df(
            "SELECT date_trunc('week', batch_date) AS week, count(*) AS arrivals, "
            "count(*) FILTER (WHERE decision = 'review') AS queued FROM (SELECT * FROM classifications "
            "QUALIFY row_number() OVER (PARTITION BY product_id, batch_date ORDER BY classified_at DESC) = 1) "
            "GROUP BY week ORDER BY week DESC LIMIT ?", [int(weeks)])
        sampled = ws.df(
            "SELECT date_trunc('week', q.queue_date) AS week, count(*) AS n FROM reviews r JOIN review_queue q "
            "ON q.product_id = r.product_id AND q.queue_date = r.queue_date WHERE q.in_random AND NOT r.undone "
            "GROUP BY week ORDER BY week DESC LIMIT ?", [int(weeks)])
    n_weeks = len(weekly)
    arrivals = float(weekly["arrivals"].mean()) if n_weeks else math.nan
    queued = float(weekly["queued"].mean()) if n_weeks else math.nan
    done = float(sampled["n"].sum() / n_weeks) if n_weeks else math.nan
    population = int(round(arrivals)) if n_weeks and arrivals >= 1 else None
    return {"accuracy": accuracy, "assumed": assumed, "margin": margin, "confidence": confidence,
            "reviews_needed": reviews_for_margin(accuracy, margin=margin, confidence=confidence,
                                                 population=population),
            "reviews_needed_unbounded": reviews_for_margin(accuracy, margin=margin, confidence=confidence),
            "arrivals_per_week": arrivals, "queue_per_week": queued, "random_reviews_per_week": done,
            "weeks": n_weeks}


def budget_text(budget: dict) -> str:
    """The budget in one or two sentences, for people."""
    m, c = budget["margin"], budget["confidence"]
    basis = ("assuming 50% (no random-sample review yet)" if budget["assumed"]
             else f"at the live accuracy so far, {budget['accuracy']:.1%}")
    text = (f"To know live accuracy within ±{m * 100:g} pt at {c:.0%} confidence, review "
            f"{budget['reviews_needed']:,} random-sample products a week ({basis}).")
    if budget["weeks"]:
        text += (f" The current threshold sends {budget['queue_per_week']:,.0f} of {budget['arrivals_per_week']:,.0f} "
                 f"arrivals a week to the queue; {budget['random_reviews_per_week']:,.0f} random-sample reviews a "
                 f"week were done (mean of the last {budget['weeks']} week(s) with arrivals).")
    return text
