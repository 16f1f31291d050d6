"""Calibration of the top probability: reliability bins and expected calibration error (ECE).

Bins are equal-width on [0, 1] and right-closed, ``(lower, upper]`` (the first also holds 0),
as in Guo et al. (2017); ECE is the count-weighted mean of ``|accuracy - mean confidence|``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.evaluate._common import Scored, score


def reliability_bins(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                     n_bins: int = 15) -> pd.DataFrame:
    """One row per bin: ``bin, lower, upper, mean_confidence, accuracy, count`` (empty bins have
    NaN confidence and accuracy and count 0)."""
    return reliability_bins_from(score(y_true, proba, classes), n_bins)


def reliability_bins_from(s: Scored, n_bins: int = 15) -> pd.DataFrame:
    """:func:`reliability_bins` of scored predictions."""
    if int(n_bins) < 1:
        raise WorkbenchError(f"n_bins={n_bins} must be at least 1")
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    conf = s.conf.astype(np.float64)
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    conf_sum = np.bincount(which, weights=conf, minlength=n_bins)
    ok_sum = np.bincount(which, weights=s.correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({"bin": np.arange(n_bins), "lower": edges[:-1], "upper": edges[1:],
                             "mean_confidence": conf_sum / count, "accuracy": ok_sum / count,
                             "count": count})


def expected_calibration_error(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                               n_bins: int = 15) -> float:
    """``sum_b count_b / n * |accuracy_b - mean_confidence_b|`` over the non-empty bins."""
    return ece_from_bins(reliability_bins_from(score(y_true, proba, classes), n_bins))


def ece_from_bins(bins: pd.DataFrame) -> float:
    """ECE from a :func:`reliability_bins` frame."""
    full = bins[bins["count"] > 0]
    gap = (full["accuracy"] - full["mean_confidence"]).abs()
    return float((gap * full["count"]).sum() / full["count"].sum())
