"""Rare leaves predicted through their ancestor (``auto``'s back-off), instead of pooled into "Other".

A leaf with a handful of training products is hard to learn on its own, and pooling it with
its rare siblings into an "Other <parent>" leaf (the ingest's min-count merge) makes a leaf
nobody can use. The back-off keeps every leaf and predicts a rare one in two steps:

1. a linear head over the tfidf features learns the *groups*: every frequent leaf is its own
   group, and the rare leaves (fewer than ``min_count`` training products) under one ancestor
   ``depth`` levels up share one group, which has enough products to be learnt;
2. a group's probability is shared among its rare leaves in proportion to the flat tfidf's
   probabilities of those leaves (``P(leaf) = P(group) * P_flat(leaf) / P_flat(group's leaves)``).

A frequent leaf keeps the group head's probability. Columns stay the taxonomy's leaves, rows
sum to 1, and a leaf absent from training keeps probability 0.

``min_count`` and ``depth`` are chosen from the data: the candidate minimum counts are
quantiles of the training products per leaf (:func:`candidate_min_counts`), depth 1 (the
parent) and, on a deeper tree, 2 (the grandparent); each candidate is fitted and scored on the
validation products, and the back-off is used only when one beats the flat model on validation
(accuracy plus macro-F1) by more than one standard error of the validation accuracy (smaller
differences are the validation sample's noise, and the flat model is the simpler one). :func:`choose_backoff` returns the choice and every score, which
``auto`` records with the run.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import f1_score
from sklearn.svm import LinearSVC

from workbench.catalog.taxonomy import split_node_id
from workbench.models.softmax import softmax

#: Quantiles of the training products per leaf that give the candidate minimum counts.
QUANTILES = (0.1, 0.25, 0.5)
#: A leaf with at least this many training products is never treated as rare.
MAX_MIN_COUNT = 30
#: The label of a pooled group (never a leaf id: leaf ids do not contain it).
POOL = "*rare*"


def ancestor(leaf: str, depth: int) -> str:
    """The id of ``leaf``'s ancestor ``depth`` levels up (``""``, the root, when the path is shorter)."""
    parts = split_node_id(leaf)
    return " > ".join(parts[:-depth]) if len(parts) > depth else ""


def groups_for(classes, counts: np.ndarray, min_count: int, depth: int) -> tuple[np.ndarray, int]:
    """``(group of every class, number of pools)``: rare classes (``0 < count < min_count``) under
    the same ancestor share a group when there are at least two of them; every other class is
    its own group. Groups are numbered 0..G-1."""
    rare = (counts > 0) & (counts < min_count)
    key = [f"{ancestor(c, depth)} > {POOL}" if rare[i] else c for i, c in enumerate(classes)]
    size: dict[str, int] = {}
    for k, r in zip(key, rare):
        if r:
            size[k] = size.get(k, 0) + 1
    key = [k if not r or size[k] >= 2 else classes[i] for i, (k, r) in enumerate(zip(key, rare))]
    names = sorted(set(key))
    index = {k: i for i, k in enumerate(names)}
    pools = sum(1 for k in names if k.endswith(POOL))
    return np.array([index[k] for k in key], dtype=np.int64), pools


def candidate_min_counts(counts: np.ndarray) -> list[int]:
    """Minimum counts to try: the :data:`QUANTILES` of the training products per seen leaf,
    rounded up, from 2 to :data:`MAX_MIN_COUNT`."""
    seen = counts[counts > 0]
    if not len(seen):
        return []
    found = {int(math.ceil(np.quantile(seen, q))) for q in QUANTILES}
    return sorted(m for m in found if 2 <= m <= MAX_MIN_COUNT)


@dataclass
class Backoff:
    """A fitted back-off: the group head, the group of every class, the head's temperature."""

    svm: LinearSVC
    group_of: np.ndarray
    temperature: float = 1.0
    choice: dict = field(default_factory=dict)

    def proba(self, matrix, p_flat: np.ndarray) -> np.ndarray:
        """Leaf probabilities from the group head (on tfidf ``matrix``) and the flat ``p_flat``."""
        from workbench.models.tfidf import _decision_matrix

        groups = int(self.group_of.max()) + 1
        p_group = np.zeros((matrix.shape[0], groups))
        p_group[:, self.svm.classes_] = softmax(_decision_matrix(self.svm, matrix), self.temperature)
        within = np.zeros((p_flat.shape[0], groups))
        np.add.at(within.T, self.group_of, p_flat.T)
        share = np.divide(p_flat, within[:, self.group_of], out=np.zeros_like(p_flat),
                          where=within[:, self.group_of] > 0)
        single = np.bincount(self.group_of, minlength=groups)[self.group_of] == 1
        share[:, single] = 1.0
        return p_group[:, self.group_of] * share


