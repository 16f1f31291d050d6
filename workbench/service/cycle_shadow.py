"""The retraining cycle outside its state machine: how far a candidate run has shadowed the
serving run and whether it may be promoted (agreement, and accuracy where feedback exists), and
the separate process the dashboards' button starts."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any, Mapping

import numpy as np

from workbench.service.files import ServiceFiles, private_dir
from workbench.service.log import read_log, utc_now


def shadow_progress(files: ServiceFiles, run_id: str, since: datetime) -> dict[str, Any]:
    """How the shadow run did on the requests since ``since``: requests scored, agreement with
    the serving run's top-1, and both runs' accuracy where feedback named the right category."""
    preds = read_log(files, "predictions", since=since)
    scored = preds[(preds["shadow_run_id"] == run_id) & preds["shadow_category"].notna()] if len(preds) else preds
    out: dict[str, Any] = {"n": int(len(scored)), "agreement": None, "n_labelled": 0,
                           "serving_accuracy": None, "shadow_accuracy": None}
    if scored.empty:
        return out
    out["agreement"] = float((scored["shadow_category"] == scored["category"]).mean())
    feedback = read_log(files, "feedback", since=since)
    if len(feedback):
        latest = feedback.sort_values("time").drop_duplicates("prediction_id", keep="last")
        truth = latest.dropna(subset=["category"]).set_index("prediction_id")["category"]
        known = scored[scored["prediction_id"].isin(truth.index)]
        if len(known):
            right = truth.loc[known["prediction_id"]].to_numpy()
            out.update(n_labelled=int(len(known)),
                       serving_accuracy=float(np.mean(known["category"].to_numpy() == right)),
                       shadow_accuracy=float(np.mean(known["shadow_category"].to_numpy() == right)))
    return out


def shadow_verdict(progress: Mapping[str, Any], settings: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """``(reasons to keep the serving run, notes)`` for a finished shadow period."""
    reasons, notes = [], []
    if progress["agreement"] is None or progress["agreement"] < settings["min_agreement"]:
        agreement = "no scored request" if progress["agreement"] is None else f"{progress['agreement']:.3f}"
        reasons.append(f"its top-1 agreed with the serving run's on {agreement} of {progress['n']:,} requests "
                       f"(at least {settings['min_agreement']:.2f} needed)")
    if progress["n_labelled"] >= max(1, settings["min_feedback"]):
        if progress["shadow_accuracy"] < progress["serving_accuracy"]:
            reasons.append(f"on the {progress['n_labelled']} shadowed requests with feedback it was right "
                           f"{progress['shadow_accuracy']:.3f} of the time, the serving run {progress['serving_accuracy']:.3f}")
        else:
            notes.append(f"feedback on {progress['n_labelled']} shadowed requests: shadow {progress['shadow_accuracy']:.3f}, "
                         f"serving {progress['serving_accuracy']:.3f}")
    else:
        notes.append(f"accuracy not compared: {progress['n_labelled']} shadowed requests had feedback with a "
                     f"category (at least {settings['min_feedback']} needed)")
    return reasons, notes


def shadow_done(progress, settings, since) -> bool:
    """Whether the shadow has run long enough: the configured requests, or hours since it began."""
    if progress["n"] >= settings["shadow_requests"]:
        return True
    hours = settings["shadow_hours"]
    return bool(hours) and progress["n"] > 0 and (utc_now() - since) >= timedelta(hours=hours)


def start_cycle_process(workspace: str | os.PathLike, by: str) -> subprocess.Popen:
    """Start ``workbench cycle --json`` for ``workspace`` as a separate process (never inside the
    calling server), its output in ``<workspace>/service/cycle-runs/``; returns the process."""
    files = ServiceFiles(workspace)
    folder = files.root / "cycle-runs"
    private_dir(folder)
    out = folder / f"{utc_now():%Y%m%dT%H%M%S%f}.log"
    command = [sys.executable, "-m", "workbench.cli.main", "cycle", "--workspace", str(files.workspace),
               f"--by={by}", "--json"]  # "=": a user name that starts with "-" stays a value
    with open(out, "wb") as fh:
        os.chmod(out, 0o600)
        return subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True)
