"""Retraining on reviewed data: catalog and human labels only, never unreviewed model labels.

:func:`retrain` first rebuilds the taxonomy and splits (so products labelled by reviewers get
their part), then trains with :func:`workbench.runs.training.train_models` restricted to catalog and
human labels, and records the exact training set of each new run in ``training_sets`` so
anyone can check which labels a model learned from.
"""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from workbench.loop.labels import TRAINABLE_SOURCES, refresh_taxonomy_and_splits, retraining_frame
from workbench.store import Workspace
from workbench.store.frames import insert_frame
from workbench.store.slices import in_chunks


def retrain(ws: Workspace, models: Sequence[str] = ("tfidf",), split: str = "grouped",
            sample: int | None = None, params: dict[str, dict[str, Any]] | None = None,
            seed: int = 0, echo=None, department: str | None = None) -> list[str]:
    """Train new runs on catalog and human labels (``department``: one model per value of that
    column, as ``workbench train --department``); returns their run ids."""
    from workbench.runs.training import stratified_sample, train_models

    refresh_taxonomy_and_splits(ws)
    frame = retraining_frame(ws, split)
    run_ids = train_models(ws, models, split, sample, params=params, seed=seed, department=department,
                           label_sources=TRAINABLE_SOURCES, echo=echo)
    if sample is not None:  # the same seeded sample train_models drew
        train = stratified_sample(frame[frame["part"] == "train"], sample, seed)
        frame = pd.concat([train, frame[frame["part"] != "train"]], ignore_index=True)
    rows = frame[["product_id", "part", "leaf", "label_source"]]
    def insert(cur, chunk: pd.DataFrame) -> None:
        insert_frame(cur, "training_sets", chunk, name="_set")

    for run_id in run_ids:  # short transactions: a retrain on a million products holds nobody
        in_chunks(ws, rows.assign(run_id=run_id), insert)
    return run_ids


def training_set(ws: Workspace, run_id: str) -> pd.DataFrame:
    """The products (with part, leaf and label source) a retrained run learned from and was tested on."""
    return ws.df("SELECT * FROM training_sets WHERE run_id = ? ORDER BY part, product_id", [run_id])
