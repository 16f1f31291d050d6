"""Training runs as stored in the workspace: the ``runs`` table, top-k ``predictions``,
and the full probability matrices as ``.npy`` artifacts (loaded without pickle).

Layout of one run's artifacts, under ``<workspace>/artifacts/runs/<run_id>/``:
``model/`` (the saved model), ``classes.json`` (the leaf order of every matrix),
``<part>_proba.npy`` (float32, one row per product) and ``<part>_index.parquet``
(``product_id``, ``true_leaf``, row-aligned with the matrix), for part in valid/test.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.store import Workspace
from workbench.store.slices import write_in_chunks

TOP_K = 10


@dataclass
class RunPredictions:
    """One part (valid or test) of a run: product ids, true leaves, probabilities, leaf order."""

    product_ids: np.ndarray
    y_true: np.ndarray
    proba: np.ndarray
    classes: np.ndarray

    def to_frame(self, top_k: int = 1) -> pd.DataFrame:
        """One row per product: ``product_id``, ``true_leaf``, ``predicted_leaf``, ``confidence``,
        ``correct`` (and ``leaf_2``, ``proba_2``, ... up to ``top_k``)."""
        order = np.argsort(-self.proba, axis=1, kind="stable")[:, :max(1, top_k)]
        best = order[:, 0]
        frame = pd.DataFrame({"product_id": self.product_ids, "true_leaf": self.y_true,
                              "predicted_leaf": self.classes[best],
                              "confidence": self.proba[np.arange(len(best)), best]})
        frame["correct"] = frame["true_leaf"] == frame["predicted_leaf"]
        for k in range(1, order.shape[1]):
            frame[f"leaf_{k + 1}"] = self.classes[order[:, k]]
            frame[f"proba_{k + 1}"] = self.proba[np.arange(len(best)), order[:, k]]
        return frame

    def __repr__(self) -> str:
        return (f"RunPredictions({len(self.product_ids):,} products x {len(self.classes):,} leaves; "
                f"accuracy {self.to_frame()['correct'].mean():.4f}; .to_frame() for the rows)")

    def _repr_html_(self) -> str:
        """The first rows of :meth:`to_frame` and the shape."""
        return (f"<p>{len(self.product_ids):,} products x {len(self.classes):,} leaves "
                f"(<code>.to_frame()</code>, <code>.proba</code>)</p>" + self.to_frame().head(5).to_html(index=False))


def new_run_id(model: str) -> str:
    """A sortable, unique run id such as ``20261121-101500-tfidf-1a2b3c``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{model}-{uuid.uuid4().hex[:6]}"


def run_dir(ws: Workspace, run_id: str) -> Path:
    """Artifact folder of a run."""
    return ws.artifacts / "runs" / run_id


def top_k_rows(run_id: str, part: str, product_ids: Sequence[str], y_true: Sequence[str],
               proba: np.ndarray, classes: Sequence[str], k: int = TOP_K) -> pd.DataFrame:
    """The ``predictions`` rows: the k most probable leaves of each product, rank 1 first."""
    k = min(k, proba.shape[1])
    top = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    n = len(product_ids)
    classes = np.asarray(classes, dtype=object)
    return pd.DataFrame({
        "run_id": run_id,
        "part": part,
        "product_id": np.repeat(np.asarray(product_ids, dtype=object), k),
        "true_leaf": np.repeat(np.asarray(y_true, dtype=object), k),
        "rank": np.tile(np.arange(1, k + 1), n),
        "leaf": classes[top.ravel()],
        "proba": np.take_along_axis(proba, top, axis=1).ravel().astype(float),
    })


def record_run(ws: Workspace, *, run_id: str, model: str, split: str, params: dict[str, Any],
               metrics: dict[str, Any], train_seconds: float, peak_memory_mb: float | None,
               data_fingerprint: str, split_fingerprint: str, classes: Sequence[str],
               parts: dict[str, tuple[Sequence[str], Sequence[str], np.ndarray]],
               department: str | None = None, sample: int | None = None,
               parent_run: str | None = None, label_sources: str = "catalog",
               started_at: datetime | None = None, complete: bool = True) -> str:
    """Store a finished run: its row, its top-k predictions and its probability matrices.

    The row is written first (not yet complete), the predictions in short chunks, and with
    ``complete`` the run is marked complete in a last transaction; ``complete=False`` leaves that
    to the caller (``train`` evaluates the run first, see :func:`mark_complete`).

    ``parts`` maps ``"valid"``/``"test"`` to ``(product_ids, true_leaves, proba)``. Files are
    written first; a run killed before its last transaction is never shown (``list_runs``).
    """
    folder = run_dir(ws, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "classes.json").write_text(json.dumps([str(c) for c in classes]))
    frames = []
    for part, (ids, y_true, proba) in parts.items():
        proba = np.asarray(proba, dtype=np.float32)
        if proba.shape != (len(ids), len(classes)):
            raise WorkbenchError(f"{part} probabilities have shape {proba.shape}, expected "
                                 f"({len(ids)}, {len(classes)}); align them to the leaf list")
        np.save(folder / f"{part}_proba.npy", proba, allow_pickle=False)
        pd.DataFrame({"product_id": list(map(str, ids)), "true_leaf": list(y_true)}).to_parquet(
            folder / f"{part}_index.parquet", index=False)
        frames.append(top_k_rows(run_id, part, ids, y_true, proba, classes))
    preds = pd.concat(frames, ignore_index=True) if frames else None
    with ws.transaction() as cur:
        cur.execute(
            "INSERT INTO runs (run_id, model, split, department, params, data_fingerprint, split_fingerprint, "
            "sample, started_at, train_seconds, peak_memory_mb, metrics, artifact_dir, parent_run, "
            "label_sources, complete) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, FALSE)",
            [run_id, model, split, department, json.dumps(params, default=str), data_fingerprint,
             split_fingerprint, sample, started_at or datetime.now(timezone.utc), train_seconds,
             peak_memory_mb, json.dumps(metrics, default=float), str(folder), parent_run,
             label_sources])
    if preds is not None:
        write_in_chunks(ws, "predictions", preds)
    if complete:
        mark_complete(ws, run_id)
    return run_id


