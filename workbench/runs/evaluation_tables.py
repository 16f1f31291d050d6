"""The evaluation tables of a workspace: written once per (run, part) by ``evaluate_run``,
read by dashboards and notebooks (which never recompute them).

``evaluations`` holds the headline metrics as JSON; the ``eval_*`` tables hold the curve
(downsampled), per-leaf figures, severity, calibration, per-level accuracy, leaf confusion
counts, the worst errors and per-category thresholds. Re-evaluating replaces a run's rows.

Every row is keyed by ``(run_id, part)``. An evaluation under a decision rule other than the
argmax is stored under the part ``<part>@<decision>`` (``test@min-risk``): it sits beside the
argmax figures of the same run, and every reader of ``part = 'test'`` keeps seeing exactly
the argmax ones (:func:`evaluation_part`).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Sequence

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.store import Workspace
from workbench.store.frames import registered


# table -> its columns after (run_id, part), in the frames' and the DDL's order
EVAL_COLUMNS: dict[str, list[str]] = {
    "eval_curve": ["threshold", "coverage", "accuracy", "n_covered"],
    "eval_per_leaf": ["leaf", "precision", "recall", "f1", "support", "n_predicted"],
    "eval_severity": ["distance", "share", "n"],
    "eval_calibration": ["bin", "lower", "upper", "mean_confidence", "accuracy", "count"],
    "eval_level_accuracy": ["level", "level_name", "accuracy", "n", "precision_macro", "recall_macro",
                            "f1_macro", "precision_micro", "recall_micro", "f1_micro"],
    "eval_per_node": ["level", "node", "precision", "recall", "f1", "support", "n_predicted"],
    "eval_confusion": ["true_leaf", "predicted_leaf", "n"],
    "eval_worst_errors": ["product_id", "true_leaf", "predicted_leaf", "confidence", "distance"],
    "eval_category_thresholds": ["target", "by", "node", "support", "threshold", "source", "coverage",
                                 "accuracy", "n_covered"],
}


def evaluation_part(part: str, decision: str = "argmax") -> str:
    """The stored ``part`` key of an evaluation: ``test`` for the argmax, ``test@min-risk`` for
    the min-risk decision rule."""
    return part if decision == "argmax" else f"{part}@{decision}"


def store_evaluation(ws: Workspace, run_id: str, part: str, metrics: dict[str, Any],
                     tables: dict[str, pd.DataFrame], truth: str | None = None) -> None:
    """Replace the stored evaluation of ``(run_id, part)`` in one transaction; ``truth`` is the
    fingerprint of the labels it was scored on (also recorded on the run,
    :mod:`workbench.runs.truth`)."""
    with ws.transaction() as cur:
        for table in ["evaluations", *EVAL_COLUMNS]:
            cur.execute(f"DELETE FROM {table} WHERE run_id = ? AND part = ?", [run_id, part])
        cur.execute("INSERT INTO evaluations (run_id, part, metrics, evaluated_at, truth) VALUES (?, ?, ?, ?, ?)",
                    [run_id, part, json.dumps(metrics), datetime.now(timezone.utc), truth])
        if truth is not None:
            cur.execute("UPDATE runs SET truth = ? WHERE run_id = ?", [truth, run_id])
        for table, columns in EVAL_COLUMNS.items():
            frame = tables[table][columns]
            select = ", ".join(f'"{c}"' for c in columns)
            with registered(cur, "_eval_rows", frame):
                cur.execute(f"INSERT INTO {table} (run_id, part, {select}) SELECT ?, ?, {select} FROM _eval_rows",
                            [run_id, part])


def stored_metrics(ws: Workspace, run_id: str, part: str = "test",
                   decision: str = "argmax") -> dict[str, Any] | None:
    """The stored headline metrics of a run's part (under a decision rule), or ``None`` when it
    was never evaluated so."""
    if not ws.has_table("evaluations"):
        return None
    raw = ws.scalar("SELECT metrics FROM evaluations WHERE run_id = ? AND part = ?",
                    [run_id, evaluation_part(part, decision)])
    return json.loads(raw) if raw is not None else None


def stored_table(ws: Workspace, table: str, run_ids: Sequence[str] | None = None,
                 part: str = "test", decision: str = "argmax") -> pd.DataFrame:
    """Rows of an evaluation table (``eval_curve``, ``eval_severity``, ``eval_level_accuracy``,
    ...) for the given runs (default: every evaluated run), with a ``model`` column."""
    part = evaluation_part(part, decision)
    if table not in EVAL_COLUMNS:
        raise WorkbenchError(f"unknown evaluation table {table!r}; one of {', '.join(EVAL_COLUMNS)}")
    if not ws.has_table(table):
        raise WorkbenchError(f"no {table} in {ws.path} yet; run `workbench evaluate --all` first")
    sql = (f"SELECT t.*, r.model FROM {table} t JOIN runs r USING (run_id) WHERE t.part = ? "  # fixed names
           "AND coalesce(r.complete, TRUE)"
           + (" AND t.run_id IN (SELECT unnest(?))" if run_ids else "") + " ORDER BY r.started_at, t.run_id")
    return ws.df(sql, [part, list(run_ids)] if run_ids else [part])
