"""Heat map of the confusion among the children of one taxonomy node."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd

from workbench.plots._style import short_name


def confusion_heatmap(matrix: pd.DataFrame, *, title: str = "Confusion among siblings",
                      normalize: bool = True) -> hv.HeatMap:
    """A heat map of a confusion matrix (rows: true child, columns: predicted child, counts).

    With ``normalize`` the colour is the share of the row (where a true child's products go);
    the hover shows the full node ids, the count and the share. Labels are the last segment.
    """
    counts = matrix.to_numpy(dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    rows = [str(r) for r in matrix.index]
    cols = [str(c) for c in matrix.columns]
    data = pd.DataFrame({
        "predicted": np.tile([short_name(c) for c in cols], len(rows)),
        "true": np.repeat([short_name(r) for r in rows], len(cols)),
        "share": share.ravel(), "n": counts.ravel().astype(np.int64),
        "true_node": np.repeat(np.array(rows, dtype=object), len(cols)),
        "predicted_node": np.tile(np.array(cols, dtype=object), len(rows)),
    })
    # HoloViews reshapes value columns: keep text as numpy objects, not Arrow strings
    data = data.astype({"true_node": object, "predicted_node": object})
    value = "share" if normalize else "n"
    others = [c for c in ("share", "n", "true_node", "predicted_node") if c != value]
    side = max(320, min(900, 60 + 38 * max(len(rows), len(cols))))
    heat = hv.HeatMap(data, ["predicted", "true"], [value, *others]).opts(
        title=title, width=side + 120, height=side, cmap="Blues", colorbar=True,
        tools=["hover"], xrotation=45, invert_yaxis=True, clim=(0, 1) if normalize else (None, None),
        xlabel="predicted", ylabel="true")
    labels = hv.Labels(data.assign(text=data["n"].astype(str)), ["predicted", "true"], "text").opts(
        text_font_size="9pt", text_color="black")
    return heat * labels
