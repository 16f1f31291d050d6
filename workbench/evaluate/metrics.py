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


def hierarchical_prf_macro_from(s: Scored, tree: TreeIndex) -> dict[str, float]:
    """Macro-averaged hierarchical precision, recall and F1: the ancestor-set figures of
    :func:`hierarchical_prf` computed per leaf, then averaged without weights.

    A leaf's ``hP`` sums over the products predicted as it, its ``hR`` over the products whose
    true leaf it is, and its ``hF`` is ``(shared_pred + shared_true) / (depth_pred + depth_true)``
    (with depth 1 everywhere that is the flat ``2 tp / (support + n_predicted)``). ``hP`` is
    averaged over the leaves predicted at least once, ``hR`` over the true ones, ``hF`` over both.
    """
    k = len(s.classes)
    shared = tree.common_depth(s.true, s.pred).astype(float)
    shared_pred = np.bincount(s.pred, weights=shared, minlength=k)
    shared_true = np.bincount(s.true, weights=shared, minlength=k)
    depth_pred = np.bincount(s.pred, minlength=k) * tree.level.astype(float)
    depth_true = np.bincount(s.true, minlength=k) * tree.level.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(depth_pred > 0, shared_pred / depth_pred, np.nan)
        recall = np.where(depth_true > 0, shared_true / depth_true, np.nan)
        both = depth_pred + depth_true
        f1 = np.where(both > 0, (shared_pred + shared_true) / both, np.nan)
    return {"precision": float(np.nanmean(precision)), "recall": float(np.nanmean(recall)),
            "f1": float(np.nanmean(f1))}


def per_node_report_from(s: Scored, tree: TreeIndex) -> pd.DataFrame:
    """Precision, recall, F1, support and number predicted of every node that is true or
    predicted at some level: the predicted leaf's ancestor at that level against the true one
    (``level``, ``node`` columns; the same conventions as :func:`per_leaf_report`)."""
    frames = []
    n_nodes = len(tree.nodes)
    for lvl in range(tree.anc.shape[1]):
        true_anc, pred_anc = tree.anc[s.true, lvl], tree.anc[s.pred, lvl]
        hit = (true_anc == pred_anc) & (true_anc >= 0)
        tp = np.bincount(true_anc[hit], minlength=n_nodes).astype(float)
        support = np.bincount(true_anc[true_anc >= 0], minlength=n_nodes)
        n_pred = np.bincount(pred_anc[pred_anc >= 0], minlength=n_nodes)
        nodes = np.flatnonzero(support + n_pred)
        tp, support, n_pred = tp[nodes], support[nodes], n_pred[nodes]
        with np.errstate(divide="ignore", invalid="ignore"):
            frames.append(pd.DataFrame({
                "level": lvl + 1, "node": tree.nodes[nodes],
                "precision": np.where(n_pred > 0, tp / n_pred, np.nan),
                "recall": np.where(support > 0, tp / support, np.nan),
                "f1": 2 * tp / (support + n_pred), "support": support, "n_predicted": n_pred}))
    return pd.concat(frames, ignore_index=True)


def level_prf_from(s: Scored, tree: TreeIndex, per_node: pd.DataFrame | None = None) -> pd.DataFrame:
    """Precision, recall and F1 at each taxonomy level, macro-averaged over the level's nodes
    (``precision_macro`` over the nodes predicted at least once, ``recall_macro`` over the true
    ones, ``f1_macro`` over both) and micro-averaged (``*_micro``: hits over products predicted,
    or true, at that level; equal to the level's accuracy when every leaf reaches it)."""
    per_node = per_node_report_from(s, tree) if per_node is None else per_node
    rows = []
    for lvl, name in enumerate(tree.taxonomy.level_names, 1):
        nodes = per_node[per_node["level"] == lvl]
        tp = float((nodes["recall"].fillna(0) * nodes["support"]).sum())
        n_true, n_pred = float(nodes["support"].sum()), float(nodes["n_predicted"].sum())
        p_micro, r_micro = ratio(tp, n_pred), ratio(tp, n_true)
        f_micro = ratio(2 * tp, n_true + n_pred)
        rows.append((name, lvl, _nanmean(nodes["precision"]), _nanmean(nodes["recall"]),
                     _nanmean(nodes["f1"]), p_micro, r_micro, f_micro))
    return pd.DataFrame(rows, columns=["level_name", "level", "precision_macro", "recall_macro", "f1_macro",
                                       "precision_micro", "recall_micro", "f1_micro"]).set_index("level_name")


def macro_f1_of_leaves(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                       leaves: Sequence[str], pred: np.ndarray | None = None) -> float | None:
    """Macro-F1 over a subset of leaves only (e.g. the rare ones), the per-leaf F1 of
    :func:`per_leaf_report` averaged over the given leaves that are true or predicted;
    ``pred`` overrides the argmax (another decision rule)."""
    report = per_leaf_report_from(score(y_true, proba, classes, pred))
    f1 = report["f1"].reindex([leaf for leaf in leaves if leaf in report.index])
    return _nanmean(f1)


def _nanmean(values) -> float | None:
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else None
