"""How bad the errors are: tree distance between predicted and true leaf, its distribution,
the worst errors, and whether top-k predictions fall among the true leaf's semantic neighbours.

Distance 0 is right, 2 is a sibling (near miss), ``2 * depth`` is another top-level
category (an embarrassing miss).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.evaluate._common import Scored, TreeIndex, ratio, score, tree_index
from workbench.catalog.taxonomy import Taxonomy


def tree_distances(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                   taxonomy: Taxonomy) -> np.ndarray:
    """Tree distance (edges) between each product's predicted and true leaf."""
    s = score(y_true, proba, classes)
    return tree_index(taxonomy, s.classes).distance(s.true, s.pred)


def distance_distribution(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                          taxonomy: Taxonomy) -> dict[int, float]:
    """``{distance: share of products}`` for every distance that occurs (shares sum to 1)."""
    s = score(y_true, proba, classes)
    table = distance_table_from(s, tree_index(taxonomy, s.classes))
    return dict(zip(table["distance"].tolist(), table["share"].tolist()))


def distance_table_from(s: Scored, tree: TreeIndex) -> pd.DataFrame:
    """``distance, n, share`` for every distance that occurs, ascending."""
    counts = np.bincount(tree.distance(s.true, s.pred))
    dist = np.flatnonzero(counts)
    return pd.DataFrame({"distance": dist, "n": counts[dist], "share": counts[dist] / s.n})


def worst_errors(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                 taxonomy: Taxonomy, k: int = 20, product_ids: Sequence | None = None) -> pd.DataFrame:
    """The ``k`` wrong predictions farthest from the truth, most confident first among equals:
    ``product_id`` (row number when not given), ``true_leaf``, ``predicted_leaf``, ``confidence``,
    ``distance``."""
    s = score(y_true, proba, classes)
    return worst_errors_from(s, tree_index(taxonomy, s.classes), k=k, product_ids=product_ids)


def worst_errors_from(s: Scored, tree: TreeIndex, *, k: int = 20,
                      product_ids: Sequence | None = None) -> pd.DataFrame:
    """:func:`worst_errors` of scored predictions."""
    wrong = np.flatnonzero(~s.correct)
    dist = tree.distance(s.true[wrong], s.pred[wrong])
    # distance dominates: confidence is at most 1, distances differ by at least 1
    key = dist * 2.0 + s.conf[wrong]
    if len(wrong) > k:
        part = np.argpartition(-key, k - 1)[:k]
        wrong, dist, key = wrong[part], dist[part], key[part]
    order = np.lexsort((wrong, -key))
    rows, dist = wrong[order], dist[order]
    ids = np.asarray(product_ids, dtype=object)[rows] if product_ids is not None else rows
    return pd.DataFrame({"product_id": ids, "true_leaf": s.classes[s.true[rows]],
                         "predicted_leaf": s.classes[s.pred[rows]],
                         "confidence": s.conf[rows].astype(float), "distance": dist})


