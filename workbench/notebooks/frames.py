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
