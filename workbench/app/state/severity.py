"""State of the error severity view: tree distance per run and the worst errors of one run."""

from __future__ import annotations

import pandas as pd
import param

import workbench.app.data as data
from workbench.app import drill
from workbench.app.thumbnails import img_tag, product_thumbnails
from workbench.plots import severity_bars
from workbench.store import Workspace


class SeverityState(param.Parameterized):
    """``run_id``: the run whose worst errors are listed; the distribution shows every run."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    part = param.Selector(default="test", objects=["test", "valid"])
    run_id = param.Selector(default=None, objects=[], label="Run")
    errors_only = param.Boolean(default=False, label="Errors only (hide distance 0)")
    k = param.Integer(default=25, bounds=(1, 500), label="Worst errors shown")
    news = param.Integer(default=0, allow_refs=True, precedence=-1,
                         doc="changes when runs complete or are evaluated elsewhere (a page passes "
                             "``ctx.news.param.runs``): the distribution of every run is read again")

    def __init__(self, **params):
        super().__init__(**params)
        data.choose_run(self, self.part)

    @param.depends("errors_only", "part", "news")
    def distribution(self) -> pd.DataFrame:
        """``run, distance, share, n`` of every evaluated run (shares of all products)."""
        frame = data.eval_table(self.workspace, "eval_severity", self.part)
        if self.errors_only:
            frame = frame[frame["distance"] > 0]
        return frame[["run", "distance", "share", "n"]].reset_index(drop=True) if len(frame) else frame

    @param.depends("errors_only", "part", "news")
    def plot(self):
        """Grouped bars of :meth:`distribution`."""
        return severity_bars(self.distribution())

    @param.depends("run_id", "k", "part")
    def worst_errors(self) -> pd.DataFrame:
        """The run's farthest-off predictions: ``photo, title, true path, predicted path,
        confidence, distance``, worst first (distance, then confidence)."""
        frame = data.eval_table(self.workspace, "eval_worst_errors", self.part, [self.run_id])
        frame = frame.sort_values(["distance", "confidence"], ascending=[False, False]).head(self.k)
        names = data.titles(self.workspace, frame["product_id"])
        out = frame.merge(names, on="product_id", how="left")
        thumbs = product_thumbnails(self.workspace, out["product_id"])
        return pd.DataFrame({"photo": [img_tag(thumbs.get(p)) for p in out["product_id"]],
                             "title": out["title"], "true path": out["true_leaf"],
                             "predicted path": out["predicted_leaf"], "confidence": out["confidence"],
                             "distance": out["distance"], "product_id": out["product_id"]})

    def bar(self, x) -> drill.Selection | None:
        """The products behind a bar, from the tapped factor ``(distance, run label)``."""
        if not isinstance(x, (tuple, list)) or len(x) != 2:
            return None
        distance, label = x
        runs = data.evaluated_runs(self.workspace, self.part)
        hit = runs.loc[runs["label"] == str(label), "run_id"]
        if not len(hit):
            return None
        return drill.at_distance(self.workspace, str(hit.iloc[0]), self.part, int(distance))
