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

from workbench.service.files import ServiceFiles
from workbench.service.log import read_log, utc_now
from workbench.service.monitoring import MonitorReport, monitor_report
from workbench.service.snapshot import read_snapshot
from workbench.store import Workspace

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

    def __init__(self, **params):
        super().__init__(**params)
        snapshot = self.snapshot()
        if snapshot is not None:
            names = list(snapshot["taxonomy"]["level_names"])
            self.param.level.objects = names
            if self.level is None and names:
                self.level = names[-1]

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
        """One row per statistic: label, value, threshold (with its side), n, status."""
        return pd.DataFrame([{"key": s.key, "statistic": s.label, "value": s.value,
                              "alert": f"{'>' if s.direction == 'max' else '<'} {s.threshold:g}",
                              "side": ">" if s.direction == "max" else "<", "threshold": s.threshold, "n": s.n,
                              "status": s.status, "detail": s.detail} for s in report.statistics])

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
