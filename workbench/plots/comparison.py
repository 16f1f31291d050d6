"""Model comparison and threshold figures: accuracy-coverage curves of runs overlaid, the
operating point of a threshold, and accuracy per taxonomy level."""

from __future__ import annotations

from typing import Mapping

import holoviews as hv
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.plots._style import HEIGHT, WIDTH, colours, grouped_bars, percent_xy, percent_y

CURVE_COLUMNS = ("run", "threshold", "coverage", "accuracy")
#: Options of every accuracy-coverage figure (also applied to the live overlay of the explorer).
CURVE_OPTS = dict(width=WIDTH + 150, height=HEIGHT, legend_position="right", show_grid=True,
                  xlabel="coverage (share shelved automatically)", ylabel="accuracy among shelved",
                  hooks=[percent_xy])


def _require(frame: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise WorkbenchError(f"{what} needs columns {list(columns)}; missing {missing}")


def operating_point_marker(coverage: float | None, accuracy: float | None,
                           threshold: float | None = None) -> hv.Overlay:
    """A marked point (with dashed guides) at ``(coverage, accuracy)``; empty when undefined."""
    if coverage is None or accuracy is None:
        data = pd.DataFrame({"coverage": [], "accuracy": [], "threshold": []})
        return hv.Overlay([hv.Points(data, ["coverage", "accuracy"], ["threshold"])])
    data = pd.DataFrame({"coverage": [coverage], "accuracy": [accuracy], "threshold": [threshold]})
    point = hv.Points(data, ["coverage", "accuracy"], ["threshold"], label="operating point").opts(
        size=14, color="black", marker="diamond", tools=["hover"])
    guides = hv.VLine(coverage).opts(color="black", line_dash="dashed", line_width=1) * \
        hv.HLine(accuracy).opts(color="black", line_dash="dashed", line_width=1)
    return guides * point


def coverage_curves(curves: pd.DataFrame, operating_point: Mapping[str, float] | None = None, *,
                    title: str = "Accuracy vs coverage") -> hv.Overlay:
    """One accuracy-coverage curve per run (columns ``run, threshold, coverage, accuracy``),
    overlaid; ``operating_point`` (``coverage``, ``accuracy``, optional ``threshold``) is marked."""
    _require(curves, CURVE_COLUMNS, "coverage_curves")
    runs = list(dict.fromkeys(curves["run"].astype(str)))
    palette = colours(runs)
    layers = []
    for run in runs:
        part = curves[curves["run"].astype(str) == run].sort_values("coverage")
        layers.append(hv.Curve(part, "coverage", ["accuracy", "threshold"], label=run).opts(
            color=palette[run], line_width=2, tools=["hover", "tap"]))
    if not layers:
        layers.append(hv.Curve(pd.DataFrame({"coverage": [], "accuracy": [], "threshold": []}),
                               "coverage", ["accuracy", "threshold"]))
    overlay = hv.Overlay(layers)
    if operating_point is not None:
        overlay = overlay * operating_point_marker(operating_point.get("coverage"),
                                                   operating_point.get("accuracy"),
                                                   operating_point.get("threshold"))
    return overlay.opts(hv.opts.Overlay(title=title, **CURVE_OPTS))


def level_accuracy_bars(levels: pd.DataFrame, *, title: str = "Accuracy per taxonomy level") -> hv.Bars:
    """Grouped bars of accuracy per level (columns ``run, level, level_name, accuracy``)."""
    _require(levels, ("run", "level_name", "accuracy"), "level_accuracy_bars")
    order = levels.sort_values("level") if "level" in levels else levels
    x_order = list(dict.fromkeys(order["level_name"].astype(str)))
    return grouped_bars(order, "level_name", "run", "accuracy", x_order=x_order).opts(
        title=title, width=WIDTH + 150, height=HEIGHT, ylim=(0, 1.05), hooks=[percent_y],
        xlabel="level", ylabel="accuracy", legend_position="right")
