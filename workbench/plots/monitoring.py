"""Figures of the monitoring page: traffic per hour or day, confidence against the test split,
category mix against training, and a drift statistic over time with its threshold (HoloViews;
no Panel import)."""

from __future__ import annotations

from typing import Mapping

import holoviews as hv
import numpy as np
import pandas as pd

from workbench.plots._style import PALETTE, grouped_bars, percent_y, short_name

BINS = np.linspace(0, 1, 21)


def volume_plot(series: pd.DataFrame, *, bucket: str = "hour") -> hv.Bars:
    """Predictions served per bucket (``series``: ``bucket, predictions``)."""
    data = pd.DataFrame({"bucket": pd.to_datetime(series["bucket"]).dt.strftime(
        "%m-%d %H:00" if bucket == "hour" else "%Y-%m-%d") if len(series) else pd.Series(dtype=str),
        "predictions": series["predictions"].astype(int) if len(series) else pd.Series(dtype=int)})
    return hv.Bars(data, hv.Dimension("bucket", label=bucket), hv.Dimension("predictions", label="predictions")).opts(
        title=f"Predictions served per {bucket}", width=620, height=280, color=PALETTE[0], tools=["hover"],
        xrotation=45 if len(data) > 8 else 0)


def confidence_plot(samples: Mapping[str, np.ndarray], *, threshold: float | None = None) -> hv.Overlay:
    """Share of predictions per confidence bin, one step line per sample (served, test split),
    with the published threshold as a vertical line."""
    curves = []
    for i, (name, values) in enumerate(samples.items()):
        values = np.asarray(values, dtype=float)
        counts, _ = np.histogram(values, bins=BINS)
        share = counts / max(len(values), 1)
        frame = pd.DataFrame({"confidence": BINS[:-1], "share": share})
        curves.append(hv.Curve(frame, hv.Dimension("confidence", label="top-1 confidence"),
                               hv.Dimension("share", label="share of predictions"), label=f"{name} (n={len(values):,})")
                      .opts(interpolation="steps-post", color=PALETTE[i % len(PALETTE)], line_width=2))
    overlay = hv.Overlay(curves) if curves else hv.Overlay([hv.Curve([], "confidence", "share")])
    if threshold is not None and np.isfinite(threshold) and threshold <= 1:
        overlay = overlay * hv.VLine(threshold).opts(color="#d62728", line_dash="dashed")
    return overlay.opts(hv.opts.Overlay(title="Confidence: served against the test split", width=620, height=300,
                                        legend_position="bottom", xlim=(0, 1), hooks=[percent_y]),
                        hv.opts.Curve(tools=["hover"]))


def mix_plot(frame: pd.DataFrame, *, level: str, top: int = 12) -> hv.Bars:
    """Share of each category among served predictions and in training, for the ``top``
    categories with the largest share on either side (``frame``: ``category, served, training``)."""
    data = frame.assign(biggest=np.maximum(frame["served"], frame["training"])).nlargest(top, "biggest")
    order = [short_name(c) for c in data["category"]]
    long = pd.concat([
        pd.DataFrame({"category": order, "share": data["served"].to_numpy(), "traffic": "served"}),
        pd.DataFrame({"category": order, "share": data["training"].to_numpy(), "traffic": "training"})],
        ignore_index=True)
    return grouped_bars(long, "category", "traffic", "share", x_order=order).opts(
        title=f"Category mix at {level}: served against training", width=620, height=320, xrotation=45,
        hooks=[percent_y], legend_position="right")


def statistic_over_time(series: pd.DataFrame, column: str, *, label: str, threshold: float | None = None,
                        percent: bool = False) -> hv.Overlay:
    """One per-bucket statistic (``series[column]``) as points and a line, with its threshold."""
    data = pd.DataFrame({"bucket": pd.to_datetime(series["bucket"]) if len(series) else pd.Series(dtype="datetime64[ns]"),
                         column: series[column].astype(float) if len(series) else pd.Series(dtype=float)})
    data = data.dropna()
    dim = hv.Dimension(column, label=label)
    line = hv.Curve(data, "bucket", dim).opts(color=PALETTE[0])
    points = hv.Scatter(data, "bucket", dim).opts(color=PALETTE[0], size=6, tools=["hover"])
    plot = line * points
    if threshold is not None:
        plot = plot * hv.HLine(threshold).opts(color="#d62728", line_dash="dashed")
    opts = dict(title=f"{label} per bucket (dashed: threshold)", width=620, height=260, show_legend=False)
    return plot.opts(hv.opts.Overlay(**opts, hooks=[percent_y] if percent else []))
