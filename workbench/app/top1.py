"""A run's top-1 predictions held once per process, for every page that reads them.

:class:`RunTop1` keeps them as integer codes into the run's leaf list (one query of the
``predictions`` table per run and part); :func:`sorted_predictions` sorts them once for the
threshold explorer's binary searches. Both are cached with ``pn.cache`` and shared by sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import panel as pn

import workbench.app.data as data
from workbench.app.operating_point import SortedPredictions
from workbench.errors import WorkbenchError
from workbench.store import Workspace


@dataclass
class RunTop1:
    """A run's top-1 predictions on one part: codes into ``classes`` (``true`` is -1 for a true
    leaf the run has no column for), confidences in float32, product ids as an Arrow array."""

    classes: np.ndarray
    product_ids: object
    true: np.ndarray
    pred: np.ndarray
    conf: np.ndarray
    _extra: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        """Number of predictions."""
        return len(self.pred)

    @property
    def correct(self) -> np.ndarray:
        """Whether each top-1 prediction is right."""
        return self.true == self.pred

    @cached_property
    def position(self) -> pd.Index:
        """Product id -> row (built on first use)."""
        return pd.Index(self.product_ids.to_numpy(zero_copy_only=False))

    def ids(self, rows: np.ndarray) -> list[str]:
        """Product ids of the given rows."""
        return self.product_ids.take(np.asarray(rows, dtype=np.int64)).to_pylist()


@pn.cache(max_items=8)
def _run_top1(path: str, run_id: str, part: str) -> RunTop1:
    ws = data.open_workspace(path)
    classes = data.run_classes(ws, run_id)
    table = data.arrow_table(ws, "SELECT product_id, true_leaf, leaf, proba FROM predictions "
                                 "WHERE run_id = ? AND part = ? AND rank = 1", [run_id, part])
    if table.num_rows == 0:
        raise WorkbenchError(f"run {run_id} has no {part} predictions; record the run again")
    index = pd.Index(classes)

    def codes(column: str) -> np.ndarray:
        encoded = table.column(column).combine_chunks().dictionary_encode()
        lookup = index.get_indexer(np.asarray(encoded.dictionary.to_pylist(), dtype=object))
        return lookup[encoded.indices.to_numpy(zero_copy_only=False)].astype(np.int32)

    pred = codes("leaf")
    if (pred < 0).any():
        raise WorkbenchError(f"run {run_id} predicts leaves missing from its classes.json; record the run again")
    return RunTop1(classes, table.column("product_id").combine_chunks(), codes("true_leaf"), pred,
                   table.column("proba").to_numpy().astype(np.float32))


def run_top1(ws: Workspace, run_id: str, part: str = "test") -> RunTop1:
    """A run's top-1 predictions as codes (cached per run and part)."""
    return _run_top1(str(ws.path), run_id, part)




@pn.cache(max_items=8)
def _sorted(path: str, run_id: str, part: str) -> SortedPredictions:
    top = _run_top1(path, run_id, part)
    # the stored rank-1 rows are the argmax of each probability row (ties: first column), and
    # their DOUBLE probabilities are the float32 values exactly
    return SortedPredictions.from_arrays(top.classes, top.pred, top.conf, top.correct)


def sorted_predictions(ws: Workspace, run_id: str, part: str = "test") -> SortedPredictions:
    """A run's top-1 predictions, sorted once for fast threshold queries (cached per run)."""
    return _sorted(str(ws.path), run_id, part)
