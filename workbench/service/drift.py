"""Drift statistics as plain functions: served traffic against a reference.

* :func:`psi`: population stability index of two count vectors, with half a count added to
  every category on both sides (so a category absent from a small sample does not explode the
  sum). Rule of thumb: below 0.1 stable, 0.1-0.25 moderate, above 0.25 a real shift.
* :func:`jensen_shannon`: the Jensen-Shannon divergence (natural log, 0 to ln 2), symmetric.
* :func:`unknown_token_share`: the share of title tokens a vocabulary has never seen.
* :func:`binned_psi`: PSI of a numeric variable over bins cut at the reference's quantiles.
* :func:`classifier_two_sample_auc`: a classifier two-sample test: the cross-validated ROC AUC
  of a logistic regression told to tell reference vectors from served ones (0.5: it cannot, so
  the two come from the same distribution; 1.0: they are apart).
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

import numpy as np

_TOKEN = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    """The lowercase word tokens of a text (letters and digits of any script)."""
    return _TOKEN.findall(str(text or "").lower())


def _aligned(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(set(a) | set(b))
    return (np.array([float(a.get(k, 0)) for k in keys]), np.array([float(b.get(k, 0)) for k in keys]))


def psi(served: Mapping[str, float], reference: Mapping[str, float], pseudo: float = 0.5) -> float:
    """Population stability index of category counts ``served`` against ``reference``."""
    s, r = _aligned(served, reference)
    if s.sum() == 0 or r.sum() == 0:
        return float("nan")
    s, r = s + pseudo, r + pseudo
    s, r = s / s.sum(), r / r.sum()
    return float(np.sum((s - r) * np.log(s / r)))


def jensen_shannon(served: Mapping[str, float], reference: Mapping[str, float]) -> float:
    """Jensen-Shannon divergence of two count (or share) vectors, in nats."""
    s, r = _aligned(served, reference)
    if s.sum() == 0 or r.sum() == 0:
        return float("nan")
    s, r = s / s.sum(), r / r.sum()
    m = (s + r) / 2

    def kl(p: np.ndarray, q: np.ndarray) -> float:
        keep = p > 0
        return float(np.sum(p[keep] * np.log(p[keep] / q[keep])))

    return 0.5 * kl(s, m) + 0.5 * kl(r, m)


def unknown_token_share(texts: Iterable[str], vocabulary: set[str]) -> tuple[float, int]:
    """``(share of tokens not in vocabulary, number of tokens)``; NaN share without tokens."""
    total = unknown = 0
    for text in texts:
        for token in tokens(text):
            total += 1
            unknown += token not in vocabulary
    return (unknown / total if total else float("nan")), total


def quantile_edges(reference: Sequence[float], bins: int = 10) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (duplicates dropped)."""
    values = np.asarray(reference, dtype=float)
    return np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])) if len(values) else np.array([])


def binned_psi(served: Sequence[float], reference: Sequence[float], bins: int = 10,
               edges: Sequence[float] | None = None) -> float:
    """PSI of a numeric variable: both samples counted in bins (the reference's quantiles
    unless ``edges`` are given)."""
    cuts = quantile_edges(reference, bins) if edges is None else np.asarray(edges, dtype=float)
    s = np.bincount(np.searchsorted(cuts, np.asarray(served, dtype=float), side="right"), minlength=len(cuts) + 1)
    r = np.bincount(np.searchsorted(cuts, np.asarray(reference, dtype=float), side="right"), minlength=len(cuts) + 1)
    return psi({str(i): v for i, v in enumerate(s)}, {str(i): v for i, v in enumerate(r)})


def classifier_two_sample_auc(reference: np.ndarray, served: np.ndarray, *, max_per_side: int = 500,
                              folds: int = 5, seed: int = 0) -> float:
    """Cross-validated ROC AUC of a classifier separating ``served`` rows from ``reference``
    rows (equal numbers of each, at most ``max_per_side``, drawn with ``seed``)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    rng = np.random.default_rng(seed)
    n = min(len(reference), len(served), max_per_side)
    if n < folds * 2:
        return float("nan")
    a = np.asarray(reference)[rng.permutation(len(reference))[:n]]
    b = np.asarray(served)[rng.permutation(len(served))[:n]]
    X = np.vstack([a, b]).astype(np.float64)
    y = np.r_[np.zeros(n), np.ones(n)]
    score = cross_val_predict(LogisticRegression(C=1.0, max_iter=1000), X, y, method="predict_proba",
                              cv=StratifiedKFold(folds, shuffle=True, random_state=seed))[:, 1]
    return float(roc_auc_score(y, score))