def mark_complete(ws: Workspace, run_id: str) -> None:
    """The run's last transaction: from now on pages, pickers and comparisons show it."""
    with ws.transaction() as cur:
        cur.execute("UPDATE runs SET complete = TRUE WHERE run_id = ?", [run_id])


def discard_incomplete(ws: Workspace, older_than_hours: float = 24.0) -> int:
    """Remove the rows of runs that never completed (a killed ``train``) and are older than
    ``older_than_hours``; returns how many runs were removed."""
    stale = ws.df("SELECT run_id FROM runs WHERE NOT coalesce(complete, TRUE) "
                  "AND started_at < now()::TIMESTAMP - to_hours(CAST(? AS BIGINT))",
                  [int(older_than_hours)])["run_id"].tolist()
    for run_id in stale:
        with ws.transaction() as cur:
            cur.execute("DELETE FROM predictions WHERE run_id = ?", [run_id])
            cur.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
    return len(stale)


def list_runs(ws: Workspace, include_incomplete: bool = False) -> pd.DataFrame:
    """All complete runs (trained, recorded and evaluated), oldest first, with ``params`` and
    ``metrics`` decoded; ``include_incomplete`` adds runs still being written (or killed)."""
    runs = ws.df("SELECT * FROM runs" + ("" if include_incomplete else " WHERE coalesce(complete, TRUE)")
                 + " ORDER BY started_at, run_id")
    for col in ("params", "metrics"):
        runs[col] = runs[col].map(lambda v: json.loads(v) if isinstance(v, str) else (v or {}))
    return runs


def select_runs(ws: Workspace, run_ids: Sequence[str] | None = None, split: str | None = None) -> pd.DataFrame:
    """:func:`list_runs` narrowed to ``run_ids`` (each must exist) and to one ``split``."""
    runs = list_runs(ws)
    if run_ids:
        missing = sorted(set(run_ids) - set(runs["run_id"]))
        if missing:
            raise WorkbenchError(f"no run(s) {', '.join(missing)} in {ws.path}; see `workbench runs`")
        runs = runs[runs["run_id"].isin(list(run_ids))]
    if split:
        runs = runs[runs["split"] == split]
    return runs


def get_run(ws: Workspace, run_id: str) -> dict[str, Any]:
    """One run as a dict (complete or not); a clear error names the known runs when the id is wrong."""
    runs = list_runs(ws, include_incomplete=True)
    hit = runs[runs["run_id"] == run_id]
    if hit.empty:
        known = ", ".join(runs["run_id"].tail(5)) or "none yet (run `workbench train`)"
        raise WorkbenchError(f"no run {run_id!r} in {ws.path}; recent runs: {known}")
    return hit.iloc[0].to_dict()


def latest_run_id(ws: Workspace, model: str | None = None) -> str:
    """The most recent run (of a model kind, when given)."""
    runs = list_runs(ws)
    if model:
        runs = runs[runs["model"] == model]
    if runs.empty:
        raise WorkbenchError(f"no runs in {ws.path}; train one first with `workbench train`")
    return str(runs["run_id"].iloc[-1])


def load_predictions(ws: Workspace, run_id: str, part: str = "test") -> RunPredictions:
    """The full probability matrix of a run's part, with product ids, true leaves and leaf order."""
    folder = Path(get_run(ws, run_id)["artifact_dir"])
    path = folder / f"{part}_proba.npy"
    if not path.exists():
        raise WorkbenchError(f"run {run_id} has no {part} predictions at {path}")
    index = pd.read_parquet(folder / f"{part}_index.parquet")
    classes = np.array(json.loads((folder / "classes.json").read_text()), dtype=object)
    return RunPredictions(index["product_id"].to_numpy(dtype=object),
                          index["true_leaf"].to_numpy(dtype=object),
                          np.load(path, allow_pickle=False), classes)
