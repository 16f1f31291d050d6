"""State of the model comparison view: metrics of every evaluated run, curves, per-level accuracy."""

from __future__ import annotations

import pandas as pd
import param

import workbench.app.data as data
from workbench.catalog.taxonomy_versions import older_taxonomy_runs
from workbench.app import drill
from workbench.security.safe_text import choice_options
from workbench.plots import coverage_curves, level_accuracy_bars, reliability_curve
from workbench.runs.evaluation_tables import evaluation_part
from workbench.runs.run_setup import verdict_text
from workbench.runs.selection import run_flags
from workbench.store import Workspace

TARGET_COLUMNS = (("0.9", "coverage @ 90%"), ("0.95", "coverage @ 95%"), ("0.98", "coverage @ 98%"))
#: after a run's label: its figures are re-scored on the current taxonomy through the change map
MAPPED_MARK = " (via taxonomy map)"


def interval_cell(figures: dict | None, metric: str) -> str:
    """``"95.1% to 97.5%"``: the 95% bootstrap interval of one run's ``metric``; ``n/a`` without one."""
    if not figures:
        return "n/a"
    got = figures[metric]
    return f"{100 * got.low:.1f}% to {100 * got.high:.1f}%"


class ComparisonState(param.Parameterized):
    """Which runs to compare (``runs``, default all evaluated runs) on which ``part``."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    part = param.Selector(default="test", objects=["test", "valid"])
    runs = param.ListSelector(default=[], objects=[], doc="run ids shown in the figures")
    news = param.Integer(default=0, allow_refs=True, precedence=-1,
                         doc="changes when runs complete or are evaluated elsewhere (a page passes "
                             "``ctx.news.param.runs``): the tables are read again and new runs join")

    def __init__(self, **params):
        super().__init__(**params)
        self.refresh()

    @param.depends("news", watch=True)
    def follow_runs(self) -> None:
        """Runs completed or evaluated elsewhere: list them; a new run joins the figures, the runs
        the visitor took out of them stay out."""
        runs = data.evaluated_runs(self.workspace, self.part)
        known = set(self.param.runs.objects.values()) if isinstance(self.param.runs.objects, dict) \
            else set(self.param.runs.objects)
        self.param.runs.objects = choice_options(dict(zip(runs["label"], runs["run_id"])))
        ids = runs["run_id"].tolist()
        chosen = [r for r in self.runs if r in set(ids)] + [r for r in ids if r not in known]
        if chosen != list(self.runs):
            self.runs = chosen
        else:
            self.param.trigger("runs")  # a run evaluated again: its curves are read again

    @param.depends("part", watch=True)
    def refresh(self) -> None:
        """Bring the runs to the current labels (:mod:`workbench.runs.truth`: re-scored, or noted
        as scored on older labels), reload the list of evaluated runs and select them all."""
        from workbench.errors import WorkbenchError
        from workbench.runs.rescore import bring_to_current_truth

        try:
            bring_to_current_truth(self.workspace)
        except WorkbenchError:
            pass  # no labelled split yet: nothing to compare against
        runs = data.evaluated_runs(self.workspace, self.part)
        self.param.runs.objects = choice_options(dict(zip(runs["label"], runs["run_id"])))
        self.runs = runs["run_id"].tolist()

    @property
    def has_runs(self) -> bool:
        """Whether any run is evaluated."""
        return bool(self.param.runs.objects)

    def metrics_table(self) -> pd.DataFrame:
        """One row per evaluated run, most accurate first: the run (model · id), the headline
        metrics, then how it was trained; ``notes`` says why a run is never the default (trained
        on a sample, below the sanity bar), and ``default`` marks the run the pages open on. On a
        small part (fewer than 50 products per leaf) each figure has its 95% bootstrap interval
        beside it and ``vs most accurate`` says whether the run is clearly below the most
        accurate one (the paired bootstrap of ``workbench compare``)."""
        runs = data.evaluated_runs(self.workspace, self.part)
        ranked = data.ranked_evaluated_runs(self.workspace, self.part)
        flags = dict(zip(ranked["run_id"], ranked["flags"]))
        intervals = data.run_intervals(self.workspace, self.part)
        labels = dict(zip(runs["run_id"], runs["label"]))
        default = data.default_run_id(self.workspace, self.part)
        differing = self._differing_params(runs)
        older = older_taxonomy_runs(self.workspace)
        mapped = self.taxonomy_scores()
        rows = []
        for run in runs.to_dict("records"):
            m = run["evaluation"]
            got = None if run["run_id"] in mapped else intervals.get(run["run_id"])
            if run["run_id"] in mapped:  # trained on an older taxonomy: its figures through the change map
                score = mapped[run["run_id"]]
                m = {**score.metrics, "hierarchical": {}, "ece": None, "mean_distance": None}
                older = {**older, run["run_id"]: score.note}
            params = run["params"] if isinstance(run["params"], dict) else {}
            row = {"run": run["label"] + (" (default)" if run["run_id"] == default else "")
                   + (MAPPED_MARK if run["run_id"] in mapped else ""), "accuracy": m.get("accuracy")}
            if intervals:
                row["accuracy 95%"] = interval_cell(got, "accuracy")
            row["macro-F1"] = m.get("macro_f1")
            if intervals:
                row["macro-F1 95%"] = interval_cell(got, "macro_f1")
                row["vs most accurate"] = verdict_text(got, labels.get) if got else "n/a"
            for key, name in TARGET_COLUMNS:
                row[name] = (m.get("coverage_at") or {}).get(key)
            row.update({"hierarchical F1": (m.get("hierarchical") or {}).get("f1"), "ECE": m.get("ece"),
                        "mean tree distance": m.get("mean_distance"),
                        "training sample": ("all" if pd.isna(run.get("sample"))
                                            else f"sample of {int(run['sample']):,}"),
                        "notes": "; ".join([*flags.get(run["run_id"], run_flags(run)),
                                            *([older[run["run_id"]]] if run["run_id"] in older else [])]) or "",
                        "split": run["split"], "test products": m.get("n"),
                        "parameters": ", ".join(f"{k}={params[k]}" for k in differing.get(run["model"], [])
                                                if k in params),
                        "train seconds": run.get("train_seconds"), "run_id": run["run_id"]})
            rows.append(row)
        table = pd.DataFrame(rows)
        return (table.sort_values("accuracy", ascending=False, kind="mergesort").reset_index(drop=True)
                if len(table) else table)

    def taxonomy_scores(self) -> dict:
        """``{run_id: TaxonomyScore}`` of the evaluated runs trained before a taxonomy change in
        force: their figures on the current taxonomy through the change map
        (:mod:`workbench.runs.taxonomy_rescore`)."""
        from workbench.runs.taxonomy_rescore import rescored_runs

        runs = data.evaluated_runs(self.workspace, self.part)
        return rescored_runs(self.workspace, runs["run_id"], self.part)

    def taxonomy_notice(self) -> str | None:
        """One paragraph naming the runs whose figures are re-scored through the change map (which
        figures, on how many products, how many could not be mapped), or ``None``."""
        mapped = self.taxonomy_scores()
        if not mapped:
            return None
        runs = data.evaluated_runs(self.workspace, self.part)
        labels = dict(zip(runs["run_id"], runs["label"]))
        parts = [f"{labels.get(run_id, run_id)}{MAPPED_MARK}: {score.note}" for run_id, score in mapped.items()]
        return ("Trained on an older taxonomy: accuracy, macro-F1 and coverage of these runs are re-scored on the "
                "current taxonomy through the change map (hierarchical F1, ECE and tree distance are not, so "
                "they are left blank; the tables and curves below are as stored, on the taxonomy they were "
                "trained on). " + "; ".join(parts) + ".")

    def decision_table(self) -> pd.DataFrame:
        """How bad the errors are, per evaluated run and decision rule: a row for the argmax and
        one more for ``min-risk`` where `workbench evaluate --decision min-risk` stored it, with
        accuracy, macro-F1, the mean tree distance of the errors and the share of errors that
        leave the true leaf's family (of the errors, and of all products)."""
        runs = data.evaluated_runs(self.workspace, self.part)
        min_risk = data.evaluated_runs(self.workspace, evaluation_part(self.part, "min-risk"))
        rows = []
        for run in [*runs.to_dict("records"), *min_risk.to_dict("records")]:
            m = run["evaluation"]
            rows.append({"run": run["label"], "decision": m.get("decision", "argmax"),
                         "accuracy": m.get("accuracy"), "macro-F1": m.get("macro_f1"),
                         "mean error distance": m.get("mean_error_distance"),
                         "cross-family errors": m.get("cross_family_error_share"),
                         "cross-family (of products)": m.get("cross_family_rate")})
        table = pd.DataFrame(rows)
        if not len(table):
            return table
        order = self._run_order()
        return (table.assign(_order=table["run"].map(order).fillna(len(order)))
                .sort_values(["_order", "decision"], kind="mergesort").drop(columns="_order").reset_index(drop=True))

    def _run_order(self) -> dict[str, int]:
        """The position of each run label in :meth:`metrics_table` (most accurate first), so that
        the page's tables list the runs in one order."""
        runs = data.evaluated_runs(self.workspace, self.part).to_dict("records")
        ranked = sorted(runs, key=lambda r: -(r["evaluation"].get("accuracy") or 0.0))  # stable, as below
        return {run["label"]: i for i, run in enumerate(ranked)}

    def level_prf_table(self) -> pd.DataFrame:
        """One row per evaluated run (argmax): ``precision / recall / F1`` at every taxonomy level,
        macro-averaged over that level's categories, and the macro-averaged hierarchical figures
        (one text cell each, so that a deep tree still fits the page)."""
        def cell(*values) -> str:
            return " / ".join("n/a" if v is None else f"{100 * v:.1f}%" for v in values)

        rows = []
        for run in data.evaluated_runs(self.workspace, self.part).to_dict("records"):
            m = run["evaluation"]
            row = {"run": run["label"]}
            for level, prf in (m.get("level_prf") or {}).items():
                row[f"{level} P / R / F1"] = cell(prf.get("precision_macro"), prf.get("recall_macro"),
                                                  prf.get("f1_macro"))
            macro = m.get("hierarchical_macro") or {}
            row["hierarchical P / R / F1 (macro)"] = cell(macro.get("precision"), macro.get("recall"),
                                                          macro.get("f1"))
            rows.append(row)
        table = pd.DataFrame(rows)
        if not len(table):
            return table
        order = self._run_order()
        return table.iloc[sorted(range(len(table)), key=lambda i: order.get(table["run"].iloc[i], len(order)))] \
            .reset_index(drop=True)

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

    def curve_point(self, x: float, y: float) -> drill.Selection | None:
        """The wrong-but-shelved products at the curve point nearest to a click at
        (coverage ``x``, accuracy ``y``) among the shown runs."""
        frame = self.curves_frame()
        return _nearest_point(frame, "coverage", "accuracy", x, y, lambda row: drill.shelved_errors(
            self.workspace, row["run_id"], self.part, float(row["threshold"])))

    def calibration_point(self, x: float, y: float) -> drill.Selection | None:
        """The products of the reliability bin nearest to a click (mean confidence ``x``, accuracy ``y``)."""
        frame = self.calibration_frame()
        frame = frame[frame["count"] > 0] if "count" in frame else frame
        return _nearest_point(frame, "mean_confidence", "accuracy", x, y, lambda row: drill.confidence_bin(
            self.workspace, row["run_id"], self.part, float(row["lower"]), float(row["upper"])))


def _nearest_point(frame: pd.DataFrame, xcol: str, ycol: str, x, y, select):
    """``select(row)`` for the row of ``frame`` nearest to ``(x, y)`` (axes scaled to their spans)."""
    frame = frame.dropna(subset=[xcol, ycol])
    if frame.empty or x is None or y is None:
        return None
    span_x = max(float(frame[xcol].max() - frame[xcol].min()), 1e-9)
    span_y = max(float(frame[ycol].max() - frame[ycol].min()), 1e-9)
    dist = ((frame[xcol] - float(x)) / span_x) ** 2 + ((frame[ycol] - float(y)) / span_y) ** 2
    return select(frame.loc[dist.idxmin()])
