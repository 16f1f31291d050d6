"""Severity of errors: tree distances, their distribution, worst errors, semantic neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from _evaluate_real import real_predictions
from workbench.evaluate import (distance_distribution, neighbour_error_share, neighbour_share,
                                tree_distances, worst_errors)
from workbench.catalog.taxonomy import Taxonomy

TAX = Taxonomy([("A", "A1", "a"), ("A", "A1", "b"), ("A", "A2", "c"), ("B", "B1", "d"), ("B", "e")])
CLASSES = TAX.leaves
A, B_, C, D, E = CLASSES
Y = [A, A, B_, C, D, E, E]
# predicted: a, b (sibling), b, d (other department), d, d (e -> d: B > e vs B > B1 > d), e
P = np.array([[.90, .05, .03, .01, .01],
              [.20, .60, .12, .05, .03],
              [.10, .80, .06, .03, .01],
              [.02, .03, .30, .65, .00],
              [.00, .00, .00, .60, .40],
              [.05, .00, .00, .55, .40],
              [.00, .00, .00, .30, .70]])


def test_tree_distances_hand_case():
    # a-b siblings: 2; c-d through the root: 3 + 3 = 6; e (depth 2) - d (depth 3) share B: 1 + 2 = 3
    assert tree_distances(Y, P, classes=CLASSES, taxonomy=TAX).tolist() == [0, 2, 0, 6, 0, 3, 0]


def test_distance_distribution_shares():
    dist = distance_distribution(Y, P, classes=CLASSES, taxonomy=TAX)
    assert dist == pytest.approx({0: 4 / 7, 2: 1 / 7, 3: 1 / 7, 6: 1 / 7})
    assert sum(dist.values()) == pytest.approx(1.0)
    assert distance_distribution(CLASSES, np.eye(5), classes=CLASSES, taxonomy=TAX) == {0: 1.0}


def test_worst_errors_farthest_then_most_confident():
    worst = worst_errors(Y, P, classes=CLASSES, taxonomy=TAX, k=2, product_ids=list("pqrstuv"))
    assert worst["product_id"].tolist() == ["s", "u"]  # distance 6, then distance 3
    assert worst["distance"].tolist() == [6, 3]
    assert worst.iloc[0][["true_leaf", "predicted_leaf"]].tolist() == [C, D]
    assert worst.iloc[0]["confidence"] == pytest.approx(0.65)
    # equal distance: more confident first; no product ids -> row numbers
    y2 = [A, A, A]
    p2 = np.array([[.1, .6, .1, .1, .1], [.1, .8, .05, .05, 0], [1, 0, 0, 0, 0]])
    assert worst_errors(y2, p2, classes=CLASSES, taxonomy=TAX)["product_id"].tolist() == [1, 0]
    assert worst_errors(CLASSES, np.eye(5), classes=CLASSES, taxonomy=TAX).empty


def test_neighbour_share_counts_top_k_among_neighbours():
    neighbours = {A: [B_, C], B_: [A], C: [D]}
    # products with true a, a, b, c (d and e have no entry: skipped); top-2 of each:
    # (a, b): b is a's neighbour -> 1; (b, a): b -> 1; (b, a): a is b's neighbour -> 1;
    # (d, c): d is c's neighbour -> 1  => 4 of 8
    assert neighbour_share(Y, P, classes=CLASSES, neighbours=neighbours, k=2) == pytest.approx(4 / 8)
    # counting the true leaf too: + a, a, b, c -> 8 of 8
    assert neighbour_share(Y, P, classes=CLASSES, neighbours=neighbours, k=2,
                           include_true=True) == pytest.approx(1.0)
    # top-1: b (for a), d (for c) -> 2 of 4
    assert neighbour_share(Y, P, classes=CLASSES, neighbours=neighbours, k=1) == pytest.approx(2 / 4)
    assert neighbour_share(Y, P, classes=CLASSES, neighbours={"unknown": [A]}, k=2) is None


def test_neighbour_error_share():
    # errors: a->b (neighbour), c->d (neighbour), e->d (e has no entry: skipped) -> 2 / 2
    assert neighbour_error_share(Y, P, classes=CLASSES, neighbours={A: [B_], C: [D]}) == 1.0
    assert neighbour_error_share(Y, P, classes=CLASSES, neighbours={A: [C], C: [D]}) == 0.5
    assert neighbour_error_share(CLASSES, np.eye(5), classes=CLASSES, neighbours={A: [B_]}) is None


def test_single_level_taxonomy_distance_is_two():
    tax = Taxonomy([("A",), ("B",)])
    d = tree_distances(["A", "B"], np.array([[.2, .8], [.1, .9]]), classes=tax.leaves, taxonomy=tax)
    assert d.tolist() == [2, 0]


def test_real_predictions_distances_match_taxonomy_distance():
    r = real_predictions()
    pred = r.classes[r.proba_test.argmax(axis=1)]
    d = tree_distances(r.y_test, r.proba_test, classes=r.classes, taxonomy=r.taxonomy)
    assert d.tolist() == [r.taxonomy.distance(t, p) for t, p in zip(r.y_test, pred)]
    # siblings as neighbours: a brute-force top-3 count
    nb = {leaf: r.taxonomy.siblings(leaf) for leaf in r.classes}
    top = np.argsort(-r.proba_test, axis=1, kind="stable")[:, :3]
    hits = [r.classes[j] in nb[t] for t, row in zip(r.y_test, top) for j in row]
    assert neighbour_share(r.y_test, r.proba_test, classes=r.classes, neighbours=nb, k=3) == \
        pytest.approx(np.mean(hits))
