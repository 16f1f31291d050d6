"""What a run is scored and fingerprinted by: the headline metrics of a part and the fingerprint
of row-aligned columns (data, split, truth), shared by training, re-scoring and evaluation."""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

from workbench.catalog.taxonomy import Taxonomy


def fingerprint(*columns: Sequence[Any]) -> str:
    """A short sha256 of row-aligned columns, independent of row order."""
    rows = sorted("\x1f".join(map(str, values)) for values in zip(*columns))
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row.encode())
        digest.update(b"\x1e")
    return digest.hexdigest()[:16]


def run_metrics(y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str],
                taxonomy: Taxonomy) -> dict[str, Any]:
    """``accuracy``, ``macro_f1``, ``level_accuracy`` (``{level name: accuracy}``), ``level_n``
    (``{level name: products counted}``: a product whose leaf is shallower than a level is not
    counted there) and ``n``."""
    from workbench.evaluate._common import score, tree_index
    from workbench.evaluate.metrics import accuracy_from, level_accuracy_from, macro_f1_from

    scored = score(y_true, proba, classes)
    levels = level_accuracy_from(scored, tree_index(taxonomy, scored.classes))
    return {"accuracy": accuracy_from(scored), "macro_f1": macro_f1_from(scored),
            "level_accuracy": levels["accuracy"].to_dict(),
            "level_n": {name: int(n) for name, n in levels["n"].items()},
            "n": int(len(y_true))}
