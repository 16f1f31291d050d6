"""Model comparison: the metrics of every evaluated run, their accuracy-coverage curves overlaid,
accuracy per taxonomy level and calibration."""

from __future__ import annotations

import panel as pn

from workbench.app.safe_text import escape_markdown
from workbench.app.state import ComparisonState
from workbench.app.widgets import html_table, no_runs

TITLE = "Model comparison"
ORDER = 10
WARM = True  # rendered once at server start (fills caches, compiles datashader)
PERCENT = ("accuracy", "macro-F1", "hierarchical F1", "coverage @ 90%", "coverage @ 95%", "coverage @ 98%")


def view(ctx):
    """The model comparison page."""
    state = ComparisonState(workspace=ctx.workspace, part=ctx.settings.part)
    if not state.has_runs:
        return no_runs()
    metrics = html_table(state.metrics_table(), percent=PERCENT,
                         decimals=("ECE", "mean tree distance", "train seconds"), css_classes=["wb-metrics"])
    runs = pn.widgets.MultiChoice.from_param(state.param.runs, label="Runs in the figures",
                                             sizing_mode="stretch_width")
    notice = state.sample_notice()
    return pn.Column(
        pn.pane.Markdown(f"## {TITLE}\nEvery evaluated run on the **{ctx.settings.part}** part. "
                         "Coverage @ 95% is the share of products shelved automatically at the "
                         "threshold that keeps 95% accuracy among them."),
        *([pn.pane.Alert(escape_markdown(notice), alert_type="warning", sizing_mode="stretch_width",
                         css_classes=["wb-sample-notice"])] if notice else []),
        metrics, runs,
        # unlinked: the curves zoom on their own accuracy range, the bars start at 0
        pn.FlexBox(pn.pane.HoloViews(state.curves_plot, linked_axes=False),
                   pn.pane.HoloViews(state.level_plot, linked_axes=False),
                   pn.pane.HoloViews(state.calibration_plot, linked_axes=False), gap="1em"),
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-comparison"])
