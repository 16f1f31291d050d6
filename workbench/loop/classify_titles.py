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

from workbench.errors import WorkbenchError
from workbench.runs.predictor import TEXT_FIELDS, Predictor, model_inputs
from workbench.runs.selection import default_run
from workbench.store import Workspace

def products_input(titles_or_frame: Any) -> pd.DataFrame:
    """The model's input frame from titles (a string, a list of strings), a list of dicts or a
    DataFrame with a ``title`` column (``description``, ``brand``, ``price`` used when present),
    cleaned by the one road's cleaning (:func:`workbench.runs.predictor.model_inputs`)."""
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
    keep = [c for c in (*TEXT_FIELDS, "price", "department") if c in given.columns]
    frame = model_inputs(given[keep].reset_index(drop=True))
    frame["product_id"] = [f"query-{i}" for i in range(len(frame))]
    return frame


def classify(ws: Workspace, titles_or_frame: Any, run: str | None = None, *, top_k: int = 3,
             decision: str = "argmax") -> pd.DataFrame:
    """A recorded run's categories for titles (default run: :func:`workbench.runs.selection.default_run`),
    decided by the one predictor every surface uses.

    One row per input, in order: ``title``, ``category`` (the leaf's full path), one column per
    level, ``confidence``, ``threshold`` (the published one; NaN when none is), ``decision``
    (``shelved`` or ``review``), ``top_k`` (a list of ``{"category", "probability"}``, best
    first) and ``run_id``. Reads the workspace, writes nothing."""
    frame = products_input(titles_or_frame)
    predictor = Predictor.for_run(ws, run or default_run(ws))
    columns = ["title", "category", *predictor.level_names, "confidence", "threshold", "decision", "top_k",
               "run_id"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    proba = predictor.score(frame)
    chosen = predictor.decide(proba, decision)
    order, probs = predictor.top(proba, top_k)
    out = pd.DataFrame({"title": frame["title"], "category": chosen.leaf.astype(str)})
    for name, values in predictor.level_columns(chosen.index).items():
        out[name] = values
    out["confidence"] = chosen.confidence
    out["threshold"] = [t if math.isfinite(t) else np.nan for t in chosen.threshold.astype(float)]
    out["decision"] = chosen.decision
    out["top_k"] = [[{"category": str(predictor.classes[j]), "probability": float(pr)} for j, pr in zip(idx, ps)]
                    for idx, ps in zip(order, probs)]
    out["run_id"] = predictor.run_id
    return out[columns]


def top_k_frame(result: pd.DataFrame) -> pd.DataFrame:
    """The ``top_k`` lists of a :func:`classify` result as tidy rows: ``title, rank, category,
    probability``."""
    rows: list[dict[str, Any]] = []
    for title, top in zip(result["title"], result["top_k"]):
        rows += [{"title": title, "rank": r, **entry} for r, entry in enumerate(top, start=1)]
    return pd.DataFrame(rows, columns=["title", "rank", "category", "probability"])

