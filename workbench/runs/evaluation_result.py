"""What :func:`workbench.runs.evaluation.evaluate_run` returns: the headline metrics (still a
``dict``, so every caller that reads ``result["accuracy"]`` or dumps it as JSON keeps working)
with the evaluation's tables as DataFrames beside them, for notebooks.

    result = wb.evaluate_run(ws, run_id)
    result.to_frame()       # one row per headline metric (tidy: metric, value)
    result.curve            # accuracy-coverage curve: threshold, coverage, accuracy, n_covered, run
    result.per_category     # precision, recall, F1, support per leaf
    result.per_level        # accuracy and P/R/F per taxonomy level
    result.confusion        # true_leaf, predicted_leaf, n (every pair seen)
    result.to_dict()        # the plain dict of before
"""

from __future__ import annotations

import html
from typing import Any, Mapping

import pandas as pd

#: attribute -> stored evaluation table
TABLES = {"curve": "eval_curve", "per_category": "eval_per_leaf", "per_level": "eval_level_accuracy",
          "confusion": "eval_confusion", "severity": "eval_severity", "calibration": "eval_calibration",
          "worst_errors": "eval_worst_errors", "category_thresholds": "eval_category_thresholds"}


class RunEvaluation(dict):
    """A run's headline metrics (a ``dict``) with its evaluation tables as frames; every frame
    carries a ``run`` column (the run id), so the plot helpers overlay several runs."""

    def __init__(self, metrics: Mapping[str, Any], tables: Mapping[str, pd.DataFrame] | None = None):
        super().__init__(metrics)
        run = str(metrics.get("run_id", ""))
        self._tables = {name: frame.assign(run=run) for name, frame in (tables or {}).items()}

    def _table(self, name: str) -> pd.DataFrame:
        return self._tables.get(TABLES[name], pd.DataFrame()).copy()

    curve = property(lambda self: self._table("curve"), doc="The accuracy-coverage curve.")
    per_category = property(lambda self: self._table("per_category"), doc="P/R/F1 and support per leaf.")
    per_level = property(lambda self: self._table("per_level"), doc="Accuracy and P/R/F per level.")
    confusion = property(lambda self: self._table("confusion"), doc="Counts per (true, predicted) leaf.")
    severity = property(lambda self: self._table("severity"), doc="Share of products per tree distance.")
    calibration = property(lambda self: self._table("calibration"), doc="Reliability bins.")
    worst_errors = property(lambda self: self._table("worst_errors"), doc="The most confident errors.")
    category_thresholds = property(lambda self: self._table("category_thresholds"),
                                   doc="Thresholds per leaf and per parent for each target.")

    def to_dict(self) -> dict[str, Any]:
        """The headline metrics as a plain dict (what ``evaluate_run`` returned before)."""
        return dict(self)

    def to_frame(self) -> pd.DataFrame:
        """The headline metrics as tidy rows ``metric, value`` (nested ones flattened with
        ``/``: ``coverage_at/0.95``, ``level_accuracy/subCategory``)."""
        rows: list[tuple[str, Any]] = []

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, Mapping):
                for key, inner in value.items():
                    walk(f"{prefix}/{key}" if prefix else str(key), inner)
            else:
                rows.append((prefix, value))

        walk("", self.to_dict())
        return pd.DataFrame(rows, columns=["metric", "value"])

    def __repr__(self) -> str:
        return (f"RunEvaluation(run_id={self.get('run_id')!r}, part={self.get('part')!r}, "
                f"decision={self.get('decision')!r}, n={self.get('n')}, accuracy={_num(self.get('accuracy'))}, "
                f"macro_f1={_num(self.get('macro_f1'))}; frames: {', '.join(TABLES)})")

    def _repr_html_(self) -> str:
        """A short table of the headline figures (the frames are attributes)."""
        cover = self.get("coverage_at") or {}
        cells = [("run", self.get("run_id")), ("part", self.get("part")), ("decision", self.get("decision")),
                 ("products", self.get("n")), ("accuracy", _num(self.get("accuracy"))),
                 ("macro-F1", _num(self.get("macro_f1"))), ("calibration error", _num(self.get("ece")))]
        cells += [(f"coverage at {float(t):.0%} accuracy", _num(v)) for t, v in cover.items()]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                       f"<td>{html.escape(str(v))}</td></tr>" for k, v in cells)
        return (f"<table class='wb-evaluation'>{body}</table><small>frames: "
                f"{html.escape(', '.join('.' + t for t in TABLES))}; .to_frame(), .to_dict()</small>")


def _num(value: Any) -> str:
    """A metric to 4 decimals, ``-`` for none."""
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
