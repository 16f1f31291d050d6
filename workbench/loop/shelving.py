"""New arrivals: ingest products without categories, predict them with a recorded run's model,
and apply the published thresholds.

A product whose top probability reaches its threshold is *shelved*: its leaf (and every
ancestor, derived from the taxonomy) becomes its label, with source ``model``. The rest go to
*review*. Every decision is kept in ``classifications`` with the run, the top-5 and the batch
date the review queue samples from.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.catalog.summary_view import SummaryView
from workbench.errors import WorkbenchError
from workbench.evaluate.shelving import shelving_preview
from workbench.catalog.ingest import IngestOptions, IngestSummary, ingest_file
from workbench.loop.labels import record_model_labels, unshelve, utc_now
from workbench.catalog.mapping import ColumnMapping, recipe
from workbench.catalog.reader import read_catalog
from workbench.catalog.people_csv import write_people_csv
from workbench.catalog.relabel import load_taxonomy
from workbench.runs.selection import default_run as best_run
from workbench.runs.records import list_runs, run_dir
from workbench.store import Workspace
from workbench.catalog.taxonomy import Taxonomy
from workbench.loop.thresholds import published_thresholds, threshold_run_warning

if TYPE_CHECKING:  # the model families import torch: loaded when a model is, not with the package
    from workbench.models.base import CategoryClassifier

TOP_N = 5


_MODELS: dict[tuple[str, float], CategoryClassifier] = {}
_MODELS_LOCK = threading.Lock()


@dataclass
class ClassifySummary(SummaryView):
    """What a ``classify`` did: the run, the batch, and how many products went where."""

    run_id: str
    batch_date: date
    classified: int
    shelved: int
    review: int
    threshold: float
    overrides: int = 0
    ingest: IngestSummary | None = None
    notes: list[str] = dataclasses.field(default_factory=list)

    def __str__(self) -> str:
        lines = [str(self.ingest)] if self.ingest is not None else []
        lines += [f"warning: {note}" for note in self.notes]
        rule = (f"threshold {self.threshold:g}, {self.overrides} category overrides"
                if math.isfinite(self.threshold) else
                "no thresholds published: publish them in the threshold dashboard to shelve automatically")
        lines.append(f"classified {self.classified:,} products with run {self.run_id} (batch {self.batch_date}): "
                     f"{self.shelved:,} shelved, {self.review:,} sent to review ({rule})")
        return "\n".join(lines)


def model_dir(ws: Workspace, run_id: str) -> Path:
    """Folder of a run's saved model (``<artifacts>/runs/<run_id>/model``)."""
    return run_dir(ws, run_id) / "model"


def runs_with_models(ws: Workspace) -> list[str]:
    """Recorded runs whose model was saved, oldest first."""
    runs = list_runs(ws)
    return [r for r in runs["run_id"] if (model_dir(ws, r) / "manifest.json").exists()]


def default_run(ws: Workspace) -> str:
    """The run used when none is named: :func:`workbench.runs.selection.default_run` (the best
    unflagged run with a saved model, by validation accuracy)."""
    return best_run(ws, warn=lambda message: print(f"note: {message}", file=sys.stderr))


def load_run_model(ws: Workspace, run_id: str) -> CategoryClassifier:
    """A run's saved model, loaded once per process (reloaded when its files change)."""
    folder = model_dir(ws, run_id)
    manifest = folder / "manifest.json"
    if not manifest.exists():
        raise WorkbenchError(f"run {run_id} has no saved model in {folder}; pass another --run "
                             f"(with models: {', '.join(runs_with_models(ws)[-3:]) or 'none'})")
    key = (str(folder), manifest.stat().st_mtime)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            from workbench.models.base import CategoryClassifier

            model = CategoryClassifier.load(folder)
            _MODELS[key] = model
    return model


def products_frame(ws: Workspace, product_ids: Sequence[str]) -> pd.DataFrame:
    """Products (text fields and label) by id, in the given order."""
    ids = [str(p) for p in product_ids]
    frame = ws.df("SELECT product_id, title, description, brand, price, leaf, label_source, image, extra "
                  "FROM products WHERE product_id IN (SELECT unnest(?))", [ids])
    missing = sorted(set(ids) - set(frame["product_id"]))
    if missing:
        raise WorkbenchError(f"{len(missing)} product ids are not in the workspace (e.g. {missing[0]!r}); "
                             "ingest them first")
    return frame.set_index("product_id").loc[ids].reset_index()


