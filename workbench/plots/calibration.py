"""Reliability curve: accuracy against mean top-1 confidence per bin, against the diagonal."""

from __future__ import annotations

import holoviews as hv
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.plots._style import HEIGHT, WIDTH, colours, percent_xy


def reliability_curve(bins: pd.DataFrame, *, title: str = "Calibration (reliability)") -> hv.Overlay:
    """Reliability of each run (columns ``run, mean_confidence, accuracy, count``; empty bins are
    skipped) with the perfectly calibrated diagonal."""
    missing = [c for c in ("run", "mean_confidence", "accuracy") if c not in bins]
    if missing:
        raise WorkbenchError(f"reliability_curve needs columns run, mean_confidence, accuracy; missing {missing}")
    full = bins.dropna(subset=["mean_confidence", "accuracy"])
    if "count" in full:
        full = full[full["count"] > 0]
    diagonal = hv.Curve([(0, 0), (1, 1)], "mean_confidence", "accuracy", label="perfect").opts(
        color="grey", line_dash="dashed")
    runs = list(dict.fromkeys(full["run"].astype(str)))
    palette = colours(runs)
    layers = [diagonal]
    for run in runs:
        part = full[full["run"].astype(str) == run].sort_values("mean_confidence")
        vdims = ["accuracy"] + (["count"] if "count" in part else [])
        layers.append(hv.Curve(part, "mean_confidence", vdims, label=run).opts(
            color=palette[run], line_width=2, tools=["hover", "tap"]))
        layers.append(hv.Scatter(part, "mean_confidence", vdims).opts(color=palette[run], size=6))
    return hv.Overlay(layers).opts(
        hv.opts.Overlay(title=title, width=WIDTH + 150, height=HEIGHT, xlim=(0, 1), ylim=(0, 1),
                        xlabel="mean confidence", ylabel="accuracy", hooks=[percent_xy],
                        legend_position="right", show_grid=True))
