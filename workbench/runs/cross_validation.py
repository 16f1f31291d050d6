"""Out-of-sample probabilities for every labelled product by k-fold cross-validation, recorded
as one run (what ``workbench label-issues`` ranks).

Each labelled product (catalog and human labels; never the model's) is predicted by a model
that never saw it: the products are cut into ``folds`` parts, stratified by leaf and grouped by
normalised title (colour variants of one product stay in one fold, as in the ``grouped``
split, so a product's twin cannot vouch for its label), and each part is predicted by a model
of ``model`` trained on the others. The held-out part also serves as the fold model's
validation data (the softmax temperature of ``tfidf``, early stopping of the neural families):
one scalar or one epoch count per fold, never its weights.

The run is recorded like any other (kind, parameters with a ``cross_validation`` entry,
fingerprints, the summed training seconds, metrics) with split ``"<k>-fold"`` and one part,
``test``, holding the out-of-fold probabilities of every labelled product. It has no saved
model and no validation part, so it is never the default run for classifying.
"""

from __future__ import annotations

import time
import warnings
from datetime import datetime, timezone
from typing import Any, Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.runs.records import new_run_id, record_run
from workbench.runs.training import (DEFAULT_LABEL_SOURCES, PeakMemory, build_model, fingerprint,
                                     load_training_frame, run_metrics)
from workbench.store import Workspace


def fold_assignment(leaves: Sequence[str], groups: Sequence[str], folds: int, seed: int = 0) -> np.ndarray:
    """The fold (0..folds-1) of each product: stratified by leaf, grouped by ``groups`` (scikit-
    learn's ``StratifiedGroupKFold``, seeded)."""
    from sklearn.model_selection import StratifiedGroupKFold

    if folds < 2:
        raise WorkbenchError(f"--folds must be at least 2, got {folds}")
    leaves = np.asarray(leaves, dtype=object)
    if len(leaves) < folds:
        raise WorkbenchError(f"{len(leaves)} labelled products cannot be cut into {folds} folds; "
                             "label more products or use fewer folds")
    codes = pd.factorize(leaves)[0]
    group_codes = pd.factorize(np.asarray(groups, dtype=object))[0]
    out = np.empty(len(leaves), dtype=np.int64)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)  # leaves rarer than the folds
        for i, (_, test) in enumerate(splitter.split(np.zeros(len(codes)), codes, group_codes)):
            out[test] = i
    return out


def out_of_fold_run(ws: Workspace, *, model: str = "tfidf", params: dict[str, Any] | None = None,
                    folds: int = 5, seed: int = 0, label_sources: Sequence[str] = DEFAULT_LABEL_SOURCES,
                    echo=None) -> str:
    """Compute out-of-fold probabilities of every labelled product with ``model`` and record them
    as one run (see the module docstring); returns its run id. ``echo`` gets a line per fold."""
    from workbench.catalog.relabel import load_taxonomy

    taxonomy = load_taxonomy(ws)
    frame = load_training_frame(ws, "grouped", label_sources)
    keys = ws.df("SELECT product_id, coalesce(title_key, product_id) AS title_key FROM products "
                 "WHERE product_id IN (SELECT unnest(?))", [frame["product_id"].tolist()])
    groups = frame["product_id"].map(dict(zip(keys["product_id"], keys["title_key"])))
    leaves = frame["leaf"].to_numpy(dtype=object)
    fold = fold_assignment(leaves, groups.to_numpy(dtype=object), folds, seed)
    classes = list(taxonomy.leaves)
    proba = np.zeros((len(frame), len(classes)), dtype=np.float32)
    seconds: list[float] = []
    started = datetime.now(timezone.utc)
    model_params: dict[str, Any] = {}
    with PeakMemory() as memory:
        for i in range(folds):
            held = fold == i
            train, test = frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)
            estimator = build_model(model, classes, params=params, seed=seed, ws=ws)
            t0 = time.perf_counter()
            estimator.fit(train, train["leaf"].to_numpy(dtype=object), test, test["leaf"].to_numpy(dtype=object))
            seconds.append(time.perf_counter() - t0)
            proba[held] = estimator.predict_proba(test)
            model_params = {k: v for k, v in estimator.get_params(deep=False).items() if k != "leaves"}
            if echo is not None:
                echo(f"fold {i + 1}/{folds}: {model} trained on {len(train):,} products, predicted "
                     f"{len(test):,} in {seconds[-1]:.1f} s")
    ids = frame["product_id"].astype(str).to_numpy(dtype=object)
    metrics = {**run_metrics(leaves, proba, classes, taxonomy), "part": "test", "valid": None,
               "out_of_fold": True}
    run_id = new_run_id(model)
    cv = {"folds": folds, "seed": seed, "stratified_by": "leaf", "grouped_by": "normalised title",
          "fold_sizes": [int((fold == i).sum()) for i in range(folds)],
          "fold_seconds": [round(s, 3) for s in seconds], "purpose": "out-of-sample probabilities"}
    return record_run(ws, run_id=run_id, model=model, split=f"{folds}-fold",
                      params={**model_params, "cross_validation": cv}, metrics=metrics,
                      train_seconds=float(sum(seconds)), peak_memory_mb=memory.peak_mb,
                      data_fingerprint=fingerprint(frame["product_id"], frame["leaf"]),
                      split_fingerprint=fingerprint(frame["product_id"], fold),
                      classes=classes, parts={"test": (ids, leaves, proba)},
                      label_sources=",".join(label_sources), started_at=started)
