"""State of the monitoring view: which period and granularity of the API's traffic to judge, and
the report of :func:`workbench.service.monitoring.monitor_report` for it (cached until the log
or the snapshot changes). Reviewers may also promote a run or set the shadow run here, since
the dashboards' process is the one that holds the workspace database."""

from __future__ import annotations

import time
from datetime import timedelta

import pandas as pd
import panel as pn
import param

from workbench.runs.records import list_runs
from workbench.service.files import ServiceFiles
from workbench.service.log import read_log, utc_now
from workbench.service.monitoring import MonitorReport, monitor_report
from workbench.service.snapshot import read_snapshot
from workbench.store import Workspace

#: the words of a statistic's status on the page; only ``crossed`` is an alarm (red)
STATUS_TEXT = {"ok": "ok", "crossed": "crossed", "too few": "not enough traffic yet", "skipped": "not measured",
               "no reference": "no reference yet"}

PERIODS = {"last hour": timedelta(hours=1), "last 24 hours": timedelta(hours=24),
           "last 7 days": timedelta(days=7), "everything": None}


@pn.cache(max_items=16)
def _report(path: str, period: str, bucket: str, stamp: tuple, minute: int, embedding: bool) -> MonitorReport:
    span = PERIODS[period]
    since = None if span is None else utc_now() - span
    return monitor_report(ServiceFiles(path), since=since, bucket=bucket, embedding=embedding)


