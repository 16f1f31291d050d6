"""Bootstrap intervals for accuracy and macro-F1, and a paired test of "A beats B".

On a small catalog (tens of test products per leaf) one product moves accuracy by a visible
amount, so a difference between two runs means little without an interval. Both functions
resample the test products with replacement (seeded; ``n_boot`` times) and read percentiles:

* :func:`bootstrap_interval`: the interval of one run's accuracy and macro-F1.
* :func:`paired_bootstrap`: the interval of the *difference* between two runs scored on the same
  products (each resample takes the same products for both, which is what makes it paired);
  ``"A beats B"`` only when the whole interval is above zero. The promotion gate and
  ``compare`` use the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Fewer test products per leaf than this and ``compare`` shows intervals.
SMALL_PER_LEAF = 50


def _macro_f1_codes(y: np.ndarray, pred: np.ndarray, n_labels: int, counts: np.ndarray | None = None) -> float:
    """Macro-F1 over the labels present in ``y`` or ``pred`` (``counts``: each row's weight)."""
    w = np.ones(len(y)) if counts is None else counts
    tp = np.bincount(y[y == pred], weights=w[y == pred], minlength=n_labels)
    true = np.bincount(y, weights=w, minlength=n_labels)
    predicted = np.bincount(pred, weights=w, minlength=n_labels)
    present = (true + predicted) > 0
    denom = true + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros(n_labels), where=denom > 0)
    return float(f1[present].mean()) if present.any() else 0.0


def _codes(*arrays: Sequence) -> tuple[list[np.ndarray], int]:
    labels = np.unique(np.concatenate([np.asarray(a, dtype=object).astype(str) for a in arrays]))
    index = {v: i for i, v in enumerate(labels)}
    return [np.array([index[str(v)] for v in a], dtype=np.int64) for a in arrays], len(labels)


def _weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``n_boot`` bootstrap resamples of ``n`` rows as per-row counts (multinomial draws)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


@dataclass(frozen=True)
class Interval:
    """A point estimate and its ``level`` bootstrap percentile interval."""

    value: float
    low: float
    high: float
    level: float = 0.95

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap_interval(y_true: Sequence, pred: Sequence, *, n_boot: int = 1000, level: float = 0.95,
                       seed: int = 0) -> dict[str, Interval]:
    """``{"accuracy": Interval, "macro_f1": Interval}`` of one run's predicted labels."""
    (y, p), n_labels = _codes(y_true, pred)
    if len(y) == 0:
        raise ValueError("no test products to bootstrap")
    w = _weights(len(y), n_boot, seed)
    right = (y == p).astype(np.float64)
    acc = w @ right / len(y)
    f1 = np.array([_macro_f1_codes(y, p, n_labels, row) for row in w])
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return {"accuracy": Interval(float(right.mean()), *np.percentile(acc, q), level),
            "macro_f1": Interval(_macro_f1_codes(y, p, n_labels), *np.percentile(f1, q), level)}


@dataclass(frozen=True)
class PairedResult:
    """The difference A - B of one metric, its interval, and the verdict."""

    metric: str
    difference: float
    low: float
    high: float
    level: float

    @property
    def a_beats_b(self) -> bool:
        """Whether A is better than B with the interval entirely above zero."""
        return self.low > 0

    @property
    def b_beats_a(self) -> bool:
        """Whether B is better than A with the interval entirely below zero."""
        return self.high < 0

    @property
    def verdict(self) -> str:
        """``"A beats B"``, ``"B beats A"`` or ``"no clear difference"``."""
        return "A beats B" if self.a_beats_b else "B beats A" if self.b_beats_a else "no clear difference"

    def __str__(self) -> str:
        return (f"{self.metric} A - B = {self.difference:+.3f} "
                f"[{self.low:+.3f}, {self.high:+.3f}] ({self.level:.0%}): {self.verdict}")


def paired_bootstrap(y_true: Sequence, pred_a: Sequence, pred_b: Sequence, *, metric: str = "accuracy",
                     n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> PairedResult:
    """The paired bootstrap of ``metric`` (``"accuracy"`` or ``"macro_f1"``) of A minus B on the
    same products: each resample takes the same products for both runs."""
    if metric not in ("accuracy", "macro_f1"):
        raise ValueError(f"unknown metric {metric!r}; use 'accuracy' or 'macro_f1'")
    if not (len(y_true) == len(pred_a) == len(pred_b)) or len(y_true) == 0:
        raise ValueError(f"y_true, pred_a and pred_b need the same, non-zero length; got "
                         f"{len(y_true)}, {len(pred_a)}, {len(pred_b)}")
    (y, a, b), n_labels = _codes(y_true, pred_a, pred_b)
    w = _weights(len(y), n_boot, seed)
    if metric == "accuracy":
        diff_row = (a == y).astype(np.float64) - (b == y).astype(np.float64)
        point = float(diff_row.mean())
        diffs = w @ diff_row / len(y)
    else:
        point = _macro_f1_codes(y, a, n_labels) - _macro_f1_codes(y, b, n_labels)
        diffs = np.array([_macro_f1_codes(y, a, n_labels, r) - _macro_f1_codes(y, b, n_labels, r) for r in w])
    low, high = np.percentile(diffs, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return PairedResult(metric, point, float(low), float(high), level)


def needs_intervals(y_true: Sequence, per_leaf: int = SMALL_PER_LEAF) -> bool:
    """Whether a test part is small: fewer than ``per_leaf`` products per leaf on average."""
    y = np.asarray(y_true, dtype=object)
    leaves = len(set(y.tolist()))
    return leaves > 0 and len(y) / leaves < per_leaf
