"""Evaluate a recorded run end to end: every metric from one scoring pass, stored as tables.

:func:`evaluate_predictions` works on arrays (notebooks, benchmarks); :func:`evaluate_run`
reads a run's predictions and the workspace taxonomy, evaluates, and writes the evaluation
tables (see :mod:`workbench.runs.evaluation_tables`) in one transaction.
"""

from __future__ import annotations

import math
from datetime import datetime
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.evaluate._common import score, tree_index
from workbench.evaluate.calibration import ece_from_bins, reliability_bins_from
from workbench.evaluate.category_thresholds import grouped_curves, thresholds_from_curves
from workbench.evaluate.confusion import confusion_pairs_from
from workbench.evaluate.coverage import (accuracy_coverage_curve_from, check_target, downsample_curve,
                                         threshold_from_curve)
from workbench.evaluate.decision import check_decision, decide
from workbench.evaluate.metrics import (accuracy_from, hierarchical_prf_from, hierarchical_prf_macro_from,
                                        level_accuracy_from, level_prf_from, macro_f1_from,
                                        per_leaf_report_from, per_node_report_from)
from workbench.evaluate.severity import (distance_table_from, error_severity_from, neighbour_error_share_from,
                                         neighbour_share_from, worst_errors_from)
from workbench.runs.evaluation_result import RunEvaluation
from workbench.runs.evaluation_tables import evaluation_part, store_evaluation
from workbench.runs.records import load_predictions
from workbench.store import Workspace
from workbench.catalog.taxonomy import Taxonomy

DEFAULT_TARGETS = (0.9, 0.95, 0.98, 0.99)
PRF_KEYS = ("precision_macro", "recall_macro", "f1_macro", "precision_micro", "recall_micro", "f1_micro")
NEIGHBOUR_K = 5


@dataclass
class Evaluation:
    """Headline ``metrics`` (JSON-ready) and the ``tables`` stored for dashboards."""

    metrics: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def target_key(target: float) -> str:
    """The JSON key of a target accuracy: ``0.95 -> "0.95"``."""
    return repr(float(target))


def json_ready(value: Any, *, dates: bool = False) -> Any:
    """Plain Python values with NaN and infinities as ``None`` (``dates``: datetimes and
    timestamps as ISO text too)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v, dates=dates) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v, dates=dates) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if dates and isinstance(value, (datetime, pd.Timestamp)):
        return value.isoformat()
    return value


def evaluate_predictions(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                         taxonomy: Taxonomy, targets: Sequence[float] = DEFAULT_TARGETS,
                         neighbours: Mapping[str, Sequence[str]] | None = None,
                         product_ids: Sequence | None = None, n_bins: int = 15,
                         neighbour_k: int = NEIGHBOUR_K, min_support: int = 30,
                         max_curve_points: int = 2000, worst_k: int = 100,
                         decision: str = "argmax") -> Evaluation:
    """All metrics of one set of predictions, scored once.

    ``decision`` is the rule that turns a row of probabilities into a leaf (``argmax``, or
    ``min-risk``: :mod:`workbench.evaluate.decision`); the confidence of a prediction is the
    probability of the chosen leaf. ``metrics`` keys: ``n, decision, accuracy, macro_f1, ece,
    coverage_at, threshold_at, accuracy_at`` (keyed by target as a string), ``severity`` (tree
    distance as a string -> share), ``mean_distance``, ``errors``, ``mean_error_distance``,
    ``cross_family_errors``, ``cross_family_error_share``, ``cross_family_rate``,
    ``family_level``, ``level_accuracy``, ``level_prf`` (per level: precision / recall / F1,
    macro and micro), ``hierarchical`` (micro-averaged) and ``hierarchical_macro``,
    ``neighbour_share, neighbour_error_share`` (``None`` without ``neighbours``). ``tables``
    holds the frames of the ``eval_*`` tables.
    """
    targets = [check_target(t) for t in targets]
    check_decision(decision)
    pred = None if decision == "argmax" else decide(proba, classes=classes, taxonomy=taxonomy,
                                                   decision=decision)
    s = score(y_true, proba, classes, pred)
    tree = tree_index(taxonomy, s.classes)
    curve = accuracy_coverage_curve_from(s)
    thresholds = {t: threshold_from_curve(curve, t) for t in targets}
    at = {t: curve[curve["threshold"] == thr].iloc[0] if thr is not None else None
          for t, thr in thresholds.items()}
    per_leaf = per_leaf_report_from(s)
    per_node = per_node_report_from(s, tree)
    levels = level_accuracy_from(s, tree).join(level_prf_from(s, tree, per_node).drop(columns="level"))
    severity = distance_table_from(s, tree)
    bins = reliability_bins_from(s, n_bins)
    category = []
    for by in ("leaf", "parent"):
        gc = grouped_curves(s, by, tree)
        for t in targets:
            fallback = np.inf if thresholds[t] is None else thresholds[t]
            frame = thresholds_from_curves(gc, t, min_support=min_support, fallback=fallback)
            category.append(frame.reset_index().assign(target=t, by=by))
    metrics = {
        "n": s.n,
        "decision": decision,
        "accuracy": accuracy_from(s),
        "macro_f1": macro_f1_from(s),
        "ece": ece_from_bins(bins),
        "coverage_at": {target_key(t): 0.0 if at[t] is None else at[t]["coverage"] for t in targets},
        "threshold_at": {target_key(t): thresholds[t] for t in targets},
        "accuracy_at": {target_key(t): None if at[t] is None else at[t]["accuracy"] for t in targets},
        "severity": {str(d): sh for d, sh in zip(severity["distance"], severity["share"])},
        "mean_distance": float((severity["distance"] * severity["share"]).sum()),
        **error_severity_from(s, tree),
        "level_accuracy": levels["accuracy"].to_dict(),
        "level_prf": {name: {k: row[k] for k in PRF_KEYS} for name, row in levels.iterrows()},
        "hierarchical": hierarchical_prf_from(s, tree),
        "hierarchical_macro": hierarchical_prf_macro_from(s, tree),
        "neighbour_k": neighbour_k,
        "neighbour_share": None if not neighbours else neighbour_share_from(
            s, np.asarray(proba), neighbours, k=neighbour_k),
        "neighbour_error_share": None if not neighbours else neighbour_error_share_from(s, neighbours),
    }
    tables = {
        "eval_curve": downsample_curve(curve, max_curve_points, list(thresholds.values())),
        "eval_per_leaf": per_leaf.reset_index(),
        "eval_per_node": per_node,
        "eval_severity": severity,
        "eval_calibration": bins,
        "eval_level_accuracy": levels.reset_index(),
        "eval_confusion": confusion_pairs_from(s),
        "eval_worst_errors": worst_errors_from(s, tree, k=worst_k, product_ids=product_ids)
        .astype({"product_id": str}),
        "eval_category_thresholds": pd.concat(category, ignore_index=True),
    }
    return Evaluation(json_ready(metrics), tables)


def workspace_taxonomy(ws: Workspace) -> Taxonomy:
    """The taxonomy stored in the workspace's ``categories`` table."""
    frame = ws.df("SELECT * FROM categories")
    if frame.empty:
        raise WorkbenchError(f"workspace {ws.path} has no categories; ingest a catalog first "
                             "(`workbench ingest`)")
    return Taxonomy.from_frame(frame)


