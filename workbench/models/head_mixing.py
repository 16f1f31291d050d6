"""How ``auto`` (:mod:`workbench.models.stacked`) joins its heads' probabilities and chooses
among candidates on validation: the weighted geometric mean, the photo head's join on the rows
that have a photo, the one-standard-error rule, and the stratified probe sample."""

from __future__ import annotations

import numpy as np
import pandas as pd

FLOOR = 1e-6
#: The heads' default ``C`` (the one-standard-error rule keeps it unless another is clearly better).
HEAD_C_DEFAULT = 10.0


def normalised_rows(p: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (rows summing to 0 stay 0)."""
    sums = p.sum(axis=1, keepdims=True)
    sums[sums == 0] = 1.0
    return p / sums


def join_photo(p_text: np.ndarray, p_photo: np.ndarray, has: np.ndarray, weight: float) -> np.ndarray:
    """The text combination joined by the photo head's probabilities in a weighted geometric mean,
    on the rows that have a photo (``has``); other rows keep the text combination (the weights
    renormalised over the heads present). ``p_photo`` has one row per row of ``p_text``."""
    out = normalised_rows(np.asarray(p_text, dtype=np.float64))
    if weight <= 0 or not has.any():
        return out
    rows = np.flatnonzero(has)
    logp = ((1 - weight) * np.log(np.maximum(out[rows], FLOOR))
            + weight * np.log(np.maximum(p_photo[rows], FLOOR)))
    out[rows] = np.exp(logp - logp.max(axis=1, keepdims=True))
    return normalised_rows(out)


def one_se_choice(scores: dict[float, float], default: float, n: int) -> float:
    """The key with the best score (ties: the one nearest ``default``), unless its score is within
    one standard error (of an accuracy on ``n`` products) of ``default``'s: then ``default``."""
    from workbench.models.tfidf import standard_error

    best = max(scores, key=lambda c: (scores[c], c == default, -abs(np.log(c / default))))
    if default in scores and scores[best] - scores[default] <= standard_error(scores[best], n):
        return default
    return best


def geometric_join(p_text: np.ndarray, p_head: np.ndarray | None, weight: float) -> np.ndarray:
    """Weighted geometric mean of two leaf-aligned probability matrices (rows not normalised)."""
    if p_head is None or weight <= 0:
        return p_text
    logp = (1 - weight) * np.log(np.maximum(p_text, FLOOR)) + weight * np.log(np.maximum(p_head, FLOOR))
    return np.exp(logp - logp.max(axis=1, keepdims=True))


def stratified_rows(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded sample of ``n`` rows, proportional per label, every label
    kept once before any gets a second row (as far as ``n`` allows)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    ys = y[order]
    rank = pd.Series(ys).groupby(ys).cumcount().to_numpy()
    size = pd.Series(ys).groupby(ys).transform("size").to_numpy()
    keep = np.lexsort((np.arange(len(ys)), rank / size))[:n]
    return np.sort(order[keep])


def accuracy_of(proba: np.ndarray, y: np.ndarray) -> float:
    """Share of rows whose most probable column is ``y`` (NaN without rows)."""
    return float(np.mean(proba.argmax(axis=1) == y)) if len(y) else float("nan")
