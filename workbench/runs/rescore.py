"""Bringing runs to the current truth: a run whose validation or test labels changed since it was
scored is re-scored from its saved predictions (:func:`rescore`), or flagged *scored on older
labels* when its products changed (:mod:`workbench.runs.truth` says which)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.runs.records import get_run
from workbench.runs.truth import (OLDER, RESCORED, TRUTH_PARTS, current_truth, merge_map, run_truth, saved_truth,
                                  truth_fingerprint, truth_status)
from workbench.store import Workspace
from workbench.store.frames import registered


def _rewrite_index(path: Path, labels: dict[str, str]) -> None:
    """Replace the true leaves of a saved index with ``labels``, atomically."""
    index = pd.read_parquet(path)
    index["true_leaf"] = index["product_id"].astype(str).map(labels)
    tmp = path.with_name(path.name + ".tmp")
    index.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def rescore(ws: Workspace, run_id: str) -> bool:
    """Re-score a run on the current truth of its split from its saved predictions: its saved
    true leaves, its ``predictions`` rows, its headline metrics and every stored evaluation are
    redone with the current labels. Returns ``False`` (nothing changed) when its saved products are
    not the current validation and test products (it stays *scored on older labels*)."""
    from workbench.catalog.relabel import load_taxonomy
    from workbench.runs.evaluation import evaluate_run
    from workbench.runs.records import load_predictions
    from workbench.runs.scoring import run_metrics

    run = get_run(ws, run_id)
    now = current_truth(ws, run["split"])
    saved = saved_truth(ws, run_id)
    if saved.empty:
        return False
    for part in TRUTH_PARTS:
        if set(saved.loc[saved["part"] == part, "product_id"]) != set(now.loc[now["part"] == part, "product_id"]):
            return False
    folder = Path(run["artifact_dir"])
    taxonomy = load_taxonomy(ws)
    metrics = run["metrics"] if isinstance(run["metrics"], dict) else json.loads(run["metrics"] or "{}")
    before = {"truth": run_truth(ws, run_id), "accuracy": metrics.get("accuracy"),
              "valid_accuracy": (metrics.get("valid") or {}).get("accuracy")}
    scored = {}
    for part in TRUTH_PARTS:
        labels = dict(zip(now.loc[now["part"] == part, "product_id"], now.loc[now["part"] == part, "leaf"]))
        if not labels:
            continue
        _rewrite_index(folder / f"{part}_index.parquet", labels)
        preds = load_predictions(ws, run_id, part)
        scored[part] = run_metrics(preds.y_true, preds.proba, preds.classes, taxonomy)
        frame = pd.DataFrame({"product_id": list(labels), "true_leaf": list(labels.values())})
        with ws.transaction() as cur:
            with registered(cur, "_truth", frame):
                cur.execute("UPDATE predictions SET true_leaf = t.true_leaf FROM _truth t "
                            "WHERE predictions.run_id = ? AND predictions.part = ? "
                            "AND predictions.product_id = t.product_id", [run_id, part])
    headline = "test" if "test" in scored else "valid"
    summary = {**metrics, **scored.get(headline, {}), "part": headline, "valid": scored.get("valid"),
               "rescored": before}
    truth = truth_fingerprint(now["product_id"], now["part"], now["leaf"], merge_map(ws))
    with ws.transaction() as cur:
        cur.execute("UPDATE runs SET metrics = ?, truth = ? WHERE run_id = ?",
                    [json.dumps(summary, default=float), truth, run_id])
    stored = [p for (p,) in ws.rows("SELECT part FROM evaluations WHERE run_id = ?", [run_id])]
    for key in stored:
        part, _, decision = key.partition("@")
        if part in TRUTH_PARTS:
            evaluate_run(ws, run_id, part=part, decision=decision or "argmax")
    return True


def bring_to_current_truth(ws: Workspace, run_ids: Sequence[str] | None = None) -> dict[str, str]:
    """Make every run (of ``run_ids``) comparable on the current truth: runs scored on older
    labels are re-scored where their saved predictions allow. Returns ``{run id: "current",
    "rescored" or "scored on older labels"}``. A read-only workspace is only checked."""
    status = truth_status(ws, run_ids)
    if ws.read_only:
        return status
    for run_id, state in status.items():
        if state != OLDER:
            continue
        try:
            if rescore(ws, run_id):
                status[run_id] = RESCORED
        except (WorkbenchError, OSError):
            pass  # its saved predictions cannot be re-read: it stays scored on older labels
    return status
