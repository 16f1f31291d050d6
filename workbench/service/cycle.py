"""The loop on its own: a retraining cycle that advances one step per call.

``workbench cycle`` (cron), the Monitoring page's button (a separate process) and ``wb.run_cycle``
call :func:`run_cycle`, which takes the open cycle one step further and returns at once:

1. **check** (no open cycle): import the API's feedback, refresh the snapshot, judge the traffic
   (:func:`workbench.service.monitoring.monitor_report`) and decide: a crossed drift statistic,
   a crossed feedback acceptance or live-accuracy gap, enough new human labels, the schedule, or a
   person asking (``retrain_now``) opens a cycle; otherwise nothing happens.
2. **retrain**: the serving run's family (or the configured candidates) on the current catalog
   and human labels (:func:`workbench.loop.retraining.retrain`).
3. **evaluate**: the candidates and the serving run on the same products and the same current
   labels (:mod:`workbench.runs.truth`); the best candidate by validation accuracy goes on.
4. **gate**: the promotion gate with its paired-bootstrap interval
   (:func:`workbench.runs.registry.check_promotion`); a refusal ends the cycle (a person decides),
   a pass makes the candidate the shadow run.
5. **shadow**: waits until the shadow scored ``shadow_requests`` requests (or ``shadow_hours``
   passed), then promotes it when it agrees with the serving run often enough and, where feedback
   says what was right, is not less accurate; otherwise the serving run stays and the reason is
   recorded.

The triggers and the candidates are :mod:`workbench.service.cycle_triggers`, the dry run
:mod:`workbench.service.cycle_plan`. Every decision, "nothing to do" included, is a row of ``cycle_events`` (what triggered it, the
runs, the figures, the outcome, who or what started the call); ``cycles`` holds each cycle's state.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.service.cycle_config import cycle_config
from workbench.service.cycle_plan import plan
from workbench.service.cycle_records import CycleStep, record_step, default_actor, open_cycle
from workbench.service.cycle_shadow import shadow_done, shadow_progress, shadow_verdict
from workbench.service.cycle_triggers import (candidate_specs, candidates_text, crossed_text, decide,  # noqa: F401 - decide, candidate_specs: also read from here
                                             serving_run_id, traffic_report)
from workbench.service.files import ServiceFiles, private_dir
from workbench.service.log import utc_now
from workbench.store import Workspace
from workbench.store.lock import process_alive

log = logging.getLogger("workbench.cycle")

# -- one call ---------------------------------------------------------------------------------------

def _lock_path(files: ServiceFiles) -> Path:
    return files.root / "cycle.lock"


def _acquire(files: ServiceFiles) -> int | None:
    """Take the cycle's lock file; the pid of the live process holding it instead, else ``None``."""
    private_dir(files.root)
    path = _lock_path(files)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            try:
                pid = int(path.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = None
            if pid is not None and process_alive(pid):
                return pid
            path.unlink(missing_ok=True)  # left by a process that died
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()} {utc_now().isoformat()}")
        return None
    raise WorkbenchError(f"could not take the cycle's lock file {path}; remove it if no `workbench cycle` runs")


