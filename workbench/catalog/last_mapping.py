"""The column mapping a workspace's catalog was ingested with, reused for a file of new products
that comes without ``--map`` or ``--dataset`` (``workbench classify new.csv`` after
``workbench ingest shop.csv --map ...``): the same shop exports its new arrivals alike."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.catalog.mapping import ColumnMapping
from workbench.catalog.reader import read_catalog
from workbench.errors import WorkbenchError
from workbench.store import Workspace

_FIELDS = ("id", "description", "brand", "price", "image", "department")


def last_ingest(ws: Workspace) -> tuple[str, str | None, dict, dict] | None:
    """``(file name, dataset, mapping, options)`` of the newest labelled ingest, ``None`` before any."""
    for path, dataset, mapping, options in ws.rows(
            "SELECT path, dataset, mapping, options FROM sources ORDER BY ingested_at DESC"):
        opts = json.loads(options or "{}")
        if opts.get("labelled", True):
            return Path(path).name, dataset, json.loads(mapping or "{}"), opts
    return None


def mapping_for_new_file(ws: Workspace, path: str | Path, *, fmt: str | None = None,
                         delimiter: str | None = None,
                         encoding: str | None = None) -> tuple[ColumnMapping | None, str | None, str]:
    """``(mapping, dataset, note)`` for a file of new products given without a mapping: the
    catalog's own ingest mapping, without the category and without the columns the new file
    lacks. Raises a one-line error when there is no ingest to copy or the title column is missing."""
    last = last_ingest(ws)
    if last is None:
        raise WorkbenchError("give a column mapping (--map title=COLUMN,...) or a built-in --dataset recipe "
                             "(the workspace has no ingested catalog whose columns could be reused)")
    name, dataset, mapping, _ = last
    if dataset:
        return None, dataset, f"columns: the {dataset} recipe, as the catalog was ingested"
    columns = list(read_catalog(path, fmt, delimiter, encoding=encoding, limit=1).columns)
    title = mapping.get("title")
    if title not in columns:
        shown = ", ".join(map(str, columns[:20])) + (", ..." if len(columns) > 20 else "")
        raise WorkbenchError(f"{Path(path).name} has no column {title!r}, the title column {name} was ingested "
                             f"with; give a column mapping (--map title=COLUMN,...); available columns: {shown}")
    kept = {f: mapping.get(f) for f in _FIELDS if mapping.get(f) in columns}
    result = ColumnMapping(title=title, **kept)
    used = ",".join(f"{k}={v}" for k, v in [("title", title), *kept.items()])
    missing = [f"{f}={mapping[f]}" for f in _FIELDS if mapping.get(f) and f not in kept]
    note = f"columns as {name} was ingested: --map {used}"
    if missing:
        note += f" (not in this file: {', '.join(missing)})"
    return result, None, note
