"""A run's training reference: what served traffic is compared with to measure drift.

Built from the workspace by the process that can read its database, into
``<workspace>/service/reference/<run_id>/``, and read back from there by anyone:

* ``reference.json``: the training part's category mix at every level (counts), the training
  titles' vocabulary and token-count distribution, and the unknown-token share of the
  validation titles (the baseline: text the model did not see, from the same distribution);
* ``test_top1.parquet``: the run's top-1 leaf and confidence on its test part (the confidence
  reference);
* ``titles.parquet``: a seeded sample of training titles (the embedding reference).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from workbench.catalog.relabel import load_taxonomy
from workbench.catalog.splits import split_frame
from workbench.errors import WorkbenchError
from workbench.runs.records import get_run, load_predictions
from workbench.service.drift import tokens, unknown_token_share
from workbench.service.files import read_json, write_json, write_parquet
from workbench.store import Workspace

VERSION = 1
EMBEDDING_SAMPLE = 500


def ancestor(leaf: str, level: int) -> str:
    """The ancestor of a leaf id at a level (``"A > B > C"``, 2 -> ``"A > B"``)."""
    return " > ".join(str(leaf).split(" > ")[:level])


def level_mix(leaves, depth: int) -> dict[str, dict[str, int]]:
    """``{level number as text: {node: count}}`` of leaves at every level 1..depth."""
    leaves = pd.Series(list(leaves), dtype=object)
    return {str(level): {str(k): int(v) for k, v in Counter(ancestor(x, level) for x in leaves).items()}
            for level in range(1, depth + 1)}


def build_reference(ws: Workspace, run_id: str, folder: Path, seed: int = 0) -> Path:
    """Write the drift reference of ``run_id`` into ``folder`` (replacing an older one)."""
    run = get_run(ws, run_id)
    sources = tuple(str(run.get("label_sources") or "catalog,human").split(","))
    frame = split_frame(ws, str(run["split"]), label_sources=sources)
    train, valid = frame[frame["part"] == "train"], frame[frame["part"] == "valid"]
    if train.empty:
        raise WorkbenchError(f"run {run_id}'s {run['split']} split has no training products left; "
                             "the drift reference needs them")
    taxonomy = load_taxonomy(ws)
    titles = train["title"].fillna("").astype(str)
    vocabulary = sorted({t for title in titles for t in tokens(title)})
    holdout = valid if len(valid) else frame[frame["part"] == "test"]
    baseline, n_tokens = unknown_token_share(holdout["title"].fillna(""), set(vocabulary))
    lengths = Counter(len(tokens(t)) for t in titles)
    try:
        test = load_predictions(ws, run_id, "test")
        best = test.proba.argmax(axis=1)
        top1 = pd.DataFrame({"leaf": test.classes[best].astype(str),
                             "confidence": test.proba[np.arange(len(best)), best].astype(float)})
    except WorkbenchError:
        top1 = pd.DataFrame({"leaf": pd.Series(dtype=str), "confidence": pd.Series(dtype=float)})
    write_parquet(folder / "test_top1.parquet", pa.Table.from_pandas(top1, preserve_index=False))
    sample = titles.sample(n=min(EMBEDDING_SAMPLE, len(titles)), random_state=seed)
    write_parquet(folder / "titles.parquet", pa.table({"title": sample.tolist()}))
    # last: reference.json marks the reference complete (a reader never sees half of one)
    write_json(folder / "reference.json", {
        "version": VERSION, "run_id": run_id, "split": str(run["split"]), "n_train": int(len(train)),
        "level_names": list(taxonomy.level_names), "mix": level_mix(train["leaf"], taxonomy.depth),
        "vocabulary": vocabulary, "title_length_counts": {str(k): int(v) for k, v in sorted(lengths.items())},
        "baseline": {"unknown_token_share": baseline, "n_tokens": int(n_tokens), "part": "valid" if len(valid) else "test"},
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return folder


@dataclass
class Reference:
    """A loaded drift reference."""

    run_id: str
    level_names: list[str]
    mix: dict[str, dict[str, int]]
    vocabulary: set[str]
    baseline_unknown_share: float
    title_lengths: np.ndarray
    test_top1: pd.DataFrame
    sample_titles: list[str]
    n_train: int


def load_reference(folder: Path) -> Reference | None:
    """The reference stored in ``folder``, or ``None`` when it has not been built (or is being
    rebuilt by another thread or process this moment)."""
    meta = read_json(Path(folder) / "reference.json")
    if meta is None or meta.get("version") != VERSION:
        return None
    try:
        test_top1 = pd.read_parquet(Path(folder) / "test_top1.parquet")
        titles = pd.read_parquet(Path(folder) / "titles.parquet")["title"].tolist()
    except FileNotFoundError:
        return None
    counts = meta["title_length_counts"]
    lengths = np.repeat(np.array([int(k) for k in counts], dtype=float), [int(v) for v in counts.values()])
    return Reference(meta["run_id"], list(meta["level_names"]), meta["mix"], set(meta["vocabulary"]),
                     float(meta["baseline"]["unknown_token_share"]), lengths,
                     test_top1, titles, int(meta["n_train"]))