def run_cycle(ws: Workspace | str | os.PathLike, *, by: str | None = None, dry_run: bool = False,
              retrain_now: bool = False, abandon: bool = False,
              config: Mapping[str, Any] | None = None) -> CycleStep:
    """Take the retraining cycle one step further (see the module) and return what was done;
    ``dry_run`` only says what would be done (nothing is written, feedback is not imported);
    ``retrain_now`` opens a cycle whatever the triggers say (recorded as asked by ``by``);
    ``abandon`` closes the open cycle (its shadow run switched off); ``config`` overrides the
    stored settings for this call (:mod:`workbench.service.cycle_config`)."""
    ws = ws if isinstance(ws, Workspace) else Workspace(ws)
    files = ServiceFiles(ws.path)
    settings = cycle_config(files, config)
    actor = str(by or default_actor()).strip() or default_actor()
    if dry_run:
        return plan(ws, files, settings, retrain_now)
    holder = _acquire(files)
    if holder is not None:
        return CycleStep("busy", "none", f"another `workbench cycle` (process {holder}) is taking a step; "
                                         "this call does nothing (the next one continues)")
    try:
        cycle = open_cycle(ws)
        try:
            if abandon:
                return _abandon(ws, files, cycle, actor)
            if cycle is None:
                return _check(ws, files, settings, actor, retrain_now)
            step = {"retrain": _retrain, "evaluate": _evaluate, "gate": _gate, "shadow": _shadow}[cycle["state"]]
            return step(ws, files, settings, cycle, actor)
        except Exception as exc:  # recorded, so the history says why the cycle stopped moving
            if not isinstance(exc, WorkbenchError):
                log.exception("a cycle step failed")
            text = str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"
            step_name = cycle["state"] if cycle else "check"
            result = CycleStep("error", step_name, f"the {step_name} step failed: {text}; the next call tries "
                               "again (`workbench cycle --abandon` gives the cycle up)",
                               None if cycle is None else cycle["cycle_id"],
                               serving_run_id=None if cycle is None else cycle["serving_run_id"],
                               candidate_run_id=None if cycle is None else cycle.get("candidate_run_id"))
            try:
                record_step(ws, result, outcome="error", actor=actor)
            except Exception:  # the database itself failed: the answer still says why
                log.exception("recording a failed cycle step failed")
            return result
    finally:
        _lock_path(files).unlink(missing_ok=True)


def _abandon(ws, files, cycle, actor) -> CycleStep:
    from workbench.runs.registry import set_shadow, shadow_run
    from workbench.service.sync import sync_workspace

    if cycle is None:
        return CycleStep("idle", "abandon", "no cycle is open; nothing to give up")
    candidate = cycle.get("candidate_run_id")
    if cycle["state"] == "shadow" and candidate and shadow_run(ws) == candidate:
        set_shadow(ws, None, by=f"cycle {cycle['cycle_id']} ({actor})")
        sync_workspace(ws, files)
    result = CycleStep("abandoned", "abandon", f"given up by {actor} at its {cycle['state']} step; the serving "
                       "run stays", cycle["cycle_id"], cycle["trigger"], cycle["serving_run_id"], candidate)
    return record_step(ws, result, outcome="abandoned", actor=actor, cycle=cycle)


# -- step 1: monitor and decide ----------------------------------------------------------------------

def _check(ws, files, settings, actor, retrain_now) -> CycleStep:
    from workbench.service.sync import sync_workspace

    summary = sync_workspace(ws, files)  # the feedback in, the snapshot (and its drift reference) fresh
    serving = summary.serving_run
    report = traffic_report(files, ws, settings)
    fired, figures = decide(ws, report, settings, serving, retrain_now, actor)
    figures["feedback_imported"] = summary.feedback_imported
    crossed = crossed_text(figures)
    if not fired:
        result = CycleStep("idle", "check", f"nothing to do: {crossed}, {figures['new_human_labels']} new "
                           f"human labels; serving run {serving} stays", serving_run_id=serving, figures=figures)
        return record_step(ws, result, outcome="nothing to do", actor=actor)
    result = CycleStep("retrain", "start", f"cycle opened ({'; '.join(fired)}); the next call retrains "
                       f"{candidates_text(ws, settings, serving)}", trigger=fired, serving_run_id=serving,
                       figures=figures)
    return record_step(ws, result, outcome="started", actor=actor)


# -- step 2: retrain ---------------------------------------------------------------------------------

def _retrain(ws, files, settings, cycle, actor) -> CycleStep:
    from workbench.loop.labels import label_counts
    from workbench.loop.retraining import retrain

    specs = candidate_specs(ws, settings, cycle["serving_run_id"])
    new = []
    for spec in specs:
        params = {spec["kind"]: spec["params"]} if spec["params"] else None
        new += retrain(ws, [spec["kind"]], split=spec["split"], sample=spec.get("sample"), params=params,
                       seed=spec.get("seed", 0), department=spec.get("department"))
    counts = label_counts(ws)
    n_train = ws.df("SELECT run_id, count(*) AS n FROM training_sets WHERE part = 'train' AND "
                    "run_id IN (SELECT unnest(?)) GROUP BY run_id", [new]).set_index("run_id")["n"].to_dict()
    figures = {"candidates": new, "labels": {k: v for k, v in counts.items() if k in ("catalog", "human")},
               "train_products": n_train, "specs": [{k: s.get(k) for k in ("kind", "sample", "split", "department")} for s in specs]}
    trained = ", ".join(f"{r} ({n_train.get(r, 0):,} training products)" for r in new)
    result = CycleStep("evaluate", "retrain", f"retrained on {counts.get('catalog', 0):,} catalog and "
                       f"{counts.get('human', 0):,} human labels: {trained}; the next call evaluates",
                       cycle["cycle_id"], cycle["trigger"], cycle["serving_run_id"], figures=figures)
    return record_step(ws, result, outcome="trained", actor=actor, cycle=cycle)


