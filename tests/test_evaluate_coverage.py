"""Accuracy-coverage curve, thresholds for a target accuracy and per-category thresholds:
hand-built cases (ties included) and a brute-force loop over thresholds on real predictions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from _evaluate_real import real_predictions
from workbench.errors import WorkbenchError
from workbench.evaluate import (accuracy_coverage_curve, coverage_at, downsample_curve,
                                per_category_thresholds, threshold_for_accuracy)
from workbench.catalog.taxonomy import Taxonomy

TAX = Taxonomy([("A", "A1", "a"), ("A", "A1", "b"), ("A", "A2", "c"), ("B", "B1", "d"), ("B", "e")])
CLASSES = TAX.leaves
A, B_, C, D, E = CLASSES


def one_hot_like(pred: list[int], conf: list[float]) -> np.ndarray:
    """Rows whose top probability ``conf[i]`` sits in column ``pred[i]`` (rest spread evenly)."""
    p = np.zeros((len(pred), len(CLASSES)))
    for i, (j, c) in enumerate(zip(pred, conf)):
        p[i, :] = (1 - c) / (len(CLASSES) - 1)
        p[i, j] = c
    return p


# six products; confidences 0.9, 0.8, 0.8 (a tie: one right, one wrong), 0.7, 0.6, 0.6
Y = [A, A, B_, C, D, E]
P = one_hot_like([0, 1, 1, 3, 3, 4], [0.9, 0.8, 0.8, 0.7, 0.6, 0.6])
CORRECT = [True, False, True, False, True, True]


def test_curve_hand_case_with_ties():
    curve = accuracy_coverage_curve(Y, P, classes=CLASSES)
    assert curve["threshold"].tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6])
    # the two 0.8 products enter together: never a point with only one of them
    assert curve["n_covered"].tolist() == [1, 3, 4, 6]
    assert curve["coverage"].tolist() == pytest.approx([1 / 6, 3 / 6, 4 / 6, 1.0])
    assert curve["accuracy"].tolist() == pytest.approx([1.0, 2 / 3, 2 / 4, 4 / 6])


def test_threshold_for_accuracy_takes_the_most_coverage():
    # accuracy is not monotone: 0.6 reaches 4/6 with full coverage, 0.8 reaches 2/3 too
    assert threshold_for_accuracy(Y, P, classes=CLASSES, target=0.6) == pytest.approx(0.6)
    assert threshold_for_accuracy(Y, P, classes=CLASSES, target=2 / 3) == pytest.approx(0.6)
    assert threshold_for_accuracy(Y, P, classes=CLASSES, target=0.7) == pytest.approx(0.9)
    assert threshold_for_accuracy(Y, P, classes=CLASSES, target=1.0) == pytest.approx(0.9)
    wrong_first = one_hot_like([1, 0], [0.9, 0.5])  # most confident product is wrong
    assert threshold_for_accuracy([A, A], wrong_first, classes=CLASSES, target=0.9) is None
    with pytest.raises(WorkbenchError, match="target accuracy"):
        threshold_for_accuracy(Y, P, classes=CLASSES, target=95)


def test_curve_all_correct_all_wrong_and_one_big_tie():
    right = one_hot_like([0, 1, 2], [0.9, 0.5, 0.7])
    curve = accuracy_coverage_curve([A, B_, C], right, classes=CLASSES)
    assert (curve["accuracy"] == 1.0).all() and curve["coverage"].iloc[-1] == 1.0
    assert threshold_for_accuracy([A, B_, C], right, classes=CLASSES, target=0.99) == pytest.approx(0.5)
    assert (accuracy_coverage_curve([D, D, D], right, classes=CLASSES)["accuracy"] == 0).all()
    tied = one_hot_like([0, 0, 0, 0], [0.5] * 4)
    curve = accuracy_coverage_curve([A, A, A, B_], tied, classes=CLASSES)
    assert len(curve) == 1 and curve.iloc[0]["coverage"] == 1.0
    assert curve.iloc[0]["accuracy"] == pytest.approx(0.75)


def test_coverage_at_global_and_with_overrides():
    at = coverage_at(Y, P, classes=CLASSES, threshold=0.75)
    assert at == {"coverage": pytest.approx(0.5), "accuracy": pytest.approx(2 / 3), "n_covered": 3, "n": 6}
    nothing = coverage_at(Y, P, classes=CLASSES, threshold=0.95)
    assert nothing["coverage"] == 0 and nothing["accuracy"] is None
    # B's predicted leaves (d, e) get 0.65; b gets 0.85 (leaf beats its parent's 0.5)
    at = coverage_at(Y, P, classes=CLASSES, threshold=0.75, taxonomy=TAX,
                     overrides={"B": 0.65, "A > A1": 0.5, "A > A1 > b": 0.85})
    # covered: a 0.9 (A1: 0.5), d 0.7 (B: 0.65); not b 0.8 x2, d 0.6, e 0.6
    assert at["n_covered"] == 2 and at["accuracy"] == pytest.approx(0.5)
    with pytest.raises(WorkbenchError, match="taxonomy"):
        coverage_at(Y, P, classes=CLASSES, threshold=0.5, overrides={"B": 0.6})


def test_per_category_thresholds_by_leaf_parent_and_level():
    by_leaf = per_category_thresholds(Y, P, classes=CLASSES, target=0.9, by="leaf", min_support=1)
    # a: 0.9 right -> 0.9; b: tie at 0.8 with 1/2 right -> unreachable; d: 0.7 wrong, 0.6 right:
    # 0.7 -> 0, 0.6 -> 1/2 -> unreachable; e: 0.6 right -> 0.6; c never predicted -> no row
    assert by_leaf.loc[A, "threshold"] == pytest.approx(0.9)
    assert math.isinf(by_leaf.loc[B_, "threshold"]) and by_leaf.loc[B_, "source"] == "unreachable"
    assert by_leaf.loc[E, "threshold"] == pytest.approx(0.6) and C not in by_leaf.index
    assert by_leaf.loc[D, "coverage"] == 0 and by_leaf["support"].to_dict() == {A: 1, B_: 2, D: 2, E: 1}
    by_parent = per_category_thresholds(Y, P, classes=CLASSES, target=2 / 3, by="parent",
                                        min_support=1, taxonomy=TAX)
    # A > A1 holds a 0.9 (right), b 0.8, b 0.8 (one right): 1 -> 2/3 at 0.8
    assert by_parent.loc["A > A1", "threshold"] == pytest.approx(0.8)
    assert by_parent.loc["A > A1", "coverage"] == 1.0
    # B > B1 holds d 0.7 (wrong), d 0.6 (right): best 1/2 -> unreachable; B holds e (right)
    assert by_parent.loc["B > B1", "source"] == "unreachable"
    assert by_parent.loc["B", "threshold"] == pytest.approx(0.6)
    by_top = per_category_thresholds(Y, P, classes=CLASSES, target=0.75, by=1, min_support=1,
                                     taxonomy=TAX)
    # A: 0.9 ok, 0.8 tie -> 2/3; B: 0.7 wrong -> 0, 0.6 -> 2/3: A 0.9, B unreachable
    assert by_top.loc["A", "threshold"] == pytest.approx(0.9) and by_top.loc["B", "source"] == "unreachable"


def test_per_category_low_support_falls_back_to_global():
    # target 0.5: b (tie at 0.8, one right) -> 0.8; d (0.7 wrong, 0.6 right) -> 0.6;
    # a and e have one product each, below min_support: the global threshold, 0.6
    table = per_category_thresholds(Y, P, classes=CLASSES, target=0.5, by="leaf", min_support=2)
    glob = threshold_for_accuracy(Y, P, classes=CLASSES, target=0.5)
    assert glob == pytest.approx(0.6)
    assert table.loc[A, "source"] == "global" and table.loc[A, "threshold"] == pytest.approx(glob)
    assert table.loc[A, "coverage"] == 1.0 and table.loc[E, "source"] == "global"
    assert table.loc[B_, "source"] == "category" and table.loc[B_, "threshold"] == pytest.approx(0.8)
    assert table.loc[D, "threshold"] == pytest.approx(0.6)
    with pytest.raises(WorkbenchError, match="by="):
        per_category_thresholds(Y, P, classes=CLASSES, target=0.6, by="shelf", taxonomy=TAX)


def test_single_level_taxonomy_has_no_parents():
    tax = Taxonomy([("A",), ("B",)])
    p = np.array([[.9, .1], [.3, .7], [.6, .4]])
    assert per_category_thresholds(["A", "B", "B"], p, classes=tax.leaves, target=0.9, by="parent",
                                   taxonomy=tax).empty
    leaf = per_category_thresholds(["A", "B", "B"], p, classes=tax.leaves, target=0.9, by=1,
                                   min_support=1, taxonomy=tax)
    assert leaf.loc["A", "threshold"] == pytest.approx(0.9) and leaf.loc["B", "threshold"] == pytest.approx(0.7)


def test_downsample_keeps_endpoints_and_requested_thresholds():
    curve = pd.DataFrame({"threshold": np.linspace(1, 0, 10_001), "coverage": np.linspace(0, 1, 10_001),
                          "accuracy": 1.0, "n_covered": np.arange(1, 10_002)})
    keep = float(curve["threshold"].iloc[4321])
    small = downsample_curve(curve, 100, [keep, None])
    assert len(small) <= 101 and small.iloc[0].equals(curve.iloc[0]) and small.iloc[-1].equals(curve.iloc[-1])
    assert keep in set(small["threshold"]) and small["threshold"].is_monotonic_decreasing
    assert len(downsample_curve(curve.head(50), 100)) == 50


def brute_force_curve(conf: np.ndarray, correct: np.ndarray) -> pd.DataFrame:
    """The definition, one threshold at a time."""
    rows = []
    for t in sorted(set(conf.tolist()), reverse=True):
        covered = conf >= t
        rows.append((t, covered.mean(), correct[covered].mean(), covered.sum()))
    return pd.DataFrame(rows, columns=["threshold", "coverage", "accuracy", "n_covered"])


@pytest.mark.parametrize("decimals", [None, 2])
def test_curve_and_thresholds_match_brute_force_on_real_predictions(decimals):
    r = real_predictions()
    proba = r.proba_test if decimals is None else np.round(r.proba_test, decimals)  # 2: many ties
    pred = proba.argmax(axis=1)
    conf, correct = proba.max(axis=1), r.classes[pred] == r.y_test
    curve = accuracy_coverage_curve(r.y_test, proba, classes=r.classes)
    brute = brute_force_curve(conf, correct)
    assert len(curve) == len(np.unique(conf))
    if decimals:
        assert len(curve) < len(conf) / 2  # the rounding really made ties
    np.testing.assert_allclose(curve.to_numpy(dtype=float), brute.to_numpy(dtype=float))
    for target in (0.8, 0.9, 0.95, 0.99):
        ok = brute[brute["accuracy"] >= target]
        expected = None if ok.empty else ok.loc[ok["coverage"].idxmax(), "threshold"]
        assert threshold_for_accuracy(r.y_test, proba, classes=r.classes, target=target) == expected
    # per leaf: the same brute force inside every predicted leaf
    table = per_category_thresholds(r.y_test, proba, classes=r.classes, target=0.9, min_support=5)
    glob = threshold_for_accuracy(r.y_test, proba, classes=r.classes, target=0.9)
    for leaf, row in table.iterrows():
        inside = r.classes[pred] == leaf
        assert row["support"] == inside.sum()
        if row["support"] < 5:
            assert row["source"] == "global" and row["threshold"] == glob
            continue
        b = brute_force_curve(conf[inside], correct[inside])
        ok = b[b["accuracy"] >= 0.9]
        assert row["threshold"] == (np.inf if ok.empty else ok["threshold"].min())
