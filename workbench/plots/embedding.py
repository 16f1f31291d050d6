"""The embedding map: products at their 2-D projection, coloured by a categorical column.

Up to ``rasterize_above`` points are drawn as glyphs with a hover; above it the points are
rasterised with datashader (one aggregate per pixel, coloured by category) so that a million
points stay fluid, and a hover inspector shows the products under the mouse.
"""

from __future__ import annotations

from typing import Sequence

import holoviews as hv
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.plots._style import colours

RASTERIZE_ABOVE = 50_000
MAP_WIDTH, MAP_HEIGHT = 760, 600


def embedding_map(frame: pd.DataFrame, color_by: str, *, rasterize_above: int = RASTERIZE_ABOVE,
                  hover: Sequence[str] = ("title", "category"), title: str = "Embedding map",
                  color_key: dict[str, str] | None = None):
    """Points at ``x, y`` coloured by column ``color_by`` (categorical), hover on ``hover``.

    Returns ``hv.Points`` (at most ``rasterize_above`` rows) or a datashaded
    ``DynamicMap`` overlay with a hover inspector (more rows).
    """
    missing = [c for c in ("x", "y", color_by, *hover) if c not in frame]
    if missing:
        raise WorkbenchError(f"embedding_map needs columns x, y, {color_by} and {list(hover)}; missing {missing}")
    data = frame[["x", "y", *dict.fromkeys([color_by, *hover])]]
    colour = data[color_by]
    if not isinstance(colour.dtype, pd.CategoricalDtype):
        colour = colour.astype(object).where(colour.notna(), "(none)").astype(str).astype("category")
    elif colour.isna().any():
        colour = colour.cat.add_categories(["(none)"]).fillna("(none)")
    colour = colour.cat.remove_unused_categories()
    data = data.assign(**{color_by: colour})
    key = color_key or colours([str(c) for c in colour.cat.categories])
    vdims = list(dict.fromkeys([color_by, *hover]))
    common = dict(width=MAP_WIDTH, height=MAP_HEIGHT, title=title, xaxis=None, yaxis=None)
    if len(data) <= rasterize_above:
        # glyphs: plain text categories for the legend and the hover
        data = data.assign(**{c: data[c].astype(str) for c in vdims
                              if isinstance(data[c].dtype, pd.CategoricalDtype)})
        points = hv.Points(data, ["x", "y"], vdims)
        return points.opts(color=color_by, cmap=key, size=4, alpha=0.7,
                           tools=["hover", "box_zoom", "wheel_zoom", "reset"], legend_position="right",
                           show_legend=len(key) <= 30, **common)
    import datashader as ds
    from holoviews.operation.datashader import datashade, dynspread, inspect_points

    points = hv.Points(data, ["x", "y"], vdims)
    shaded = datashade(points, aggregator=ds.count_cat(color_by), color_key=key, min_alpha=60)
    inspector = inspect_points(shaded, max_indicators=5).opts(
        tools=["hover"], size=10, color="black", fill_alpha=0, line_width=2)
    return (dynspread(shaded, threshold=0.6) * inspector).opts(
        hv.opts.RGB(**common, tools=["box_zoom", "wheel_zoom", "reset"]))
