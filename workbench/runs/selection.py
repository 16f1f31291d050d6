"""Which run is used when nobody names one: one rule for the command line, the API, the
notebooks and every page (:func:`default_run`).

The promoted serving run is the default while one is promoted and its model exists (``workbench
promote``). Otherwise the default is the run with the best validation accuracy among the runs that have a saved model
and are not *flagged*. A run is flagged when it was trained on a sample of the training part
(``workbench train --sample``, the demo's CPU transformer), when its validation accuracy is
below a sanity bar (:data:`SANITY_ACCURACY`), or when it was scored on older labels than the
current ones and could not be re-scored (:mod:`workbench.runs.truth`); a flagged run is never the default while an
unflagged one exists. Ties go to the newest run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.runs.predictor import has_model
from workbench.runs.records import list_runs
from workbench.store import Workspace

#: a run whose validation accuracy is below this is flagged as not fit to serve by default
SANITY_ACCURACY = 0.5


def _valid_accuracy(metrics: Any) -> float:
    valid = (metrics or {}).get("valid") or {}
    value = valid.get("accuracy")
    return float(value) if value is not None else float("nan")


def run_flags(run: dict[str, Any] | pd.Series, *, sanity: float = SANITY_ACCURACY) -> list[str]:
    """Why a run must not be the default (empty when it may be)."""
    flags = []
    sample = run.get("sample")
    if sample is not None and not pd.isna(sample):
        flags.append(f"trained on a sample of {int(sample):,} products")
    accuracy = _valid_accuracy(run.get("metrics"))
    if np.isnan(accuracy):
        flags.append("no validation accuracy")
    elif accuracy < sanity:
        flags.append(f"validation accuracy {accuracy:.1%} is below the sanity bar {sanity:.0%}")
    return flags


def ranked_runs(ws: Workspace, *, need_model: bool = True, sanity: float = SANITY_ACCURACY) -> pd.DataFrame:
    """Every run with ``valid_accuracy``, ``has_model``, ``flags`` and ``eligible``, best first
    (eligible runs first, then by validation accuracy, then newest). ``need_model``: a run
    without a saved model is not eligible."""
    runs = list_runs(ws)
    if runs.empty:
        return runs.assign(valid_accuracy=[], has_model=[], flags=[], eligible=[])
    runs = runs.assign(
        valid_accuracy=runs["metrics"].map(_valid_accuracy),
        has_model=runs["run_id"].map(lambda r: has_model(ws, r)),
        flags=[run_flags(row, sanity=sanity) for _, row in runs.iterrows()],
        order=np.arange(len(runs)),
    )
    from workbench.runs.truth import OLDER, OLDER_FLAG, truth_status

    older = truth_status(ws)
    runs["flags"] = [flags + [OLDER_FLAG] if older.get(r) == OLDER else flags
                     for r, flags in zip(runs["run_id"], runs["flags"])]
    runs["eligible"] = runs["flags"].map(lambda f: not f) & (runs["has_model"] | (not need_model))
    runs = runs.sort_values(["eligible", "valid_accuracy", "order"], ascending=False, na_position="last",
                            kind="mergesort")
    return runs.drop(columns="order").reset_index(drop=True)


def promoted_run(ws: Workspace) -> dict[str, Any] | None:
    """The newest promotion (``run_id, event_at, actor, forced``) whose run still has its model,
    or ``None`` when nothing is promoted (:mod:`workbench.runs.registry` records promotions)."""
    if not ws.has_table("serving_events"):
        return None
    promoted = ws.df("SELECT run_id, event_at, actor, forced FROM serving_events WHERE event = 'promote' "
                     "ORDER BY event_at DESC, event_id DESC")
    for row in promoted.to_dict("records"):
        if has_model(ws, str(row["run_id"])):
            return {**row, "run_id": str(row["run_id"]), "forced": bool(row["forced"])}
    return None


def default_run(ws: Workspace, *, need_model: bool = True, sanity: float = SANITY_ACCURACY,
                warn=None, among=None, promoted: bool = True) -> str:
    """The run used when none is named: the promoted serving run (see :func:`promoted_run`),
    else the module's rule.

    ``need_model``: only runs with a saved model count (classifying needs the model; pages that
    only read predictions pass ``False``). ``among``: only these runs count (a page passes its
    evaluated runs). ``promoted=False``: the rule alone (the registry, to say what would serve
    without a promotion). When every candidate is flagged, the best flagged run is used and
    ``warn`` (e.g. ``print``) is told why.
    """
    allowed = None if among is None else {str(r) for r in among}
    if promoted:
        serving = promoted_run(ws)
        if serving is not None and (allowed is None or serving["run_id"] in allowed):
            return serving["run_id"]
    runs = ranked_runs(ws, need_model=need_model, sanity=sanity)
    if need_model:
        runs = runs[runs["has_model"]]
    if allowed is not None:
        runs = runs[runs["run_id"].isin(allowed)]
    if runs.empty:
        what = "with a saved model " if need_model else ""
        raise WorkbenchError(f"no run {what}in {ws.path}; train one with `workbench train`")
    best = runs.iloc[0]
    if not best["eligible"] and warn is not None:
        warn(f"every run is flagged; using {best['run_id']} ({'; '.join(best['flags'])}). "
             "Train on the full training part for a run fit to be the default.")
    return str(best["run_id"])
