"""Ingest a catalog into a workspace: validate, clean, build the taxonomy, split.

Every row ends either in ``products`` (with a warning for each optional field it could not
use) or in ``rejects`` with its reason; nothing is dropped silently. All writes of one ingest run in one transaction. Ingesting the same file
with the same options twice changes nothing (the file's fingerprint is recorded).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
import pandas as pd

from workbench.catalog.category_sep import separator_warning
from workbench.catalog.datasets import image_dir, locate, sha256_file
from workbench.catalog.ingest_report import IngestSummary, counts, examples, merge_notes, no_product_message
from workbench.catalog.mapping import ColumnMapping, recipe
from workbench.catalog.reader import read_catalog
from workbench.catalog.relabel import rebuild_taxonomy_and_splits
from workbench.catalog.validation import validate
from workbench.errors import WorkbenchError
from workbench.store import Workspace
from workbench.store.frames import insert_frame


@dataclass
class IngestOptions:
    """Taxonomy and split options of an ingest (recorded with the source)."""

    max_depth: int | None = None
    min_count: int = 1
    merge: str = "family"  # see catalog_taxonomy.merge_rare: rare leaves stay in their top-level category
    strip_name_node: bool = False
    level_names: list[str] | None = None
    department: str | None = None  # a column name, or "top" for the first category level
    seed: int = 0
    fractions: tuple[float, float, float] = (0.70, 0.15, 0.15)
    image_base: str | None = None
    image_template: str | None = None
    labelled: bool = True
    on_duplicate: str = "reject"  # reject | first | last (within the file)
    rename_levels: bool = False   # allow level names that differ from the workspace's


#: options added after the first release: left out of the fingerprint while at their default,
#: so a file ingested before stays recognised
_LATER_OPTIONS = {"on_duplicate": "reject", "rename_levels": False}


def ingest_dataset(ws: Workspace, name: str = "fashion", *, sample: int | None = None,
                   seed: int = 0, **overrides) -> IngestSummary:
    """Ingest a built-in catalog (``fashion``, ``flipkart``, ``flipkart-1050``) by its recipe.

    ``sample`` keeps a seeded random sample of that many rows (for tests and quick looks).
    """
    rec = recipe(name)
    path = locate(rec.relpath)
    images = image_dir(rec.dataset)
    opts = IngestOptions(max_depth=rec.max_depth, min_count=rec.min_count, merge=rec.merge,
                         strip_name_node=rec.strip_name_node, level_names=rec.level_names,
                         department=rec.mapping.department, seed=seed,
                         image_base=str(images) if images else None,
                         image_template=rec.image_template)
    for key, value in overrides.items():
        if not hasattr(opts, key):
            raise WorkbenchError(f"unknown ingest option {key!r}")
        if value is not None:
            setattr(opts, key, value)
    return ingest_file(ws, path, rec.mapping, options=opts, dataset=name, sample=sample)


def file_fingerprint(path: Path, mapping: ColumnMapping, options: IngestOptions, sample: int | None,
                     encoding: str | None = None) -> str:
    """sha256 over the file's bytes and everything that shapes what it becomes."""
    digest = hashlib.sha256(sha256_file(path).encode())
    opts = {k: v for k, v in asdict(options).items() if not (k in _LATER_OPTIONS and v == _LATER_OPTIONS[k])}
    digest.update(json.dumps([asdict(mapping), opts, sample], sort_keys=True, default=str).encode())
    if encoding:
        digest.update(f"encoding={encoding}".encode())
    return digest.hexdigest()


