"""The retraining cycle's record: each step's result (:class:`CycleStep`), the open cycle, its
history, and the one write that records a decision (``cycles``, ``cycle_events``)."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import pandas as pd

from workbench.runs.evaluation import json_ready
from workbench.service.log import utc_now
from workbench.store import Workspace

#: the states of an open cycle, in order (the step the next call takes)
OPEN_STATES = ("retrain", "evaluate", "gate", "shadow")
#: what the states of a call's answer mean for a cron job: 0 fine, 1 a person must decide, 2 error
EXIT_CODES = {"idle": 0, "busy": 0, "retrain": 0, "evaluate": 0, "gate": 0, "shadowing": 0, "promoted": 0,
              "abandoned": 0, "refused_at_gate": 1, "refused_in_shadow": 1, "error": 2}


@dataclass
class CycleStep:
    """What one call of :func:`run_cycle` did (or, in a dry run, would do)."""

    state: str
    step: str
    message: str
    cycle_id: int | None = None
    trigger: list[str] = field(default_factory=list)
    serving_run_id: str | None = None
    candidate_run_id: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        """0: nothing to do, advanced or waiting; 1: a person must decide (refused); 2: error."""
        return EXIT_CODES.get(self.state, 2)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the exit code."""
        return {"state": self.state, "step": self.step, "message": self.message, "cycle_id": self.cycle_id,
                "trigger": list(self.trigger), "serving_run_id": self.serving_run_id,
                "candidate_run_id": self.candidate_run_id, "figures": json_ready(self.figures, dates=True),
                "dry_run": self.dry_run, "exit_code": self.exit_code}

    def __str__(self) -> str:
        head = f"cycle {self.cycle_id} [{self.state}]" if self.cycle_id is not None else f"[{self.state}]"
        return f"{'dry run: ' if self.dry_run else ''}{head}: {self.message}"


def default_actor() -> str:
    """Who starts a call when nobody is named: ``$WORKBENCH_ACTOR``, else the system user."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment
        user = "unknown"
    return os.environ.get("WORKBENCH_ACTOR") or user


def open_cycle(ws: Workspace) -> dict[str, Any] | None:
    """The cycle still in progress (its row of ``cycles``), or ``None``."""
    rows = ws.df("SELECT * FROM cycles WHERE state IN (SELECT unnest(?)) ORDER BY cycle_id DESC LIMIT 1",
                 [list(OPEN_STATES)])
    if rows.empty:
        return None
    row = rows.iloc[0].to_dict()
    row["trigger"] = json.loads(row["trigger"]) if isinstance(row["trigger"], str) else []
    row["candidate_run_ids"] = (json.loads(row["candidate_run_ids"]) if isinstance(row["candidate_run_ids"], str)
                                else [])
    row["cycle_id"] = int(row["cycle_id"])
    return {k: (None if not isinstance(v, (list, dict)) and pd.isna(v) else v) for k, v in row.items()}


def cycle_history(ws: Workspace, limit: int | None = 200) -> pd.DataFrame:
    """Every recorded decision, newest first: when, cycle, step, state after it, outcome, trigger,
    serving and candidate runs, who started the call, the message and the figures (decoded)."""
    sql = ("SELECT event_id, event_at, cycle_id, step, state, outcome, \"trigger\", serving_run_id, "
           "candidate_run_id, actor, message, figures FROM cycle_events ORDER BY event_at DESC, event_id DESC")
    frame = ws.df(sql + (" LIMIT ?" if limit else ""), [int(limit)] if limit else [])
    frame["figures"] = frame["figures"].map(lambda v: json.loads(v) if isinstance(v, str) else {})
    return frame


def cycles(ws: Workspace) -> pd.DataFrame:
    """Every cycle, newest first, with its state, trigger, runs, outcome and reason."""
    frame = ws.df("SELECT * FROM cycles ORDER BY cycle_id DESC")
    for col in ("trigger", "candidate_run_ids"):
        frame[col] = frame[col].map(lambda v: json.loads(v) if isinstance(v, str) else [])
    return frame


def record_step(ws: Workspace, result: CycleStep, *, outcome: str, actor: str,
            cycle: Mapping[str, Any] | None = None) -> CycleStep:
    """Write the decision (and the cycle's new state) in one transaction; returns ``result``."""
    now = utc_now()
    figures = json.dumps(json_ready(result.figures, dates=True))
    with ws.transaction() as cur:
        if result.cycle_id is None and result.state in OPEN_STATES:  # a new cycle
            result.cycle_id = int(cur.execute("SELECT nextval('cycles_seq')").fetchone()[0])
            cur.execute("INSERT INTO cycles (cycle_id, state, started_at, started_by, \"trigger\", serving_run_id, "
                        "candidate_run_ids, updated_at) VALUES (?, ?, ?, ?, ?, ?, '[]', ?)",
                        [result.cycle_id, result.state, now, actor, json.dumps(result.trigger),
                         result.serving_run_id, now])
        elif cycle is not None:
            state = "shadow" if result.state == "shadowing" else result.state
            closed = state not in OPEN_STATES
            cur.execute("UPDATE cycles SET state = ?, updated_at = ?, candidate_run_ids = coalesce(?, candidate_run_ids), "
                        "candidate_run_id = coalesce(?, candidate_run_id), "
                        "shadow_since = CASE WHEN ? THEN ? ELSE shadow_since END, "
                        "finished_at = CASE WHEN ? THEN ? ELSE finished_at END, "
                        "outcome = CASE WHEN ? THEN ? ELSE outcome END, reason = CASE WHEN ? THEN ? ELSE reason END "
                        "WHERE cycle_id = ?",
                        [state, now, json.dumps(result.figures["candidates"]) if "candidates" in result.figures
                         and result.step == "retrain" else None, result.candidate_run_id,
                         result.step == "gate" and state == "shadow", now, closed, now, closed, result.state,
                         closed, result.message, int(cycle["cycle_id"])])
        cur.execute("INSERT INTO cycle_events (cycle_id, event_at, step, state, outcome, actor, \"trigger\", "
                    "serving_run_id, candidate_run_id, figures, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [result.cycle_id, now, result.step, result.state, outcome, actor, "; ".join(result.trigger),
                     result.serving_run_id, result.candidate_run_id, figures, result.message])
    return result