def predict_products(ws: Workspace, run_id: str, product_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(proba, classes)`` of a run's model for the given products (rows in that order)."""
    model = load_run_model(ws, run_id)
    frame = products_frame(ws, product_ids)
    if frame.empty:
        return np.zeros((0, len(model.classes_))), np.asarray(model.classes_, dtype=object)
    return model.predict_proba(frame), np.asarray(model.classes_, dtype=object)


def top_n(proba: np.ndarray, classes: np.ndarray, n: int = TOP_N) -> list[list[dict]]:
    """The ``n`` most probable leaves of each row as ``[{"leaf", "proba"}, ...]``, best first."""
    order = np.argsort(-proba, axis=1, kind="stable")[:, :n]
    return [[{"leaf": str(classes[j]), "proba": float(row[j])} for j in idx] for row, idx in zip(proba, order)]


def taxonomy_for(ws: Workspace, classes: np.ndarray) -> Taxonomy:
    """The workspace's taxonomy, or one derived from a run's own leaf ids when it predates it."""
    taxonomy = load_taxonomy(ws)
    if set(classes) <= set(taxonomy.leaves):
        return taxonomy
    # the run was trained on an older taxonomy: derive ancestors from its own leaf ids
    return Taxonomy.from_node_ids(classes, taxonomy.level_names)


def resolve_thresholds(ws: Workspace, threshold: float | None,
                       overrides: Mapping[str, float] | None) -> tuple[float, dict[str, float]]:
    """The thresholds to apply: the given ones, else the published ones; with nothing
    published every product goes to review (an infinite threshold)."""
    if threshold is not None:
        return float(threshold), dict(overrides or {})
    published, published_overrides = published_thresholds(ws)
    if published is None:
        return math.inf, {}
    return published, dict(published_overrides if overrides is None else overrides)


def classification_rows(ids: Sequence[str], proba: np.ndarray, classes: np.ndarray, *, taxonomy: Taxonomy,
                        threshold: float, overrides: Mapping[str, float], run_id: str,
                        now: datetime, batch: date, decision: str = "argmax") -> pd.DataFrame:
    """The ``classifications`` rows of predicted products: leaf, confidence, margin, top 5 and
    the shelving decision under ``threshold`` / ``overrides``; ``decision`` picks each leaf
    (``argmax``, or ``min-risk``: the smallest expected tree distance, its own probability then
    meeting the threshold). A pure function, so a Dask worker computes the rows of its partition
    exactly as this process would."""
    over = {k: v for k, v in overrides.items() if k in taxonomy}
    preview = shelving_preview(list(ids), proba, classes=classes, taxonomy=taxonomy, threshold=threshold,
                               overrides=over, decision=decision)
    decided = preview.frame
    ordered = np.sort(proba, axis=1)
    margin = ordered[:, -1] - (ordered[:, -2] if proba.shape[1] > 1 else 0.0)
    return pd.DataFrame({
        "product_id": list(ids), "run_id": run_id, "leaf": decided["leaf"].astype(str),
        "proba": decided["confidence"].astype(float), "margin": margin.astype(float),
        "top5": [json.dumps(t) for t in top_n(proba, classes)], "decision": decided["decision"],
        "threshold": decided["threshold"].astype(float), "classified_at": now, "batch_date": batch})


def store_classifications(ws: Workspace, rows: pd.DataFrame, *, run_id: str, now: datetime) -> None:
    """Record classification rows in one transaction: shelved products get a model label, the
    rest go (back) to review."""
    shelved = rows[rows["decision"] == "shelved"].copy()
    shelved["reason"] = [f"shelved: p={p:.3f} >= threshold {t:.3f}"
                         for p, t in zip(shelved["proba"], shelved["threshold"])]
    with ws.transaction() as cur:
        cur.register("_classified", rows)
        cur.execute("INSERT INTO classifications BY NAME SELECT * FROM _classified")
        cur.unregister("_classified")
        unshelve(cur, rows.loc[rows["decision"] == "review", "product_id"].tolist())
        record_model_labels(cur, shelved, run_id=run_id, at=now)


#: ``rows_for(ws, ids, *, run_id, threshold, overrides, now, batch, decision) -> rows``: how rows are
#: computed (in this process by default; :mod:`workbench.scale` passes one that uses a cluster)
RowsFor = Callable[..., pd.DataFrame]


def local_rows(ws: Workspace, ids: Sequence[str], *, run_id: str, threshold: float,
               overrides: Mapping[str, float], now: datetime, batch: date,
               decision: str = "argmax") -> pd.DataFrame:
    """Classification rows computed in this process with the run's model."""
    proba, classes = predict_products(ws, run_id, ids)
    return classification_rows(ids, proba, classes, taxonomy=taxonomy_for(ws, classes), threshold=threshold,
                               overrides=overrides, run_id=run_id, now=now, batch=batch, decision=decision)


def classify_products(ws: Workspace, product_ids: Sequence[str], *, run_id: str | None = None,
                      threshold: float | None = None, overrides: Mapping[str, float] | None = None,
                      batch_date: date | None = None, rows_for: RowsFor | None = None,
                      decision: str = "argmax") -> pd.DataFrame:
    """Predict products already in the workspace and shelve or send each to review.

    ``decision`` chooses each product's leaf from the model's probabilities: ``argmax``, or
    ``min-risk`` (the leaf with the smallest expected tree distance; its own probability then
    meets the threshold). Returns the new ``classifications`` rows. Products with a catalog or
    human label keep it; the decision is still recorded. ``rows_for`` computes the rows (default
    :func:`local_rows`).
    """
    run_id = run_id or default_run(ws)
    thr, over = resolve_thresholds(ws, threshold, overrides)
    now = utc_now()
    rows = (rows_for or local_rows)(ws, [str(p) for p in product_ids], run_id=run_id, threshold=thr,
                                    overrides=over, now=now, batch=batch_date or now.date(), decision=decision)
    store_classifications(ws, rows, run_id=run_id, now=now)
    return rows


def unlabelled_mapping(mapping: ColumnMapping) -> ColumnMapping:
    """The same mapping without category columns (new arrivals have none)."""
    return dataclasses.replace(mapping, category=None, levels=[])


def classify_file(ws: Workspace, path: str | Path, mapping: ColumnMapping | None = None, *,
                  dataset: str | None = None, run_id: str | None = None, threshold: float | None = None,
                  overrides: Mapping[str, float] | None = None, batch_date: date | None = None,
                  fmt: str | None = None, delimiter: str | None = None,
                  encoding: str | None = None, rows_for: RowsFor | None = None,
                  decision: str = "argmax") -> ClassifySummary:
    """Ingest a file of new products (no categories) and classify them (``rows_for``: see
    :func:`classify_products`; ``decision``: ``argmax`` or ``min-risk``).

    The column mapping is ``mapping`` or the built-in recipe of ``dataset`` (its category
    columns are ignored). Re-running on an already ingested file classifies its products again.
    """
    if mapping is None and dataset is None:
        raise WorkbenchError("give a column mapping (--map title=COLUMN,...) or a built-in --dataset recipe")
    options = IngestOptions(labelled=False)
    if dataset is not None:
        rec = recipe(dataset)
        from workbench.catalog.datasets import image_dir

        images = image_dir(rec.dataset)
        options.image_base = str(images) if images else None
        options.image_template = rec.image_template
        mapping = mapping or rec.mapping
    mapping = unlabelled_mapping(mapping)
    if mapping.department:
        columns = set(read_catalog(path, fmt, delimiter, encoding=encoding, limit=1).columns)
        if mapping.department in columns:
            options.department = mapping.department
        else:
            mapping = dataclasses.replace(mapping, department=None)
    from workbench.evaluate.decision import check_decision

    check_decision(decision)
    run_id = run_id or default_run(ws)  # fail before ingesting anything
    load_run_model(ws, run_id)
    # a file with no acceptable product fails inside ingest, naming its reject reasons; nothing is written
    summary = ingest_file(ws, path, mapping, options=options, dataset=dataset, fmt=fmt, delimiter=delimiter,
                          encoding=encoding)
    ids = ingested_ids(ws, summary.fingerprint)
    if not ids:
        raise WorkbenchError(f"no product of {Path(path).name} was accepted: {reject_reasons_text(ws, summary)}")
    rows = classify_products(ws, ids, run_id=run_id, threshold=threshold, overrides=overrides,
                             batch_date=batch_date, rows_for=rows_for, decision=decision)
    thr, over = resolve_thresholds(ws, threshold, overrides)
    n_shelved = int((rows["decision"] == "shelved").sum())
    note = threshold_run_warning(ws, run_id) if threshold is None else None
    return ClassifySummary(run_id, rows["batch_date"].iloc[0], len(rows), n_shelved, len(rows) - n_shelved,
                           thr, len(over), summary, [note] if note else [])


def reject_reasons_text(ws: Workspace, summary: IngestSummary, top: int = 3) -> str:
    """The rejected count with its largest reasons, e.g. ``200 rejected (200 duplicate id: ...)``;
    for a file ingested before, the reasons stored then."""
    reasons, rejected = dict(summary.reject_reasons), summary.rejected
    if summary.already_ingested:
        rejected = int(ws.scalar("SELECT coalesce(max(rejected), 0) FROM sources WHERE fingerprint = ?",
                                 [summary.fingerprint]) or 0)
        stored = ws.df("SELECT reason, count(*) AS n FROM rejects WHERE source = ? GROUP BY reason",
                       [summary.source])
        reasons = dict(zip(stored["reason"], stored["n"].astype(int)))
    ranked = sorted(reasons.items(), key=lambda kv: -kv[1])
    shown = "; ".join(f"{n:,} {reason}" for reason, n in ranked[:top])
    more = f"; {len(ranked) - top} more reasons in `workbench info`" if len(ranked) > top else ""
    if not rejected:
        return "the file holds no product rows"
    again = " when it was first ingested" if summary.already_ingested else ""
    return f"{rejected:,} rejected{again} ({shown or 'no reason recorded'}{more})"


def ingested_ids(ws: Workspace, fingerprint: str) -> list[str]:
    """Ids of the products an ingest (by its fingerprint) accepted."""
    found = ws.rows("SELECT path, ingested_at FROM sources WHERE fingerprint = ?", [fingerprint])
    if not found:
        return []
    row = found[0]
    return ws.df("SELECT product_id FROM products WHERE ingested_at = ? AND starts_with(source, ?) "
                 "ORDER BY product_id", [row[1], Path(row[0]).name])["product_id"].tolist()


def latest_classifications(ws: Workspace, batch_date: date | None = None) -> pd.DataFrame:
    """The newest classification of each product (of one batch date when given)."""
    sql = ("SELECT * FROM classifications QUALIFY row_number() OVER "
           "(PARTITION BY product_id ORDER BY classified_at DESC, run_id DESC) = 1")
    if batch_date is not None:
        sql = f"SELECT * FROM ({sql}) WHERE batch_date = ?"
        return ws.df(sql + " ORDER BY product_id", [batch_date])
    return ws.df(f"SELECT * FROM ({sql}) ORDER BY product_id")


def shelf(ws: Workspace) -> pd.DataFrame:
    """Classified products that are on the shelf now (model label, or a reviewer's), with the
    full path of their category at every level."""
    frame = ws.df(
        "SELECT p.product_id, p.title, p.brand, p.leaf, p.label_source AS source, c.run_id, "
        "c.proba AS confidence, c.classified_at FROM products p JOIN ("
        "SELECT * FROM classifications QUALIFY row_number() OVER "
        "(PARTITION BY product_id ORDER BY classified_at DESC, run_id DESC) = 1) c USING (product_id) "
        "WHERE p.leaf IS NOT NULL AND p.label_source IN ('model', 'human') ORDER BY p.product_id")
    taxonomy = load_taxonomy(ws)
    for level, name in enumerate(taxonomy.level_names, 1):
        frame[name] = [_ancestor(taxonomy, leaf, level) for leaf in frame["leaf"]]
    return frame


def _ancestor(taxonomy: Taxonomy, leaf: str, level: int) -> str | None:
    if leaf in taxonomy:
        return taxonomy.ancestor_at(leaf, level)
    parts = leaf.split(" > ")
    return " > ".join(parts[:level]) if level <= len(parts) else None


def export_shelved(ws: Workspace, out: str | Path) -> int:
    """Write the shelf (:func:`shelf`) to a CSV file for people (formulas in seller text
    neutralised, :mod:`workbench.catalog.people_csv`); returns the number of products written."""
    frame = shelf(ws)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_people_csv(frame, out)
    return len(frame)


def batch_dates(ws: Workspace) -> list[date]:
    """Dates with classified products, newest first."""
    frame = ws.df("SELECT DISTINCT batch_date FROM classifications ORDER BY batch_date DESC")
    return [to_date(d) for d in frame["batch_date"]]


def to_date(value: str | date | datetime | None) -> date | None:
    """A date from ``YYYY-MM-DD`` text (or a date); ``None`` stays ``None``."""
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):  # also a pandas Timestamp
        return value.date()
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise WorkbenchError(f"date {value!r} is not YYYY-MM-DD (e.g. 2026-11-21)") from None
