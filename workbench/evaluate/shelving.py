"""Shelving decisions: a prediction whose top probability reaches its threshold is shelved
with its leaf and every derived ancestor; the rest go to review.

Thresholds are one global value plus optional overrides ``{node: threshold}``. An override on a
leaf applies to products predicted as that leaf; one on an internal node applies to every
predicted leaf below it; the most specific override wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.evaluate._common import score, tree_index
from workbench.catalog.taxonomy import Taxonomy


def check_threshold(value: float, where: str = "threshold") -> float:
    """A threshold as a float; must be a number >= 0 (above 1 means: never shelve)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise WorkbenchError(f"{where} {value!r} is not a number; use e.g. 0.9") from None
    if math.isnan(value) or value < 0:
        raise WorkbenchError(f"{where} {value!r} must be >= 0 (e.g. 0.9; above 1 sends all to review)")
    return value


def leaf_thresholds(threshold: float, overrides: Mapping[str, float] | None = None, *,
                    classes: Sequence[str], taxonomy: Taxonomy | None = None) -> np.ndarray:
    """The threshold that applies to each class (leaf): its most specific override, else global."""
    base = check_threshold(threshold)
    out = np.full(len(classes), base)
    if not overrides:
        return out
    if taxonomy is None:
        raise WorkbenchError("per-category overrides need the taxonomy; pass taxonomy=")
    for node, value in overrides.items():
        if node not in taxonomy:
            raise WorkbenchError(f"threshold override for unknown category {node!r}; use a node id "
                                 f"such as {taxonomy.leaves[0]!r}")
        check_threshold(value, f"override for {node!r}")
    for i, leaf in enumerate(classes):
        for node in reversed(taxonomy.ancestors(leaf)):
            if node in overrides:
                out[i] = float(overrides[node])
                break
    return out


@dataclass
class ShelvingPreview:
    """Per-product decisions (``frame``) and their counts."""

    frame: pd.DataFrame
    shelved: int
    review: int
    accuracy_shelved: float | None = None

    @property
    def summary(self) -> dict:
        """Counts as a plain dict (``total, shelved, review, shelved_share, accuracy_shelved``)."""
        total = self.shelved + self.review
        return {"total": total, "shelved": self.shelved, "review": self.review,
                "shelved_share": self.shelved / total if total else None,
                "accuracy_shelved": self.accuracy_shelved}


def shelving_preview(product_ids: Sequence, proba: np.ndarray, *, classes: Sequence[str],
                     taxonomy: Taxonomy, threshold: float, overrides: Mapping[str, float] | None = None,
                     y_true: Sequence[str] | None = None, decision: str = "argmax") -> ShelvingPreview:
    """Decide ``"shelved"``/``"review"`` for each product at the given thresholds.

    ``decision`` picks each product's leaf (``argmax`` or ``min-risk``, see
    :mod:`workbench.evaluate.decision`); its confidence is that leaf's probability. The frame has ``product_id, leaf, confidence, threshold, decision`` and one column per
    level name with the ancestor derived from the leaf; with ``y_true`` also ``true_leaf`` and
    ``correct``, and the summary gives the accuracy among shelved products.
    """
    classes = np.asarray(classes, dtype=object)
    ids = np.asarray(product_ids, dtype=object)
    proba = np.asarray(proba)
    if proba.ndim != 2 or len(ids) != proba.shape[0]:
        raise WorkbenchError(f"{len(ids)} product ids for probabilities of shape {proba.shape}; "
                             "pass one id per row")
    from workbench.evaluate.decision import decide

    pred = None if decision == "argmax" else decide(proba, classes=classes, taxonomy=taxonomy,
                                                   decision=decision)
    s = score(y_true if y_true is not None else np.repeat(classes[:1], len(ids)), proba, classes, pred)
    tree = tree_index(taxonomy, classes)
    per_product = leaf_thresholds(threshold, overrides, classes=classes, taxonomy=taxonomy)[s.pred]
    shelved = s.conf >= per_product.astype(s.conf.dtype)  # compare in the probabilities' precision
    frame = pd.DataFrame({"product_id": ids, "leaf": classes[s.pred],
                          "confidence": s.conf.astype(float), "threshold": per_product,
                          "decision": np.where(shelved, "shelved", "review")})
    for lvl, name in enumerate(taxonomy.level_names):
        code = tree.anc[s.pred, lvl]
        frame[name] = np.where(code >= 0, tree.nodes[np.maximum(code, 0)], None)
    accuracy = None
    if y_true is not None:
        frame["true_leaf"] = np.asarray(y_true, dtype=object)
        frame["correct"] = s.correct
    n_shelved = int(shelved.sum())
    if y_true is not None and n_shelved:
        accuracy = float(np.count_nonzero(shelved & s.correct) / n_shelved)
    return ShelvingPreview(frame, n_shelved, s.n - n_shelved, accuracy)

