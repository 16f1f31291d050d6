"""Flat and hierarchical metrics against hand-computed figures and against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support

from _evaluate_cases import A, B_, C, CLASSES, E, P, TAX, Y
from _evaluate_real import real_predictions
from workbench.errors import WorkbenchError
from workbench.catalog.taxonomy import Taxonomy
from workbench.evaluate import (accuracy, hierarchical_prf, level_accuracy, macro_f1,
                                per_leaf_report)




def test_accuracy_hand_case():
    assert accuracy(Y, P, classes=CLASSES) == pytest.approx(4 / 6)


def test_per_leaf_report_hand_case_with_unpredicted_leaf():
    rep = per_leaf_report(Y, P, classes=CLASSES)
    assert list(rep.index) == CLASSES
    assert rep.loc[A].tolist() == pytest.approx([1.0, 0.5, 2 / 3, 2, 1])
    assert rep.loc[B_].tolist() == pytest.approx([0.5, 1.0, 2 / 3, 1, 2])
    # c is never predicted: precision undefined, recall 0, f1 0
    assert np.isnan(rep.loc[C, "precision"]) and rep.loc[C, "recall"] == 0 and rep.loc[C, "f1"] == 0
    assert rep.loc[E].tolist() == pytest.approx([1.0, 1.0, 1.0, 1, 1])


def test_leaf_with_no_test_products_is_undefined_and_left_out_of_macro_f1():
    # e has a column but no product: recall NaN, f1 NaN, not averaged
    y, p = Y[:5], P[:5]
    rep = per_leaf_report(y, p, classes=CLASSES)
    assert rep.loc[E, "support"] == 0 and np.isnan(rep.loc[E, "recall"]) and np.isnan(rep.loc[E, "f1"])
    # a 2/3, b 2/3, c 0, d 2/3 -> mean 0.5
    assert macro_f1(y, p, classes=CLASSES) == pytest.approx(0.5)


def test_macro_f1_hand_case():
    # F1: a 2/3, b 2/3, c 0, d 2/3, e 1 -> 3 / 5
    assert macro_f1(Y, P, classes=CLASSES) == pytest.approx(0.6)


def test_level_accuracy_skips_shallow_true_leaves():
    levels = level_accuracy(Y, P, classes=CLASSES, taxonomy=TAX)
    # family: only c -> d crosses A/B: 5/6; group: c (A > A2) vs d (B > B1) wrong: 5/6;
    # type: e is shallower and skipped; a, a, b, c, d vs a, b, b, d, d: 3/5
    assert levels == pytest.approx({"family": 5 / 6, "group": 5 / 6, "type": 3 / 5})


def test_hierarchical_prf_hand_case():
    # shared ancestors: 3 + 2 + 3 + 0 + 3 + 2 = 13; |anc(pred)| = 3*5 + 2 = 17 = |anc(true)|
    h = hierarchical_prf(Y, P, classes=CLASSES, taxonomy=TAX)
    assert h["precision"] == pytest.approx(13 / 17) and h["recall"] == pytest.approx(13 / 17)
    assert h["f1"] == pytest.approx(13 / 17)


def test_hierarchical_prf_differs_when_depths_differ():
    # true e (depth 2) predicted as d (depth 3): shared {B}; precision 1/3, recall 1/2
    h = hierarchical_prf([E], np.eye(5)[[3]], classes=CLASSES, taxonomy=TAX)
    assert h["precision"] == pytest.approx(1 / 3) and h["recall"] == pytest.approx(1 / 2)
    assert h["f1"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))


def test_all_correct_and_all_wrong():
    right = np.eye(5)[[0, 1, 2, 3, 4]]
    assert accuracy(CLASSES, right, classes=CLASSES) == 1.0
    assert macro_f1(CLASSES, right, classes=CLASSES) == 1.0
    assert hierarchical_prf(CLASSES, right, classes=CLASSES, taxonomy=TAX)["f1"] == 1.0
    assert set(level_accuracy(CLASSES, right, classes=CLASSES, taxonomy=TAX).values()) == {1.0}
    wrong = np.eye(5)[[4, 3, 3, 0, 0]]  # a->e, b->d, c->d, d->a, e->a: every family wrong
    assert accuracy(CLASSES, wrong, classes=CLASSES) == 0.0
    assert macro_f1(CLASSES, wrong, classes=CLASSES) == 0.0
    assert hierarchical_prf(CLASSES, wrong, classes=CLASSES, taxonomy=TAX) == {
        "precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert level_accuracy(CLASSES, wrong, classes=CLASSES, taxonomy=TAX)["family"] == 0.0


def test_single_level_taxonomy():
    tax = Taxonomy([("A",), ("B",)])
    p = np.array([[.9, .1], [.3, .7], [.6, .4]])
    y = ["A", "B", "B"]
    assert level_accuracy(y, p, classes=tax.leaves, taxonomy=tax) == pytest.approx({"level_1": 2 / 3})
    # every leaf is its own single ancestor: hierarchical = flat
    assert hierarchical_prf(y, p, classes=tax.leaves, taxonomy=tax)["f1"] == pytest.approx(2 / 3)
    # A: tp 1, support 1, predicted 2 -> 2/3; B: tp 1, support 2, predicted 1 -> 2/3
    assert macro_f1(y, p, classes=tax.leaves) == pytest.approx(2 / 3)


def test_matches_scikit_learn_on_real_predictions():
    r = real_predictions()
    pred = r.classes[r.proba_test.argmax(axis=1)]
    assert macro_f1(r.y_test, r.proba_test, classes=r.classes) == pytest.approx(
        f1_score(r.y_test, pred, average="macro"))
    rep = per_leaf_report(r.y_test, r.proba_test, classes=r.classes)
    present = rep[rep["support"] > 0]
    prec, rec, f1, sup = precision_recall_fscore_support(r.y_test, pred, labels=list(present.index),
                                                         zero_division=0)
    assert present["recall"].to_numpy() == pytest.approx(rec)
    assert present["f1"].to_numpy() == pytest.approx(f1)
    assert present["precision"].fillna(0).to_numpy() == pytest.approx(prec)
    assert (present["support"].to_numpy() == sup).all()
    # per level: brute force with the taxonomy's own ancestor_at
    lv = level_accuracy(r.y_test, r.proba_test, classes=r.classes, taxonomy=r.taxonomy)
    for level, name in enumerate(r.taxonomy.level_names, start=1):
        hits = [r.taxonomy.ancestor_at(t, level) == r.taxonomy.ancestor_at(p, level)
                for t, p in zip(r.y_test, pred)]
        assert lv[name] == pytest.approx(np.mean(hits))


def test_bad_input_gives_one_line_errors():
    with pytest.raises(WorkbenchError, match="not among"):
        accuracy(["nope"] * 6, P, classes=CLASSES)
    with pytest.raises(WorkbenchError, match="shape"):
        accuracy(Y, P[:, :4], classes=CLASSES)
    with pytest.raises(WorkbenchError, match="6 rows"):
        accuracy(Y[:5], P, classes=CLASSES)
    with pytest.raises(WorkbenchError, match="NaN"):
        accuracy(Y, np.full_like(P, np.nan), classes=CLASSES)
    with pytest.raises(WorkbenchError, match="not in the taxonomy"):
        level_accuracy(["x", "y"], np.eye(2), classes=["x", "y"], taxonomy=TAX)