def neighbour_matrix(neighbours: Mapping[str, Sequence[str]], classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(n_classes, n_classes)`` matrix ``M[t, j]``: j is a neighbour of t; and whether
    each class has an entry in the mapping. Neighbours outside ``classes`` are ignored."""
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=bool)
    has = np.zeros(len(classes), dtype=bool)
    for leaf, near in neighbours.items():
        t = index.get(leaf)
        if t is None:
            continue
        has[t] = True
        cols = [index[n] for n in near if n in index and n != leaf]
        matrix[t, cols] = True
    return matrix, has


def top_k_indices(proba: np.ndarray, k: int, chunk: int = 32768) -> np.ndarray:
    """Column indices of the ``k`` most probable leaves of each row, most probable first (ties:
    lower column first). Repeated argmax on row chunks beats ``argpartition`` for small k."""
    k = min(k, proba.shape[1])
    out = np.empty((proba.shape[0], k), dtype=np.int32)
    for lo in range(0, proba.shape[0], chunk):
        block = np.array(proba[lo:lo + chunk], dtype=np.float64 if proba.dtype == np.float64 else np.float32)
        rows = np.arange(len(block))
        for j in range(k):
            best = block.argmax(axis=1)
            out[lo:lo + len(block), j] = best
            block[rows, best] = -np.inf
    return out


def neighbour_share(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                    neighbours: Mapping[str, Sequence[str]], k: int = 5,
                    include_true: bool = False) -> float | None:
    """Share of the top-``k`` predictions that are semantic neighbours of the true leaf
    (``neighbours``: ``{leaf: [neighbour leaves]}``; the true leaf itself counts only with
    ``include_true``). Products whose true leaf has no entry are skipped; ``None`` if none remain."""
    s = score(y_true, proba, classes)
    return neighbour_share_from(s, np.asarray(proba), neighbours, k=k, include_true=include_true)


def neighbour_share_from(s: Scored, proba: np.ndarray, neighbours: Mapping[str, Sequence[str]], *,
                         k: int = 5, include_true: bool = False) -> float | None:
    """:func:`neighbour_share` of scored predictions (``proba`` is still needed for the top k)."""
    if k < 1:
        raise WorkbenchError(f"k={k} must be at least 1")
    matrix, has = neighbour_matrix(neighbours, s.classes)
    if include_true:
        np.fill_diagonal(matrix, True)
    rows = np.flatnonzero(has[s.true])
    if not len(rows):
        return None
    top = top_k_indices(proba[rows] if len(rows) < s.n else proba, k)
    hits = matrix[s.true[rows][:, None], top]
    return float(hits.mean())


def neighbour_error_share(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                          neighbours: Mapping[str, Sequence[str]]) -> float | None:
    """Share of wrong top-1 predictions that land on a semantic neighbour of the true leaf
    (products whose true leaf has no entry are skipped; ``None`` when no error remains)."""
    return neighbour_error_share_from(score(y_true, proba, classes), neighbours)


def neighbour_error_share_from(s: Scored, neighbours: Mapping[str, Sequence[str]]) -> float | None:
    """:func:`neighbour_error_share` of scored predictions."""
    matrix, has = neighbour_matrix(neighbours, s.classes)
    wrong = ~s.correct & has[s.true]
    return ratio(np.count_nonzero(matrix[s.true[wrong], s.pred[wrong]]), np.count_nonzero(wrong))


def family_level(taxonomy: Taxonomy) -> int | None:
    """The level whose nodes are *families*: 2 (Product Category > **Product Family** > Product
    Type) in a tree of three or more levels, 1 in a two-level tree, ``None`` in a flat one."""
    return None if taxonomy.depth < 2 else min(2, taxonomy.depth - 1)


def error_severity(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                   taxonomy: Taxonomy, pred: np.ndarray | None = None) -> dict[str, float | int | None]:
    """How bad the wrong predictions are (``pred`` overrides the argmax, e.g. the min-risk
    rule): see :func:`error_severity_from`."""
    s = score(y_true, proba, classes, pred)
    return error_severity_from(s, tree_index(taxonomy, s.classes))


def error_severity_from(s: Scored, tree: TreeIndex) -> dict[str, float | int | None]:
    """``errors`` (count), ``mean_error_distance`` (mean tree distance over the wrong
    predictions only), ``cross_family_errors`` (count of errors whose predicted leaf sits in
    another family than the true one, see :func:`family_level`; a leaf shallower than that
    level is its own family), ``cross_family_error_share`` (their share of the errors),
    ``cross_family_rate`` (their share of all products) and ``family_level``."""
    fl = family_level(tree.taxonomy)
    wrong = np.flatnonzero(~s.correct)
    dist = tree.distance(s.true[wrong], s.pred[wrong])
    out: dict[str, float | int | None] = {"errors": int(len(wrong)), "family_level": fl,
                                          "mean_error_distance": float(dist.mean()) if len(wrong) else None}
    if fl is None:
        out.update(cross_family_errors=int(len(wrong)), cross_family_error_share=ratio(len(wrong), len(wrong)),
                   cross_family_rate=ratio(len(wrong), s.n))
        return out
    family = tree.anc[np.arange(len(tree.level)), np.minimum(tree.level, fl) - 1]
    cross = int(np.count_nonzero(family[s.true[wrong]] != family[s.pred[wrong]]))
    out.update(cross_family_errors=cross, cross_family_error_share=ratio(cross, len(wrong)),
               cross_family_rate=ratio(cross, s.n))
    return out