# -- step 3: evaluate on the same truth ---------------------------------------------------------------

def _part_accuracy(ws: Workspace, run_id: str, part: str, serving: str) -> dict[str, Any]:
    from workbench.runs.records import load_predictions
    from workbench.runs.registry import accuracy_on

    pred = load_predictions(ws, run_id, part)
    ids, y_true = pred.product_ids.astype(str), pred.y_true.astype(object)
    mine = float(np.mean(pred.classes[pred.proba.argmax(axis=1)] == y_true))
    theirs = accuracy_on(ws, serving, ids, y_true) if serving != run_id else mine
    return {"n": int(len(ids)), "candidate": mine, "serving": theirs}


def _evaluate(ws, files, settings, cycle, actor) -> CycleStep:
    from workbench.runs.records import get_run
    from workbench.runs.rescore import bring_to_current_truth
    from workbench.runs.truth import current_truth_fingerprint

    serving, candidates = cycle["serving_run_id"], list(cycle["candidate_run_ids"])
    if not candidates:
        raise WorkbenchError("the retrain step left no candidate run")
    status = bring_to_current_truth(ws, [serving, *candidates])
    per = {}
    for run_id in candidates:
        split = str(get_run(ws, run_id)["split"])
        per[run_id] = {"valid": _part_accuracy(ws, run_id, "valid", serving),
                       "test": _part_accuracy(ws, run_id, "test", serving),
                       "truth": current_truth_fingerprint(ws, split), "truth_status": status.get(run_id)}
    best = max(candidates, key=lambda r: per[r]["valid"]["candidate"])
    b = per[best]
    figures = {"runs": per, "serving_truth_status": status.get(serving), "best": best}
    result = CycleStep("gate", "evaluate",
                       f"candidate {best}: validation {b['valid']['candidate']:.4f}, test {b['test']['candidate']:.4f}; "
                       f"serving run {serving} on the same products and current labels (truth {b['truth']}): "
                       f"validation {b['valid']['serving']:.4f}, test {b['test']['serving']:.4f}; "
                       "the next call runs the promotion gate",
                       cycle["cycle_id"], cycle["trigger"], serving, best, figures)
    return record_step(ws, result, outcome="evaluated", actor=actor, cycle=cycle)


# -- step 4: the promotion gate -------------------------------------------------------------------------

def _gate(ws, files, settings, cycle, actor) -> CycleStep:
    from workbench.runs.registry import check_promotion, record_refusal, set_shadow
    from workbench.service.sync import sync_workspace

    candidate, serving = cycle["candidate_run_id"], cycle["serving_run_id"]
    now_serving = serving_run_id(ws)
    if now_serving != serving:
        result = CycleStep("abandoned", "gate", f"the serving run changed to {now_serving} since the cycle began "
                           f"(a person promoted it); candidate {candidate} is not pushed", cycle["cycle_id"],
                           cycle["trigger"], now_serving, candidate)
        return record_step(ws, result, outcome="abandoned", actor=actor, cycle=cycle)
    gate = check_promotion(ws, candidate)
    figures = {"gate": gate.as_dict()}
    if not gate.passed:  # in the serving history too, beside a person's refused `workbench promote`
        record_refusal(ws, candidate, gate, by=f"cycle {cycle['cycle_id']} ({actor})",
                       note=f"retraining cycle {cycle['cycle_id']}: {'; '.join(cycle['trigger'])}")
        result = CycleStep("refused_at_gate", "gate", f"refused at the promotion gate: {'; '.join(gate.reasons)}. "
                           f"The serving run {serving} stays; a person decides (`workbench promote {candidate} "
                           "--force --note ...` overrides)", cycle["cycle_id"], cycle["trigger"], serving,
                           candidate, figures)
        return record_step(ws, result, outcome="refused", actor=actor, cycle=cycle)
    set_shadow(ws, candidate, by=f"cycle {cycle['cycle_id']} ({actor})")
    sync_workspace(ws, files)  # the API takes the shadow up within seconds
    target = _target_text(settings)
    notes = f" ({'; '.join(gate.notes)})" if gate.notes else ""
    result = CycleStep("shadowing", "gate", f"passed the promotion gate: validation {gate.valid_accuracy:.4f} "
                       f"against the serving run's {_fmt(gate.serving_valid_accuracy)} on {gate.n_compared:,} "
                       f"products{notes}; {candidate} now shadows the serving run for {target}",
                       cycle["cycle_id"], cycle["trigger"], serving, candidate, figures)
    return record_step(ws, result, outcome="passed", actor=actor, cycle=cycle)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _target_text(settings) -> str:
    text = f"the next {settings['shadow_requests']:,} requests"
    return text + (f" or {settings['shadow_hours']:g} hours" if settings["shadow_hours"] else "")


