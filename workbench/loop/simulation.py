"""Simulated new arrivals and reviewers, for trying the review loop on a labelled catalog.

Real catalog rows that are not in the workspace become "new products" (category columns
removed, truth kept aside); a simulated reviewer answers the review queue from that truth;
planted label flips measure how well suspect catalog labels are found.
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
from workbench.store.frames import registered
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


def plant_label_flips(ws: Workspace, share: float = 0.02, *, sibling_share: float = 0.5, seed: int = 0,
                      split: str = "grouped", part: str = "train") -> pd.DataFrame:
    """Make a known share of the catalog's labels wrong, to measure how well suspect labels are
    found: ``share`` of the catalog-labelled products of ``part`` of ``split`` get another leaf,
    ``sibling_share`` of them a sibling of their leaf (a near miss: Heels as Flats), the rest a
    leaf anywhere in the tree (drawn uniformly among the other leaves). Sibling flips are drawn
    among the products whose leaf has sibling leaves, the others among the rest. The new leaf becomes the product's catalog path, as if the catalog
    had shipped it. Returns ``product_id, original, planted, kind`` (``sibling`` or ``anywhere``)."""
    from workbench.catalog.splits import split_frame

    if not 0 < share < 1 or not 0 <= sibling_share <= 1:
        raise WorkbenchError(f"share must lie in (0, 1) and sibling_share in [0, 1], got {share}, {sibling_share}")
    taxonomy = load_taxonomy(ws)
    frame = split_frame(ws, split, label_sources=("catalog",))
    frame = frame[frame["part"] == part].sort_values("product_id").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    n = max(1, int(round(share * len(frame))))
    sibling_leaves = {leaf: [s for s in taxonomy.siblings(leaf) if taxonomy.is_leaf(s)]
                      for leaf in frame["leaf"].unique()}
    has_sibling = np.flatnonzero(frame["leaf"].map(lambda leaf: bool(sibling_leaves[leaf])).to_numpy())
    n_sibling = min(int(round(sibling_share * n)), len(has_sibling))
    near = rng.choice(has_sibling, size=n_sibling, replace=False)
    rest = np.setdiff1d(np.arange(len(frame)), near)
    far = rng.choice(rest, size=n - n_sibling, replace=False)
    leaves = list(taxonomy.leaves)
    rows = []
    for i in near:
        pid, leaf = frame.at[i, "product_id"], frame.at[i, "leaf"]
        options = sibling_leaves[leaf]
        rows.append((pid, leaf, options[rng.integers(len(options))], "sibling"))
    for i in far:
        pid, leaf = frame.at[i, "product_id"], frame.at[i, "leaf"]
        others = [x for x in leaves if x != leaf]
        rows.append((pid, leaf, others[rng.integers(len(others))], "anywhere"))
    flips = pd.DataFrame(rows, columns=["product_id", "original", "planted", "kind"])
    with ws.transaction() as cur:
        with registered(cur, "_flips", flips):
            cur.execute("UPDATE products SET leaf = f.planted, category_path = f.planted FROM _flips f "
                        "WHERE products.product_id = f.product_id")
    return flips
