"""Where predictions land: leaf-to-leaf confusion counts, the confusion matrix among the
children of any parent node, and the most confused pairs of leaves."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.evaluate._common import Scored, score
from workbench.catalog.taxonomy import SEP, Taxonomy

OUTSIDE = "(outside)"


def confusion_pairs(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str]) -> pd.DataFrame:
    """Every (true leaf, predicted leaf) pair that occurs, with its count ``n`` (diagonal included)."""
    return confusion_pairs_from(score(y_true, proba, classes))


def confusion_pairs_from(s: Scored) -> pd.DataFrame:
    """:func:`confusion_pairs` of scored predictions."""
    k = len(s.classes)
    codes, counts = np.unique(s.true.astype(np.int64) * k + s.pred, return_counts=True)
    return pd.DataFrame({"true_leaf": s.classes[codes // k], "predicted_leaf": s.classes[codes % k],
                         "n": counts})


def _child_under(leaves: pd.Series, parent: str | None, level: int) -> np.ndarray:
    """The ancestor at ``level`` of each leaf lying under ``parent`` (``None`` elsewhere)."""
    prefix = "" if parent is None else parent + SEP
    return np.array([SEP.join(leaf.split(SEP)[:level]) if leaf.startswith(prefix) else None
                     for leaf in leaves], dtype=object)


def sibling_confusion_from_pairs(pairs: pd.DataFrame, taxonomy: Taxonomy, parent: str | None,
                                 include_outside: bool = True) -> pd.DataFrame:
    """The confusion matrix among ``parent``'s children from leaf-pair counts (see
    :func:`sibling_confusion`); dashboards use it on the stored ``eval_confusion`` table."""
    if parent is not None and taxonomy.is_leaf(parent):
        raise WorkbenchError(f"{parent!r} is a leaf; pick a parent node that has children "
                             f"(e.g. {taxonomy.parent(parent) or taxonomy.roots[0]!r})")
    children = taxonomy.children(parent)
    level = 1 if parent is None else taxonomy.level(parent) + 1
    columns = children + [OUTSIDE]
    col_of = {c: i for i, c in enumerate(columns)}
    matrix = np.zeros((len(children), len(columns)), dtype=np.int64)
    true_child = _child_under(pairs["true_leaf"], parent, level)
    pred_child = _child_under(pairs["predicted_leaf"], parent, level)
    for t, p, n in zip(true_child, pred_child, pairs["n"]):
        if t is not None:
            matrix[col_of[t], col_of[OUTSIDE if p is None else p]] += n
    table = pd.DataFrame(matrix, index=pd.Index(children, name="true"),
                         columns=pd.Index(columns, name="predicted"))
    return table if include_outside else table.drop(columns=OUTSIDE)


def sibling_confusion(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                      taxonomy: Taxonomy, parent: str | None, include_outside: bool = True) -> pd.DataFrame:
    """Confusion matrix among the children of ``parent`` (``None``: the top-level categories).

    A product counts under the child of ``parent`` that is an ancestor of its true leaf (row) and
    of its predicted leaf (column); products whose true leaf is not under ``parent`` are
    excluded; a prediction outside ``parent`` goes to the column ``"(outside)"``.
    """
    return sibling_confusion_from_pairs(confusion_pairs(y_true, proba, classes=classes), taxonomy,
                                        parent, include_outside)


def most_confused_pairs(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                        k: int = 10, taxonomy: Taxonomy | None = None) -> pd.DataFrame:
    """The ``k`` most frequent (true leaf, predicted leaf) errors: ``n``, ``share_of_true`` (of
    the true leaf's products) and, with a taxonomy, the tree ``distance``."""
    return most_confused_from_pairs(confusion_pairs(y_true, proba, classes=classes), k=k,
                                    taxonomy=taxonomy)


def most_confused_from_pairs(pairs: pd.DataFrame, *, k: int = 10,
                             taxonomy: Taxonomy | None = None) -> pd.DataFrame:
    """:func:`most_confused_pairs` from leaf-pair counts."""
    support = pairs.groupby("true_leaf")["n"].sum()
    errors = pairs[pairs["true_leaf"] != pairs["predicted_leaf"]]
    top = errors.sort_values(["n", "true_leaf", "predicted_leaf"], ascending=[False, True, True]).head(k)
    top = top.assign(share_of_true=top["n"] / top["true_leaf"].map(support).to_numpy())
    if taxonomy is not None:
        top = top.assign(distance=[taxonomy.distance(a, b) for a, b in
                                   zip(top["true_leaf"], top["predicted_leaf"])])
    return top.reset_index(drop=True)
