"""Shelving decisions with a global threshold and per-category overrides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _evaluate_cases import CLASSES, D, E, P, TAX, Y
from _evaluate_real import real_predictions
from workbench.errors import WorkbenchError
from workbench.catalog.taxonomy import Taxonomy
from workbench.evaluate import coverage_at, leaf_thresholds, shelving_preview

IDS = ["p1", "p2", "p3", "p4", "p5", "p6"]


def test_leaf_thresholds_most_specific_override_wins():
    thr = leaf_thresholds(0.65, {"A": 0.5, "A > A1": 0.95, "A > A1 > b": 0.55}, classes=CLASSES, taxonomy=TAX)
    # a: A > A1 (0.95) beats A; b: its own 0.55; c: A (0.5); d, e: global
    assert thr.tolist() == pytest.approx([0.95, 0.55, 0.5, 0.65, 0.65])
    with pytest.raises(WorkbenchError, match="unknown category"):
        leaf_thresholds(0.5, {"Z": 0.9}, classes=CLASSES, taxonomy=TAX)
    with pytest.raises(WorkbenchError, match=">= 0"):
        leaf_thresholds(-0.1, classes=CLASSES)


def test_shelving_preview_decisions_and_derived_ancestors():
    pv = shelving_preview(IDS, P, classes=CLASSES, taxonomy=TAX, threshold=0.65,
                          overrides={"A > A1": 0.95, "A > A1 > b": 0.5}, y_true=Y)
    f = pv.frame.set_index("product_id")
    # p1 a 0.9 < 0.95 (A1 override) review; p2, p3 b >= 0.5 shelved; p4 d 0.7 >= 0.65 shelved;
    # p5 d 0.6 review; p6 e 0.7 shelved
    assert f["decision"].tolist() == ["review", "shelved", "shelved", "shelved", "review", "shelved"]
    assert f.loc["p4", ["family", "group", "type"]].tolist() == ["B", "B > B1", D]
    assert f.loc["p6", "group"] == E and pd.isna(f.loc["p6", "type"])  # a depth-2 leaf
    assert f.loc["p1", "threshold"] == 0.95
    # shelved p2 (wrong), p3 (right), p4 (wrong), p6 (right)
    assert pv.summary == {"total": 6, "shelved": 4, "review": 2, "shelved_share": pytest.approx(4 / 6),
                          "accuracy_shelved": pytest.approx(0.5)}


def test_shelving_preview_without_labels_and_edge_thresholds():
    everything = shelving_preview(IDS, P, classes=CLASSES, taxonomy=TAX, threshold=0.0)
    assert everything.shelved == 6 and everything.accuracy_shelved is None
    assert "correct" not in everything.frame
    nothing = shelving_preview(IDS, P, classes=CLASSES, taxonomy=TAX, threshold=1.01)
    assert nothing.review == 6 and nothing.summary["shelved_share"] == 0
    with pytest.raises(WorkbenchError, match="one id per row"):
        shelving_preview(IDS[:3], P, classes=CLASSES, taxonomy=TAX, threshold=0.5)


def test_single_level_taxonomy():
    tax = Taxonomy([("A",), ("B",)])
    pv = shelving_preview(["x", "y"], np.array([[.9, .1], [.4, .6]]), classes=tax.leaves, taxonomy=tax,
                          threshold=0.7, overrides={"B": 0.5})
    assert pv.frame["decision"].tolist() == ["shelved", "shelved"]
    assert pv.frame["level_1"].tolist() == ["A", "B"]


def test_preview_agrees_with_coverage_at_on_real_predictions():
    r = real_predictions()
    overrides = {"Apparel": 0.8, "Apparel > Topwear > Tshirts": 0.95}
    pv = shelving_preview(r.test_ids, r.proba_test, classes=r.classes, taxonomy=r.taxonomy,
                          threshold=0.6, overrides=overrides, y_true=r.y_test)
    at = coverage_at(r.y_test, r.proba_test, classes=r.classes, threshold=0.6, overrides=overrides,
                     taxonomy=r.taxonomy)
    assert pv.shelved == at["n_covered"] and pv.accuracy_shelved == pytest.approx(at["accuracy"])
    # brute force: the threshold of each product is the override of its deepest overridden ancestor
    expected = []
    for leaf, conf in zip(pv.frame["leaf"], pv.frame["confidence"]):
        thr = 0.95 if leaf == "Apparel > Topwear > Tshirts" else 0.8 if leaf.startswith("Apparel > ") else 0.6
        expected.append(conf >= thr)
    assert (pv.frame["decision"] == "shelved").tolist() == expected


def test_typed_threshold_matches_a_stored_float32_confidence():
    # float32 0.9 is 0.8999999762: a typed 0.9 must still shelve it
    p = np.array([[0.9, 0.1]], dtype=np.float32)
    tax = Taxonomy([("A",), ("B",)])
    assert shelving_preview(["x"], p, classes=tax.leaves, taxonomy=tax, threshold=0.9).shelved == 1
    assert coverage_at(["A"], p, classes=tax.leaves, threshold=0.9)["n_covered"] == 1
