"""Drill-downs: from a mark on a figure (a confusion cell, a severity bar, a curve point, a
confidence bin, a map selection, a category) to the products behind it.

A run's top-1 predictions are held once per process as integer codes
(:class:`workbench.app.top1.RunTop1`), so a selection over a million predictions is a few
vectorised comparisons; only the rows shown are
then joined with the products table. A :class:`Selection` says what was picked (in words, for
the table's heading and the review queue) and which rows, in the order they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

import workbench.app.data as data
from workbench.app.thumbnails import SMALL, img_tag, product_thumbnails
from workbench.app.top1 import RunTop1, run_top1
from workbench.catalog.taxonomy import SEP
from workbench.evaluate.confusion import OUTSIDE
from workbench.store import Workspace

#: rows rendered in a drill-down table (the CSV holds every selected product)
SHOWN = 200


def clickable(figure, x: str, y: str):
    """``(figure * layer, tap)``: a DynamicMap figure with an empty layer on the same axes and a
    ``hv.streams.Tap`` listening to that layer.

    HoloViews sends no tap to a stream whose source is a DynamicMap returning an Overlay (the
    curves, the calibration, the heat map with its counts), nor to an element inside such an
    overlay, so the layer is overlaid outside. Overlaying makes a new Overlay, which drops the
    options set on the one the DynamicMap returns: they are read from its current frame and set
    again on the result (options set on the elements themselves stay where they are).
    """
    import holoviews as hv

    layer = hv.Scatter([], x, y)
    frame = figure[()] if isinstance(figure, hv.DynamicMap) else figure
    combined = figure * layer
    if isinstance(frame, hv.Overlay):
        options = frame.opts.get("plot").kwargs
        if options:
            combined = combined.opts(hv.opts.Overlay(**options))
    return combined, hv.streams.Tap(source=layer, x=None, y=None)


def under(classes: np.ndarray, node: str | None) -> np.ndarray:
    """Which of ``classes`` lie under ``node`` (the node itself included; ``None``: all)."""
    if node is None:
        return np.ones(len(classes), dtype=bool)
    prefix = node + SEP
    return np.array([c == node or c.startswith(prefix) for c in classes], dtype=bool)


def _pick(top: RunTop1, rows: np.ndarray, order: str = "confidence") -> np.ndarray:
    """Rows in display order: ``confidence`` (most confident first), ``ascending`` (least
    confident first) or ``errors`` (wrong ones first, then most confident)."""
    conf = top.conf[rows]
    if order == "ascending":
        keys = (conf,)
    elif order == "errors":
        keys = (-conf, top.correct[rows])
    else:
        keys = (-conf,)
    return rows[np.lexsort(keys)]


@dataclass(frozen=True)
class Selection:
    """Products picked on a figure: ``title`` in words, the page it came from, and either rows of
    a run's top-1 predictions (``rows``) or plain ``product_ids`` (in display order)."""

    title: str
    source: str
    run_id: str | None
    part: str = "test"
    rows: np.ndarray | None = None
    product_ids: tuple[str, ...] | None = None

    @property
    def size(self) -> int:
        """How many products the selection holds."""
        return len(self.rows) if self.rows is not None else len(self.product_ids or ())


def _run_label(ws: Workspace, run_id: str, part: str) -> str:
    runs = data.evaluated_runs(ws, part)
    hit = runs.loc[runs["run_id"] == run_id, "label"]
    return hit.iloc[0] if len(hit) else run_id


def confusion_cell(ws: Workspace, run_id: str, part: str, parent: str | None, true_child: str,
                   predicted_child: str) -> Selection:
    """Products whose true leaf lies under ``true_child`` and whose prediction lies under
    ``predicted_child`` (``(outside)``: anywhere outside ``parent``)."""
    top = run_top1(ws, run_id, part)
    in_true = under(top.classes, true_child)
    if predicted_child == OUTSIDE:
        in_pred = ~under(top.classes, parent)
    else:
        in_pred = under(top.classes, predicted_child)
    valid = top.true >= 0
    mask = valid & in_true[np.maximum(top.true, 0)] & in_pred[top.pred]
    title = f"true {true_child}, predicted {predicted_child if predicted_child != OUTSIDE else 'outside ' + (parent or 'the taxonomy')}"
    return Selection(f"{title} ({_run_label(ws, run_id, part)})", "Sibling confusion", run_id, part,
                     _pick(top, np.flatnonzero(mask)))


