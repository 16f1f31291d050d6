"""State of the threshold explorer: a global threshold plus per-category overrides, their effect
on the selected run's predictions, and publishing them to the workspace.

A threshold move costs ``len(classes)`` binary searches on arrays sorted once per run
(:class:`workbench.app.operating_point.SortedPredictions`), so it stays in the low milliseconds
with a million predictions.
"""

from __future__ import annotations

import math

import holoviews as hv
import numpy as np
import pandas as pd
import param

import workbench.app.data as data
from workbench.app.top1 import sorted_predictions
from workbench.app import drill
from workbench.app.top1 import run_top1
from workbench.evaluate.cost import cheapest_threshold, cost_at, cost_curve
from workbench.errors import WorkbenchError
from workbench.evaluate.shelving import check_threshold
from workbench.plots import coverage_curves, operating_point_marker
from workbench.plots.comparison import CURVE_OPTS
from workbench.store import Workspace
from workbench.loop.thresholds import (publish_thresholds, published_run, published_thresholds,
                                      threshold_run_warning)

DEFAULT_TARGET = "0.95"


class ThresholdState(param.Parameterized):
    """Thresholds being explored in one session (published ones only change on :meth:`publish`)."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    part = param.Selector(default="test", objects=["test", "valid"])
    run_id = param.Selector(default=None, objects=[], label="Run")
    threshold = param.Number(default=0.5, bounds=(0.0, 1.0), step=0.001, label="Global threshold")
    overrides = param.Dict(default={}, doc="node id -> threshold")
    override_node = param.Selector(default=None, objects=[], label="Category")
    override_value = param.Number(default=0.9, bounds=(0.0, 1.0), step=0.001, label="Its threshold")
    summary = param.Dict(default={}, doc="coverage, accuracy, shelved, review at the current thresholds")
    published = param.Dict(default={}, doc="the thresholds currently published in the workspace")
    cost_wrong = param.Number(default=5.0, bounds=(0, None), label="Cost of a wrong shelf",
                              doc="what one product shelved in the wrong category costs (any unit)")
    cost_review = param.Number(default=1.0, bounds=(0, None), label="Cost of a review",
                               doc="what one human review costs, in the same unit")
    costs = param.Dict(default={}, doc="the cheapest global threshold and the cost of the current one")
    opened_at = param.String(default="", doc="where the global threshold the page opened at comes from, in words")
    message = param.String(default="", doc="the answer to the last action (publish, add, suggest)")
    message_kind = param.Selector(default="info", objects=["info", "success", "danger", "warning"])

    def __init__(self, **params):
        super().__init__(**params)
        self._node_rows: dict[str, np.ndarray] = {}
        self._markers: list[tuple] = []
        self._suggested: dict[str, float] = {}
        self._cost_curve_key, self._cost_curve = None, None
        self._cheapest_key, self._cheapest = None, None
        runs = data.evaluated_runs(self.workspace, self.part)
        self.param.run_id.objects = runs["run_id"].tolist()[::-1]
        # one taxonomy per session: a slider move must not query the store
        self._taxonomy = tax = data.taxonomy(self.workspace)
        nodes = sorted(tax.nodes, key=lambda n: (n.count(" > "), n))
        self.param.override_node.objects = nodes
        with param.parameterized.discard_events(self):
            self.override_node = nodes[0] if nodes else None
            if self.run_id is None and len(runs):
                self.run_id = data.default_run_id(self.workspace, self.part)
        self._load_published(initial=True)
        self._recompute()
        self._recompute_costs()
        if not self.opened_at:
            self._open_at_cheapest()

    # thresholds -----------------------------------------------------------------------
    def _load_published(self, initial: bool = False) -> None:
        glob, overrides = published_thresholds(self.workspace)
        self.published = {"threshold": glob, "overrides": dict(overrides), "run_id": published_run(self.workspace)}
        if not initial:
            return
        tax = self._taxonomy
        if glob is not None:
            self.threshold = min(float(glob), 1.0)
            self.overrides = {n: min(float(t), 1.0) for n, t in overrides.items() if n in tax}
            self.opened_at = (f"Opened at the published threshold {self.threshold:.3f}"
                              + (f" with {len(self.overrides)} category overrides" if self.overrides else "")
                              + ": the one the HTTP API and workbench classify use now.")
        elif self.run_id is not None:
            suggested = self.run_metrics().get("threshold_at", {}).get(DEFAULT_TARGET)
            if suggested is not None:
                self.threshold = round(float(suggested), 3)
                self.opened_at = (f"Opened at {self.threshold:.3f}, the recommended threshold (nothing is "
                                  f"published yet): the one that shelves the most products while "
                                  f"{float(DEFAULT_TARGET):.0%} of those shelved are right on the test part.")

    def follow_published(self) -> None:
        """Thresholds were published elsewhere: show them (the published line, the warning), and
        keep the threshold and overrides being explored in this session."""
        self._load_published()

    def _open_at_cheapest(self) -> None:
        """Nothing published and the target accuracy out of reach: open at the cost model's cheapest."""
        best = self.costs.get("cheapest")
        if best is None or best.threshold > 1:
            self.opened_at = (f"Opened at {self.threshold:.3f}: nothing is published and this run never reaches "
                              f"{float(DEFAULT_TARGET):.0%} accuracy among shelved products.")
            return
        self.threshold = round(float(best.threshold), 3)
        self.opened_at = (f"Opened at {self.threshold:.3f}, the recommended threshold (nothing is published, and "
                          f"{float(DEFAULT_TARGET):.0%} accuracy is out of reach for this run): the cost model's "
                          f"cheapest when a wrong shelf costs {self.cost_wrong:g} reviews.")

    def run_metrics(self) -> dict:
        """The stored evaluation metrics of the selected run."""
        runs = data.evaluated_runs(self.workspace, self.part)
        hit = runs[runs["run_id"] == self.run_id]
        return hit["evaluation"].iloc[0] if len(hit) else {}

    def add_override(self, node: str | None = None, value: float | None = None) -> None:
        """Set the threshold of one category (a leaf or an internal node)."""
        node = self.override_node if node is None else node
        value = self.override_value if value is None else value
        if node not in self._taxonomy:
            raise WorkbenchError(f"unknown category {node!r}; pick one from the list")
        value = check_threshold(value, f"threshold for {node!r}")
        self.overrides = {**self.overrides, node: float(value)}

    def remove_override(self, node: str) -> None:
        """Drop a category override (its products follow the global threshold again)."""
        self.overrides = {k: v for k, v in self.overrides.items() if k != node}

    def hand_made(self) -> dict[str, float]:
        """The overrides not set by the last :meth:`suggest_overrides` (typed or published ones)."""
        return {n: v for n, v in self.overrides.items() if self._suggested.get(n) != v}

    def suggest_overrides(self, target: float = 0.95, replace: bool = False) -> int:
        """Load the per-leaf thresholds that ``workbench evaluate`` found for a target accuracy
        (categories with enough support only); hand-made overrides are kept (they win over a
        suggestion for the same category) unless ``replace``. Returns how many were suggested."""
        table = data.eval_table(self.workspace, "eval_category_thresholds", self.part, [self.run_id])
        rows = table[(table["by"] == "leaf") & (table["source"] == "category")
                     & np.isclose(table["target"], float(target))]
        rows = rows[np.isfinite(rows["threshold"])]
        suggested = {str(n): float(min(t, 1.0)) for n, t in zip(rows["node"], rows["threshold"])}
        kept = {} if replace else self.hand_made()
        self._suggested = suggested
        self.overrides = {**suggested, **kept}
        return len(suggested)

    def published_warning(self) -> str | None:
        """A note when the published thresholds were tuned on another run than the one shown."""
        return threshold_run_warning(self.workspace, self.run_id)

    def step(self, delta: float) -> None:
        """Move the global threshold by ``delta`` (arrow keys: 0.01), kept within [0, 1]."""
        self.threshold = round(min(1.0, max(0.0, float(self.threshold) + float(delta))), 3)

    # cost model -----------------------------------------------------------------------
    def cost_curve(self):
        """Cost candidates for the global threshold, the overridden categories held fixed."""
        key = (self.run_id, tuple(sorted(self.overrides.items())))
        if self._cost_curve_key != key:
            top = run_top1(self.workspace, self.run_id, self.part)
            fixed = self._override_vector(top.classes)
            overridden = ~np.isnan(fixed)[top.pred]
            shelved_fixed = overridden & (top.conf >= fixed.astype(np.float32)[top.pred])
            self._cost_curve = cost_curve(top.conf[~overridden], top.correct[~overridden],
                                          fixed_shelved=int(shelved_fixed.sum()),
                                          fixed_wrong=int((shelved_fixed & ~top.correct).sum()), n_total=top.n)
            self._cost_curve_key = key
        return self._cost_curve

    def _override_vector(self, classes: np.ndarray) -> np.ndarray:
        """Each class's override threshold (NaN where the global threshold applies)."""
        if not self.overrides:
            return np.full(len(classes), np.nan)
        sp = sorted_predictions(self.workspace, self.run_id, self.part)
        with_overrides = sp.class_thresholds(-1.0, self.overrides, self._taxonomy)
        return np.where(with_overrides < 0, np.nan, with_overrides)

    @param.depends("run_id", "threshold", "overrides", "cost_wrong", "cost_review", watch=True)
    def _recompute_costs(self) -> None:
        if self.run_id is None:
            self.costs = {}
            return
        curve = self.cost_curve()
        key = (id(curve), float(self.cost_wrong), float(self.cost_review))
        if self._cheapest_key != key:  # a slider move only prices the current threshold
            self._cheapest = cheapest_threshold(curve, self.cost_wrong, self.cost_review)
            self._cheapest_key = key
        best = self._cheapest
        now = cost_at(curve, self.threshold, self.cost_wrong, self.cost_review)
        target = self.run_metrics().get("threshold_at", {}).get(DEFAULT_TARGET)
        at_target = cost_at(curve, target, self.cost_wrong, self.cost_review) if target is not None else None
        self.costs = {"cheapest": best, "current": now, "target": at_target}

    def use_cheapest(self) -> float:
        """Set the global threshold to the cheapest one; returns it."""
        best = self.costs.get("cheapest")
        if best is not None:
            self.threshold = min(best.threshold, 1.0)
        return self.threshold

    def curve_point(self, x: float, y: float):
        """The wrong-but-shelved products at the curve point nearest to a click (coverage ``x``,
        accuracy ``y``) of the selected run's curve."""
        from workbench.app.state.comparison import _nearest_point

        frame = data.eval_table(self.workspace, "eval_curve", self.part, [self.run_id])
        return _nearest_point(frame, "coverage", "accuracy", x, y, lambda row: drill.shelved_errors(
            self.workspace, self.run_id, self.part, float(row["threshold"])))

    def shelved_errors_now(self):
        """The wrong products the current thresholds (overrides included) would shelve."""
        sp = sorted_predictions(self.workspace, self.run_id, self.part)
        per_class = sp.class_thresholds(self.threshold, self.overrides, self._taxonomy)
        return drill.shelved_errors(self.workspace, self.run_id, self.part, float(self.threshold), per_class)

    # figures and numbers --------------------------------------------------------------
    @param.depends("run_id", "threshold", "overrides", watch=True)
    def _recompute(self) -> None:
        if self.run_id is None:
            self.summary = {}
            return
        sp = sorted_predictions(self.workspace, self.run_id, self.part)
        per_class = sp.class_thresholds(self.threshold, self.overrides, self._taxonomy)
        point = sp.at(per_class)
        self._point = point
        self.summary = {**point.summary(), "threshold": float(self.threshold),
                        "n_overrides": len(self.overrides)}

    def operating_point(self) -> dict:
        """``coverage, accuracy, shelved, review, n, threshold`` at the current thresholds."""
        return dict(self.summary)

    @param.depends("run_id")
    def curve(self):
        """The selected run's accuracy-coverage curve (static while the threshold moves)."""
        frame = data.eval_table(self.workspace, "eval_curve", self.part, [self.run_id])
        return coverage_curves(frame, title="Accuracy vs coverage of the selected run")

    @param.depends("summary")
    def marker(self):
        """The operating point of the current thresholds, for the curve."""
        s = self.summary
        acc = s.get("accuracy")
        return operating_point_marker(s.get("coverage") if acc is not None else None, acc,
                                      s.get("threshold"))

    def plot(self):
        """The curve with a live operating point.

        Only the curve is a HoloViews ``DynamicMap`` (it changes with the run); the marker is a
        Bokeh glyph and two spans added to the figure by a hook and moved by editing their data
        directly, because a HoloViews re-render per slider move costs about 100 ms.
        """
        return hv.DynamicMap(self.curve).opts(
            hv.opts.Overlay(title="Accuracy vs coverage of the selected run",
                            **{**CURVE_OPTS, "width": 600, "hooks": [*CURVE_OPTS["hooks"], self._attach_marker]}))

    def _marker_data(self) -> dict:
        s = self.summary
        if s.get("accuracy") is None:
            return {"coverage": [], "accuracy": [], "threshold": []}
        return {"coverage": [s["coverage"]], "accuracy": [s["accuracy"]], "threshold": [s["threshold"]]}

    def _attach_marker(self, plot, element) -> None:
        from bokeh.models import ColumnDataSource, HoverTool, Span

        fig = plot.state
        if any(f is fig for f, *_ in self._markers):
            return
        data = self._marker_data()
        source = ColumnDataSource(data)
        glyph = fig.scatter("coverage", "accuracy", source=source, marker="diamond", size=16, color="black",
                            legend_label="operating point")
        fig.add_tools(HoverTool(renderers=[glyph], tooltips=[("threshold", "@threshold{0.000}"),
                                                              ("coverage", "@coverage{0.00%}"),
                                                              ("accuracy", "@accuracy{0.00%}")]))
        spans = [Span(location=(data[key] or [None])[0], dimension=dim, line_dash="dashed", line_color="black",
                      line_width=1) for key, dim in (("coverage", "height"), ("accuracy", "width"))]
        for span in spans:
            fig.add_layout(span)
        self._markers.append((fig, source, *spans))

    @param.depends("summary", watch=True)
    def _move_marker(self) -> None:
        data = self._marker_data()
        for _, source, vertical, horizontal in self._markers:
            source.data = data
            vertical.location = (data["coverage"] or [None])[0]
            horizontal.location = (data["accuracy"] or [None])[0]

    @param.depends("summary")
    def overrides_frame(self) -> pd.DataFrame:
        """One row per override: its threshold and what it does to the products predicted there."""
        columns = ["category", "threshold", "predicted", "shelved", "accuracy"]
        if not self.overrides or self.run_id is None:
            return pd.DataFrame(columns=columns)
        sp = sorted_predictions(self.workspace, self.run_id, self.part)
        support = sp.class_support().to_numpy()
        rows = []
        for node, value in sorted(self.overrides.items()):
            idx = self._rows_of(node, sp.classes)
            shelved = int(self._point.shelved_per_class[idx].sum())
            correct = int(self._point.correct_per_class[idx].sum())
            rows.append({"category": node, "threshold": value, "predicted": int(support[idx].sum()),
                         "shelved": shelved, "accuracy": correct / shelved if shelved else math.nan})
        return pd.DataFrame(rows, columns=columns)

    def _rows_of(self, node: str, classes: np.ndarray) -> np.ndarray:
        key = f"{self.run_id}|{node}"
        if key not in self._node_rows:
            tax = self._taxonomy
            leaves = set([node] if tax.is_leaf(node) else tax.leaves_under(node))
            self._node_rows[key] = np.flatnonzero([c in leaves for c in classes])
        return self._node_rows[key]

    # publishing -----------------------------------------------------------------------
    def publish(self, by: str) -> int:
        """Store the current thresholds as the published set; returns its version number."""
        version = publish_thresholds(self.workspace, self.threshold, self.overrides, by=by, run_id=self.run_id)
        self._load_published()
        return version
