"""Live accuracy: how often the model is right on new arrivals, measured honestly.

Only reviews of the queue's *random* sample count: the uncertain and disagreement items are
chosen because the model is likely wrong, so including them would bias the estimate down.
A random-sample item is correct when the reviewer kept the predicted leaf. Each estimate
comes with a Wilson score interval.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.loop.shelving import to_date
from workbench.store import Workspace


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (``(nan, nan)`` when ``n`` is 0)."""
    if not 0 < confidence < 1:
        raise WorkbenchError(f"confidence {confidence!r} must be between 0 and 1, e.g. 0.95")
    if successes < 0 or n < 0 or successes > n:
        raise WorkbenchError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return math.nan, math.nan
    z = _z(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact bounds at the ends
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def random_sample_reviews(ws: Workspace) -> pd.DataFrame:
    """The standing review of every reviewed random-sample item (newest review per item), with
    ``correct`` (the reviewer kept the prediction) and whether the item had been shelved."""
    frame = ws.df(
        "SELECT q.queue_date, q.product_id, q.predicted_leaf, r.final_leaf, r.reviewer, r.reviewed_at, "
        "r.final_leaf = q.predicted_leaf AS correct, c.decision = 'shelved' AS shelved "
        "FROM review_queue q JOIN (SELECT * FROM reviews WHERE NOT undone QUALIFY row_number() OVER "
        "(PARTITION BY queue_date, product_id ORDER BY reviewed_at DESC, review_id DESC) = 1) r "
        "ON r.queue_date = q.queue_date AND r.product_id = q.product_id "
        "LEFT JOIN (SELECT product_id, run_id, decision FROM classifications QUALIFY row_number() OVER "
        "(PARTITION BY product_id, run_id ORDER BY classified_at DESC) = 1) c "
        "ON c.product_id = q.product_id AND c.run_id = q.run_id "
        "WHERE q.in_random ORDER BY q.queue_date, q.rank")
    frame["queue_date"] = [to_date(d) for d in frame["queue_date"]]
    return frame


def _row(group: pd.DataFrame, confidence: float) -> dict:
    n, k = len(group), int(group["correct"].sum())
    low, high = wilson_interval(k, n, confidence)
    shelved = group[group["shelved"].fillna(False).astype(bool)]
    ks, ns = int(shelved["correct"].sum()), len(shelved)
    s_low, s_high = wilson_interval(ks, ns, confidence)
    return {"n": n, "correct": k, "accuracy": k / n if n else math.nan, "low": low, "high": high,
            "n_shelved": ns, "shelved_accuracy": ks / ns if ns else math.nan,
            "shelved_low": s_low, "shelved_high": s_high}


def live_accuracy(ws: Workspace, *, confidence: float = 0.95) -> pd.DataFrame:
    """Accuracy per queue date from random-sample reviews, with its Wilson interval; also the
    accuracy among the sampled products that had been shelved automatically."""
    reviews = random_sample_reviews(ws)
    rows = [{"queue_date": day, **_row(group, confidence)}
            for day, group in reviews.groupby("queue_date", sort=True)]
    columns = ["queue_date", "n", "correct", "accuracy", "low", "high", "n_shelved",
               "shelved_accuracy", "shelved_low", "shelved_high"]
    return pd.DataFrame(rows, columns=columns)


def live_accuracy_overall(ws: Workspace, *, confidence: float = 0.95) -> dict:
    """One estimate over every random-sample review so far (``n`` 0 and NaNs when none)."""
    reviews = random_sample_reviews(ws)
    out = _row(reviews, confidence) if len(reviews) else _row(
        pd.DataFrame({"correct": np.array([], dtype=bool), "shelved": np.array([], dtype=bool)}), confidence)
    out["confidence"] = confidence
    return out
