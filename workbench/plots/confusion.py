"""Heat map of the confusion among the children of one taxonomy node.

It stays readable with thirty children: axis labels are the last segment of each node,
truncated (unique) with the full path in the hover; counts are printed only when a cell is
large enough to hold them, and never for empty cells.
"""

from __future__ import annotations

import os
from typing import Sequence

import holoviews as hv
import numpy as np
import pandas as pd

from workbench.plots._style import short_name

MAX_LABEL = 18
#: pixels a printed count needs per digit (9pt) and around it
DIGIT_PX, PAD_PX = 7, 10
#: pixels a character of Bokeh's bold 13 px title needs (wide letters; digits and i/l are narrower)
TITLE_CHAR_PX = 8


def _cut(name: str, max_chars: int, start: int = 0) -> str:
    """``name`` cut to ``max_chars`` characters from ``start`` (at a word), with … where cut."""
    if len(name) <= max_chars:
        return name
    if start:  # from the word before the one where the names differ
        space = name.rfind(" ", 0, start)
        space = name.rfind(" ", 0, space) if space > 0 else space
        start = space + 1 if space > 0 else 0
    head = "…" if start else ""
    room = max_chars - len(head) - 1
    body = name[start:start + room].rstrip()
    return head + body + ("…" if start + room < len(name) else "")


def axis_labels(nodes: Sequence[str], max_chars: int = MAX_LABEL) -> dict[str, str]:
    """``{node: label}``: each node's last segment cut to at most ``max_chars`` characters.

    Names that would read the same once cut (``Category number 01 with…``, ``Category number
    02 with…``) show the part where they differ instead (``…number 01 with…``); the full path
    is in the hover. Labels are unique."""
    names = {str(n): short_name(n) for n in nodes}
    labels = {n: _cut(name, max_chars) for n, name in names.items()}
    groups: dict[str, list[str]] = {}
    for node, label in labels.items():
        groups.setdefault(label, []).append(node)
    for label, members in groups.items():
        if len(members) > 1:
            texts = [names[m] for m in members]
            common = len(os.path.commonprefix(texts))
            for m in members:
                labels[m] = _cut(names[m], max_chars, common)
    used: set[str] = set()
    for node in list(labels):
        label, i = labels[node], 2
        while label in used:
            label, i = f"{labels[node][:max_chars - 4]}({i})", i + 1
        used.add(label)
        labels[node] = label
    return labels


def heatmap_side(n_rows: int, n_cols: int) -> int:
    """The plot's side in pixels for that many rows and columns."""
    return max(320, min(900, 60 + 38 * max(n_rows, n_cols)))


def counts_fit(n_rows: int, n_cols: int, counts: np.ndarray) -> bool:
    """Whether the largest count fits in a cell of the heat map."""
    cell = heatmap_side(n_rows, n_cols) / max(n_rows, n_cols, 1)
    digits = len(str(int(counts.max()))) if counts.size else 1
    return cell >= DIGIT_PX * digits + PAD_PX


def fit_title(title: str, width: int) -> str:
    """``title`` short enough for a plot ``width`` pixels wide: the leading segments of the
    category path after its last `` of `` give way to "…" first, then the end is cut."""
    room = max(12, (width - 20) // TITLE_CHAR_PX)
    if len(title) <= room:
        return title
    head, sep, path = title.rpartition(" of ")
    parts = path.split(" > ")
    while sep and len(parts) > 1 and len(head) + len(sep) + len(" > ".join(["…", *parts])) > room:
        parts.pop(0)
    if sep and len(parts) < len(path.split(" > ")):
        title = f"{head}{sep}" + " > ".join(["…", *parts])
    return title if len(title) <= room else title[:room - 1].rstrip() + "…"


def confusion_heatmap(matrix: pd.DataFrame, *, title: str = "Confusion among siblings",
                      normalize: bool = True, max_label: int = MAX_LABEL) -> hv.Overlay:
    """A heat map of a confusion matrix (rows: true child, columns: predicted child, counts).

    With ``normalize`` the colour is the share of the row (where a true child's products go);
    the hover shows the full node ids, the count and the share. Tap a cell to select it (the
    pages listen with ``hv.streams.Tap``; :func:`axis_labels` maps the labels back to nodes).
    """
    counts = matrix.to_numpy(dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    rows = [str(r) for r in matrix.index]
    cols = [str(c) for c in matrix.columns]
    row_label, col_label = axis_labels(rows, max_label), axis_labels(cols, max_label)
    data = pd.DataFrame({
        "predicted": np.tile([col_label[c] for c in cols], len(rows)),
        "true": np.repeat([row_label[r] for r in rows], len(cols)),
        "share": share.ravel(), "n": counts.ravel().astype(np.int64),
        "true_node": np.repeat(np.array(rows, dtype=object), len(cols)),
        "predicted_node": np.tile(np.array(cols, dtype=object), len(rows)),
    })
    # HoloViews reshapes value columns: keep text as numpy objects, not Arrow strings
    data = data.astype({"true_node": object, "predicted_node": object})
    value = "share" if normalize else "n"
    others = [c for c in ("share", "n", "true_node", "predicted_node") if c != value]
    side = heatmap_side(len(rows), len(cols))
    many = max(len(rows), len(cols)) > 15
    from bokeh.models import NumeralTickFormatter  # one per figure: a Bokeh model belongs to one document

    colour = dict(cformatter=NumeralTickFormatter(format="0%"), colorbar_opts={"title": "share of the row"}) \
        if normalize else dict(colorbar_opts={"title": "products"})
    heat = hv.HeatMap(data, ["predicted", "true"], [value, *others]).opts(
        title=fit_title(title, side + 20), width=side + 140, height=side + 60, cmap="Blues", colorbar=True, **colour,
        tools=["hover", "tap"], hover_tooltips=[("true", "@{true_node}"), ("predicted", "@{predicted_node}"),
                                                ("products", "@{n}"), ("share of the row", "@{share}{0.0%}")],
        xrotation=60 if many else 45, invert_yaxis=True, clim=(0, 1) if normalize else (None, None),
        xlabel="predicted", ylabel="true", fontsize={"xticks": "8pt" if many else "9pt",
                                                     "yticks": "8pt" if many else "9pt"})
    shown = data[data["n"] > 0] if counts_fit(len(rows), len(cols), counts) else data.iloc[0:0]
    # white on the dark half of the colour scale, black on the light half: readable on every cell
    top = 1.0 if normalize else max(float(counts.max()) if counts.size else 1.0, 1.0)
    ink = np.where(shown[value].to_numpy(dtype=float) / top > 0.5, "white", "black").astype(object)
    labels = hv.Labels(shown.assign(text=shown["n"].astype(str), ink=ink), ["predicted", "true"], ["text", "ink"]).opts(
        text_font_size="8pt" if many else "9pt", text_color="ink")
    return heat * labels