def load_neighbours(ws: Workspace, k: int = NEIGHBOUR_K) -> dict[str, list[str]] | None:
    """``{leaf: [its k nearest neighbour leaves]}`` from ``category_neighbours``, or ``None``
    when the workspace has no such table (or it is empty)."""
    if not ws.has_table("category_neighbours"):
        return None
    rows = ws.df("SELECT leaf, neighbour FROM category_neighbours WHERE rank <= ? "
                 "ORDER BY leaf, rank", [int(k)])
    if rows.empty:
        return None
    return rows.groupby("leaf", sort=False)["neighbour"].agg(list).to_dict()


def evaluate_run(ws: Workspace, run_id: str, targets: Sequence[float] = DEFAULT_TARGETS,
                 part: str = "test", decision: str = "argmax") -> RunEvaluation:
    """Evaluate a recorded run's ``part`` under a ``decision`` rule and store the results
    (replacing earlier ones of that part and rule); returns the headline metrics with ``run_id``,
    ``part`` and ``truth`` (the fingerprint of the labels it was scored on, :mod:`workbench.runs.truth`)
    added, as a :class:`~workbench.runs.evaluation_result.RunEvaluation` (a dict with ``.curve``,
    ``.per_category``, ``.confusion``, ... frames and ``.to_frame()``). An evaluation under
    ``min-risk`` is stored beside the argmax one (see
    :func:`workbench.runs.evaluation_tables.evaluation_part`)."""
    if part not in ("test", "valid"):
        raise WorkbenchError(f"part {part!r} must be 'test' or 'valid'")
    check_decision(decision)
    preds = load_predictions(ws, run_id, part)
    evaluation = evaluate_predictions(preds.y_true, preds.proba, classes=preds.classes,
                                      taxonomy=workspace_taxonomy(ws), targets=targets,
                                      neighbours=load_neighbours(ws), product_ids=preds.product_ids,
                                      decision=decision)
    from workbench.runs.truth import merge_map, saved_truth, truth_fingerprint

    saved = saved_truth(ws, run_id)  # the labels of both parts this run is scored on
    truth = truth_fingerprint(saved["product_id"], saved["part"], saved["leaf"], merge_map(ws))
    metrics = {"run_id": run_id, "part": part, **evaluation.metrics, "truth": truth}
    store_evaluation(ws, run_id, evaluation_part(part, decision), metrics, evaluation.tables, truth=truth)
    return RunEvaluation(metrics, evaluation.tables)
