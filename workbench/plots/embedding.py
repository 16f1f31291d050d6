"""The embedding map: products at their 2-D projection, coloured by a categorical column.

Up to ``rasterize_above`` points are drawn as glyphs; above it the points are rasterised with
datashader (one aggregate per pixel, coloured by category) so that a million points stay fluid.
Either way the map itself has no hover: :func:`hover_points` draws the one product under the
mouse (found on the server) with a tooltip of its title, category and thumbnail only. With
many categories a legend cannot be read: ``highlight`` draws the chosen ones in colour and the
rest in grey.
"""

from __future__ import annotations

from typing import Sequence

import holoviews as hv
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.plots._style import colours

RASTERIZE_ABOVE = 50_000
MAP_WIDTH, MAP_HEIGHT = 760, 600
#: a legend is drawn up to this many categories; beyond it, use ``highlight``
LEGEND_MAX = 20
GREY = "#d9d9d9"
TOOLS = ["box_select", "lasso_select", "wheel_zoom", "box_zoom", "pan", "reset"]
#: the tooltip: Bokeh escapes ``@title`` and ``@category``; ``@thumb`` is a data URI made on the server
TOOLTIP = """<div class="wb-map-tip" style="max-width:280px">
<img src="@thumb" alt="" style="max-width:64px;max-height:64px;float:left;margin:0 8px 4px 0">
<div style="font-weight:600">@title</div><div style="color:#555">@category</div></div>"""


def _categorical(values: pd.Series) -> pd.Series:
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object).where(values.notna(), "(none)").astype(str).astype("category")
    elif values.isna().any():
        values = values.cat.add_categories(["(none)"]).fillna("(none)")
    return values.cat.remove_unused_categories()


def embedding_map(frame: pd.DataFrame, color_by: str, *, rasterize_above: int = RASTERIZE_ABOVE,
                  title: str = "Embedding map", color_key: dict[str, str] | None = None,
                  highlight: Sequence[str] = (), hover: Sequence[str] = ()):
    """Points at ``x, y`` coloured by column ``color_by`` (categorical).

    ``highlight``: categories drawn in colour (the others grey, the legend lists only them).
    Returns ``hv.Points`` (at most ``rasterize_above`` rows) or a datashaded ``DynamicMap``
    (more rows); both carry box and lasso selection tools. ``hover`` is accepted for backward
    compatibility and ignored: the map's hover is :func:`hover_points`.
    """
    missing = [c for c in ("x", "y", color_by) if c not in frame]
    if missing:
        raise WorkbenchError(f"embedding_map needs columns x, y and {color_by}; missing {missing}")
    colour = _categorical(frame[color_by])
    data = frame[["x", "y"]].assign(**{color_by: colour})
    names = [str(c) for c in colour.cat.categories]
    key = dict(color_key or colours(names))
    chosen = [h for h in highlight if h in key]
    if chosen:
        key = {k: (v if k in chosen else GREY) for k, v in key.items()}
    common = dict(width=MAP_WIDTH, height=MAP_HEIGHT, title=title, xaxis=None, yaxis=None)
    if len(data) <= rasterize_above:
        data = data.assign(**{color_by: data[color_by].astype(str)})
        if chosen:  # the highlighted categories drawn last, on top of the grey ones
            data = data.assign(_top=data[color_by].isin(chosen)).sort_values("_top", kind="stable").drop(columns="_top")
        legend = (len(chosen) if chosen else len(key)) <= LEGEND_MAX
        points = hv.Points(data, ["x", "y"], [color_by])
        return points.opts(color=color_by, cmap=key, size=4, alpha=0.7, tools=TOOLS, active_tools=["box_select"],
                           legend_position="right", show_legend=legend, **common)
    import datashader as ds
    from holoviews.operation.datashader import datashade, dynspread

    shaded = datashade(hv.Points(data, ["x", "y"], [color_by]), aggregator=ds.count_cat(color_by),
                       color_key=key, min_alpha=60)
    return dynspread(shaded, threshold=0.6).opts(hv.opts.RGB(**common, tools=TOOLS, active_tools=["box_select"]))


def hover_points(found: pd.DataFrame) -> hv.Points:
    """The products under the mouse (columns ``x, y, title, category, thumb``), drawn as a ring
    whose tooltip shows only the title, the category and the thumbnail."""
    from bokeh.models import HoverTool

    data = found.reindex(columns=["x", "y", "title", "category", "thumb"]).astype(
        {"title": object, "category": object, "thumb": object})
    return hv.Points(data, ["x", "y"], ["title", "category", "thumb"]).opts(
        size=14, color="black", fill_alpha=0, line_width=2,
        tools=[HoverTool(tooltips=TOOLTIP, description="Product under the mouse")])
