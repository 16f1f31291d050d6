"""Simulated new arrivals and reviewers, for trying the review loop on a labelled catalog.

Real catalog rows that are not in the workspace become "new products" (category columns
removed, truth kept aside); a simulated reviewer answers the review queue from that truth.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.catalog.datasets import image_dir, locate
from workbench.errors import WorkbenchError
from workbench.catalog.mapping import recipe
from workbench.catalog.reader import read_catalog
from workbench.catalog.relabel import load_taxonomy
from workbench.store import Workspace
from workbench.catalog.taxonomy import SEP


def held_out_rows(ws: Workspace, dataset: str = "fashion", n: int = 300, *, seed: int = 7,
                  with_images: bool = False) -> pd.DataFrame:
    """Real rows of a built-in catalog that are not in the workspace and whose true path is a
    leaf of its taxonomy (only rows with a photo when ``with_images``); column ``truth`` holds
    that leaf."""
    rec = recipe(dataset)
    if not rec.mapping.levels:
        raise WorkbenchError(f"held-out arrivals need a catalog with level columns (e.g. fashion), not {dataset!r}")
    raw = read_catalog(locate(rec.relpath)).frame
    raw = raw[raw[rec.mapping.title].notna()].copy()
    raw["truth"] = [SEP.join(v for v in row if v) for row in raw[rec.mapping.levels].itertuples(index=False)]
    known = set(ws.df("SELECT product_id FROM products")["product_id"])
    raw = raw[~raw[rec.mapping.id].isin(known) & raw["truth"].isin(set(load_taxonomy(ws).leaves))]
    if raw.empty:
        raise WorkbenchError(f"every product of {dataset} with a known leaf is already in {ws.path}, so none "
                             "can arrive as new; ingest a sample of the catalog (sample=N) into the workspace")
    if with_images:
        folder = image_dir(rec.dataset)
        have = {p.stem for p in folder.glob("*.jpg")} if folder else set()
        raw = raw[raw[rec.mapping.id].isin(have)]
    return raw.sample(n=min(n, len(raw)), random_state=seed).reset_index(drop=True)


def write_new_arrivals(rows: pd.DataFrame, path: str | Path, dataset: str = "fashion") -> Path:
    """The rows as a CSV of new products, without their category columns or truth."""
    path = Path(path)
    rows.drop(columns=list(recipe(dataset).mapping.levels) + ["truth"]).to_csv(path, index=False)
    return path


def held_out_arrivals(ws: Workspace, path: str | Path, dataset: str = "fashion", n: int = 300,
                      *, seed: int = 7) -> tuple[Path, dict[str, str]]:
    """Write ``n`` held-out products to ``path`` as new arrivals; returns the file and the truth."""
    rows = held_out_rows(ws, dataset, n, seed=seed)
    id_col = recipe(dataset).mapping.id
    return write_new_arrivals(rows, path, dataset), dict(zip(rows[id_col].astype(str), rows["truth"]))


def simulate_reviews(ws: Workspace, truth: dict[str, str], *, queue_date: date | str | None = None,
                     reviewer: str = "simulated-reviewer") -> pd.DataFrame:
    """Answer every pending item of a day's queue from ``truth``: accept when the model is
    right, correct to the true leaf otherwise. Returns the reviews made."""
    from workbench.loop.review_queue import queue_items
    from workbench.loop.reviews import submit_review

    items = queue_items(ws, queue_date, status="pending")
    made = []
    for product_id, day in zip(items["product_id"], items["queue_date"]):
        true_leaf = truth.get(str(product_id))
        if true_leaf is None:
            continue
        review = submit_review(ws, product_id, reviewer=reviewer, final_leaf=true_leaf, queue_date=day)
        made.append({"product_id": product_id, "decision": review.decision, "final_leaf": true_leaf})
    return pd.DataFrame(made)


def accuracy_on(ws: Workspace, run_id: str, truth: dict[str, str]) -> float:
    """Top-1 accuracy of a run on products whose true leaf is known."""
    from workbench.loop.shelving import predict_products

    ids = list(truth)
    proba, classes = predict_products(ws, run_id, ids)
    predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    return float(np.mean([truth[i] == p for i, p in zip(ids, predicted)]))
