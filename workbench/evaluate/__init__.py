"""Evaluation of category predictions, in the style of ``sklearn.metrics``.

Every metric is a plain function ``f(y_true, proba, *, classes, taxonomy=..., ...)``: ``y_true``
holds true leaves (node ids), ``proba`` is an ``(n, n_leaves)`` matrix whose columns follow
``classes``, and the prediction is the most probable column. These functions know nothing of
workspaces or runs: :func:`workbench.runs.evaluation.evaluate_run` computes them all for a
recorded run and stores the tables the dashboards read.
"""

from workbench.evaluate.calibration import expected_calibration_error, reliability_bins
from workbench.evaluate.category_thresholds import per_category_thresholds
from workbench.evaluate.confusion import (confusion_pairs, most_confused_pairs, sibling_confusion,
                                          sibling_confusion_from_pairs)
from workbench.evaluate.coverage import (accuracy_coverage_curve, coverage_at, downsample_curve,
                                         threshold_for_accuracy)
from workbench.evaluate.metrics import (accuracy, hierarchical_prf, level_accuracy, macro_f1,
                                        per_leaf_report)
from workbench.evaluate.severity import (distance_distribution, neighbour_error_share, neighbour_share,
                                         tree_distances, worst_errors)
from workbench.evaluate.shelving import ShelvingPreview, leaf_thresholds, shelving_preview

__all__ = [
    "ShelvingPreview", "accuracy", "accuracy_coverage_curve",
    "confusion_pairs", "coverage_at", "distance_distribution", "downsample_curve",
    "expected_calibration_error", "hierarchical_prf",
    "leaf_thresholds", "level_accuracy", "macro_f1", "most_confused_pairs",
    "neighbour_error_share", "neighbour_share", "per_category_thresholds", "per_leaf_report",
    "reliability_bins", "shelving_preview", "sibling_confusion", "sibling_confusion_from_pairs",
    "threshold_for_accuracy", "tree_distances", "worst_errors",
]
