"""Flat and hierarchical quality metrics: accuracy, macro-F1, per-leaf report, per-level
accuracy and hierarchical precision / recall / F1 over ancestor sets.

Every public function takes ``(y_true, proba, *, classes, ...)``: true leaves, an
``(n, n_leaves)`` probability matrix whose columns follow ``classes``; the prediction is the
most probable column. The ``*_from`` variants take an already :func:`score`-d input.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from workbench.evaluate._common import Scored, TreeIndex, ratio, score, tree_index
from workbench.catalog.taxonomy import Taxonomy


def accuracy(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str]) -> float:
    """Share of products whose most probable leaf is the true leaf."""
    return accuracy_from(score(y_true, proba, classes))


def accuracy_from(s: Scored) -> float:
    """:func:`accuracy` of scored predictions."""
    return float(np.mean(s.correct))


def per_leaf_report(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, F1, support and number predicted for every leaf in ``classes``.

    A leaf never predicted has precision NaN, a leaf without test products has recall NaN;
    F1 is ``2 tp / (support + n_predicted)``, NaN only when both are zero.
    """
    return per_leaf_report_from(score(y_true, proba, classes))


def per_leaf_report_from(s: Scored) -> pd.DataFrame:
    """:func:`per_leaf_report` of scored predictions."""
    k = len(s.classes)
    tp = np.bincount(s.true[s.correct], minlength=k).astype(float)
    support = np.bincount(s.true, minlength=k)
    n_pred = np.bincount(s.pred, minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame = pd.DataFrame({
            "precision": np.where(n_pred > 0, tp / n_pred, np.nan),
            "recall": np.where(support > 0, tp / support, np.nan),
            "f1": np.where(support + n_pred > 0, 2 * tp / (support + n_pred), np.nan),
            "support": support,
            "n_predicted": n_pred,
        }, index=pd.Index(s.classes, name="leaf"))
    return frame


def macro_f1(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str]) -> float:
    """Unweighted mean F1 over the leaves that are true or predicted at least once
    (the leaves scikit-learn's ``f1_score(average="macro")`` would use)."""
    return macro_f1_from(score(y_true, proba, classes))


def macro_f1_from(s: Scored) -> float:
    """:func:`macro_f1` of scored predictions."""
    return float(np.nanmean(per_leaf_report_from(s)["f1"].to_numpy()))


def level_accuracy(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                   taxonomy: Taxonomy) -> dict[str, float | None]:
    """Accuracy of the derived ancestor at each level, ``{level_name: accuracy}``.

    The predicted ancestor at a level is the predicted leaf's ``taxonomy.ancestor_at``; products
    whose true leaf is shallower than the level are skipped there (``None`` when none remain).
    """
    s = score(y_true, proba, classes)
    return level_accuracy_from(s, tree_index(taxonomy, s.classes))["accuracy"].to_dict()


def level_accuracy_from(s: Scored, tree: TreeIndex) -> pd.DataFrame:
    """Per-level ``accuracy`` and ``n`` (products counted), indexed by level name."""
    rows = []
    for lvl, name in enumerate(tree.taxonomy.level_names):
        true_anc = tree.anc[s.true, lvl]
        pred_anc = tree.anc[s.pred, lvl]
        counted = true_anc >= 0
        n = int(counted.sum())
        rows.append((name, lvl + 1, ratio(np.count_nonzero(true_anc[counted] == pred_anc[counted]), n), n))
    frame = pd.DataFrame(rows, columns=["level_name", "level", "accuracy", "n"]).set_index("level_name")
    frame["accuracy"] = frame["accuracy"].astype(object).where(frame["n"] > 0, None)
    return frame


def hierarchical_prf(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                     taxonomy: Taxonomy) -> dict[str, float]:
    """Micro-averaged hierarchical precision, recall and F1 (Kiritchenko et al.).

    With ``anc(x)`` the ancestors of x including x and excluding the root:
    ``hP = sum |anc(pred) & anc(true)| / sum |anc(pred)|``, ``hR = ... / sum |anc(true)|``,
    ``hF = 2 hP hR / (hP + hR)``.
    """
    s = score(y_true, proba, classes)
    return hierarchical_prf_from(s, tree_index(taxonomy, s.classes))


def hierarchical_prf_from(s: Scored, tree: TreeIndex) -> dict[str, float]:
    """:func:`hierarchical_prf` of scored predictions."""
    shared = float(tree.common_depth(s.true, s.pred).sum())
    precision = shared / float(tree.level[s.pred].sum())
    recall = shared / float(tree.level[s.true].sum())
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
