"""Live accuracy over time: the random-sample estimate per day with its confidence interval
(HoloViews; no Panel import)."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd

from workbench.plots._style import percent_y

MAX_DAY_TICKS = 12


def day_ticks(days: pd.Series, most: int = MAX_DAY_TICKS) -> list[float]:
    """Tick positions (Bokeh milliseconds) on whole days only, one per day from the first to the
    last date, thinned to every k-th day so that at most ``most`` remain."""
    if not len(days):
        return []
    first, last = pd.Timestamp(days.min()).normalize(), pd.Timestamp(days.max()).normalize()
    every = pd.date_range(first, last, freq="D")
    step = int(np.ceil(len(every) / most))
    return [t.value / 1e6 for t in every[::step]]


def _day_axis(ticks: list[float]):
    def hook(plot, element):
        from bokeh.models import DatetimeTickFormatter, FixedTicker

        axis = plot.state.xaxis[0]
        axis.ticker = FixedTicker(ticks=ticks, minor_ticks=[])
        axis.formatter = DatetimeTickFormatter(days="%b %d", months="%b %d", years="%b %d %Y",
                                               hours="%b %d", hourmin="%b %d", minutes="%b %d")
    return hook


def live_accuracy_plot(frame: pd.DataFrame, *, confidence: float = 0.95) -> hv.Overlay:
    """Accuracy per queue date (points and line) inside its interval band.

    ``frame`` is :func:`workbench.loop.live_accuracy.live_accuracy`'s table (``queue_date, n,
    accuracy, low, high``); an empty frame gives an empty plot with the same axes.
    """
    data = frame.copy()
    data["queue_date"] = pd.to_datetime(data["queue_date"]) if len(data) else pd.Series(dtype="datetime64[ns]")
    for col in ("accuracy", "low", "high"):
        data[col] = data[col].astype(float) if len(data) else pd.Series(dtype=float)
    data["n"] = data["n"].astype(int) if len(data) else pd.Series(dtype=int)
    data["err_low"] = data["accuracy"] - data["low"]
    data["err_high"] = data["high"] - data["accuracy"]
    kdims = [hv.Dimension("queue_date", label="review day")]
    acc = hv.Dimension("accuracy", label="accuracy (random sample)", range=(0, 1))
    band = hv.Spread(data, kdims, [acc, "err_low", "err_high"]).opts(alpha=0.25, color="#1f77b4")
    line = hv.Curve(data, kdims, [acc, "low", "high", "n"]).opts(color="#1f77b4")
    points = hv.Scatter(data, kdims, [acc, "low", "high", "n"]).opts(
        size=7, color="#1f77b4", tools=["hover"])
    title = f"Live accuracy from random-sample reviews ({confidence:.0%} Wilson interval)"
    # one tick per review day (never an hour tick that repeats the date), set per figure by a hook
    opts = dict(title=title, width=700, height=320, ylim=(0, 1.02), show_legend=False,
                hooks=[percent_y, _day_axis(day_ticks(data["queue_date"]))])
    if len(data):  # a day of margin on each side, so that a single day is not a zoom into hours
        opts["xlim"] = (data["queue_date"].min() - pd.Timedelta(days=1),
                        data["queue_date"].max() + pd.Timedelta(days=1))
    return (band * line * points).opts(hv.opts.Overlay(**opts))
