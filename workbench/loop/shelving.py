"""New arrivals: ingest products without categories, predict them with a recorded run's model,
and apply the published thresholds.

A product whose top probability reaches its threshold is *shelved*: its leaf (and every
ancestor, derived from the taxonomy) becomes its label, with source ``model``. The rest go to
*review*. Every decision is kept in ``classifications`` with the run, the top-5 and the batch
date the review queue samples from.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.catalog.summary_view import SummaryView
from workbench.errors import WorkbenchError
from workbench.catalog.ingest import IngestOptions, IngestSummary, ingest_file
from workbench.loop.labels import record_model_labels, unshelve, utc_now
from workbench.catalog.last_mapping import mapping_for_new_file
from workbench.catalog.mapping import ColumnMapping, recipe
from workbench.catalog.reader import read_catalog
from workbench.catalog.people_csv import write_people_csv
from workbench.catalog.relabel import load_taxonomy
from workbench.runs.predictor import Predictor, run_model
from workbench.runs.selection import default_run as best_run
from workbench.store import Workspace
from workbench.store.frames import insert_frame
from workbench.store.slices import in_chunks
from workbench.catalog.taxonomy import Taxonomy
from workbench.loop.thresholds import threshold_run_warning



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
    columns: str | None = None  # which columns were read, when the mapping was the catalog's own

    def __str__(self) -> str:
        lines = [self.columns] if self.columns else []
        lines += [str(self.ingest)] if self.ingest is not None else []
        lines += [f"warning: {note}" for note in self.notes]
        rule = (f"threshold {self.threshold:g}, {self.overrides} category overrides"
                if math.isfinite(self.threshold) else
                "no thresholds published: publish them in the threshold dashboard to shelve automatically")
        lines.append(f"classified {self.classified:,} products with run {self.run_id} (batch {self.batch_date}): "
                     f"{self.shelved:,} shelved, {self.review:,} sent to review ({rule})")
        return "\n".join(lines)




def default_run(ws: Workspace) -> str:
    """The run used when none is named: :func:`workbench.runs.selection.default_run` (the promoted
    serving run, else the best unflagged run with a saved model, by validation accuracy), its
    warnings printed on stderr for the command line."""
    return best_run(ws, warn=lambda message: print(f"note: {message}", file=sys.stderr))


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
    from workbench.catalog.taxonomy_versions import class_map_for_run

    model = run_model(ws, run_id)
    class_map = class_map_for_run(ws, run_id, [str(c) for c in model.classes_])
    frame = products_frame(ws, product_ids)
    if class_map is not None:  # trained before a taxonomy change: its classes read as current paths
        predictor = Predictor(model, run_id, load_taxonomy(ws), class_map=class_map)
        return predictor.score(frame), np.asarray(predictor.classes, dtype=object)
    if frame.empty:
        return np.zeros((0, len(model.classes_))), np.asarray(model.classes_, dtype=object)
    return model.predict_proba(frame), np.asarray(model.classes_, dtype=object)


def store_classifications(ws: Workspace, rows: pd.DataFrame, *, run_id: str, now: datetime) -> None:
    """Record classification rows, a chunk of products per short transaction (each chunk whole:
    its rows, the model labels of its shelved products, its products sent (back) to review), so
    a classification of a large file never holds the workspace for its whole length."""
    def store(cur, chunk: pd.DataFrame) -> None:
        shelved = chunk[chunk["decision"] == "shelved"].copy()
        shelved["reason"] = [f"shelved: p={p:.3f} >= threshold {t:.3f}"
                             for p, t in zip(shelved["proba"], shelved["threshold"])]
        insert_frame(cur, "classifications", chunk, name="_classified")
        unshelve(cur, chunk.loc[chunk["decision"] == "review", "product_id"].tolist())
        record_model_labels(cur, shelved, run_id=run_id, at=now)

    in_chunks(ws, rows.reset_index(drop=True), store, first_chunk=5_000)


#: ``rows_for(ws, ids, *, predictor, now, batch, decision) -> rows``: how rows are computed (in
#: this process by default; :mod:`workbench.scale` passes one that uses a cluster)
RowsFor = Callable[..., pd.DataFrame]


def local_rows(ws: Workspace, ids: Sequence[str], *, predictor: Predictor, now: datetime, batch: date,
               decision: str = "argmax") -> pd.DataFrame:
    """Classification rows computed in this process by the run's predictor."""
    frame = products_frame(ws, ids)
    return predictor.rows(ids, predictor.score(frame), now=now, batch=batch, decision=decision)


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
    predictor = Predictor.for_run(ws, run_id or default_run(ws), threshold=threshold, overrides=overrides)
    return classify_with(ws, predictor, product_ids, batch_date=batch_date, rows_for=rows_for, decision=decision)


def classify_with(ws: Workspace, predictor: Predictor, product_ids: Sequence[str], *,
                  batch_date: date | None = None, rows_for: RowsFor | None = None,
                  decision: str = "argmax") -> pd.DataFrame:
    """:func:`classify_products` with a ready predictor (its run and thresholds resolved once)."""
    now = utc_now()
    rows = (rows_for or local_rows)(ws, [str(p) for p in product_ids], predictor=predictor, now=now,
                                    batch=batch_date or now.date(), decision=decision)
    store_classifications(ws, rows, run_id=predictor.run_id, now=now)
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
    columns are ignored); with neither, the one the catalog was ingested with
    (:func:`workbench.catalog.last_mapping.mapping_for_new_file`). Re-running on an already ingested file classifies its products again.
    """
    used = None
    if mapping is None and dataset is None:
        mapping, dataset, used = mapping_for_new_file(ws, path, fmt=fmt, delimiter=delimiter, encoding=encoding)
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
    # the run, its model and the thresholds, resolved once and before ingesting anything
    predictor = Predictor.for_run(ws, run_id or default_run(ws), threshold=threshold, overrides=overrides)
    # a file with no acceptable product fails inside ingest, naming its reject reasons; nothing is written
    summary = ingest_file(ws, path, mapping, options=options, dataset=dataset, fmt=fmt, delimiter=delimiter,
                          encoding=encoding)
    ids = ingested_ids(ws, summary.fingerprint)
    if not ids:
        raise WorkbenchError(f"no product of {Path(path).name} was accepted: {reject_reasons_text(ws, summary)}")
    rows = classify_with(ws, predictor, ids, batch_date=batch_date, rows_for=rows_for, decision=decision)
    n_shelved = int((rows["decision"] == "shelved").sum())
    note = threshold_run_warning(ws, predictor.run_id) if threshold is None else None
    thr = math.inf if predictor.threshold is None else predictor.threshold
    return ClassifySummary(predictor.run_id, rows["batch_date"].iloc[0], len(rows), n_shelved,
                           len(rows) - n_shelved, thr, len(predictor.overrides), summary, [note] if note else [],
                           columns=used)


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
