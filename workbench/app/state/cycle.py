"""State of the Monitoring page's "Cycle history": the decisions ``workbench cycle`` recorded,
and the process an admin started from the page (never a step inside the server)."""

from __future__ import annotations

import pandas as pd
import param

from workbench.store import Workspace

#: the words of a state in the history table
STATE_TEXT = {"idle": "nothing to do", "retrain": "opened: retrains next", "evaluate": "trained: evaluates next",
              "gate": "evaluated: gate next", "shadowing": "shadowing", "promoted": "promoted",
              "refused_at_gate": "refused at the gate", "refused_in_shadow": "refused in shadow",
              "abandoned": "abandoned", "error": "error", "busy": "busy"}


class CycleState(param.Parameterized):
    """The history shown, and the answer to the last start."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    refreshed = param.Integer(default=0, doc="bumped when the history should be read again")
    message = param.String(default="", doc="the answer to the last start")
    message_kind = param.Selector(default="info", objects=["info", "success", "danger", "warning"])

    def history(self, limit: int = 30) -> pd.DataFrame:
        """The newest recorded decisions, for people: when, cycle, step, state, trigger, runs, by, message."""
        from workbench.service.cycle_records import cycle_history

        frame = cycle_history(self.workspace, limit=limit)
        if frame.empty:
            return frame
        return pd.DataFrame({
            "when (UTC)": pd.to_datetime(frame["event_at"]).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "cycle": frame["cycle_id"].map(lambda v: "" if pd.isna(v) else str(int(v))),
            "step": frame["step"], "state": frame["state"].map(lambda s: STATE_TEXT.get(s, s)),
            # a cycle's trigger is said once, where it opened
            "trigger": frame["trigger"].fillna("").where(frame["step"].isin(["start", "check"]), ""), "candidate": frame["candidate_run_id"].fillna(""),
            "serving": frame["serving_run_id"].fillna(""), "by": frame["actor"].fillna(""),
            "decision": frame["message"].fillna("")})

    def start(self, by: str) -> int:
        """Start ``workbench cycle`` (one step) as a separate process; returns its pid."""
        from workbench.service.cycle_shadow import start_cycle_process

        proc = start_cycle_process(self.workspace.path, by=by)
        self.message_kind = "success"
        self.message = (f"Started workbench cycle as process {proc.pid}: it takes one step and records its "
                        "decision in the history below (Refresh to read it).")
        return proc.pid
