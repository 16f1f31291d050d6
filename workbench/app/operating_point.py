"""Coverage and accuracy at any thresholds in microseconds, for the threshold explorer.

A run's top-1 predictions are sorted once by (predicted class, confidence); prefix sums of
correctness make every later question a binary search: with one threshold per class (the global
value or a category override) the covered products of class ``c`` are those at or after the
position of ``(c, threshold_c)`` inside the class's block. Nothing here imports Panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.catalog.taxonomy import Taxonomy

# a threshold above every confidence (confidences are probabilities, at most 1)
NEVER = 1.5


@dataclass(frozen=True)
class OperatingPoint:
    """What a set of thresholds does to a run's predictions."""

    n: int
    n_shelved: int
    n_correct: int
    shelved_per_class: np.ndarray
    correct_per_class: np.ndarray

    @property
    def coverage(self) -> float:
        """Share of products shelved automatically."""
        return self.n_shelved / self.n if self.n else 0.0

    @property
    def accuracy(self) -> float | None:
        """Accuracy among shelved products (``None`` when nothing is shelved)."""
        return self.n_correct / self.n_shelved if self.n_shelved else None

    @property
    def n_review(self) -> int:
        """Products sent to review."""
        return self.n - self.n_shelved

    def summary(self) -> dict:
        """The headline figures as a plain dict."""
        return {"n": self.n, "shelved": self.n_shelved, "review": self.n_review,
                "coverage": self.coverage, "accuracy": self.accuracy}


def _as_float32(values: np.ndarray) -> np.ndarray:
    """Thresholds in the confidences' precision (float32, nearest), as the evaluation compares
    them (:func:`workbench.evaluate.coverage.coverage_at_from`): a typed 0.9 matches a stored 0.9."""
    return values.astype(np.float32)


class SortedPredictions:
    """A run's top-1 predictions sorted by (predicted class, confidence), with prefix sums.

    Build it with :meth:`from_arrays` (codes into ``classes``); then :meth:`at` answers any
    per-class thresholds with ``len(classes)`` binary searches.
    """

    def __init__(self, classes: Sequence[str], keys: np.ndarray, cum_correct: np.ndarray,
                 starts: np.ndarray):
        self.classes = np.asarray(classes, dtype=object)
        self._keys = keys
        self._cum = cum_correct
        self._starts = starts
        self.n = len(keys)

    @classmethod
    def from_arrays(cls, classes: Sequence[str], pred: np.ndarray, conf: np.ndarray,
                    correct: np.ndarray) -> "SortedPredictions":
        """Sort predicted class codes ``pred`` with confidences ``conf`` (float32) and ``correct``."""
        pred = np.asarray(pred, dtype=np.int64)
        conf = np.asarray(conf, dtype=np.float32)
        if not (len(pred) == len(conf) == len(correct)):
            raise WorkbenchError("pred, conf and correct must have one entry per product")
        if len(conf) and (conf.min() < 0 or conf.max() >= NEVER):
            raise WorkbenchError("confidences must be probabilities in [0, 1]")
        # class c occupies [2c, 2c + 1.5): exact in float64 for float32 confidences
        keys = pred * 2.0 + conf.astype(np.float64)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        cum = np.r_[0, np.cumsum(np.asarray(correct, dtype=np.int64)[order])]
        starts = np.searchsorted(pred[order], np.arange(len(classes) + 1), side="left")
        return cls(classes, keys, cum, starts)

    def class_thresholds(self, threshold: float, overrides: Mapping[str, float] | None = None,
                         taxonomy: Taxonomy | None = None) -> np.ndarray:
        """The threshold of each class: its most specific override (a leaf or any ancestor), else
        ``threshold`` (same rule as :func:`workbench.evaluate.leaf_thresholds`)."""
        out = np.full(len(self.classes), float(threshold))
        if not overrides:
            return out
        if taxonomy is None:
            raise WorkbenchError("per-category overrides need the taxonomy")
        index = {c: i for i, c in enumerate(self.classes)}
        # shallow nodes first, so a deeper (more specific) override is written last and wins
        for node in sorted(overrides, key=lambda n: (taxonomy.level(n) if n in taxonomy else 0, n)):
            if node not in taxonomy:
                raise WorkbenchError(f"threshold override for unknown category {node!r}")
            leaves = [node] if taxonomy.is_leaf(node) else taxonomy.leaves_under(node)
            rows = [index[leaf] for leaf in leaves if leaf in index]
            out[rows] = float(overrides[node])
        return out

    def at(self, per_class: np.ndarray) -> OperatingPoint:
        """Shelved and correct counts when class ``c`` is shelved at confidence >= ``per_class[c]``."""
        per_class = np.asarray(per_class, dtype=np.float64)
        if per_class.shape != (len(self.classes),):
            raise WorkbenchError(f"need one threshold per class ({len(self.classes)}), got {per_class.shape}")
        if np.isnan(per_class).any() or (per_class < 0).any():
            raise WorkbenchError("thresholds must be numbers >= 0")
        thr = _as_float32(np.minimum(per_class, NEVER)).astype(np.float64)
        codes = np.arange(len(self.classes))
        pos = np.searchsorted(self._keys, codes * 2.0 + thr, side="left")
        ends = self._starts[1:]
        pos = np.clip(pos, self._starts[:-1], ends)
        shelved = ends - pos
        correct = self._cum[ends] - self._cum[pos]
        return OperatingPoint(self.n, int(shelved.sum()), int(correct.sum()), shelved, correct)

    def at_threshold(self, threshold: float, overrides: Mapping[str, float] | None = None,
                     taxonomy: Taxonomy | None = None) -> OperatingPoint:
        """:meth:`at` for a global threshold plus optional overrides."""
        return self.at(self.class_thresholds(threshold, overrides, taxonomy))

    def class_support(self) -> pd.Series:
        """Products predicted into each class."""
        return pd.Series(np.diff(self._starts), index=self.classes)
