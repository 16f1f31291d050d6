"""Suspect catalog labels: confident learning over out-of-sample probabilities (``cleanlab``).

:func:`find_label_issues` takes the out-of-sample probabilities of the labelled products (a
k-fold run computed on the spot by :func:`workbench.runs.cross_validation.out_of_fold_run`, or
the stored predictions of a run named with ``run_id``), lets ``cleanlab.filter.
find_label_issues`` decide which labels are issues, and stores them ranked in ``label_issues``:
the given leaf, the suggested one (the most probable *other* leaf), and the label-quality
score (``self_confidence``: the probability of the given leaf; lower is more suspect). They are
written in short transactions under a key no reader asks for and shown all at once, replacing
the run's earlier issues (:func:`workbench.store.slices.replace_slice`, the rows' ``run_id`` being
the key): a scan of a large catalog never holds the workspace for its whole write.

Memory: cleanlab's per-class pruning keeps a second copy of the probabilities split by class;
it runs in this process (``n_jobs=1``: no worker copies) on float32 probabilities restricted to
the leaves that occur. Above :data:`LEAN_ABOVE` probabilities (products x leaves), or with
``low_memory=True``, cleanlab's memory-lean ``find_label_issues_batched`` streams them in
batches from a memory-mapped file instead.

The flagged products become the fourth source of the daily review queue
(``workbench queue build --suspect N``, see :mod:`workbench.loop.review_queue`).
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.loop.labels import utc_now
from workbench.runs.records import get_run, load_predictions
from workbench.store import Workspace
from workbench.store.slices import replace_slice, slice_names, stored_key

FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given",
           "low_self_confidence", "low_normalized_margin")
RANKINGS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
#: above this many probabilities (products x leaves that occur), the batched, memory-lean path
LEAN_ABOVE = 50_000_000


@dataclass
class LabelIssues:
    """A finished scan: the run whose probabilities were ranked, and the flagged products."""

    run_id: str
    n_products: int
    method: str
    issues: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        share = len(self.issues) / self.n_products if self.n_products else 0.0
        lines = [f"label issues: {len(self.issues):,} of {self.n_products:,} labelled products flagged "
                 f"({share:.1%}) from the out-of-sample probabilities of run {self.run_id} ({self.method})"]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def rank_label_issues(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                      filter_by: str = "prune_by_noise_rate", rank_by: str = "self_confidence",
                      low_memory: bool | None = None) -> pd.DataFrame:
    """The label issues among products with given leaves ``y_true`` and out-of-sample ``proba``
    (columns follow ``classes``), most suspect first: ``row`` (index into the inputs),
    ``given_leaf``, ``suggested_leaf``, ``score`` (label quality by ``rank_by``; lower = more
    suspect), ``given_proba``, ``suggested_proba``. ``low_memory=None`` chooses the batched path
    above :data:`LEAN_ABOVE` probabilities."""
    from cleanlab.filter import find_label_issues as cleanlab_find
    from cleanlab.rank import get_label_quality_scores

    if filter_by not in FILTERS:
        raise WorkbenchError(f"unknown filter {filter_by!r}; use one of {', '.join(FILTERS)}")
    if rank_by not in RANKINGS:
        raise WorkbenchError(f"unknown ranking {rank_by!r}; use one of {', '.join(RANKINGS)}")
    classes = np.asarray(classes, dtype=object)
    codes = pd.Index(classes).get_indexer(np.asarray(y_true, dtype=object))
    if (codes < 0).any():
        raise WorkbenchError(f"{int((codes < 0).sum())} given labels are not leaves of the run's classes; "
                             "rank the issues of a run trained on this taxonomy")
    present, labels = np.unique(codes, return_inverse=True)
    if len(present) < 2:
        raise WorkbenchError("label issues need products of at least two leaves")
    lean = low_memory if low_memory is not None else len(codes) * len(present) > LEAN_ABOVE
    probs = _compact(np.asarray(proba), present)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if lean:
            rows = _batched(labels, probs)
        else:
            rows = cleanlab_find(labels, probs, filter_by=filter_by, return_indices_ranked_by=rank_by, n_jobs=1)
    too_few = sum("too few examples" in str(w.message) for w in caught)
    rows = np.asarray(rows, dtype=np.int64)
    sub, sub_labels = probs[rows], labels[rows]
    scores = (get_label_quality_scores(sub_labels, sub, method=rank_by) if len(rows)
              else np.zeros(0))
    others = sub.copy()
    others[np.arange(len(rows)), sub_labels] = -1.0
    best = others.argmax(axis=1) if len(rows) else np.zeros(0, dtype=np.int64)
    frame = pd.DataFrame({"row": rows, "given_leaf": classes[present[sub_labels]],
                          "suggested_leaf": classes[present[best]], "score": np.asarray(scores, dtype=float),
                          "given_proba": sub[np.arange(len(rows)), sub_labels].astype(float),
                          "suggested_proba": sub[np.arange(len(rows)), best].astype(float)})
    frame = frame.sort_values(["score", "row"], kind="mergesort").reset_index(drop=True)
    frame.attrs["batched"] = bool(lean)
    frame.attrs["notes"] = ([f"{too_few} leaves have too few products for cleanlab to flag every issue "
                             "in them (it keeps at least one product per leaf)"] if too_few else [])
    return frame


def _compact(proba: np.ndarray, present: np.ndarray) -> np.ndarray:
    """float32 probabilities over the leaves that occur, rows renormalised (cleanlab needs every
    column to be a class with at least one product)."""
    out = np.empty((proba.shape[0], len(present)), dtype=np.float32)
    for lo in range(0, proba.shape[0], 65536):
        block = np.asarray(proba[lo:lo + 65536][:, present], dtype=np.float32)
        sums = block.sum(axis=1, keepdims=True)
        block = np.where(sums > 0, block / np.where(sums > 0, sums, 1), 1.0 / len(present))
        out[lo:lo + len(block)] = np.maximum(block, 0)
    return out


def _batched(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """cleanlab's streaming ``find_label_issues_batched`` over memory-mapped files."""
    from cleanlab.experimental.label_issues_batched import find_label_issues_batched

    with tempfile.TemporaryDirectory(prefix="workbench-label-issues-") as tmp:
        np.save(Path(tmp) / "labels.npy", labels.astype(np.int64), allow_pickle=False)
        np.save(Path(tmp) / "proba.npy", probs, allow_pickle=False)
        del probs
        return np.asarray(find_label_issues_batched(
            labels_file=str(Path(tmp) / "labels.npy"), pred_probs_file=str(Path(tmp) / "proba.npy"),
            batch_size=20000, n_jobs=1, verbose=False))


