"""Runs trained on an older taxonomy, scored on the current one where the change map allows.

A run's own records (its saved probability matrices, ``classes.json``) stay in the taxonomy it
was trained on. To compare it with newer runs, its saved predictions are read through the
change map (:func:`workbench.catalog.taxonomy_versions.class_map_for_run`: a renamed, moved or
merged class directly, merged classes' probabilities summed) and scored against the **current**
truth of its split (:func:`workbench.runs.truth.current_truth`). A test product cannot be mapped
when its current leaf is not one the run can answer (a split's new child, an added category) or
when it has no label now (queued by a split or a retire): those are counted and left out, and
the figures are on the rest. Nothing is written: the figures are computed when asked.

A comparison page asks on every refresh. A run's saved predictions never change, so they are
read (and mapped) once per run, part and taxonomy version in a process (:func:`mapped_predictions`,
the last :data:`CACHE_SIZE` kept); a taxonomy change or undo makes a new version and they are read
again. The truth and the figures are computed each time (a review changes the truth).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from workbench.catalog.taxonomy_versions import (ClassMap, class_map_for_run, current_version, run_taxonomy_versions,
                                                 taxonomy_stamp)
from workbench.errors import WorkbenchError
from workbench.store import Workspace

TARGETS = ("0.9", "0.95", "0.98")
#: how many runs' mapped predictions a process keeps (a test part of 10,000 products and 150
#: classes is 12 MB)
CACHE_SIZE = 16


@dataclass(frozen=True)
class MappedPredictions:
    """A run's saved predictions of one part read in the current taxonomy: ``proba`` over the
    current ``classes``, the ``product_ids`` in row order and the ``class_map`` used."""

    proba: np.ndarray
    classes: list[str]
    product_ids: list[str]
    class_map: ClassMap


_CACHE: OrderedDict[tuple, MappedPredictions | None] = OrderedDict()
_CACHE_LOCK = threading.Lock()


@dataclass
class TaxonomyScore:
    """One run's figures on the current taxonomy: ``metrics`` (accuracy, macro_f1, n,
    level_accuracy, coverage_at), ``n_saved`` products it was scored on, ``unmapped`` product ids
    left out, the taxonomy ``trained_on`` and ``now``."""

    run_id: str
    part: str
    metrics: dict
    n_saved: int
    unmapped: list[str] = field(default_factory=list)
    trained_on: int = 0
    now: int = 0

    @property
    def note(self) -> str:
        """What a person reads beside the figures."""
        scored = f"{self.metrics['n']:,} of {self.n_saved:,} {self.part} products"
        left = (f"; {len(self.unmapped):,} could not be mapped (their category was split or retired, or is new) "
                "and are left out" if self.unmapped else "")
        return (f"re-scored on taxonomy version {self.now} through the change map (trained on version "
                f"{self.trained_on}): {scored}{left}")


def mapped_proba(proba: np.ndarray, classes, class_map: ClassMap) -> tuple[np.ndarray, list[str]]:
    """``proba`` over a run's classes read in the current taxonomy: columns of classes that now
    share a node are summed. Returns the matrix and its (current) classes."""
    mapping = class_map.mapping
    current = [mapping.get(str(c), str(c)) for c in classes]
    unique = list(dict.fromkeys(current))
    column = {c: i for i, c in enumerate(unique)}
    collapse = np.zeros((len(current), len(unique)))
    collapse[np.arange(len(current)), [column[c] for c in current]] = 1.0
    return np.asarray(proba) @ collapse, unique


def _coverage(y_true, proba, classes) -> dict[str, float]:
    from workbench.evaluate._common import score
    from workbench.evaluate.coverage import ACCURACY_SLACK, accuracy_coverage_curve_from, check_target

    curve = accuracy_coverage_curve_from(score(y_true, proba, classes))
    out = {}
    for key in TARGETS:
        ok = np.flatnonzero(curve["accuracy"].to_numpy() >= check_target(float(key)) - ACCURACY_SLACK)
        out[key] = float(curve["coverage"].iloc[ok[-1]]) if len(ok) else 0.0
    return out


def mapped_predictions(ws: Workspace, run_id: str, part: str = "test") -> MappedPredictions | None:
    """A run's saved ``part`` predictions read through the change map, or ``None`` when no change
    in force was made since the run or it has no saved ``part`` predictions. Read from the
    run's files once per run, part and taxonomy version in this process."""
    from workbench.runs.records import load_predictions

    key = (str(ws.db_path), str(run_id), part, taxonomy_stamp(ws))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    try:
        preds = load_predictions(ws, run_id, part)
    except (WorkbenchError, OSError):
        return None  # not kept: the files may be written yet
    class_map = class_map_for_run(ws, run_id, [str(c) for c in preds.classes])
    mapped = None
    if class_map is not None:
        proba, classes = mapped_proba(preds.proba, preds.classes, class_map)
        proba.setflags(write=False)  # shared by every later refresh
        mapped = MappedPredictions(proba, classes, [str(p) for p in preds.product_ids], class_map)
    with _CACHE_LOCK:
        _CACHE[key] = mapped
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return mapped


def rescore_on_current_taxonomy(ws: Workspace, run_id: str, part: str = "test") -> TaxonomyScore | None:
    """A run's figures on the current taxonomy through the change map, or ``None`` when no
    change in force was made since the run (its stored figures are current) or it has no saved
    ``part`` predictions."""
    from workbench.catalog.relabel import load_taxonomy
    from workbench.runs.records import get_run
    from workbench.runs.scoring import run_metrics
    from workbench.runs.truth import current_truth

    mapped = mapped_predictions(ws, run_id, part)
    if mapped is None:
        return None
    proba, classes, ids, class_map = mapped.proba, mapped.classes, mapped.product_ids, mapped.class_map
    truth = current_truth(ws, get_run(ws, run_id)["split"])
    truth = truth[truth["part"] == part]
    labels = dict(zip(truth["product_id"].astype(str), truth["leaf"]))
    known = set(classes) - set(class_map.review)
    keep = np.array([labels.get(p) in known for p in ids], dtype=bool)
    unmapped = [p for p, k in zip(ids, keep) if not k]
    if not keep.any():
        metrics = {"accuracy": None, "macro_f1": None, "n": 0, "level_accuracy": {}, "coverage_at": {}}
    else:
        y_true = [labels[p] for p, k in zip(ids, keep) if k]
        metrics = run_metrics(y_true, proba[keep], classes, load_taxonomy(ws))
        metrics["coverage_at"] = _coverage(y_true, proba[keep], classes)
    return TaxonomyScore(str(run_id), part, metrics, len(ids), unmapped,
                         run_taxonomy_versions(ws).get(str(run_id), 0), current_version(ws))


def rescored_runs(ws: Workspace, run_ids, part: str = "test") -> dict[str, TaxonomyScore]:
    """``{run_id: TaxonomyScore}`` for the runs of ``run_ids`` trained before a change in force
    (their predictions read once per taxonomy version, :func:`mapped_predictions`)."""
    out = {}
    for run_id in run_ids:
        got = rescore_on_current_taxonomy(ws, str(run_id), part)
        if got is not None:
            out[str(run_id)] = got
    return out
