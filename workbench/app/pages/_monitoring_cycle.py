"""The Monitoring page's "Cycle history" section: every decision of the retraining loop
(``workbench cycle``), and for admins a button that starts one step as a separate process; the
server refuses the start without the ``run_cycle`` right, whatever the button shows."""

from __future__ import annotations

import panel as pn

from workbench.app.state.cycle import CycleState
from workbench.app.widgets import alert, empty_state_html, html, html_table
from workbench.errors import WorkbenchError

EMPTY = ("No cycle decision recorded yet: each call of the retraining cycle (e.g. from cron) records what it "
         "judged, what it started, and why a run was or was not promoted.")


def history_view(state: CycleState, refreshed=0):
    """The history table (bound to the state's refresh counter); caller text is escaped by the table."""
    frame = state.history()
    if frame.empty:
        return html(empty_state_html(EMPTY, "workbench cycle", "wb-cycle-empty"))
    return html_table(frame, css_classes=["wb-cycle-history"])


def message_view(message: str, kind: str):
    """The answer to the last start."""
    return alert(message, kind) if message else None


def start_cycle(ctx, state: CycleState) -> None:
    """The button's action: checked on the server (``run_cycle``), then a separate process."""
    try:
        ctx.require("run_cycle")  # the role read again now, whatever the button showed
    except WorkbenchError as exc:
        state.message_kind, state.message = "danger", str(exc)
        return
    try:
        state.start(by=f"{ctx.actor} (Monitoring page)")
    except OSError as exc:
        state.message_kind, state.message = "danger", f"could not start `workbench cycle`: {exc}"


def cycle_section(ctx) -> pn.Column:
    """The "Cycle history" section with its admin-only start button."""
    state = CycleState(workspace=ctx.workspace)
    allowed = ctx.may("run_cycle")
    start = pn.widgets.Button(label="Run one cycle step now", button_type="primary", disabled=not allowed, width=240,
                              css_classes=["wb-cycle-start"], description=None if allowed else "admins only")
    pn.bind(lambda _: start_cycle(ctx, state), start, watch=True)
    refresh = pn.widgets.Button(label="Refresh", width=120, css_classes=["wb-cycle-refresh"])
    pn.bind(lambda _: setattr(state, "refreshed", state.refreshed + 1), refresh, watch=True)
    note = pn.pane.Markdown("The retraining loop on its own: `workbench cycle` monitors, retrains, gates, "
                            "shadows and promotes one step per call (cron). "
                            + ("" if allowed else "Only admins may start a step here."))
    section = pn.Column(pn.pane.Markdown("### Cycle history"), note, pn.Row(start, refresh),
                        pn.panel(pn.bind(message_view, state.param.message, state.param.message_kind)),
                        pn.panel(pn.bind(history_view, state, state.param.refreshed), sizing_mode="stretch_width"),
                        sizing_mode="stretch_width", css_classes=["wb-cycle"])
    section.state = state
    return section
