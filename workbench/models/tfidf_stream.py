"""The ``tfidf`` family's streaming head (``classifier="sgd"``): hashed word and character
n-grams and a logistic-loss ``SGDClassifier`` learnt with ``partial_fit``, one partition of
products at a time.

Nothing here holds the whole catalog's feature matrix: the hashing vectorizer is stateless
(no vocabulary to fit, so any partition is transformed on its own, on any machine) and each
``partial_fit`` sees one partition, so memory stays at one partition's sparse matrix whatever
the catalog's size. The price: no IDF weighting (term frequencies are sublinear and
L2-normalised) and a little accuracy against the SVM on catalogs that fit in memory.
"""

from __future__ import annotations

import warnings
from typing import Iterable

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import FeatureUnion

N_FEATURES = 2 ** 17  # per vectorizer: the head's dense coefficients are classes x 2 x this


def hashing_vectorizer(word_ngrams, char_ngrams, n_features: int = N_FEATURES) -> FeatureUnion:
    """Word and within-word character n-grams hashed into ``n_features`` columns each."""
    common = dict(lowercase=True, alternate_sign=False, norm="l2", n_features=n_features, dtype=np.float32)
    return FeatureUnion([
        ("word", HashingVectorizer(analyzer="word", ngram_range=tuple(word_ngrams),
                                   token_pattern=r"(?u)\b\w+\b", **common)),
        ("char", HashingVectorizer(analyzer="char_wb", ngram_range=tuple(char_ngrams), **common)),
    ])


def balanced_weights(y: np.ndarray, classes: np.ndarray) -> dict[int, float]:
    """``n / (k * count)`` per class, computed once from all labels (``partial_fit`` cannot
    derive ``class_weight="balanced"`` from one partition)."""
    counts = np.array([(y == c).sum() for c in classes], dtype=np.float64)
    return {c.item() if hasattr(c, "item") else c: float(len(y) / (len(classes) * n)) for c, n in zip(classes, counts) if n}


def sgd_head(alpha: float, class_weight, random_state: int) -> SGDClassifier:
    """The streaming linear head (logistic loss, one-vs-rest, L2 penalty ``alpha``)."""
    return SGDClassifier(loss="log_loss", alpha=float(alpha), class_weight=class_weight,
                         learning_rate="optimal", random_state=random_state)


def partitions(n: int, rows: int, epoch: int, random_state: int) -> list[np.ndarray]:
    """Row indices of the partitions of one epoch, in a seeded order."""
    rng = np.random.default_rng(random_state + epoch)
    order = rng.permutation(n)
    return [order[i: i + rows] for i in range(0, n, rows)]


def fit_streaming(head: SGDClassifier, vectorizer: FeatureUnion, batches: Iterable[tuple[list[str], np.ndarray]],
                  classes: np.ndarray) -> SGDClassifier:
    """``partial_fit`` the head on each ``(texts, labels)`` batch in turn."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        for texts, labels in batches:
            head.partial_fit(vectorizer.transform(texts), labels, classes=classes)
    return head