def _pair_distance(ws: Workspace, top: RunTop1) -> np.ndarray:
    """Tree distance between true and predicted leaf of every row (computed once per run)."""
    if "distance" not in top._extra:
        tax = data.taxonomy(ws)
        k = len(top.classes)
        pair = top.true.astype(np.int64) * k + top.pred
        uniques, inverse = np.unique(pair, return_inverse=True)
        dist = np.array([-1 if u < 0 else (0 if u // k == u % k else
                         tax.distance(top.classes[u // k], top.classes[u % k])) for u in uniques])
        top._extra["distance"] = dist[inverse].astype(np.int32)
    return top._extra["distance"]


def at_distance(ws: Workspace, run_id: str, part: str, distance: int) -> Selection:
    """Products whose prediction lies ``distance`` steps from the true leaf in the tree."""
    top = run_top1(ws, run_id, part)
    rows = np.flatnonzero(_pair_distance(ws, top) == int(distance))
    what = "right" if int(distance) == 0 else f"tree distance {int(distance)}"
    return Selection(f"{what} ({_run_label(ws, run_id, part)})", "Error severity", run_id, part, _pick(top, rows))


def shelved_errors(ws: Workspace, run_id: str, part: str, threshold: float,
                   per_class: np.ndarray | None = None) -> Selection:
    """Wrong predictions that a global ``threshold`` (or one threshold per class, ``per_class``,
    e.g. with category overrides) would still shelve, least confident first: the ones a slightly
    higher threshold would send to review."""
    top = run_top1(ws, run_id, part)
    limit = (np.full(len(top.classes), threshold) if per_class is None else np.asarray(per_class)).astype(np.float32)
    rows = np.flatnonzero((top.conf >= limit[top.pred]) & ~top.correct)
    rule = f"threshold {threshold:.3f}" + ("" if per_class is None else " with its category overrides")
    return Selection(f"wrong but shelved at {rule} ({_run_label(ws, run_id, part)})",
                     "Accuracy-coverage curve", run_id, part, _pick(top, rows, "ascending"))


def confidence_bin(ws: Workspace, run_id: str, part: str, lower: float, upper: float) -> Selection:
    """Products whose confidence lies in ``[lower, upper)`` (``upper`` included at 1)."""
    top = run_top1(ws, run_id, part)
    hi = top.conf <= np.float32(upper) if upper >= 1 else top.conf < np.float32(upper)
    rows = np.flatnonzero((top.conf >= np.float32(lower)) & hi)
    return Selection(f"confidence {lower:.0%}-{upper:.0%} ({_run_label(ws, run_id, part)})", "Calibration",
                     run_id, part, _pick(top, rows, "errors"))


def of_leaf(ws: Workspace, run_id: str, part: str, leaf: str) -> Selection:
    """Products of ``leaf`` or predicted as it, the errors first."""
    top = run_top1(ws, run_id, part)
    code = int(np.flatnonzero(top.classes == leaf)[0]) if leaf in set(top.classes) else -2
    rows = np.flatnonzero((top.true == code) | (top.pred == code))
    return Selection(f"{leaf}: its products and those predicted as it ({_run_label(ws, run_id, part)})",
                     "Categories", run_id, part, _pick(top, rows, "errors"))


def of_products(product_ids, title: str, source: str, run_id: str | None = None, part: str = "test") -> Selection:
    """A selection of given products (e.g. a lasso on the map); ``run_id`` adds its predictions."""
    return Selection(title, source, run_id, part, product_ids=tuple(str(p) for p in product_ids))


#: the predicted path of a listed product the run has no prediction for (on screen; the CSV leaves it empty)
NO_PREDICTION = "no prediction: not in the run's test part"


def selection_frame(ws: Workspace, selection: Selection, limit: int | None = SHOWN,
                    photos: bool = True) -> pd.DataFrame:
    """The products of a selection, in its order: ``product_id``, ``photo`` (an ``<img>`` made by
    :mod:`workbench.app.thumbnails`; with ``photos``), ``title``, ``true path``, ``predicted
    path``, ``confidence``. ``limit``: the first rows only (``None``: all)."""
    stop = None if limit is None else int(limit)
    predicted: dict[str, tuple[str, float]] = {}
    truth: dict[str, str] = {}
    if selection.rows is not None:
        top = run_top1(ws, selection.run_id, selection.part)
        rows = selection.rows[:stop]
        ids = top.ids(rows)
        valid = top.true[rows] >= 0
        truth = {p: top.classes[t] for p, t, ok in zip(ids, top.true[rows], valid) if ok}
        predicted = {p: (top.classes[c], float(v)) for p, c, v in zip(ids, top.pred[rows], top.conf[rows])}
    else:
        ids = list(selection.product_ids[:stop])
        if selection.run_id is not None:
            top = run_top1(ws, selection.run_id, selection.part)
            pos = top.position.get_indexer(ids)
            found = pos >= 0
            predicted = {p: (top.classes[top.pred[i]], float(top.conf[i]))
                         for p, i in zip(np.asarray(ids, dtype=object)[found], pos[found])}
    products = ws.df("SELECT product_id, title, leaf, image FROM products WHERE product_id IN (SELECT unnest(?))",
                     [ids]).set_index("product_id") if ids else pd.DataFrame(columns=["title", "leaf", "image"])
    products = products.reindex(ids)
    missing = NO_PREDICTION if photos and selection.run_id is not None else ""
    out = pd.DataFrame({"product_id": ids, "title": products["title"].fillna("").to_numpy(dtype=object),
                        "true path": [truth.get(p) or (leaf if isinstance(leaf, str) else "")
                                      for p, leaf in zip(ids, products["leaf"])],
                        "predicted path": [predicted[p][0] if p in predicted else missing for p in ids],
                        "confidence": [predicted[p][1] if p in predicted else np.nan for p in ids]})
    if photos:
        images = {p: i for p, i in zip(ids, products["image"]) if isinstance(i, str)}
        thumbs = product_thumbnails(ws, ids, SMALL, images=images)
        out.insert(1, "photo", [img_tag(thumbs.get(p)) for p in ids])
    return out
