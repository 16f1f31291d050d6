"""Cold start: a catalog with no labels at all, classified zero-shot into a standard tree.

``cold_start(ws, "shopify", under="Electronics", model="multilingual")`` makes (a subtree of)
the standard tree the workspace taxonomy (:mod:`workbench.catalog.pinned_taxonomy`), records a
``zero-shot`` run (text-to-category-name similarity, :mod:`workbench.models.zero_shot`) like
any trained run, and classifies every product without a label with it, so the review queue,
the published thresholds and shelving work as for a trained model. Its test part is every
product a person has labelled so far (nothing was trained on them): run it again after a
review day and ``workbench evaluate`` gives the accuracy-coverage curve and the thresholds of
the zero-shot model on the reviewed sample.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timezone

from workbench.catalog.pinned_taxonomy import pin_standard_taxonomy, pinned_spec
from workbench.catalog.relabel import load_taxonomy
from workbench.errors import WorkbenchError
from workbench.loop.shelving import classify_products
from workbench.models.base import model_class
from workbench.runs.records import new_run_id, record_run, run_dir
from workbench.runs.training import fingerprint, run_metrics
from workbench.store import Workspace

MODEL = "multilingual-e5-small"


@dataclass
class ColdStartSummary:
    """What a cold start did."""

    run_id: str
    kind: str
    under: str | None
    leaves: int
    classified: int
    shelved: int
    evaluated_on: int
    accuracy: float | None = None

    def __str__(self) -> str:
        tree = f"{self.kind}" + (f" under {self.under!r}" if self.under else "")
        lines = [f"zero-shot run {self.run_id} over {self.leaves:,} leaves of {tree}: classified "
                 f"{self.classified:,} unlabelled products ({self.shelved:,} shelved, the rest to review)"]
        if self.evaluated_on:
            lines.append(f"  test part: {self.evaluated_on:,} reviewed products, accuracy {self.accuracy:.4f}; "
                         f"`workbench evaluate --run {self.run_id}` for the curve and thresholds")
        else:
            lines.append("  no reviewed products yet: build a queue (`workbench queue build`), review, "
                         "then run cold-start again to measure it")
        return "\n".join(lines)


def cold_start(ws: Workspace, to: str = "shopify", *, under: str | None = None, model: str = MODEL,
               language: str | None = None, threshold: float | None = None,
               batch_date: date | None = None) -> ColdStartSummary:
    """Pin the standard tree (first time), record a zero-shot run, classify the unlabelled products."""
    spec = pinned_spec(ws)
    if spec is None:
        pin_standard_taxonomy(ws, to, under=under, language=language)
    elif (spec["kind"], spec.get("under")) != (str(to).lower(), under):
        raise WorkbenchError(f"this workspace's taxonomy is already {spec['kind']}"
                             + (f" under {spec['under']!r}" if spec.get("under") else "")
                             + "; use that, or a new --workspace for another tree")
    taxonomy = load_taxonomy(ws)
    labelled = ws.df("SELECT product_id, title, description, brand, price, extra, leaf FROM products "
                     "WHERE label_source = 'human' AND leaf IS NOT NULL ORDER BY product_id")
    labelled = labelled[labelled["leaf"].isin(set(taxonomy.leaves))].reset_index(drop=True)
    cls = model_class("zero-shot")
    estimator = cls(leaves=taxonomy.leaves, embedding_model=model, workspace=str(ws.path))
    run_id = new_run_id("zero-shot")
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    estimator.fit(labelled.iloc[:0], labelled["leaf"].iloc[:0].to_numpy(dtype=object))
    seconds = time.perf_counter() - t0
    parts, metrics = {}, {}
    if len(labelled):
        proba = estimator.predict_proba(labelled)
        y_true = labelled["leaf"].to_numpy(dtype=object)
        parts["test"] = (labelled["product_id"].astype(str).to_numpy(dtype=object), y_true, proba)
        metrics = {**run_metrics(y_true, proba, taxonomy.leaves, taxonomy), "part": "test"}
    data_fp = fingerprint(labelled["product_id"], labelled["leaf"])
    params = {k: v for k, v in estimator.get_params(deep=False).items() if k != "leaves"}
    estimator.save(run_dir(ws, run_id) / "model", run_id=run_id, split="reviewed", data_fingerprint=data_fp)
    record_run(ws, run_id=run_id, model="zero-shot", split="reviewed", params=params, metrics=metrics,
               train_seconds=seconds, peak_memory_mb=None, data_fingerprint=data_fp, split_fingerprint=data_fp,
               classes=list(taxonomy.leaves), parts=parts, label_sources="human", started_at=started)
    todo = ws.df("SELECT product_id FROM products WHERE leaf IS NULL OR label_source = 'model' "
                 "ORDER BY product_id")["product_id"].tolist()
    shelved = 0
    if todo:
        rows = classify_products(ws, todo, run_id=run_id, threshold=threshold, batch_date=batch_date)
        shelved = int((rows["decision"] == "shelved").sum())
    kind = pinned_spec(ws)["kind"]
    return ColdStartSummary(run_id, kind, under, len(taxonomy.leaves), len(todo), shelved, len(labelled),
                            metrics.get("accuracy"))
