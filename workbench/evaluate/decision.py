"""Decision rules: which leaf a product gets from its row of probabilities.

* ``argmax``: the most probable leaf (what every metric uses by default).
* ``min-risk``: the leaf with the smallest *expected tree distance* to the true leaf under the
  model's probabilities, ``argmin_j sum_c p_c d(j, c)``: conditional risk minimisation, as in
  Bertinetto et al., "Making Better Mistakes" (CVPR 2020, arXiv 1912.09393) and Karthik et al.
  (ICLR 2021), who showed that this test-time rule alone lowers the severity of mistakes.
  When the model hesitates between two shoe types it stays among shoes instead of gambling on
  a watch with slightly more mass.

The expected distances need no ``k x k`` distance matrix: with ``anc_l(x)`` the ancestor of x
at level l and ``M_l(node)`` the probability mass of the node's subtree,
``E[d(j, Y)] = level(j) + E[level(Y)] - 2 * sum_l M_l(anc_l(j))``, one sparse product of the
probabilities with the leaf-to-ancestor incidence matrix and one back (``O(n * k * depth)``).
Candidates are the leaves with positive probability (a leaf the model never saw is never
chosen), and the argmax is kept unless another leaf is strictly better, so the rule never picks
a leaf whose expected distance exceeds the argmax's.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import sparse

from workbench.catalog.taxonomy import Taxonomy
from workbench.errors import WorkbenchError
from workbench.evaluate._common import TreeIndex, tree_index

DECISIONS = ("argmax", "min-risk")
#: a candidate must beat the argmax by more than this to replace it (float round-off)
TOLERANCE = 1e-9
CHUNK = 16384


def check_decision(decision: str) -> str:
    """The decision rule's name, or an error listing the known ones."""
    if decision not in DECISIONS:
        raise WorkbenchError(f"unknown decision rule {decision!r}; use one of {', '.join(DECISIONS)}")
    return decision


def _incidence(tree: TreeIndex) -> sparse.csr_matrix:
    """``(n_classes, n_nodes)``: 1 where the node is an ancestor of the class (or the class)."""
    rows, cols = np.nonzero(tree.anc >= 0)
    return sparse.csr_matrix((np.ones(len(rows)), (rows, tree.anc[rows, cols])),
                             shape=(tree.anc.shape[0], len(tree.nodes)))


def _expected_distances(proba: np.ndarray, tree: TreeIndex, incidence: sparse.csr_matrix) -> np.ndarray:
    block = np.asarray(proba, dtype=np.float64)
    mass = np.asarray(incidence.T @ block.T)  # (n_nodes, n): subtree masses
    shared = np.asarray(incidence @ mass).T  # (n, k): expected number of shared ancestors
    level = tree.level.astype(np.float64)
    # level(j) weighs the row's total mass: exact for rows that do not sum to 1 exactly (float32)
    return level[None, :] * block.sum(axis=1, keepdims=True) + (block @ level)[:, None] - 2.0 * shared


def expected_tree_distance(proba: np.ndarray, *, classes: Sequence[str], taxonomy: Taxonomy) -> np.ndarray:
    """``(n, n_classes)``: the expected tree distance between each leaf and the true leaf,
    ``E[d(j, Y)] = sum_c proba[i, c] * distance(j, c)``, when the truth follows the row."""
    proba = np.asarray(proba)
    _check(proba, classes)
    tree = tree_index(taxonomy, classes)
    incidence = _incidence(tree)
    if not len(proba):
        return np.zeros((0, len(classes)))
    return np.vstack([_expected_distances(proba[lo:lo + CHUNK], tree, incidence)
                      for lo in range(0, len(proba), CHUNK)])


def min_risk_leaves(proba: np.ndarray, *, classes: Sequence[str], taxonomy: Taxonomy) -> np.ndarray:
    """Column index of the min-risk leaf of each row (see the module docstring)."""
    proba = np.asarray(proba)
    _check(proba, classes)
    tree = tree_index(taxonomy, classes)
    incidence = _incidence(tree)
    out = np.empty(len(proba), dtype=np.int32)
    for lo in range(0, len(proba), CHUNK):
        block = np.asarray(proba[lo:lo + CHUNK], dtype=np.float64)
        risk = _expected_distances(block, tree, incidence)
        rows = np.arange(len(block))
        top = block.argmax(axis=1)
        risk[block <= 0] = np.inf
        best = risk.argmin(axis=1)
        keep = risk[rows, top] <= risk[rows, best] + TOLERANCE
        out[lo:lo + len(block)] = np.where(keep, top, best)
    return out


def decide(proba: np.ndarray, *, classes: Sequence[str], taxonomy: Taxonomy | None = None,
           decision: str = "argmax") -> np.ndarray:
    """Column index of the chosen leaf of each row under ``decision`` (``min-risk`` needs the
    taxonomy)."""
    check_decision(decision)
    proba = np.asarray(proba)
    if decision == "argmax":
        return proba.argmax(axis=1).astype(np.int32)
    if taxonomy is None:
        raise WorkbenchError("the min-risk decision needs the taxonomy (tree distances); pass taxonomy=")
    return min_risk_leaves(proba, classes=classes, taxonomy=taxonomy)


def _check(proba: np.ndarray, classes: Sequence[str]) -> None:
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        raise WorkbenchError(f"proba has shape {proba.shape}, expected (n_products, {len(classes)}); "
                             "its columns must follow `classes`")
