"""Error severity: the distribution of tree distance between predicted and true category."""

from __future__ import annotations

import holoviews as hv
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.plots._style import HEIGHT, WIDTH, grouped_bars, percent_y


def severity_bars(severity: pd.DataFrame, *, title: str = "Errors by tree distance") -> hv.Bars:
    """Grouped bars of the share of products at each tree distance (columns ``run, distance,
    share``, optional ``n``): 0 is right, 2 a sibling, larger is worse."""
    missing = [c for c in ("run", "distance", "share") if c not in severity]
    if missing:
        raise WorkbenchError(f"severity_bars needs columns run, distance, share; missing {missing}")
    x_order = [str(d) for d in sorted(severity["distance"].astype(int).unique())]
    extra = ["n"] if "n" in severity else []
    data = severity.assign(distance=severity["distance"].astype(int).astype(str))
    return grouped_bars(data, "distance", "run", "share", extra, x_order=x_order).opts(
        title=title, width=WIDTH + 150, height=HEIGHT, hooks=[percent_y],
        xlabel="tree distance (0 = right)", ylabel="share of products", legend_position="right",
        hover_tooltips=[("run", "@{run}"), ("tree distance", "@{distance}"), ("share", "@{share}{0.0%}"),
                        *([("products", "@{n}{0,0}")] if extra else [])])
