"""Accuracy-coverage trade-off of a confidence threshold, globally and per category.

A product is *covered* (shelved automatically) when its top probability is at least the
threshold. The curve has one point per distinct confidence value, built from one sort;
products with equal confidence enter together, so no point splits a tie.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.evaluate._common import Scored, ratio, score
from workbench.evaluate.shelving import leaf_thresholds
from workbench.catalog.taxonomy import Taxonomy

# accuracies are ratios of counts; this slack keeps e.g. 19/20 >= 0.95 true despite rounding
ACCURACY_SLACK = 1e-12


def check_target(target: float) -> float:
    """A target accuracy as a float in (0, 1]."""
    if not 0.0 < float(target) <= 1.0:
        raise WorkbenchError(f"target accuracy {target!r} must be in (0, 1], e.g. 0.95")
    return float(target)


def curve_arrays(conf: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(thresholds, n_covered, n_correct)`` with thresholds descending, one per distinct confidence."""
    order = np.argsort(-conf)
    sorted_conf = conf[order]
    cum_ok = np.cumsum(correct[order])
    ends = np.flatnonzero(np.r_[sorted_conf[1:] != sorted_conf[:-1], True])
    return sorted_conf[ends], ends + 1, cum_ok[ends]


def accuracy_coverage_curve(y_true: Sequence[str], proba: np.ndarray, *,
                            classes: Sequence[str]) -> pd.DataFrame:
    """One row per distinct top probability t (descending): ``threshold`` t, ``coverage`` (share
    of products with top probability >= t), ``accuracy`` among them, ``n_covered``."""
    return accuracy_coverage_curve_from(score(y_true, proba, classes))


def accuracy_coverage_curve_from(s: Scored) -> pd.DataFrame:
    """:func:`accuracy_coverage_curve` of scored predictions."""
    thr, n_cov, n_ok = curve_arrays(s.conf, s.correct)
    return pd.DataFrame({"threshold": thr.astype(float), "coverage": n_cov / s.n,
                         "accuracy": n_ok / n_cov, "n_covered": n_cov})


def threshold_for_accuracy(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                           target: float) -> float | None:
    """The threshold with the most coverage whose accuracy is at least ``target``
    (``None`` when no threshold reaches it)."""
    return threshold_from_curve(accuracy_coverage_curve_from(score(y_true, proba, classes)), target)


def threshold_from_curve(curve: pd.DataFrame, target: float) -> float | None:
    """:func:`threshold_for_accuracy` read off a curve frame."""
    ok = np.flatnonzero(curve["accuracy"].to_numpy() >= check_target(target) - ACCURACY_SLACK)
    return float(curve["threshold"].iloc[ok[-1]]) if len(ok) else None


def coverage_at(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str], threshold: float,
                overrides: Mapping[str, float] | None = None, taxonomy: Taxonomy | None = None) -> dict:
    """Coverage and accuracy at a global threshold, optionally with per-category ``overrides``
    (see :func:`workbench.evaluate.shelving.leaf_thresholds`; they need ``taxonomy``)."""
    s = score(y_true, proba, classes)
    if overrides:
        if taxonomy is None:
            raise WorkbenchError("per-category overrides need the taxonomy; pass taxonomy=")
        per_leaf = leaf_thresholds(threshold, overrides, classes=s.classes, taxonomy=taxonomy)
    else:
        per_leaf = np.full(len(s.classes), float(threshold))
    return coverage_at_from(s, per_leaf)


def coverage_at_from(s: Scored, per_leaf_threshold: np.ndarray) -> dict:
    """Coverage at one threshold per class (the threshold of each product's predicted leaf).

    Thresholds are compared in the probabilities' own precision (0.9 means float32 0.9 for
    float32 probabilities), so a typed threshold matches a stored confidence of the same value.
    """
    covered = s.conf >= per_leaf_threshold.astype(s.conf.dtype)[s.pred]
    n_cov = int(covered.sum())
    return {"coverage": n_cov / s.n, "accuracy": ratio(np.count_nonzero(s.correct & covered), n_cov),
            "n_covered": n_cov, "n": s.n}


def downsample_curve(curve: pd.DataFrame, max_points: int = 2000,
                     keep_thresholds: Sequence[float] = ()) -> pd.DataFrame:
    """At most about ``max_points`` rows of a curve, evenly spaced along it, always keeping the
    first and last point (exact endpoints) and the rows of ``keep_thresholds``."""
    m = len(curve)
    if m <= max_points:
        return curve.reset_index(drop=True)
    picks = np.round(np.linspace(0, m - 1, max_points)).astype(np.int64)
    thr = curve["threshold"].to_numpy()
    wanted = [np.flatnonzero(thr == t)[:1] for t in keep_thresholds if t is not None]
    rows = np.unique(np.concatenate([picks, *wanted]).astype(np.int64))
    return curve.iloc[rows].reset_index(drop=True)
