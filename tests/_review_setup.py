"""Shared setup of the review-loop tests: a real fashion workspace, two quick tfidf runs, and
files of real held-out fashion products with their category columns removed (truth kept aside)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from workbench import Workspace, ingest_dataset
from workbench.loop import simulation

THRESHOLD = 0.8


@dataclass
class ReviewWorkspace:
    """The workspace, its runs, and the held-out files with their true leaves."""

    ws: Workspace
    run_main: str
    run_weak: str
    files: dict[date, Path] = field(default_factory=dict)
    truth: dict[str, str] = field(default_factory=dict)


def held_out_rows(ws: Workspace, n: int, *, seed: int, with_images: bool = False) -> pd.DataFrame:
    """Real fashion rows not in the workspace whose true path is a leaf of its taxonomy."""
    return simulation.held_out_rows(ws, "fashion", n, seed=seed, with_images=with_images)


def write_new_arrivals(rows: pd.DataFrame, path: Path) -> Path:
    """The rows as a CSV of new products: no category columns."""
    return simulation.write_new_arrivals(rows, path, "fashion")


def build(root: Path, *, n_catalog: int = 1500, batches: dict[date, int], with_images: bool = False,
          seed: int = 0) -> ReviewWorkspace:
    """Ingest the catalog sample, train a weak and a main tfidf run, publish a threshold, and
    write one new-arrivals file per batch date (not yet classified)."""
    from workbench.loop.thresholds import publish_thresholds
    from workbench.runs.training import train_models

    ws = Workspace(root / "ws")
    ingest_dataset(ws, "fashion", sample=n_catalog, seed=seed)
    run_weak = train_models(ws, ["tfidf"], "grouped", sample=250, seed=seed)[0]
    run_main = train_models(ws, ["tfidf"], "grouped", seed=seed)[0]
    publish_thresholds(ws, THRESHOLD, by="lead")
    out = ReviewWorkspace(ws, run_main, run_weak)
    total = sum(batches.values())
    rows = held_out_rows(ws, total, seed=seed + 7, with_images=with_images)
    start = 0
    for day, n in sorted(batches.items()):
        part = rows.iloc[start:start + n]
        start += n
        out.files[day] = write_new_arrivals(part, root / f"arrivals-{day}.csv")
        out.truth.update(dict(zip(part["id"], part["truth"])))
    return out


def true_accuracy(ws: Workspace, truth: dict[str, str], batch_date: date, run_id: str) -> tuple[int, int]:
    """(correct, n) of a run's top-1 on a batch, against the held-out truth."""
    frame = ws.df("SELECT product_id, leaf FROM classifications WHERE batch_date = ? AND run_id = ?",
                  [batch_date, run_id])
    correct = np.array([truth[p] == leaf for p, leaf in zip(frame["product_id"], frame["leaf"])])
    return int(correct.sum()), len(correct)
