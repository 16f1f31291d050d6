"""The ``tfidf`` family's features and SVM decision values for a few products at a time.

A single product through scikit-learn's fitted ``FeatureUnion`` of two ``TfidfVectorizer``
costs about 1.5 ms, almost all of it input validation and dispatch (joblib, narwhals' frame
checks, parameter validation), not arithmetic; the HTTP API scores one product per request. This
module reads the fitted vectorizers' public state (``build_analyzer()``, ``vocabulary_``,
``idf_``, ``sublinear_tf``, ``norm``) and the head's ``coef_`` / ``intercept_`` once and computes
the same numbers with NumPy for small batches. ``tests/test_tfidf_small.py`` checks that they are
the same as scikit-learn's on real titles; large batches keep scikit-learn's path.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np

#: Batches up to this size take the small path (above it scikit-learn's vectorised path is faster).
SMALL_BATCH = 64


def tfidf_values(idx: np.ndarray, counts: Iterable[int], idf: np.ndarray, sublinear: bool, norm: str | None,
                 dtype: np.dtype) -> np.ndarray:
    """One text's TF-IDF values as a fitted ``TfidfVectorizer`` computes them: the term counts
    ``counts`` of its vocabulary columns ``idx`` (in the vectorizer's ``dtype``), ``1 + log`` of
    them when ``sublinear``, times ``idf``, normalised by ``norm`` (``"l2"``, ``"l1"`` or ``None``)."""
    tf = np.fromiter(counts, dtype=dtype, count=len(idx))
    if sublinear:
        tf = np.log(tf) + dtype.type(1.0)
    v = tf * idf[idx]
    if norm == "l2":
        v = v / np.sqrt(np.dot(v, v))
    elif norm == "l1":
        v = v / np.abs(v).sum()
    return v


class SmallBatchTfidf:
    """Decision values of a fitted ``Pipeline([("tfidf", FeatureUnion), ("clf", LinearSVC)])``."""

    def __init__(self, union, head):
        self.blocks = []
        for _, vectorizer in union.transformer_list:
            self.blocks.append((vectorizer.build_analyzer(), vectorizer.vocabulary_,
                                np.asarray(vectorizer.idf_, dtype=vectorizer.dtype), bool(vectorizer.sublinear_tf),
                                vectorizer.norm, np.dtype(vectorizer.dtype)))
        self.sizes = np.cumsum([0] + [len(b[1]) for b in self.blocks])
        self.coef = head.coef_
        self.intercept = np.asarray(head.intercept_, dtype=np.float64)

    @staticmethod
    def supports(union, head) -> bool:
        """Whether the fitted parts are ones this path computes exactly."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        parts = [v for _, v in union.transformer_list]
        return (getattr(union, "transformer_weights", None) is None and hasattr(head, "coef_")
                and all(isinstance(v, TfidfVectorizer) and not v.binary and v.use_idf and v.norm in ("l1", "l2", None)
                        for v in parts))

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and values of one text's feature row (the union's hstacked blocks)."""
        columns, values = [], []
        for (analyze, vocabulary, idf, sublinear, norm, dtype), offset in zip(self.blocks, self.sizes):
            counts = Counter(j for j in map(vocabulary.get, analyze(text)) if j is not None)
            if not counts:
                continue
            idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            columns.append(idx + offset)
            values.append(tfidf_values(idx, counts.values(), idf, sublinear, norm, dtype))
        if not columns:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return np.concatenate(columns), np.concatenate(values)

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        """``head.decision_function(union.transform(texts))``, two columns for a binary head."""
        rows = []
        for text in texts:
            idx, v = self.features(text)
            rows.append(self.coef[:, idx] @ v.astype(np.float64) + self.intercept)
        out = np.vstack(rows) if rows else np.zeros((0, len(self.intercept)))
        if out.shape[1] == 1:
            out = np.column_stack([-out[:, 0], out[:, 0]])
        return out
