"""Shared plot settings: the Bokeh backend, the colour cycle and the percent axis format.

No Bokeh model is created at import time or shared between figures: a Bokeh model belongs to
one document, and when a browser session ends Bokeh destroys every model of its document
(``Model.destroy`` clears its property values). A formatter shared through a module constant
therefore lost its ``format="0%"`` when the first session that held it closed, and every later
session showed Bokeh's default ``'0,0'`` (ticks ``0 0 1 1 1``). The percent axes are set by a
render hook instead, which makes a new formatter for every figure it draws.
"""

from __future__ import annotations

from typing import Sequence

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend)
from bokeh.models import NumeralTickFormatter

hv.Store.set_current_backend("bokeh")

#: Colours for runs and categories (Bokeh's Category10, then Category20 pastel tones).
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
           "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"]
PERCENT_FORMAT = "0%"
WIDTH, HEIGHT = 530, 360


def _percent_axes(plot, axes: str) -> None:
    fig = plot.state
    for name in axes:
        for axis in getattr(fig, f"{name}axis", []):
            current = axis.formatter
            if not (isinstance(current, NumeralTickFormatter) and current.format == PERCENT_FORMAT):
                axis.formatter = NumeralTickFormatter(format=PERCENT_FORMAT)


def percent_x(plot, element) -> None:
    """HoloViews hook: the x axis of this figure reads 0.25 as ``25%``."""
    _percent_axes(plot, "x")


def percent_y(plot, element) -> None:
    """HoloViews hook: the y axis of this figure reads 0.25 as ``25%``."""
    _percent_axes(plot, "y")


def percent_xy(plot, element) -> None:
    """HoloViews hook: both axes of this figure read 0.25 as ``25%``."""
    _percent_axes(plot, "xy")


def colours(keys: Sequence[str]) -> dict[str, str]:
    """A stable colour per key (cycling through :data:`PALETTE`, then Glasbey for many keys)."""
    keys = list(dict.fromkeys(keys))
    if len(keys) <= len(PALETTE):
        return {k: PALETTE[i] for i, k in enumerate(keys)}
    import colorcet

    # the hex-string form: ``colorcet.glasbey_category10`` itself is RGB float triples,
    # which Bokeh's colour mappers refuse
    glasbey = colorcet.palette["glasbey_category10"]
    return {k: glasbey[i % len(glasbey)] for i, k in enumerate(keys)}


def short_name(node: str, sep: str = " > ") -> str:
    """The last segment of a node id (``"Apparel > Topwear > Tshirts" -> "Tshirts"``)."""
    return str(node).rsplit(sep, 1)[-1]


def grouped_bars(data, x: str, group: str, value: str, extra=(), x_order=None):
    """Bars of ``value`` per ``x``, one coloured bar per ``group`` inside each ``x``, with a legend.

    Rows are sorted by (group, x order) first: HoloViews reorders grouped bars by group and
    would otherwise pair colours with the wrong bars.
    """
    frame = data.copy()
    frame[x] = frame[x].astype(str).astype(object)
    frame[group] = frame[group].astype(str).astype(object)
    order = {v: i for i, v in enumerate(x_order if x_order is not None else dict.fromkeys(frame[x]))}
    frame = frame.assign(_x=frame[x].map(order)).sort_values([group, "_x"], kind="stable").drop(columns="_x")
    palette = colours(list(dict.fromkeys(data[group].astype(str))))
    return hv.Bars(frame, [x, group], [value, *extra]).opts(
        multi_level=False, color=group, cmap=palette, show_legend=True, tools=["hover", "tap"])
