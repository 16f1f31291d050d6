"""The threshold that costs least: a wrong shelf and a human review both have a price.

A product shelved in the wrong category costs ``cost_wrong`` (it is not found, or found by the
wrong shoppers); a product sent to review costs ``cost_review`` (a person's time). At a global
threshold ``t`` the total is ``cost_wrong * wrong_shelved(t) + cost_review * reviewed(t)``;
:func:`cheapest_threshold` finds the ``t`` that minimises it with one sort of the confidences.
Products whose threshold is fixed elsewhere (a category override) enter as constants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.errors import WorkbenchError

#: a threshold above every confidence: nothing is shelved
NEVER = 1.5


@dataclass(frozen=True)
class CostCurve:
    """At each candidate threshold (descending distinct confidences, then :data:`NEVER` first):
    products shelved and wrong among them; plus the products whose decision is fixed."""

    thresholds: np.ndarray
    shelved: np.ndarray
    wrong: np.ndarray
    n: int
    fixed_shelved: int = 0
    fixed_wrong: int = 0

    def costs(self, cost_wrong: float, cost_review: float) -> np.ndarray:
        """Total cost at every candidate threshold."""
        shelved = self.shelved + self.fixed_shelved
        wrong = self.wrong + self.fixed_wrong
        return cost_wrong * wrong + cost_review * (self.n - shelved)


def cost_curve(confidence: np.ndarray, correct: np.ndarray, *, fixed_shelved: int = 0, fixed_wrong: int = 0,
               n_total: int | None = None) -> CostCurve:
    """The candidates of :func:`cheapest_threshold` for products with ``confidence`` (top-1
    probability, float32 as stored) and ``correct``; ``n_total`` counts the fixed products too."""
    conf = np.asarray(confidence, dtype=np.float32)
    ok = np.asarray(correct, dtype=bool)
    if conf.shape != ok.shape:
        raise WorkbenchError("confidence and correct must have one entry per product")
    order = np.argsort(-conf, kind="stable")
    conf, wrong = conf[order], (~ok[order]).astype(np.int64)
    cum_wrong = np.cumsum(wrong)
    # a threshold equal to a confidence shelves every product at or above it (ties enter together)
    last_of_tie = np.r_[np.flatnonzero(np.diff(conf) != 0), len(conf) - 1] if len(conf) else np.array([], int)
    thresholds = np.r_[NEVER, conf[last_of_tie].astype(np.float64)]
    shelved = np.r_[0, last_of_tie + 1]
    wrong_shelved = np.r_[0, cum_wrong[last_of_tie]] if len(conf) else np.array([0])
    return CostCurve(thresholds, shelved.astype(np.int64), wrong_shelved.astype(np.int64),
                     int(n_total if n_total is not None else len(conf)), int(fixed_shelved), int(fixed_wrong))


@dataclass(frozen=True)
class CostPoint:
    """A threshold with its cost and the counts behind it."""

    threshold: float
    cost: float
    shelved: int
    wrong: int
    review: int


def cheapest_threshold(curve: CostCurve, cost_wrong: float, cost_review: float) -> CostPoint:
    """The candidate threshold with the lowest total cost (ties: the lower threshold, which
    shelves more for the same cost)."""
    for name, value in (("cost of a wrong shelf", cost_wrong), ("cost of a review", cost_review)):
        if not np.isfinite(value) or value < 0:
            raise WorkbenchError(f"{name} must be a number >= 0, not {value!r}")
    costs = curve.costs(float(cost_wrong), float(cost_review))
    best = int(np.flatnonzero(costs == costs.min())[-1])
    return cost_at_index(curve, best, cost_wrong, cost_review)


def cost_at_index(curve: CostCurve, i: int, cost_wrong: float, cost_review: float) -> CostPoint:
    """The :class:`CostPoint` of candidate ``i``."""
    shelved = int(curve.shelved[i] + curve.fixed_shelved)
    wrong = int(curve.wrong[i] + curve.fixed_wrong)
    return CostPoint(float(curve.thresholds[i]), float(cost_wrong * wrong + cost_review * (curve.n - shelved)),
                     shelved, wrong, curve.n - shelved)


def cost_at(curve: CostCurve, threshold: float, cost_wrong: float, cost_review: float) -> CostPoint:
    """The cost of a given global threshold (the shelving rule: confidence >= threshold, in float32)."""
    t = np.float32(min(float(threshold), NEVER))
    # candidates are descending; the last one whose threshold is >= t shelves exactly conf >= t
    i = int(np.searchsorted(-curve.thresholds.astype(np.float32), -t, side="right") - 1)
    point = cost_at_index(curve, max(i, 0), cost_wrong, cost_review)
    return CostPoint(float(threshold), point.cost, point.shelved, point.wrong, point.review)
