"""Sibling confusion matrices and the most confused pairs of leaves."""

from __future__ import annotations

import numpy as np
import pytest

from _evaluate_real import real_predictions
from workbench.errors import WorkbenchError
from workbench.evaluate import most_confused_pairs, sibling_confusion
from workbench.evaluate.confusion import OUTSIDE
from workbench.catalog.taxonomy import Taxonomy

TAX = Taxonomy([("A", "A1", "a"), ("A", "A1", "b"), ("A", "A2", "c"), ("B", "B1", "d"), ("B", "e")])
CLASSES = TAX.leaves
A, B_, C, D, E = CLASSES
# true -> predicted: a->a, a->b, a->c, b->b, c->a, c->d, d->e, e->e
Y = [A, A, A, B_, C, C, D, E]
P = np.eye(5)[[0, 1, 2, 1, 0, 3, 4, 4]] * 0.8 + 0.04


def test_sibling_confusion_among_children_of_a_parent():
    m = sibling_confusion(Y, P, classes=CLASSES, taxonomy=TAX, parent="A")
    assert list(m.index) == ["A > A1", "A > A2"] and list(m.columns) == ["A > A1", "A > A2", OUTSIDE]
    # true A1 (a, a, a, b): predicted a, b, c, b -> A1 3, A2 1; true A2 (c, c): predicted a, d
    assert m.to_numpy().tolist() == [[3, 1, 0], [1, 0, 1]]
    inner = sibling_confusion(Y, P, classes=CLASSES, taxonomy=TAX, parent="A > A1", include_outside=False)
    # only products whose true leaf is under A > A1: a->a, a->b, b->b (a->c is outside, dropped)
    assert inner.to_numpy().tolist() == [[1, 1], [0, 1]]


def test_sibling_confusion_at_the_root_and_mixed_depths():
    top = sibling_confusion(Y, P, classes=CLASSES, taxonomy=TAX, parent=None)
    # A: 6 products, 5 predicted in A, 1 (c->d) in B; B: d->e and e->e both in B
    assert top.loc[:, ["A", "B"]].to_numpy().tolist() == [[5, 1], [0, 2]]
    under_b = sibling_confusion(Y, P, classes=CLASSES, taxonomy=TAX, parent="B")
    # children of B are B > B1 and the leaf B > e; d -> e lands in the leaf column
    assert under_b.loc["B > B1", "B > e"] == 1 and under_b.loc["B > e", "B > e"] == 1
    assert under_b.to_numpy().sum() == 2


def test_sibling_confusion_rejects_a_leaf_parent():
    with pytest.raises(WorkbenchError, match="is a leaf"):
        sibling_confusion(Y, P, classes=CLASSES, taxonomy=TAX, parent=A)
    with pytest.raises(WorkbenchError, match="unknown category"):
        sibling_confusion(Y, P, classes=CLASSES, taxonomy=TAX, parent="Nope")


def test_most_confused_pairs():
    y = [A, A, A, B_, B_, C]
    p = np.eye(5)[[1, 1, 2, 0, 1, 3]]
    top = most_confused_pairs(y, p, classes=CLASSES, k=2, taxonomy=TAX)
    # a->b twice (2 of a's 3 products), then the three single errors ordered by name: a->c first
    assert top[["true_leaf", "predicted_leaf", "n"]].values.tolist() == [[A, B_, 2], [A, C, 1]]
    assert top["share_of_true"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert top["distance"].tolist() == [2, 4]
    assert most_confused_pairs(CLASSES, np.eye(5), classes=CLASSES).empty


def test_sibling_confusion_matches_brute_force_on_real_predictions():
    r = real_predictions()
    tax = r.taxonomy
    pred = r.classes[r.proba_test.argmax(axis=1)]
    parent = "Apparel"
    m = sibling_confusion(r.y_test, r.proba_test, classes=r.classes, taxonomy=tax, parent=parent)
    expected = np.zeros(m.shape, dtype=int)
    cols = list(m.columns)
    for t, p in zip(r.y_test, pred):
        if tax.ancestor_at(t, 1) != parent:
            continue
        p_child = tax.ancestor_at(p, 2) if tax.ancestor_at(p, 1) == parent else OUTSIDE
        expected[cols.index(tax.ancestor_at(t, 2)), cols.index(p_child)] += 1
    assert m.to_numpy().tolist() == expected.tolist()
    assert m.to_numpy().sum() == sum(tax.ancestor_at(t, 1) == parent for t in r.y_test)