def run_parts(ws: Workspace, run_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(product_ids, given leaves, proba, classes)`` of every stored part of a run (a k-fold
    run's ``test`` part covers every labelled product; a plain run's valid and test parts are
    out-of-sample for their products only)."""
    ids, given, probas, classes = [], [], [], None
    for part in ("valid", "test"):
        try:
            preds = load_predictions(ws, run_id, part)
        except WorkbenchError:
            continue
        ids.append(preds.product_ids)
        given.append(preds.y_true)
        probas.append(preds.proba)
        classes = preds.classes
    if classes is None:
        raise WorkbenchError(f"run {run_id} has no stored predictions to rank; train it again")
    return np.concatenate(ids), np.concatenate(given), np.vstack(probas), classes


def find_label_issues(ws: Workspace, *, run_id: str | None = None, model: str = "tfidf",
                      params: dict[str, Any] | None = None, folds: int = 5, seed: int = 0,
                      filter_by: str = "prune_by_noise_rate", rank_by: str = "self_confidence",
                      low_memory: bool | None = None, echo=None) -> LabelIssues:
    """Rank the workspace's suspect labels and store them in ``label_issues`` (replacing earlier
    ones from the same run). Without ``run_id`` a k-fold run of ``model`` is trained first."""
    notes = []
    if run_id is None:
        from workbench.runs.cross_validation import out_of_fold_run

        run_id = out_of_fold_run(ws, model=model, params=params, folds=folds, seed=seed, echo=echo)
    else:
        run = get_run(ws, run_id)
        if not str(run["split"]).endswith("-fold"):
            notes.append(f"run {run_id} is not a k-fold run: only its valid and test products "
                         "(out-of-sample for it) were ranked")
    ids, given, proba, classes = run_parts(ws, run_id)
    ranked = rank_label_issues(given, proba, classes=classes, filter_by=filter_by, rank_by=rank_by,
                               low_memory=low_memory)
    notes += ranked.attrs["notes"]
    method = ("cleanlab find_label_issues_batched (memory-lean)" if ranked.attrs["batched"]
              else f"cleanlab {filter_by}") + f", ranked by {rank_by}"
    issues = ranked.assign(product_id=ids[ranked["row"].to_numpy()], rank=np.arange(1, len(ranked) + 1),
                           run_id=run_id, method=method, found_at=utc_now())
    # in short transactions under a new key, then shown all at once (the scan's earlier issues go
    # in the same short flip): a large scan never holds the workspace for its whole write
    columns_in_order = list(ws.df("SELECT * FROM label_issues WHERE false").columns)
    replace_slice(ws, "label_issues", run_id, issues[columns_in_order], column="run_id")
    columns = ["rank", "product_id", "given_leaf", "suggested_leaf", "score", "given_proba", "suggested_proba"]
    return LabelIssues(run_id, len(ids), method, issues[columns], notes)


def latest_issues_run(ws: Workspace) -> str | None:
    """The run of the newest label-issues scan, or ``None`` (a scan still being written is not
    one yet)."""
    with ws.hold():
        keys = {stored_key(ws, "label_issues", name): name for name in slice_names(ws, "label_issues", "run_id")}
        if not keys:
            return None
        found = ws.df("SELECT run_id AS key, max(found_at) AS found_at FROM label_issues "
                      "WHERE run_id IN (SELECT unnest(?)) GROUP BY run_id", [list(keys)])
    found["name"] = found["key"].map(keys)
    return str(found.sort_values(["found_at", "name"], ascending=False).iloc[0]["name"])


def stored_issues(ws: Workspace, run_id: str | None = None) -> pd.DataFrame:
    """The stored issues of a scan (default: the newest), most suspect first, with titles and
    each product's current label and its source."""
    run_id = run_id or latest_issues_run(ws)
    if run_id is None:
        return ws.df("SELECT * FROM label_issues WHERE false")
    with ws.hold():
        frame = ws.df("SELECT i.*, p.title, p.leaf AS current_leaf, p.label_source FROM label_issues i "
                      "JOIN products p USING (product_id) WHERE i.run_id = ? ORDER BY i.rank",
                      [stored_key(ws, "label_issues", run_id)])
    return frame.assign(run_id=run_id)


def suspect_candidates(ws: Workspace, n: int, run_id: str | None = None) -> pd.DataFrame:
    """Up to ``n`` flagged products whose suspect label is still their current catalog label
    (a reviewer has not decided on it, nobody relabelled it), most suspect first."""
    issues = stored_issues(ws, run_id)
    open_ = issues[(issues["label_source"] == "catalog") & (issues["current_leaf"] == issues["given_leaf"])]
    return open_.head(max(int(n), 0)).reset_index(drop=True)
