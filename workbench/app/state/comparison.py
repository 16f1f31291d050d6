"""State of the model comparison view: metrics of every evaluated run, curves, per-level accuracy."""

from __future__ import annotations

import pandas as pd
import param

import workbench.app.data as data
from workbench.plots import coverage_curves, level_accuracy_bars, reliability_curve
from workbench.runs.selection import run_flags
from workbench.store import Workspace

TARGET_COLUMNS = (("0.9", "coverage @ 90%"), ("0.95", "coverage @ 95%"), ("0.98", "coverage @ 98%"))


class ComparisonState(param.Parameterized):
    """Which runs to compare (``runs``, default all evaluated runs) on which ``part``."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    part = param.Selector(default="test", objects=["test", "valid"])
    runs = param.ListSelector(default=[], objects=[], doc="run ids shown in the figures")

    def __init__(self, **params):
        super().__init__(**params)
        self.refresh()

    @param.depends("part", watch=True)
    def refresh(self) -> None:
        """Reload the list of evaluated runs and select them all."""
        runs = data.evaluated_runs(self.workspace, self.part)
        self.param.runs.objects = dict(zip(runs["label"], runs["run_id"]))
        self.runs = runs["run_id"].tolist()

    @property
    def has_runs(self) -> bool:
        """Whether any run is evaluated."""
        return bool(self.param.runs.objects)

    def metrics_table(self) -> pd.DataFrame:
        """One row per evaluated run: model, split, size, time and the headline metrics."""
        runs = data.evaluated_runs(self.workspace, self.part)
        differing = self._differing_params(runs)
        rows = []
        for run in runs.to_dict("records"):
            m = run["evaluation"]
            params = run["params"] if isinstance(run["params"], dict) else {}
            row = {"run": run["label"], "run_id": run["run_id"], "model": run["model"],
                   "split": run["split"],
                   "training sample": ("all" if pd.isna(run.get("sample"))
                                       else f"sample of {int(run['sample']):,}"),
                   "parameters": ", ".join(f"{k}={params[k]}" for k in differing.get(run["model"], [])
                                           if k in params),
                   "test products": m.get("n"),
                   "accuracy": m.get("accuracy"), "macro-F1": m.get("macro_f1"),
                   "hierarchical F1": (m.get("hierarchical") or {}).get("f1"),
                   "ECE": m.get("ece"), "mean tree distance": m.get("mean_distance")}
            for key, name in TARGET_COLUMNS:
                row[name] = (m.get("coverage_at") or {}).get(key)
            row["train seconds"] = run.get("train_seconds")
            row["notes"] = "; ".join(run_flags(run))
            rows.append(row)
        table = pd.DataFrame(rows)
        return table.sort_values("accuracy", ascending=False).reset_index(drop=True) if len(table) else table

    def sample_notice(self) -> str | None:
        """One sentence naming the runs trained on a sample of the training part (flagged by
        :func:`workbench.runs.selection.run_flags`), or ``None`` when every run saw all of it."""
        runs = data.evaluated_runs(self.workspace, self.part)
        sampled = [f"{run['label']} ({int(run['sample']):,} products)" for run in runs.to_dict("records")
                   if any(f.startswith("trained on a sample") for f in run_flags(run))]
        if not sampled:
            return None
        return ("Trained on a sample of the training part, so not comparable with the runs trained on "
                "all of it: " + ", ".join(sampled) + ".")

    @staticmethod
    def _differing_params(runs: pd.DataFrame) -> dict[str, list[str]]:
        """Per model kind, the parameters whose values differ between its runs."""
        out = {}
        for model, group in runs.groupby("model"):
            params = [p if isinstance(p, dict) else {} for p in group["params"]]
            keys = sorted({k for p in params for k in p})
            out[model] = [k for k in keys if len({repr(p.get(k)) for p in params}) > 1]
        return out

    def curves_frame(self) -> pd.DataFrame:
        """The stored accuracy-coverage curves of the selected runs."""
        return data.eval_table(self.workspace, "eval_curve", self.part, self.runs)

    def level_frame(self) -> pd.DataFrame:
        """Accuracy per taxonomy level of the selected runs."""
        return data.eval_table(self.workspace, "eval_level_accuracy", self.part, self.runs)

    def calibration_frame(self) -> pd.DataFrame:
        """Reliability bins of the selected runs."""
        return data.eval_table(self.workspace, "eval_calibration", self.part, self.runs)

    @param.depends("runs", "part")
    def curves_plot(self):
        """Accuracy-coverage curves of the selected runs, overlaid."""
        return coverage_curves(self.curves_frame(), title="Accuracy vs coverage, all runs")

    @param.depends("runs", "part")
    def level_plot(self):
        """Per-level accuracy bars."""
        return level_accuracy_bars(self.level_frame())

    @param.depends("runs", "part")
    def calibration_plot(self):
        """Reliability curves."""
        return reliability_curve(self.calibration_frame())
