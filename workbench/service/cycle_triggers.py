"""What opens a retraining cycle, and what it would train: the triggers judged on the traffic's
monitoring report and the human labels since the serving run (:func:`decide`), and the candidates
(:func:`candidate_specs`). Read by the step itself (:mod:`workbench.service.cycle`) and by its
dry run (:mod:`workbench.service.cycle_plan`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.service.cycle_config import ACCEPTANCE_STATISTICS, DRIFT_STATISTICS
from workbench.service.files import ServiceFiles
from workbench.service.log import utc_now
from workbench.store import Workspace


def serving_run_id(ws: Workspace) -> str:
    """The id of the run that serves now."""
    from workbench.runs.registry import serving_run

    return serving_run(ws).run_id


def _last_cycle(ws: Workspace) -> dict[str, Any] | None:
    rows = ws.df("SELECT started_at, finished_at FROM cycles ORDER BY cycle_id DESC LIMIT 1")
    return None if rows.empty else rows.iloc[0].to_dict()


def _monitor_since(ws: Workspace, settings: Mapping[str, Any]) -> datetime | None:
    """The monitored period starts ``since`` ago, never before the last cycle ended (its traffic
    and feedback were judged already)."""
    from workbench.service.monitoring import parse_since

    since = parse_since(settings["since"])
    last = _last_cycle(ws)
    ended = None if last is None or pd.isna(last["finished_at"]) else pd.Timestamp(last["finished_at"]).to_pydatetime()
    if ended is not None and (since is None or ended > since):
        return ended
    return since


def _labels_since(ws: Workspace, serving: str) -> tuple[int, datetime | None]:
    """Human labels (products) given since the serving run was trained or the last cycle began."""
    from workbench.runs.records import get_run

    started = get_run(ws, serving)["started_at"]
    last = _last_cycle(ws)
    since = pd.Timestamp(started).to_pydatetime() if started is not None and not pd.isna(started) else None
    if last is not None and (since is None or pd.Timestamp(last["started_at"]).to_pydatetime() > since):
        since = pd.Timestamp(last["started_at"]).to_pydatetime()
    n = ws.scalar("SELECT count(DISTINCT product_id) FROM labels WHERE source = 'human' AND NOT retracted "
                  "AND created_at > coalesce(?, TIMESTAMP '1970-01-01')", [since])
    return int(n or 0), since


def decide(ws: Workspace, report, settings: Mapping[str, Any], serving: str,
           retrain_now: bool = False, actor: str = "") -> tuple[list[str], dict[str, Any]]:
    """The triggers that fire (each a sentence) and the figures they were judged on."""
    fired, figures = [], {"crossed": [], "statistics": {}}
    if report is not None:
        for s in report.crossed:
            base = s.key.split(":")[0]
            figures["crossed"].append(s.key)
            figures["statistics"][s.key] = {"value": s.value, "threshold": s.threshold, "n": s.n}
            side = ">" if s.direction == "max" else "<"
            if base in DRIFT_STATISTICS and settings["on_drift"]:
                fired.append(f"drift: {s.key} {s.value:.3g} {side} {s.threshold:g}")
            elif base in ACCEPTANCE_STATISTICS and settings["on_acceptance"]:
                fired.append(f"acceptance: {s.key} {s.value:.3g} {side} {s.threshold:g} (n={s.n})")
        figures["feedback"] = {k: report.feedback.get(k) for k in ("n", "accepted", "acceptance")}
    n_labels, since = _labels_since(ws, serving)
    figures["new_human_labels"], figures["labels_since"] = n_labels, since
    if settings["new_labels"] and n_labels >= settings["new_labels"]:
        when = "" if since is None else f" since {since:%Y-%m-%d %H:%M}"
        fired.append(f"new labels: {n_labels} human labels{when} (at least {settings['new_labels']})")
    if settings["schedule_hours"]:
        last = _last_cycle(ws)
        reference = (pd.Timestamp(last["started_at"]) if last is not None else
                     pd.Timestamp(since) if since is not None else None)
        hours = None if reference is None else (pd.Timestamp(utc_now()) - reference).total_seconds() / 3600
        figures["hours_since_last_cycle"] = hours
        if hours is None or hours >= settings["schedule_hours"]:
            fired.append(f"schedule: every {settings['schedule_hours']:g} h"
                         + ("" if hours is None else f", the last cycle began {hours:.1f} h ago"))
    if retrain_now:
        fired.append(f"asked by {actor}")
    return fired, figures


def crossed_text(figures) -> str:
    """What crossed, for a decision with no trigger (volume, errors and latency alert people; they
    are not reasons to retrain)."""
    crossed = figures["crossed"]
    return f"{', '.join(crossed)} crossed (no retraining trigger)" if crossed else "no threshold crossed"


def traffic_report(files: ServiceFiles, ws: Workspace, settings):
    """The monitoring report of the traffic since the last cycle ended (or ``since`` ago)."""
    from workbench.service.monitoring import monitor_report

    return monitor_report(files, since=_monitor_since(ws, settings), embedding=settings["embedding"])


def candidate_specs(ws: Workspace, settings: Mapping[str, Any], serving: str) -> list[dict[str, Any]]:
    """What a cycle trains: the configured candidates, else the serving run's family (its model
    kind and parameters; for a department run, one model per department of the same column
    again), each with its split."""
    from workbench.runs.records import get_run

    run = get_run(ws, serving)
    split = str(run["split"]) if run["split"] in ("grouped", "random") else "grouped"
    if settings["candidates"]:
        return [{**c, "split": split} for c in settings["candidates"]]
    recorded = run["params"] if isinstance(run["params"], dict) else {}
    department = run.get("department") if isinstance(run.get("department"), str) and run["department"] else None
    given = recorded
    if department:  # the department model's own parameters are the column and the base family's
        given = recorded.get("base_params") if isinstance(recorded.get("base_params"), dict) else {}
    # what the training sets itself (the seed, the taxonomy's leaves, folders) is not a parameter to pass
    params = {k: v for k, v in given.items() if k not in ("leaves", "random_state", "workspace", "checkpoint_dir",
                                                          "resolved")}
    seed = recorded.get("random_state")
    return [{"kind": str(run["model"]), "params": params, "sample": None, "split": split,
             "department": department, "seed": int(seed) if isinstance(seed, (int, float)) else 0}]


def candidates_text(ws, settings, serving) -> str:
    """What a cycle would train, in words (or why it has no candidate)."""
    try:
        specs = candidate_specs(ws, settings, serving)
    except WorkbenchError as exc:
        return f"(no candidate: {exc})"
    return ", ".join(s["kind"] + (f" per {s['department']}" if s.get("department") else "")
                     + (f" (sample {s['sample']})" if s.get("sample") else "") for s in specs) + \
        " on the current catalog and human labels"
