"""``hierarchical``: one linear classifier per parent node on ``tfidf``'s features, combined
top-down so that a leaf's probability is the product of the conditional probabilities along
its path.

Every internal node (and the root) whose subtree holds at least two children with training
products gets a classifier over those children, trained on the products below the node; a node
with one such child passes its whole mass to it. ``P(leaf) = P(child_1 | root) * P(child_2 |
child_1) * ... * P(leaf | parent)``, so the probabilities are *path-consistent*: a node's mass
is the sum of its leaves' and the product of the conditionals above it, whichever level is read
(:meth:`HierarchicalClassifier.node_proba`). The features are the same as ``tfidf``'s (one
vectorizer, fitted once); the heads are ``LinearSVC`` whose decision values become conditional
probabilities through a softmax with one temperature per level of the tree (fitted on the
validation products, or on out-of-fold decision values without them), or multinomial
``LogisticRegression`` (``classifier="logreg"``). The tree comes from the leaf ids themselves
(``"A > B > C"``), so the model needs nothing but ``leaves``.

Persistence: features, heads and temperatures in one skops file, checked against the same
allow-list as ``tfidf`` before loading.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from workbench.catalog.taxonomy import Taxonomy, split_node_id
from workbench.errors import WorkbenchError
from workbench.models.base import CategoryClassifier, check_fields, product_texts, register
from workbench.models.softmax import softmax
from workbench.models.tfidf import CLASSIFIERS, _decision_matrix, read_skops, tfidf_features

ARTIFACT = "hierarchical.skops"
ROOT = ""
CHUNK = 20000


def _pooled_temperature(blocks: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """One softmax temperature minimising the summed log-loss of several ``(scores, true column)``
    blocks of different widths (the heads of one level)."""
    total = sum(len(c) for _, c in blocks)

    def log_loss(log_t: float) -> float:
        loss = 0.0
        for scores, column in blocks:
            logits = scores / np.exp(log_t)
            logits -= logits.max(axis=1, keepdims=True)
            loss += float(np.sum(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(len(column)), column]))
        return loss / total

    best = minimize_scalar(log_loss, bounds=(np.log(1e-3), np.log(1e2)), method="bounded")
    return float(np.exp(best.x))


@register
class HierarchicalClassifier(CategoryClassifier):
    """Top-down classifier: one head per parent node over TF-IDF features (module docstring).

    Parameters (as ``tfidf``'s): ``leaves``, ``fields``, ``word_ngrams``, ``char_ngrams``,
    ``max_features``, ``min_df``, ``classifier`` (``"svm"`` or ``"logreg"``), ``C``,
    ``class_weight`` (of every head), ``calibration_cv`` (folds of the out-of-fold decision
    values a level's temperature is fitted on when no validation products reach it),
    ``max_iter``, ``oversample`` (``None``, ``"sqrt"``, ``"balanced"``; as weights),
    ``random_state``.
    """

    kind = "hierarchical"
    oversample_by_weight = True

    def __init__(self, leaves=None, fields=("title", "brand"), word_ngrams=(1, 2), char_ngrams=(2, 5),
                 max_features=None, min_df=1, classifier="svm", C=0.5, class_weight="balanced",
                 calibration_cv=3, max_iter=2000, oversample=None, random_state=0):
        self._store_params(locals())

    # the tree ---------------------------------------------------------------------------
    def _tree(self) -> Taxonomy:
        tree = Taxonomy.from_node_ids(self.classes_)
        inner = sorted(set(self.classes_) - set(tree.leaves))
        if inner:
            raise WorkbenchError(f"{inner[0]!r} is a leaf of the list but has children in it; the "
                                 "hierarchical family needs the taxonomy's leaves (full paths)")
        return tree

    def _ancestor_table(self, tree: Taxonomy) -> list[np.ndarray]:
        """``table[L][c]``: the id of class c's ancestor at level L (``ROOT`` at 0, ``None`` below
        the class's own level)."""
        paths = [split_node_id(c) for c in self.classes_]
        return [np.array([" > ".join(p[:level]) if len(p) >= level else None for p in paths], dtype=object)
                for level in range(tree.depth + 1)]

    @staticmethod
    def _child_codes(table: list[np.ndarray], depth: int, node: str, children: list[str]) -> np.ndarray:
        """For every class: the index of its ancestor among ``children``, -1 when not below."""
        out = np.full(len(table[0]), -1, dtype=np.int64)
        below = np.flatnonzero((table[depth] == node) & (table[depth + 1] != None))  # noqa: E711
        index = {c: i for i, c in enumerate(children)}
        out[below] = [index[a] for a in table[depth + 1][below]]
        return out

    def _head(self):
        if self.classifier == "logreg":
            return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                                      random_state=self.random_state)
        return LinearSVC(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                         random_state=self.random_state)

    # training ---------------------------------------------------------------------------
    def _fit(self, X: pd.DataFrame, y: np.ndarray, n_classes: int, valid, sample_weight=None) -> None:
        if self.classifier not in CLASSIFIERS:
            raise WorkbenchError(f"unknown hierarchical classifier {self.classifier!r}; use one of {CLASSIFIERS}")
        check_fields(X, self.fields)
        tree = self._tree()
        seen = np.zeros(n_classes, dtype=bool)
        seen[np.unique(y)] = True
        texts = product_texts(X, self.fields)
        self.features_ = tfidf_features(self.word_ngrams, self.char_ngrams, self.max_features,
                                        self.min_df).fit(texts)
        matrix = self.features_.transform(texts)
        valid_matrix = valid_y = None
        if valid is not None and len(valid[1]):
            valid_matrix = self.features_.transform(product_texts(valid[0], self.fields))
            valid_y = valid[1]
        self.children_, self.heads_, self.constant_, self.levels_ = {}, {}, {}, {}
        scores_by_level: dict[int, list] = {}
        table = self._ancestor_table(tree)
        for node in [ROOT, *tree.internal_nodes()]:
            children = tree.children(None if node == ROOT else node)
            depth = 0 if node == ROOT else tree.level(node)
            child_of = self._child_codes(table, depth, node, children)
            reached = sorted({int(child_of[c]) for c in np.flatnonzero(seen) if child_of[c] >= 0})
            if not reached:
                continue
            self.children_[node] = children
            self.levels_[node] = depth
            if len(reached) == 1:
                self.constant_[node] = children[reached[0]]
                continue
            rows = np.flatnonzero(child_of[y] >= 0)
            target = child_of[y[rows]]
            weight = None if sample_weight is None else sample_weight[rows]
            # many small solves: BLAS threads only contend (measured 10x slower for logreg on 2 cores)
            with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
                warnings.filterwarnings("ignore", category=ConvergenceWarning)
                head = self._head().fit(matrix[rows], target, sample_weight=weight)
            self.heads_[node] = head
            if self.classifier == "svm":
                block = self._calibration_block(head, child_of, matrix[rows], target, weight,
                                                valid_matrix, valid_y)
                scores_by_level.setdefault(self.levels_[node], []).append(block)
        self.temperatures_ = {}
        for level, blocks in scores_by_level.items():
            kept = [b for b in blocks if b is not None and len(b[1])]
            self.temperatures_[level] = _pooled_temperature(kept) if kept else 1.0

    def _calibration_block(self, head, child_of, matrix, target, weight, valid_matrix, valid_y):
        """``(decision values, true column)`` the level's temperature is fitted on: the
        validation products below the node, else out-of-fold values of its training products."""
        if valid_matrix is not None:
            vrows = np.flatnonzero(np.isin(child_of[valid_y], head.classes_))
            if len(vrows) >= 2:
                scores = _decision_matrix(head, valid_matrix[vrows])
                return scores, np.searchsorted(head.classes_, child_of[valid_y[vrows]])
        counts = np.bincount(target)[head.classes_]
        folds = min(int(self.calibration_cv), int(counts.max()))
        if folds < 2:
            return None
        scores = np.zeros((len(target), len(head.classes_)))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            for train, test in splitter.split(np.zeros(len(target)), target):
                if len(np.unique(target[train])) < 2:
                    return None
                fold = self._head().fit(matrix[train], target[train],
                                        sample_weight=None if weight is None else weight[train])
                values = np.full((len(test), len(head.classes_)), np.nan)
                values[:, np.searchsorted(head.classes_, fold.classes_)] = _decision_matrix(fold, matrix[test])
                floor = np.nanmin(values, axis=1, keepdims=True) - 1.0
                scores[test] = np.where(np.isnan(values), floor, values)
        return scores, np.searchsorted(head.classes_, target)

    # prediction -------------------------------------------------------------------------
    def _conditionals(self, node: str, matrix) -> tuple[list[str], np.ndarray]:
        """The children a node passes mass to, and ``P(child | node)`` for every product."""
        children = self.children_[node]
        if node in self.constant_:
            return [self.constant_[node]], np.ones((matrix.shape[0], 1))
        head = self.heads_[node]
        names = [children[int(c)] for c in head.classes_]
        if self.classifier == "logreg":
            return names, head.predict_proba(matrix)
        return names, softmax(_decision_matrix(head, matrix), self.temperatures_.get(self.levels_[node], 1.0))

    def _node_masses(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        matrix = self.features_.transform(product_texts(X, self.fields))
        mass = {ROOT: np.ones(matrix.shape[0])}
        for node in sorted(self.children_, key=self.levels_.__getitem__):  # parents first
            if node not in mass:
                continue
            names, cond = self._conditionals(node, matrix)
            for j, child in enumerate(names):
                mass[child] = mass[node] * cond[:, j]
        return mass

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        proba = np.zeros((len(X), len(self.classes_)))
        for lo in range(0, len(X), CHUNK):
            mass = self._node_masses(X.iloc[lo:lo + CHUNK])
            for c, leaf in enumerate(self.classes_):
                if leaf in mass:
                    proba[lo:lo + CHUNK, c] = mass[leaf]
        return proba

    def node_proba(self, X) -> pd.DataFrame:
        """The probability of every node of the tree (one column per node id, the leaves'
        columns equal to :meth:`predict_proba`): the product of the conditionals on its path."""
        from workbench.models.base import as_products

        self._check_fitted()
        X = as_products(X)
        nodes = self._tree().nodes
        mass = self._node_masses(X)
        return pd.DataFrame({n: mass.get(n, np.zeros(len(X))) for n in nodes})

    # persistence ------------------------------------------------------------------------
    def _save_artifacts(self, directory: Path) -> None:
        import skops.io as sio

        sio.dump({"features": self.features_, "heads": self.heads_,
                  "children": {k: list(v) for k, v in self.children_.items()},
                  "constant": dict(self.constant_), "levels": {k: int(v) for k, v in self.levels_.items()},
                  "temperatures": {str(k): float(v) for k, v in self.temperatures_.items()}},
                 directory / ARTIFACT)

    def _load_artifacts(self, directory: Path) -> None:
        state = read_skops(directory / ARTIFACT)
        self.features_ = state["features"]
        self.heads_ = dict(state["heads"])
        self.children_ = {k: list(v) for k, v in state["children"].items()}
        self.constant_ = dict(state["constant"])
        self.levels_ = {k: int(v) for k, v in state["levels"].items()}
        self.temperatures_ = {int(k): float(v) for k, v in state["temperatures"].items()}
