"""Per-category confidence thresholds: the accuracy-coverage curve inside each category.

Products are grouped by their *predicted* category (a threshold acts on what the model says),
sorted once by (category, confidence descending); every target accuracy is then read off the
same sorted arrays. Ties in confidence enter together, as in the global curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.evaluate._common import Scored, TreeIndex, score, tree_index
from workbench.evaluate.coverage import (ACCURACY_SLACK, accuracy_coverage_curve_from, check_target,
                                         threshold_from_curve)
from workbench.catalog.taxonomy import Taxonomy


def group_codes(s: Scored, by: str | int, tree: TreeIndex | None) -> tuple[np.ndarray, np.ndarray]:
    """Category code of each product (``-1``: none) and the node id of each code."""
    if by == "leaf" and tree is None:
        return s.pred, s.classes
    if tree is None:
        raise WorkbenchError(f"per-category thresholds by {by!r} need the taxonomy; pass taxonomy=")
    lvl = tree.level[s.pred]
    if by == "leaf":
        depth = lvl
    elif by == "parent":
        depth = lvl - 1
    elif isinstance(by, (int, np.integer)) and not isinstance(by, bool) and 1 <= by <= tree.anc.shape[1]:
        depth = np.minimum(lvl, int(by))
    else:
        raise WorkbenchError(f"by={by!r} is not 'leaf', 'parent' or a level number 1..{tree.anc.shape[1]}")
    code = np.where(depth > 0, tree.anc[s.pred, np.maximum(depth, 1) - 1], -1)
    return code, tree.nodes


@dataclass(frozen=True)
class GroupedCurves:
    """Products sorted by (category, confidence desc) with the end of every tie block."""

    names: np.ndarray      # node id of each category
    size: np.ndarray       # products predicted into each category
    slot: np.ndarray       # category of each sorted product (0..len(names)-1)
    conf: np.ndarray       # sorted confidences
    correct: np.ndarray    # sorted correctness
    ends: np.ndarray       # last position of each (category, confidence) block
    n_cov: np.ndarray      # products covered inside the category at that block
    n_ok: np.ndarray       # correct among them


def grouped_curves(s: Scored, by: str | int = "leaf", tree: TreeIndex | None = None) -> GroupedCurves:
    """Sort once and compute every category's curve (see :class:`GroupedCurves`)."""
    code, names = group_codes(s, by, tree)
    keep = np.flatnonzero(code >= 0)
    by_conf = keep[np.argsort(-s.conf[keep])]
    order = by_conf[np.argsort(code[by_conf], kind="stable")]
    g, c, ok = code[order], s.conf[order], s.correct[order]
    new_group = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, bool)
    group_start = np.flatnonzero(new_group)
    size = np.diff(np.r_[group_start, len(g)])
    slot = np.cumsum(new_group) - 1
    start_of = group_start[slot]
    cum_ok = np.cumsum(ok)
    ends = np.flatnonzero(np.r_[new_group[1:] | (c[1:] != c[:-1]), True]) if len(g) else group_start
    ok_before = np.where(start_of[ends] > 0, cum_ok[np.maximum(start_of[ends] - 1, 0)], 0)
    return GroupedCurves(np.asarray(names, dtype=object)[g[group_start]], size, slot, c, ok, ends,
                         ends - start_of[ends] + 1, cum_ok[ends] - ok_before)


def thresholds_from_curves(gc: GroupedCurves, target: float, *, min_support: int,
                           fallback: float) -> pd.DataFrame:
    """The per-category threshold frame for one target accuracy (see :func:`per_category_thresholds`)."""
    target = check_target(target)
    good = gc.ends[gc.n_ok >= (target - ACCURACY_SLACK) * gc.n_cov]
    if len(good):
        good = good[np.r_[gc.slot[good][1:] != gc.slot[good][:-1], True]]
    thr = np.full(len(gc.names), np.inf)
    thr[gc.slot[good]] = gc.conf[good]
    source = np.where(np.isinf(thr), "unreachable", "category").astype(object)
    low = gc.size < min_support
    thr[low] = fallback
    source[low] = "global"
    covered = gc.conf >= thr[gc.slot]
    n_covered = np.bincount(gc.slot[covered], minlength=len(gc.names))
    n_right = np.bincount(gc.slot[covered & gc.correct], minlength=len(gc.names))
    accuracy = np.full(len(gc.names), np.nan)
    np.divide(n_right, n_covered, out=accuracy, where=n_covered > 0)
    return pd.DataFrame({"support": gc.size, "threshold": thr, "source": source,
                         "coverage": n_covered / np.maximum(gc.size, 1), "accuracy": accuracy,
                         "n_covered": n_covered}, index=pd.Index(gc.names, name="node"))


def per_category_thresholds(y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str],
                            target: float, by: str | int = "leaf", min_support: int = 30,
                            taxonomy: Taxonomy | None = None) -> pd.DataFrame:
    """The threshold reaching ``target`` accuracy with the most coverage in each category.

    Products are grouped by their *predicted* leaf (``by="leaf"``), its parent (``"parent"``) or
    its ancestor at a level number (a leaf shallower than that level is its own group); with
    ``by="parent"`` products of a top-level leaf have no parent and are left out (the global
    threshold applies to them). A category with fewer than ``min_support`` products gets the
    global threshold (``source="global"``); one where no threshold reaches the target gets
    ``inf`` (``source="unreachable"``: all its products go to review). One row per category that
    is predicted at least once: ``support, threshold, source, coverage, accuracy, n_covered``.
    """
    s = score(y_true, proba, classes)
    tree = tree_index(taxonomy, s.classes) if taxonomy is not None else None
    return per_category_thresholds_from(s, target, by=by, min_support=min_support, tree=tree)


def per_category_thresholds_from(s: Scored, target: float, *, by: str | int = "leaf",
                                 min_support: int = 30, tree: TreeIndex | None = None,
                                 global_threshold: float | None = None) -> pd.DataFrame:
    """:func:`per_category_thresholds` of scored predictions (the global threshold may be given)."""
    if global_threshold is None:
        global_threshold = threshold_from_curve(accuracy_coverage_curve_from(s), target)
    fallback = np.inf if global_threshold is None else float(global_threshold)
    return thresholds_from_curves(grouped_curves(s, by, tree), target, min_support=min_support,
                                  fallback=fallback)