def fit_backoff(matrix, y: np.ndarray, group_of: np.ndarray, *, C: float, class_weight, max_iter: int,
                random_state: int, valid_matrix=None, valid_y=None, sample_weight=None) -> Backoff:
    """The group head on training ``matrix`` / leaf codes ``y``; its softmax temperature fitted on
    the validation products when given."""
    from workbench.models.tfidf import _decision_matrix, best_temperature

    target = group_of[y]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        svm = LinearSVC(C=C, class_weight=class_weight, max_iter=max_iter, random_state=random_state)
        svm.fit(matrix, target, sample_weight=sample_weight)
    temperature = 1.0
    if valid_matrix is not None and len(valid_y):
        keep = np.isin(group_of[valid_y], svm.classes_)
        if keep.sum() >= 2:
            temperature = best_temperature(_decision_matrix(svm, valid_matrix[keep]),
                                           np.searchsorted(svm.classes_, group_of[valid_y[keep]]))
    return Backoff(svm, group_of, temperature)


def standard_error(accuracy: float, n: int) -> float:
    """The standard error of a validation accuracy (see :func:`workbench.models.tfidf.standard_error`)."""
    from workbench.models.tfidf import standard_error as se

    return se(accuracy, n)


def _score(proba: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    pred = proba.argmax(axis=1)
    return float(np.mean(pred == y)), float(f1_score(y, pred, average="macro"))


def choose_backoff(matrix, y: np.ndarray, classes, valid_matrix, valid_y: np.ndarray, p_flat_valid: np.ndarray,
                   *, C: float, class_weight="balanced", max_iter: int = 2000, random_state: int = 0,
                   depth_of_tree: int = 1) -> tuple[Backoff | None, dict]:
    """Fit the candidate back-offs (:func:`candidate_min_counts` at depth 1, then the best of them
    at depth 2 on a tree at least 3 deep) and keep the one that beats the flat model on
    validation accuracy + macro-F1 by more than one standard error of the accuracy; ``(None, record)`` when none does. ``record`` says what was
    tried and chosen (for the run's resolved parameters)."""
    counts = np.bincount(y, minlength=len(classes))
    flat = _score(p_flat_valid, valid_y)
    scores = {"none": flat}
    record: dict = {}
    fitted: dict[str, Backoff] = {}

    def attempt(m: int, depth: int) -> None:
        group_of, pools = groups_for(list(classes), counts, m, depth)
        if pools == 0:
            return
        name = f"min_count={m},depth={depth}"
        model = fit_backoff(matrix, y, group_of, C=C, class_weight=class_weight, max_iter=max_iter,
                            random_state=random_state, valid_matrix=valid_matrix, valid_y=valid_y)
        model.choice = {"min_count": m, "depth": depth, "pools": pools,
                        "rare_leaves": int((np.bincount(group_of)[group_of] >= 2).sum())}
        fitted[name] = model
        scores[name] = _score(model.proba(valid_matrix, p_flat_valid), valid_y)

    candidates = candidate_min_counts(counts)
    for m in candidates:
        attempt(m, 1)
    if depth_of_tree >= 3 and len(fitted):
        best_m = fitted[max(fitted, key=lambda k: sum(scores[k]))].choice["min_count"]
        attempt(best_m, 2)
    record["rare_valid_accuracy"] = {k: round(v[0], 4) for k, v in scores.items()}
    record["rare_valid_macro_f1"] = {k: round(v[1], 4) for k, v in scores.items()}
    if not candidates:
        record["rare_leaves"] = (f"no back-off: no leaf is rare (the smallest has {int(counts[counts > 0].min())} "
                                 "training products)" if (counts > 0).any() else "no back-off: no training products")
        return None, record
    if not fitted:
        record["rare_leaves"] = "no back-off: no two rare leaves share a parent"
        return None, record
    best = max(fitted, key=lambda k: sum(scores[k]))
    if sum(scores[best]) - sum(flat) <= standard_error(flat[0], len(valid_y)):
        record["rare_leaves"] = ("no back-off: no candidate beat the flat model on validation by more than "
                                 "one standard error")
        return None, record
    chosen = fitted[best]
    record["rare_leaves"] = (f"backed off to the {'parent' if chosen.choice['depth'] == 1 else 'grandparent'}: "
                             f"{chosen.choice['rare_leaves']} leaves under {chosen.choice['min_count']} training "
                             f"products in {chosen.choice['pools']} groups")
    record["rare_min_count"] = chosen.choice["min_count"]
    record["rare_depth"] = chosen.choice["depth"]
    return chosen, record