class MonitoringState(param.Parameterized):
    """The period, the bucket and the taxonomy level of the category-mix figure."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    period = param.Selector(default="last 24 hours", objects=list(PERIODS), label="Period")
    bucket = param.Selector(default="hour", objects=["hour", "day"], label="Per")
    level = param.Selector(default=None, objects=[], label="Category level")
    embedding = param.Boolean(default=True, label="Embedding drift test (loads the text encoder)")
    refreshed = param.Integer(default=0, doc="bumped by the Refresh button")
    refresh = param.Event(label="Refresh", doc="read the served traffic again")
    news = param.Integer(default=0, allow_refs=True, precedence=-1,
                         doc="changes when runs complete or thresholds are published elsewhere (a page passes "
                             "a ``ctx.news`` counter): the runs to promote and the report are read again")
    promote_run = param.Selector(default=None, objects=[], label="Run",
                                 doc="the run the registry buttons act on (never preselected on a run "
                                     "trained on a sample)")
    message = param.String(default="", doc="the answer to the last registry action")
    message_kind = param.Selector(default="info", objects=["info", "success", "danger", "warning"])

    def __init__(self, **params):
        super().__init__(**params)
        snapshot = self.snapshot()
        if snapshot is not None:
            names = list(snapshot["taxonomy"]["level_names"])
            self.param.level.objects = names
            if self.level is None and names:
                self.level = names[-1]
        self.param.promote_run.objects = self.runs_with_models()
        self.promote_run = self.preselected_run(snapshot)

    @param.depends("refresh", watch=True)
    def _refresh(self) -> None:
        self.refreshed += 1

    @param.depends("news", watch=True)
    def follow_workspace(self) -> None:
        """Runs completed or thresholds published elsewhere: list the runs again (the chosen one
        stays chosen) and read the report again."""
        runs = self.runs_with_models()
        if list(self.param.promote_run.objects) != list(runs):
            self.param.promote_run.objects = runs
        self.refreshed += 1

    @property
    def files(self) -> ServiceFiles:
        """The workspace's service files."""
        return ServiceFiles(self.workspace.path)

    def snapshot(self) -> dict | None:
        """The serving snapshot, or ``None`` before the API or the dashboards wrote one."""
        return read_snapshot(self.files, missing_ok=True)

    def report(self) -> MonitorReport:
        """The monitoring report of the chosen period (recomputed when new traffic was logged)."""
        return _report(str(self.workspace.path), self.period, self.bucket, self.files.stamp(),
                       int(time.time() // 60) + 1_000_000 * self.refreshed, self.embedding)

    def statistics_frame(self, report: MonitorReport) -> pd.DataFrame:
        """One row per statistic: label, value, threshold (with its side), n, status and its words.

        No alarm without data: a statistic judged from no observation at all (the volume of a
        period nothing was served in, e.g. a fresh install) reads ``too few`` ("not enough
        traffic yet", grey), never ``crossed``."""
        rows = []
        for s in report.statistics:
            status = "too few" if s.status == "crossed" and not s.n else s.status
            rows.append({"key": s.key, "statistic": s.label, "value": s.value,
                         "alert": f"{'>' if s.direction == 'max' else '<'} {s.threshold:g}",
                         "side": ">" if s.direction == "max" else "<", "threshold": s.threshold, "n": s.n,
                         "status": status, "status_text": STATUS_TEXT.get(status, status),
                         "detail": s.detail.strip().lstrip(";").strip()})
        return pd.DataFrame(rows)

    def crossed(self, report: MonitorReport) -> list[str]:
        """The labels of the statistics that are real alarms (crossed, with observations)."""
        frame = self.statistics_frame(report)
        return [] if frame.empty else frame.loc[frame["status"] == "crossed", "statistic"].tolist()

    def preselected_run(self, snapshot: dict | None) -> str | None:
        """The serving run, else the newest run not trained on a sample (``None`` when every run is)."""
        runs = list_runs(self.workspace).set_index("run_id")
        full = [r for r in self.runs_with_models()
                if "sample" not in runs or pd.isna(runs.loc[r, "sample"])]
        serving = ((snapshot or {}).get("serving") or {}).get("run_id")
        return serving if serving in full else (full[0] if full else None)

    def act(self, kind: str, by: str) -> None:
        """A registry action on :attr:`promote_run` (``promote``, ``shadow``, ``off``); the answer,
        or the refusal, lands in :attr:`message`."""
        from workbench.errors import WorkbenchError

        try:
            if kind == "promote":
                self.message_kind, self.message = "success", str(self.promote(self.promote_run, by=by))
            else:
                self.set_shadow(self.promote_run if kind == "shadow" else None, by=by)
                self.message_kind, self.message = "success", ("Shadow run set." if kind == "shadow"
                                                              else "Shadowing stopped.")
        except WorkbenchError as exc:
            self.message_kind, self.message = "danger", str(exc)

    def recent(self, n: int = 12) -> pd.DataFrame:
        """The newest served predictions of the last day, newest first."""
        rows = read_log(self.files, "predictions", since=utc_now() - timedelta(days=1))
        rows = rows.sort_values("time", kind="stable").tail(n).iloc[::-1]
        return rows[["time", "key_name", "title_raw", "category", "confidence", "decision"]].reset_index(drop=True)

    def feedback_in_workspace(self) -> dict[str, int]:
        """Feedback brought into the label history so far, and how much awaits a reviewer."""
        from workbench.loop.feedback import feedback_to_confirm

        imported = int(self.workspace.scalar("SELECT count(*) FROM feedback"))
        return {"imported": imported, "to_confirm": len(feedback_to_confirm(self.workspace)) if imported else 0}

    def runs_with_models(self) -> list[str]:
        """Runs that could serve (a saved model), newest first."""
        from workbench.runs.predictor import runs_with_models

        return runs_with_models(self.workspace)[::-1]

    def promote(self, run_id: str, by: str):
        """Promote through the gate (raises :class:`workbench.runs.registry.PromotionRefused`),
        then rewrite the snapshot so the API switches within seconds."""
        from workbench.runs.registry import promote
        from workbench.service.sync import sync_workspace

        gate = promote(self.workspace, run_id, by=by)
        sync_workspace(self.workspace)
        self.refreshed += 1
        return gate

    def set_shadow(self, run_id: str | None, by: str) -> None:
        """Set (or with ``None`` clear) the shadow run and rewrite the snapshot."""
        from workbench.runs.registry import set_shadow
        from workbench.service.sync import sync_workspace

        set_shadow(self.workspace, run_id, by=by)
        sync_workspace(self.workspace)
        self.refreshed += 1
