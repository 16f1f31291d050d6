"""Batch classification on a Dask cluster.

The products are exported as Parquet partitions to the job's shared folder; each worker loads
the run's saved model once and writes the ``classifications`` rows of its partitions; this
process reads every partition back once and stores them in short transactions (a chunk of
products each), exactly as :func:`workbench.loop.shelving.classify_products` does in-process.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Sequence

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.loop.shelving import local_rows
from workbench.runs.predictor import Predictor, check_model
from workbench.scale.jobs import ClusterJob
from workbench.scale.partitions import export_products, new_job, part_name, remove_job
from workbench.scale.worker import classify_partition
from workbench.store import Workspace

ROWS_PER_PART = 50_000


class ClusterClassifier(ClusterJob):
    """A ``rows_for`` for :func:`workbench.loop.shelving.classify_products` that predicts on a
    cluster (settings and ``stats``: :class:`workbench.scale.jobs.ClusterJob`); ``keep_job``
    keeps the job's folder (``job``) afterwards."""

    def __init__(self, client, *, rows_per_part: int = ROWS_PER_PART, shared: str | None = None,
                 progress: bool | None = None, echo=None, keep_job: bool = False):
        super().__init__(client, rows_per_part=rows_per_part, shared=shared, progress=progress, echo=echo)
        self.keep_job = keep_job
        self.job: Path | None = None

    def __call__(self, ws: Workspace, ids: Sequence[str], *, predictor: Predictor, now: datetime, batch: date,
                 decision: str = "argmax") -> pd.DataFrame:
        if not ids:
            return local_rows(ws, ids, predictor=predictor, now=now, batch=batch, decision=decision)
        run_id = predictor.run_id
        source = check_model(ws, run_id)
        taxonomy = predictor.taxonomy
        threshold = float("inf") if predictor.threshold is None else predictor.threshold
        overrides = predictor.overrides
        self.job = job = new_job(ws.path, "classify", self.shared)
        try:
            folder = source
            if self.shared:  # the workspace may not be on the workers' storage: ship the model's files
                folder = Path(shutil.copytree(source, job / "model"))
            rules = {"run_id": run_id, "threshold": threshold, "overrides": dict(overrides),
                     "leaves": list(taxonomy.leaves), "level_names": list(taxonomy.level_names),
                     "now": now.isoformat(), "batch": batch.isoformat(), "decision": decision,
                     "class_map": None if predictor.class_map is None else predictor.class_map.to_json()}
            (job / "rules.json").write_text(json.dumps(rules))
            parts = export_products(ws, ids, job / "input", self.rows_per_part)
            outputs = [job / "output" / part_name(i) for i in range(len(parts))]
            arguments = [(str(folder), str(p), str(o), str(job / "rules.json")) for p, o in zip(parts, outputs)]
            for _ in self.partitions(classify_partition, arguments, "classify"):
                pass
            rows = pd.concat([pd.read_parquet(o) for o in outputs], ignore_index=True)
        finally:
            if not self.keep_job:
                remove_job(job)
        if len(rows) != len(ids) or rows["product_id"].duplicated().any():
            raise WorkbenchError(f"the cluster returned {len(rows):,} rows for {len(ids):,} products; "
                                 "nothing was stored: run the classification again")
        order = pd.Index(rows["product_id"]).get_indexer([str(i) for i in ids])
        return rows.iloc[order].reset_index(drop=True)
