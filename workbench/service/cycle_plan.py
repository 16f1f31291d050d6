"""The retraining cycle's dry run: what the next step would do, from reads alone.

``workbench cycle --dry-run`` and ``run_cycle(..., dry_run=True)`` answer with :func:`plan`; it
judges the triggers and the open cycle's state with the same functions as the step itself
(:mod:`workbench.service.cycle`), and writes nothing.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from workbench.service.cycle_records import CycleStep, open_cycle
from workbench.service.cycle_shadow import shadow_done, shadow_progress, shadow_verdict
from workbench.service.cycle_triggers import candidates_text, crossed_text, decide, serving_run_id, traffic_report
from workbench.service.files import ServiceFiles
from workbench.service.snapshot import read_snapshot
from workbench.store import Workspace


def plan(ws: Workspace, files: ServiceFiles, settings: Mapping[str, Any], retrain_now: bool = False) -> CycleStep:
    """What the next call of :func:`workbench.service.cycle.run_cycle` would do, from reads alone
    (no feedback import, no snapshot write): the answer of ``run_cycle(..., dry_run=True)``."""
    cycle = open_cycle(ws)
    if cycle is None:
        serving = serving_run_id(ws)
        report = traffic_report(files, ws, settings) if read_snapshot(files, missing_ok=True) is not None else None
        fired, figures = decide(ws, report, settings, serving, retrain_now, "you")
        if not fired:
            return CycleStep("idle", "check", f"would do nothing: {crossed_text(figures)}, "
                             f"{figures['new_human_labels']} new human labels (feedback not imported in a dry run)",
                             serving_run_id=serving, figures=figures, dry_run=True)
        return CycleStep("idle", "check", f"would open a cycle ({'; '.join(fired)}) and then retrain "
                         f"{candidates_text(ws, settings, serving)}", trigger=fired, serving_run_id=serving,
                         figures=figures, dry_run=True)
    base = dict(cycle_id=cycle["cycle_id"], trigger=cycle["trigger"], serving_run_id=cycle["serving_run_id"],
                candidate_run_id=cycle.get("candidate_run_id"), dry_run=True)
    state = cycle["state"]
    if state == "retrain":
        return CycleStep("retrain", "retrain", "would retrain " + candidates_text(ws, settings, cycle["serving_run_id"]),
                         **base)
    if state == "evaluate":
        return CycleStep("evaluate", "evaluate", f"would evaluate {', '.join(cycle['candidate_run_ids'])} and the "
                         "serving run on the current labels", **base)
    if state == "gate":
        return CycleStep("gate", "gate", f"would put {cycle['candidate_run_id']} through the promotion gate", **base)
    since = pd.Timestamp(cycle["shadow_since"]).to_pydatetime()
    progress = shadow_progress(files, cycle["candidate_run_id"], since)
    if not shadow_done(progress, settings, since):
        return CycleStep("shadowing", "shadow", f"shadowing: {progress['n']:,} of {settings['shadow_requests']:,} "
                         "requests; would wait", figures={"shadow": progress}, **base)
    reasons, _ = shadow_verdict(progress, settings)
    return CycleStep("shadowing", "shadow", ("would keep the serving run: " + "; ".join(reasons)) if reasons
                     else f"would promote {cycle['candidate_run_id']}", figures={"shadow": progress}, **base)
