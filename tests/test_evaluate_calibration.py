"""Reliability bins and expected calibration error."""

from __future__ import annotations

import numpy as np
import pytest

from _evaluate_real import real_predictions
from workbench.evaluate import expected_calibration_error, reliability_bins
from workbench.catalog.taxonomy import Taxonomy

CLASSES = Taxonomy([("A",), ("B",)]).leaves


def test_reliability_bins_hand_case():
    # top probabilities 0.9 (right), 0.8 (wrong), 0.6 (right), 0.55 (wrong); 4 bins of width 0.25
    y = ["A", "A", "B", "B"]
    p = np.array([[.9, .1], [.2, .8], [.4, .6], [.55, .45]])
    bins = reliability_bins(y, p, classes=CLASSES, n_bins=4)
    assert bins["count"].tolist() == [0, 0, 2, 2]
    # (.5, .75]: 0.6 right, 0.55 wrong; (.75, 1]: 0.9 right, 0.8 wrong
    assert bins.loc[2, ["mean_confidence", "accuracy"]].tolist() == pytest.approx([0.575, 0.5])
    assert bins.loc[3, ["mean_confidence", "accuracy"]].tolist() == pytest.approx([0.85, 0.5])
    assert bins.loc[0, ["mean_confidence", "accuracy"]].isna().all()
    # ECE = 2/4 * |0.5 - 0.575| + 2/4 * |0.5 - 0.85| = 0.2125
    assert expected_calibration_error(y, p, classes=CLASSES, n_bins=4) == pytest.approx(0.2125)


def test_bin_edges_are_right_closed():
    # 0.75 belongs to (0.5, 0.75], 1.0 to the last bin, a bin edge never splits a value twice
    y = ["A", "A", "A"]
    p = np.array([[.75, .25], [1.0, 0.0], [.5, .5]])
    assert reliability_bins(y, p, classes=CLASSES, n_bins=4)["count"].tolist() == [0, 1, 1, 1]


def test_all_correct_all_wrong():
    p = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(["A", "B"], p, classes=CLASSES) == 0.0
    assert expected_calibration_error(["B", "A"], p, classes=CLASSES) == 1.0


def test_ece_matches_a_plain_loop_on_real_predictions():
    r = real_predictions()
    conf = r.proba_test.max(axis=1).astype(float)
    correct = r.classes[r.proba_test.argmax(axis=1)] == r.y_test
    ece = 0.0
    for lo, hi in zip(np.linspace(0, 1, 11)[:-1], np.linspace(0, 1, 11)[1:]):
        inside = (conf > lo) & (conf <= hi) if lo > 0 else (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    assert expected_calibration_error(r.y_test, r.proba_test, classes=r.classes, n_bins=10) == pytest.approx(ece)
    assert reliability_bins(r.y_test, r.proba_test, classes=r.classes, n_bins=10)["count"].sum() == len(conf)
