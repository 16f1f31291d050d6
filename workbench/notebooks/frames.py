"""The notebook API's tables as plain DataFrames: JSON text decoded, nested metrics flattened.

The stored tables keep JSON text (the dashboards and the command line read it so); these are
what ``wb.list_runs``, ``wb.queue_items`` and ``wb.classifications`` return in a notebook.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pandas as pd

from workbench.store import Workspace

#: headline metrics of a run lifted into columns of :func:`list_runs`
RUN_METRICS = ("accuracy", "macro_f1", "n")


def _decoded(value: Any) -> Any:
    """JSON text as Python values; anything else as it is."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def list_runs(ws: Workspace) -> pd.DataFrame:
    """Every recorded run, oldest first: ``accuracy``, ``macro_f1`` and ``n`` (the test part) as
    columns beside the decoded ``params`` and ``metrics`` dicts."""
    from workbench.runs.records import list_runs as recorded_runs

    runs = recorded_runs(ws)
    for key in RUN_METRICS:
        runs.insert(min(3, len(runs.columns)), key, runs["metrics"].map(lambda m, k=key: (m or {}).get(k)))
    return runs


def queue_items(ws: Workspace, queue_date: str | date | None = None, status: str | None = None) -> pd.DataFrame:
    """A day's review queue (default: the newest) in review order, ``detail`` decoded to a dict
    (why each reason picked the product)."""
    from workbench.loop.review_queue import queue_items as stored_items

    items = stored_items(ws, queue_date, status)
    if "detail" in items:
        items["detail"] = items["detail"].map(_decoded)
    return items


def classifications(ws: Workspace, batch_date: date | None = None) -> pd.DataFrame:
    """The newest classification of each product (of one batch date when given), ``top5``
    decoded to a list of ``{"leaf", "proba"}``."""
    from workbench.loop.shelving import latest_classifications

    rows = latest_classifications(ws, batch_date)
    if "top5" in rows:
        rows["top5"] = rows["top5"].map(_decoded)
    return rows


class FileInspection(dict):
    """What :func:`inspect_file` found in a catalog file (the dict ``workbench inspect --json``
    prints) with ``.columns`` (one row per column), ``.depths`` (the validated depth cut), ``.mapping`` (the suggested
    :class:`~workbench.catalog.mapping.ColumnMapping`, ``None`` without a title column),
    ``.command``, ``.options`` (the suggested ingest options), ``.ingest(ws)`` (ingest as the command
    would) and ``.to_frame()``."""

    @property
    def columns(self) -> pd.DataFrame:
        """One row per column of the file: type, share empty, distinct values, examples."""
        return pd.DataFrame(self.get("columns") or [])

    def to_frame(self) -> pd.DataFrame:
        """The columns of the file, with the field each was guessed to be (``guessed_as``)."""
        guess = self.get("guess") or {}
        category = guess.get("category") or {}
        role = {v: k for k, v in guess.items() if isinstance(v, str)}
        role.update({c: f"level {i + 1}" for i, c in enumerate(category.get("levels") or [])})
        if category.get("column"):
            role[category["column"]] = "category"
        frame = self.columns
        if "name" in frame:
            frame.insert(1, "guessed_as", frame["name"].map(role))
        return frame

    @property
    def mapping(self):
        """The suggested column mapping (what ``workbench inspect`` suggests for ``--map``)."""
        from workbench.catalog.mapping import ColumnMapping

        guess = self.get("guess") or {}
        if not guess.get("title"):
            return None
        category = guess.get("category") or {}
        fields = {f: guess[f] for f in ("id", "title", "description", "brand", "price", "image", "department")
                  if guess.get(f)}
        if category.get("levels"):
            fields["levels"] = list(category["levels"])
        elif category.get("column"):
            fields["category"] = category["column"]
            fields["sep"] = category.get("sep") or ">"
        return ColumnMapping(**fields)

    @property
    def depths(self) -> pd.DataFrame:
        """The validated depth choice, one row per depth: ``depth, leaves, rows, accuracy, chosen,
        reason`` (empty without a category or a title)."""
        choice = ((self.get("guess") or {}).get("category") or {}).get("depth_choice") or {}
        return pd.DataFrame(choice.get("figures") or [],
                            columns=["depth", "leaves", "rows", "accuracy", "chosen", "reason"])

    @property
    def command(self) -> str | None:
        """The suggested ``workbench ingest`` command line."""
        return self.get("command")

    @property
    def options(self):
        """The :class:`~workbench.catalog.ingest.IngestOptions` of the suggested command: its
        ``--max-depth``, ``--strip-name-node`` and ``--images-dir`` (``.mapping`` alone ingests
        every level and keeps product-name nodes as leaves)."""
        from workbench.catalog.ingest import IngestOptions

        category = (self.get("guess") or {}).get("category") or {}
        chosen = category.get("options") or {}
        return IngestOptions(max_depth=chosen.get("max_depth"), strip_name_node=bool(chosen.get("strip_name_node")),
                             image_base=(self.get("photos") or {}).get("folder"))

    def ingest(self, ws):
        """Ingest the file into ``ws`` exactly as the suggested command would (mapping, options,
        delimiter and encoding); returns the :class:`~workbench.catalog.ingest.IngestSummary`."""
        from workbench.catalog.ingest import ingest_file
        from workbench.errors import WorkbenchError

        if self.mapping is None:
            raise WorkbenchError(f"{self.get('file')}: no column looks like a title; ingest it with "
                                 "wb.ingest_file(ws, path, wb.ColumnMapping(title=COLUMN, ...))")
        encoding = self.get("encoding")
        return ingest_file(ws, self["file"], self.mapping, options=self.options,
                           delimiter=self.get("delimiter"),
                           encoding=None if encoding in (None, "utf-8", "utf-8-sig") else encoding)

    def _repr_html_(self) -> str:
        import html

        head = (f"<b>{html.escape(str(self.get('file')))}</b>: {html.escape(str(self.get('format')))}, "
                f"{html.escape(str(self.get('encoding')))}, {self.get('rows_read'):,} rows read, "
                f"{len(self.get('columns') or [])} columns")
        command = f"<br><code>{html.escape(self.command)}</code>" if self.command else ""
        table = self.to_frame()[[c for c in ("name", "guessed_as", "type", "empty", "distinct", "examples")
                                 if c in self.to_frame()]].to_html(index=False, max_rows=30)
        return f"<div class='wb-inspection'>{head}{command}{table}</div>"


def inspect_file(path, **options) -> FileInspection:
    """Inspect any catalog file (format, encoding, columns, the suggested mapping), as
    ``workbench inspect FILE``; options as :func:`workbench.catalog.inspect.inspect_file`."""
    from workbench.catalog.inspect import inspect_file as inspect

    return FileInspection(inspect(path, **options))