# -- step 5: shadow, then promote or keep ----------------------------------------------------------------


def _shadow(ws, files, settings, cycle, actor) -> CycleStep:
    from workbench.runs.registry import PromotionRefused, promote, set_shadow, shadow_run
    from workbench.service.sync import sync_workspace

    candidate, serving = cycle["candidate_run_id"], cycle["serving_run_id"]
    sync_workspace(ws, files)  # the feedback on shadowed requests in
    since = pd.Timestamp(cycle["shadow_since"]).to_pydatetime()
    base = (cycle["cycle_id"], cycle["trigger"], serving, candidate)
    if shadow_run(ws) != candidate or serving_run_id(ws) != serving:
        result = CycleStep("abandoned", "shadow", f"a person changed the serving or shadow run while {candidate} "
                           "shadowed; the cycle ends without promoting", *base)
        return record_step(ws, result, outcome="abandoned", actor=actor, cycle=cycle)
    progress = shadow_progress(files, candidate, since)
    figures = {"shadow": progress, "target_requests": settings["shadow_requests"],
               "target_hours": settings["shadow_hours"]}
    if not shadow_done(progress, settings, since):
        agreement = "" if progress["agreement"] is None else f", agreement so far {progress['agreement']:.3f}"
        result = CycleStep("shadowing", "shadow", f"shadowing: {progress['n']:,} of {settings['shadow_requests']:,} "
                           f"requests{agreement}", *base, figures=figures)
        return record_step(ws, result, outcome="waiting", actor=actor, cycle=cycle)
    reasons, notes = shadow_verdict(progress, settings)
    figures["notes"] = notes
    if reasons:
        set_shadow(ws, None, by=f"cycle {cycle['cycle_id']} ({actor})")
        sync_workspace(ws, files)
        result = CycleStep("refused_in_shadow", "shadow", f"kept the serving run {serving}: the shadow {candidate} "
                           + "; ".join(reasons) + ". A person decides", *base, figures=figures)
        return record_step(ws, result, outcome="refused", actor=actor, cycle=cycle)
    note = (f"cycle {cycle['cycle_id']}: shadow agreement {progress['agreement']:.3f} on {progress['n']:,} requests"
            + (f"; {'; '.join(notes)}" if notes else ""))
    try:
        gate = promote(ws, candidate, by=f"cycle {cycle['cycle_id']} ({actor})", note=note)
    except PromotionRefused as exc:  # the labels changed while it shadowed
        set_shadow(ws, None, by=f"cycle {cycle['cycle_id']} ({actor})")
        sync_workspace(ws, files)
        figures["gate"] = exc.gate.as_dict()
        result = CycleStep("refused_at_gate", "promote", f"the shadow period passed, but the gate now refuses: "
                           f"{'; '.join(exc.gate.reasons)}; the serving run {serving} stays", *base, figures=figures)
        return record_step(ws, result, outcome="refused", actor=actor, cycle=cycle)
    set_shadow(ws, None, by=f"cycle {cycle['cycle_id']} ({actor})")
    sync_workspace(ws, files)  # the API serves the new run within seconds
    figures["gate"] = gate.as_dict()
    result = CycleStep("promoted", "promote", f"promoted {candidate} (was {serving}): {note}", *base, figures=figures)
    return record_step(ws, result, outcome="promoted", actor=actor, cycle=cycle)

