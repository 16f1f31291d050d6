"""Shared preparation for every metric: validate inputs once, then work on integer codes.

``score`` turns ``(y_true, proba, classes)`` into leaf codes, the predicted leaf code and the top
probability of each product; ``tree_index`` turns a taxonomy into per-class arrays (level and
ancestor code at each level) so that every tree metric is a numpy gather, not a Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.catalog.taxonomy import Taxonomy


@dataclass(frozen=True)
class Scored:
    """Predictions reduced to codes: column ``pred`` of ``classes`` with probability ``conf``."""

    classes: np.ndarray
    true: np.ndarray
    pred: np.ndarray
    conf: np.ndarray

    @property
    def n(self) -> int:
        """Number of products."""
        return len(self.true)

    @property
    def correct(self) -> np.ndarray:
        """Whether each top-1 prediction is the true leaf."""
        return self.true == self.pred


def leaf_codes(labels: Sequence[str], classes: np.ndarray, what: str = "y_true") -> np.ndarray:
    """Column index of each label in ``classes``; an unknown label is an error."""
    codes = pd.Index(classes).get_indexer(np.asarray(labels, dtype=object))
    if (codes < 0).any():
        bad = np.asarray(labels, dtype=object)[codes < 0][0]
        raise WorkbenchError(f"{what} holds {bad!r}, which is not among the {len(classes)} classes; "
                             "pass the classes (leaf order) the probabilities were computed for")
    return codes.astype(np.int32)


def score(y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str],
          pred: np.ndarray | None = None) -> Scored:
    """Validate ``y_true``/``proba``/``classes`` and reduce them to codes and confidences.

    The prediction is the most probable column, or ``pred`` (one column index per product, from
    another decision rule such as :func:`workbench.evaluate.decision.min_risk_leaves`); the
    confidence is the probability of the predicted column."""
    classes = np.asarray(classes, dtype=object)
    proba = np.asarray(proba)
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        raise WorkbenchError(f"proba has shape {proba.shape}, expected (n_products, {len(classes)}); "
                             "its columns must follow `classes`")
    if len(y_true) != proba.shape[0]:
        raise WorkbenchError(f"y_true has {len(y_true)} labels but proba has {proba.shape[0]} rows; "
                             "pass one row of probabilities per product")
    if proba.shape[0] == 0:
        raise WorkbenchError("no products to evaluate; pass at least one prediction")
    if len(set(classes.tolist())) != len(classes):
        raise WorkbenchError("classes holds duplicate leaves; pass each leaf once")
    true = leaf_codes(y_true, classes)
    if pred is None:
        pred = proba.argmax(axis=1).astype(np.int32)
    else:
        pred = np.asarray(pred, dtype=np.int32)
        if pred.shape != (proba.shape[0],) or (pred < 0).any() or (pred >= len(classes)).any():
            raise WorkbenchError(f"pred must hold one column index in [0, {len(classes)}) per product")
    conf = proba[np.arange(len(pred)), pred]
    if not np.isfinite(conf).all():
        raise WorkbenchError("proba holds NaN or infinite values; fix the model output first")
    return Scored(classes, true, pred, conf)


@dataclass(frozen=True)
class TreeIndex:
    """Per-class tree facts: ``anc[c, l]`` is the code of class c's ancestor at level l+1
    (``-1`` when the class is shallower); ``nodes[code]`` is that ancestor's node id."""

    taxonomy: Taxonomy
    nodes: np.ndarray
    anc: np.ndarray
    level: np.ndarray

    def common_depth(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Number of shared ancestors (levels) of classes ``a[i]`` and ``b[i]``: the LCA's level."""
        same = (self.anc[a] == self.anc[b]) & (self.anc[a] >= 0)
        return np.cumprod(same, axis=1, dtype=np.int8).sum(axis=1, dtype=np.int32)

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Tree distance (edges) between classes ``a[i]`` and ``b[i]``."""
        return self.level[a] + self.level[b] - 2 * self.common_depth(a, b)


def tree_index(taxonomy: Taxonomy, classes: Sequence[str]) -> TreeIndex:
    """Per-class ancestor codes for a taxonomy; every class must be a node of it."""
    if not isinstance(taxonomy, Taxonomy):
        raise WorkbenchError("taxonomy must be a workbench.Taxonomy; build one with Taxonomy(paths) "
                             "or Taxonomy.from_frame(categories)")
    classes = np.asarray(classes, dtype=object)
    missing = [c for c in classes if c not in taxonomy]
    if missing:
        raise WorkbenchError(f"class {missing[0]!r} is not in the taxonomy; evaluate with the taxonomy "
                             "the run was trained on")
    nodes = taxonomy.nodes
    code = {n: i for i, n in enumerate(nodes)}
    anc = np.full((len(classes), taxonomy.depth), -1, dtype=np.int32)
    level = np.zeros(len(classes), dtype=np.int32)
    for c, leaf in enumerate(classes):
        path = taxonomy.ancestors(leaf)
        level[c] = len(path)
        anc[c, : len(path)] = [code[a] for a in path]
    return TreeIndex(taxonomy, np.asarray(nodes, dtype=object), anc, level)


def ratio(num: float, den: float) -> float | None:
    """``num / den`` as a float, or ``None`` when the denominator is zero."""
    return float(num) / float(den) if den else None
