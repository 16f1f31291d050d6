"""Which category are these titles? A recorded run's answer for titles (or a frame of products)
without adding anything to the workspace (``wb.classify``).

    wb.classify(ws, ["Nike Men Black Running Shoes", "Titan Women Gold Watch"])

Each row gets the category (full path), one column per taxonomy level, the confidence, the
shelving decision under the published thresholds (``review`` for everything while none is
published, as ``workbench classify`` decides) and the top-k leaves with their paths. Nothing is
written: new products enter the catalog through :func:`workbench.loop.shelving.classify_file`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from workbench.catalog.text import clean_text
from workbench.errors import WorkbenchError
from workbench.evaluate.shelving import shelving_preview
from workbench.loop.shelving import default_run, load_run_model, resolve_thresholds, taxonomy_for
from workbench.store import Workspace

TEXT_FIELDS = ("title", "description", "brand")


def products_input(titles_or_frame: Any) -> pd.DataFrame:
    """The model's input frame from titles (a string, a list of strings), a list of dicts or a
    DataFrame with a ``title`` column (``description``, ``brand``, ``price`` used when present),
    text cleaned as ingest cleans it."""
    if isinstance(titles_or_frame, str):
        titles_or_frame = [titles_or_frame]
    if isinstance(titles_or_frame, pd.Series):
        titles_or_frame = titles_or_frame.to_frame("title")
    if isinstance(titles_or_frame, pd.DataFrame):
        given = titles_or_frame
    else:
        items = list(titles_or_frame)
        if items and all(isinstance(i, Mapping) for i in items):
            given = pd.DataFrame(items)
        elif all(isinstance(i, str) for i in items):
            given = pd.DataFrame({"title": items})
        else:
            raise WorkbenchError("classify takes titles (a list of strings), a list of dicts with a "
                                 "'title' key, or a DataFrame with a 'title' column")
    if "title" not in given.columns:
        raise WorkbenchError(f"classify needs a 'title' column; the frame has "
                             f"{', '.join(map(str, given.columns)) or 'no columns'} (rename one to title)")
    frame = pd.DataFrame({f: [clean_text(v) if isinstance(v, str) else "" for v in given[f]]
                          if f in given else "" for f in TEXT_FIELDS})
    frame["price"] = pd.to_numeric(given["price"], errors="coerce").to_numpy() if "price" in given else np.nan
    frame["department"] = given["department"].to_numpy() if "department" in given else None
    frame["extra"] = None
    frame["product_id"] = [f"query-{i}" for i in range(len(frame))]
    return frame


def classify(ws: Workspace, titles_or_frame: Any, run: str | None = None, *, top_k: int = 3,
             decision: str = "argmax") -> pd.DataFrame:
    """A recorded run's categories for titles (default run: the one ``workbench classify`` uses).

    One row per input, in order: ``title``, ``category`` (the leaf's full path), one column per
    level, ``confidence``, ``threshold`` (the published one; NaN when none is), ``decision``
    (``shelved`` or ``review``), ``top_k`` (a list of ``{"category", "probability"}``, best
    first) and ``run_id``. Reads the workspace, writes nothing."""
    frame = products_input(titles_or_frame)
    run_id = run or default_run(ws)
    model = load_run_model(ws, run_id)
    classes = np.asarray(model.classes_, dtype=object)
    taxonomy = taxonomy_for(ws, classes)
    columns = ["title", "category", *taxonomy.level_names, "confidence", "threshold", "decision", "top_k", "run_id"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    proba = np.asarray(model.predict_proba(frame))
    threshold, overrides = resolve_thresholds(ws, None, None)
    preview = shelving_preview(frame["product_id"], proba, classes=classes, taxonomy=taxonomy,
                               threshold=threshold, overrides={k: v for k, v in overrides.items() if k in taxonomy},
                               decision=decision).frame
    k = max(1, min(int(top_k), proba.shape[1]))
    order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    out = pd.DataFrame({"title": frame["title"], "category": preview["leaf"].astype(str).to_numpy()})
    for name in taxonomy.level_names:
        out[name] = preview[name].to_numpy() if name in preview else None
    out["confidence"] = preview["confidence"].astype(float).to_numpy()
    out["threshold"] = [t if math.isfinite(t) else np.nan for t in preview["threshold"].astype(float)]
    out["decision"] = preview["decision"].to_numpy()
    out["top_k"] = [[{"category": str(classes[j]), "probability": float(row[j])} for j in idx]
                    for row, idx in zip(proba, order)]
    out["run_id"] = run_id
    return out[columns]


def top_k_frame(result: pd.DataFrame) -> pd.DataFrame:
    """The ``top_k`` lists of a :func:`classify` result as tidy rows: ``title, rank, category,
    probability``."""
    rows: list[dict[str, Any]] = []
    for title, top in zip(result["title"], result["top_k"]):
        rows += [{"title": title, "rank": r, **entry} for r, entry in enumerate(top, start=1)]
    return pd.DataFrame(rows, columns=["title", "rank", "category", "probability"])

