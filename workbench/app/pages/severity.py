"""Error severity: the distribution of tree distance between predicted and true category per run,
and the worst errors of one run with their titles and both paths."""

from __future__ import annotations

import panel as pn

from workbench.app.state import SeverityState
from workbench.app.widgets import no_runs, run_select, table

TITLE = "Error severity"
ORDER = 40
WARM = True  # rendered once at server start (fills caches, compiles datashader)


def view(ctx):
    """The error severity page."""
    state = SeverityState(workspace=ctx.workspace, part=ctx.settings.part)
    if state.run_id is None:
        return no_runs()
    errors_only = pn.widgets.Checkbox.from_param(state.param.errors_only)
    k = pn.widgets.IntInput.from_param(state.param.k, width=140)
    worst = table(state.worst_errors(), decimals=("confidence",), page_size=25, css_classes=["wb-worst"])
    state.param.watch(lambda *_: setattr(worst, "value", state.worst_errors()), ["run_id", "k"])
    return pn.Column(
        pn.pane.Markdown(f"## {TITLE}\nTree distance between the predicted and the true category: "
                         "0 is right, 2 is a sibling (a near miss), the largest distances cross "
                         "departments (embarrassing misses)."),
        errors_only, pn.panel(state.plot),
        pn.pane.Markdown("### Worst errors"), pn.Row(run_select(state, ctx.workspace, ctx.settings.part), k),
        worst, sizing_mode="stretch_width", css_classes=["wb-page", "wb-severity"])