def ingest_file(ws: Workspace, path: str | Path, mapping: ColumnMapping, *,
                options: IngestOptions | None = None, dataset: str | None = None,
                sample: int | None = None, fmt: str | None = None, delimiter: str | None = None,
                encoding: str | None = None) -> IngestSummary:
    """Ingest any catalog file with a column mapping; returns the summary.

    Nothing is written when no row of the file survives: the error names the largest reject
    reasons with an example each.
    """
    options = options or IngestOptions()
    path = Path(path).resolve()
    fingerprint = file_fingerprint(path, mapping, options, sample, encoding) if path.is_file() else ""
    if mapping.department and not options.department:
        options = dataclasses.replace(options, department=mapping.department)  # --map department=COLUMN
    source = path.name if not sample else f"{path.name} (sample {sample})"
    if fingerprint and ws.scalar("SELECT count(*) FROM sources WHERE fingerprint = ?", [fingerprint]):
        return IngestSummary(source, fingerprint, 0, 0, already_ingested=True)
    wanted = list(mapping.columns().values())
    if options.department and options.department != "top":
        wanted.append(options.department)
    raw = read_catalog(path, fmt, delimiter, encoding=encoding, columns=wanted)
    mapping.check(raw.columns)
    if options.department and options.department != "top" and options.department not in raw.columns:
        raise WorkbenchError(f"department column {options.department!r} not in the file; available: "
                             f"{', '.join(raw.columns)}")
    notes = list(raw.info.notes) if raw.info else []
    frame = raw.frame
    extra = None if raw.extra is None else pd.Series(raw.extra, index=frame.index, dtype=object)
    if sample is not None and sample < len(frame):
        frame = frame.sample(n=sample, random_state=options.seed).sort_index()
        extra = None if extra is None else extra[frame.index]
    if options.labelled:
        _check_level_names(ws, mapping, options, path.name)
        if mapping.category and mapping.category in frame.columns:
            warning = separator_warning(frame[mapping.category], mapping.sep, mapping.category)
            notes += [warning] if warning else []
    checked = validate(ws, frame, extra, mapping, options, source)
    products, warnings = checked.products, checked.warnings
    notes += checked.notes
    rejects = pd.concat([_reader_rejects(raw.rejects, source), checked.rejects], ignore_index=True)
    if products.empty:
        raise WorkbenchError(no_product_message(path.name, rejects, len(frame) + len(raw.rejects)))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    products["source"] = source
    products["ingested_at"] = now
    with ws.transaction() as cur:
        for table, data in (("products", products), ("rejects", rejects), ("warnings", warnings)):
            if len(data):
                insert_frame(cur, table, data, name="_new_rows")  # fixed table names
        merged, where = 0, []
        if options.labelled:
            level_names = options.level_names or (list(mapping.levels) if mapping.levels else None)
            merged = rebuild_taxonomy_and_splits(cur, options, level_names)
            if merged or options.min_count > 1:
                where = merge_notes(
                    cur.execute("SELECT original, merged_into, n_products FROM category_merges").df(),
                    cur.execute("SELECT node_id, n_products FROM categories WHERE is_leaf AND n_products < ? "
                                "ORDER BY n_products, node_id", [options.min_count]).df(), options.min_count)
        cur.execute(
            "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [fingerprint, str(path), dataset, json.dumps(asdict(mapping)),
             json.dumps(asdict(options), default=str), len(products), len(rejects), now])
    return IngestSummary(source, fingerprint, len(products), len(rejects), counts(rejects, "reason"), merged,
                         warnings=len(warnings), warning_reasons=counts(warnings, "kind"),
                         warning_examples=examples(warnings), notes=notes, merge_notes=where)


def _check_level_names(ws: Workspace, mapping: ColumnMapping, options: IngestOptions, name: str) -> None:
    """Refuse a file whose level names differ from the workspace's, unless ``rename_levels``."""
    new = options.level_names or (list(mapping.levels) if mapping.levels else None)
    stored = json.loads(ws.meta("level_names") or "null")
    if not new or not stored or options.rename_levels:
        return
    if not ws.scalar("SELECT count(*) FROM products WHERE category_path IS NOT NULL"):
        return
    differ = [i for i, (a, b) in enumerate(zip(new, stored)) if a != b and b != f"level_{i + 1}"]
    if differ:
        raise WorkbenchError(
            f"the level names of {name} ({', '.join(new)}) differ from the workspace's ({', '.join(stored)}); "
            "give the same names with --levels, or pass --rename-levels to rename the workspace's levels")


def _reader_rejects(bad: pd.DataFrame, source: str) -> pd.DataFrame:
    return pd.DataFrame({"source": source, "row_number": bad["row_number"].astype("int64"),
                         "product_id": None, "reason": bad["reason"],
                         "raw": [json.dumps({"line": r}, ensure_ascii=False) for r in bad["raw"]]})
