"""Oversampling for the long tail: how many times each training product is seen.

Two strategies, beside class weights (``tfidf``, ``xgboost``) and focal loss (the neural
families), available on every family through its ``oversample`` parameter:

* ``"sqrt"``: a leaf with ``n`` products grows to ``sqrt(n * n_max)`` (square-root sampling:
  rare leaves gain most, the largest leaf keeps its size, the order of sizes is kept);
* ``"balanced"``: every leaf grows to the size of the largest (scikit-learn's and imbalanced-
  learn's "balanced"; the training set becomes ``n_leaves * n_max`` rows, so costlier).

Products are repeated, never invented: each product of a leaf is seen ``target // n`` times and
a seeded ``target % n`` of them once more, so copies spread evenly over the leaf's products.
Only the training products are oversampled; the validation products (early stopping,
calibration) stay as they are. Families whose learner takes sample weights (``tfidf``,
``hierarchical``) receive the counts as weights: the linear models' loss is the one the copies
would give, without the copies (the TF-IDF vocabulary is learnt from the products as they are).
"""

from __future__ import annotations

import numpy as np

from workbench.errors import WorkbenchError

OVERSAMPLING = ("sqrt", "balanced")


def check_oversample(strategy: str | None) -> str | None:
    """The strategy, or an error naming the choices."""
    if strategy is not None and strategy not in OVERSAMPLING:
        raise WorkbenchError(f"unknown oversample {strategy!r}; use one of {', '.join(OVERSAMPLING)} "
                             "or None (off)")
    return strategy


def oversample_targets(counts: np.ndarray, strategy: str) -> np.ndarray:
    """The number of rows each class grows to (never fewer than it has; 0 stays 0)."""
    check_oversample(strategy)
    counts = np.asarray(counts, dtype=np.int64)
    largest = int(counts.max()) if len(counts) else 0
    if strategy == "balanced":
        target = np.full_like(counts, largest)
    else:
        target = np.rint(np.sqrt(counts.astype(float) * largest)).astype(np.int64)
    return np.where(counts > 0, np.maximum(target, counts), 0)


def oversample_counts(y: np.ndarray, strategy: str, random_state: int = 0) -> np.ndarray:
    """How many times each row of ``y`` (class codes) is used: ``>= 1``, summing per class to
    :func:`oversample_targets`; seeded by ``random_state``."""
    y = np.asarray(y, dtype=np.int64)
    per_class = np.bincount(y)
    target = oversample_targets(per_class, strategy)
    base, extra = target // np.maximum(per_class, 1), target % np.maximum(per_class, 1)
    counts = base[y].copy()
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(y))
    shuffled = y[order]
    rank = np.empty(len(y), dtype=np.int64)
    # rank of each row among its class's rows, in a seeded order
    sort = np.argsort(shuffled, kind="stable")
    starts = np.concatenate([[0], np.cumsum(per_class)[:-1]])
    rank[order[sort]] = np.arange(len(y)) - np.repeat(starts, per_class)
    counts += (rank < extra[y]).astype(np.int64)
    return counts
