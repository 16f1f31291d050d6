"""Evaluation truth, versioned: what a run was scored against, and bringing it up to date.

A run is scored on the labels of the validation and test parts of its split kind. Reviewers
change labels, so those labels are a version: the *truth* of an evaluation is a fingerprint of
the ``(product id, part, leaf)`` rows it was scored on (leaves passed through the taxonomy's
merge map, so that folding a rare category into its parent does not look like new truth). It is
recorded with every evaluation (``evaluations.truth``, ``runs.truth`` and ``metrics["truth"]``).

When the current labels of a split's validation and test parts differ from a run's truth, the run
is *re-scored* (:func:`bring_to_current_truth`): its saved probability matrices are kept, the true
leaves come from the current labels, and every stored evaluation of it is redone. A run whose saved
products are not the current validation and test products (the split itself changed) cannot be
re-scored: it is *scored on older labels*, shown so and kept out of default and promotion choices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.runs.records import get_run, list_runs
from workbench.runs.scoring import fingerprint
from workbench.store import Workspace

#: the label sources evaluation truth is made of (never the model's own unreviewed labels)
TRUTH_SOURCES = ("catalog", "human")
TRUTH_PARTS = ("valid", "test")
CURRENT, RESCORED, OLDER = "current", "rescored", "scored on older labels"
#: a run trained before a taxonomy change in force: scored on the current taxonomy through the
#: change map when compared (:mod:`workbench.runs.taxonomy_rescore`), never re-scored in place
TAXONOMY = "scored through the taxonomy change map"
OLDER_FLAG = "scored on older labels (the test or validation labels changed since; retrain to compare)"


def merge_map(ws: Workspace) -> dict[str, str]:
    """``{original leaf: leaf it was merged into}`` from the taxonomy's merge table."""
    if not ws.has_table("category_merges"):
        return {}
    rows = ws.rows("SELECT original, merged_into FROM category_merges WHERE merged_into IS NOT NULL")
    return {str(a): str(b) for a, b in rows}


def truth_fingerprint(product_ids: Sequence[Any], parts: Sequence[Any], leaves: Sequence[Any],
                      rename: dict[str, str] | None = None) -> str:
    """A short hash of ``(product id, part, leaf)`` rows, independent of their order; ``rename``
    (the merge map) is applied to the leaves first."""
    rename = rename or {}
    mapped = [rename.get(str(leaf), str(leaf)) for leaf in leaves]
    return fingerprint(list(map(str, product_ids)), list(map(str, parts)), mapped)


def current_truth(ws: Workspace, split: str) -> pd.DataFrame:
    """The current labels of the validation and test parts of split ``split``:
    ``product_id, part, leaf`` (catalog and human labels only)."""
    from workbench.catalog.splits import split_frame

    frame = split_frame(ws, split, label_sources=TRUTH_SOURCES)
    frame = frame[frame["part"].isin(TRUTH_PARTS)]
    return frame[["product_id", "part", "leaf"]].astype({"product_id": str}).reset_index(drop=True)


def current_truth_fingerprint(ws: Workspace, split: str) -> str:
    """The fingerprint of :func:`current_truth`."""
    frame = current_truth(ws, split)
    return truth_fingerprint(frame["product_id"], frame["part"], frame["leaf"], merge_map(ws))


def saved_truth(ws: Workspace, run_id: str) -> pd.DataFrame:
    """The ``product_id, part, leaf`` rows a run's saved matrices were scored against."""
    folder = Path(get_run(ws, run_id)["artifact_dir"])
    frames = []
    for part in TRUTH_PARTS:
        path = folder / f"{part}_index.parquet"
        if path.exists():
            index = pd.read_parquet(path)
            frames.append(pd.DataFrame({"product_id": index["product_id"].astype(str), "part": part,
                                        "leaf": index["true_leaf"]}))
    if not frames:
        return pd.DataFrame(columns=["product_id", "part", "leaf"])
    return pd.concat(frames, ignore_index=True)


def run_truth(ws: Workspace, run_id: str, rename: dict[str, str] | None = None) -> str | None:
    """The truth a run's figures were scored on: the recorded one, else the fingerprint of its
    saved true leaves (runs evaluated before truth was recorded); ``None`` without saved parts."""
    recorded = ws.scalar("SELECT truth FROM runs WHERE run_id = ?", [run_id])
    if recorded:
        return str(recorded)
    saved = saved_truth(ws, run_id)
    if saved.empty:
        return None
    return truth_fingerprint(saved["product_id"], saved["part"], saved["leaf"],
                             merge_map(ws) if rename is None else rename)


def truth_status(ws: Workspace, run_ids: Sequence[str] | None = None) -> dict[str, str]:
    """``{run id: "current", "scored on older labels" or, for a run trained before a taxonomy
    change in force, "scored through the taxonomy change map"}`` for complete runs (all by
    default), read only. A run without saved parts, or whose split has no labels now, counts as
    current."""
    runs = list_runs(ws)
    if run_ids is not None:
        runs = runs[runs["run_id"].isin(list(run_ids))]
    from workbench.catalog.taxonomy_versions import older_taxonomy_runs

    rename = merge_map(ws)
    older_taxonomy = older_taxonomy_runs(ws)
    now: dict[str, str | None] = {}
    out = {}
    for run_id, split in zip(runs["run_id"], runs["split"]):
        if split not in now:
            try:
                now[split] = current_truth_fingerprint(ws, split)
            except WorkbenchError:
                now[split] = None
        truth = run_truth(ws, run_id, rename)
        changed = truth is not None and now[split] is not None and truth != now[split]
        out[run_id] = (TAXONOMY if run_id in older_taxonomy else OLDER) if changed else CURRENT
    return out
