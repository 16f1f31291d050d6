"""Plot helpers for notebooks that take what the evaluate calls return.

    a, b = wb.evaluate_run(ws, run_a), wb.evaluate_run(ws, run_b)
    wb.plot_coverage(a, b)            # accuracy-coverage curves overlaid
    wb.plot_levels(a, b); wb.plot_severity(a, b); wb.plot_calibration(a, b)
    wb.plot_confusion(a)              # the most confused leaves of one run

Each takes :class:`~workbench.runs.evaluation_result.RunEvaluation` objects (or their frames:
any frame with a ``run`` column) and returns a HoloViews object; the figures themselves are the
pure functions of :mod:`workbench.plots`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from workbench.errors import WorkbenchError


def _frames(items: tuple[Any, ...], attribute: str) -> pd.DataFrame:
    """One frame of ``attribute`` (``curve``, ``severity``, ...) over every evaluation given,
    its ``run`` column naming the run (model and id, when known)."""
    if not items:
        raise WorkbenchError(f"pass at least one evaluation (wb.evaluate_run(ws, run_id)) to plot its {attribute}")
    frames = []
    for item in items:
        if isinstance(item, pd.DataFrame):
            frame = item if "run" in item else item.assign(run="run")
        elif hasattr(item, attribute):
            frame = getattr(item, attribute)
        else:
            raise WorkbenchError(f"cannot plot {type(item).__name__}: pass what wb.evaluate_run returns "
                                 f"or a frame with a run column")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def plot_coverage(*evaluations, target: float | None = None):
    """Accuracy-coverage curves of the evaluations overlaid; with ``target`` (e.g. 0.95) the
    first evaluation's operating point at that accuracy is marked."""
    from workbench.plots.comparison import coverage_curves

    curves = _frames(evaluations, "curve")
    point = None
    first = evaluations[0]
    if target is not None and isinstance(first, dict):
        key = repr(float(target))
        point = {"coverage": (first.get("coverage_at") or {}).get(key),
                 "accuracy": (first.get("accuracy_at") or {}).get(key),
                 "threshold": (first.get("threshold_at") or {}).get(key)}
    return coverage_curves(curves, point)


def plot_levels(*evaluations):
    """Accuracy per taxonomy level, one group of bars per level, one bar per run."""
    from workbench.plots.comparison import level_accuracy_bars

    return level_accuracy_bars(_frames(evaluations, "per_level"))


def plot_severity(*evaluations):
    """The share of products at each tree distance from the truth, per run."""
    from workbench.plots.severity import severity_bars

    return severity_bars(_frames(evaluations, "severity"))


def plot_calibration(*evaluations):
    """Reliability curves (confidence against accuracy) of the runs."""
    from workbench.plots.calibration import reliability_curve

    return reliability_curve(_frames(evaluations, "calibration"))


def plot_confusion(evaluation, top: int = 12):
    """A heat map of the ``top`` leaves most involved in one run's errors (rows: true leaf,
    columns: predicted leaf, colour: share of the row)."""
    from workbench.plots.confusion import confusion_heatmap

    pairs = _frames((evaluation,), "confusion")
    errors = pairs[pairs["true_leaf"] != pairs["predicted_leaf"]]
    if errors.empty:
        raise WorkbenchError("this run made no errors: there is no confusion to show")
    weight = pd.concat([errors.groupby("true_leaf")["n"].sum(), errors.groupby("predicted_leaf")["n"].sum()])
    leaves = list(weight.groupby(level=0).sum().sort_values(ascending=False).index[:top])
    shown = pairs[pairs["true_leaf"].isin(leaves) & pairs["predicted_leaf"].isin(leaves)]
    matrix = shown.pivot_table(index="true_leaf", columns="predicted_leaf", values="n", aggfunc="sum",
                               fill_value=0).reindex(index=leaves, columns=leaves, fill_value=0)
    return confusion_heatmap(matrix, title=f"Most confused leaves of {evaluation.get('run_id', 'the run')}"
                             if isinstance(evaluation, dict) else "Most confused leaves")
