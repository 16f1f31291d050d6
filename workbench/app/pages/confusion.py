"""Sibling confusion: pick any parent node; a heat map of the confusion among its children, the
most confused pairs, and example product titles for them."""

from __future__ import annotations

import panel as pn

from workbench.app.state import ConfusionState
from workbench.app.widgets import html_table, no_runs, run_select

TITLE = "Sibling confusion"
ORDER = 30
WARM = True  # rendered once at server start (fills caches, compiles datashader)


def view(ctx):
    """The sibling confusion page."""
    state = ConfusionState(workspace=ctx.workspace, part=ctx.settings.part)
    if state.run_id is None:
        return no_runs()
    parent = pn.widgets.Select.from_param(state.param.parent, width=420, css_classes=["wb-parent"])
    outside = pn.widgets.Checkbox.from_param(state.param.include_outside)

    children = html_table(state.children(), percent=("accuracy",), css_classes=["wb-children"])
    pairs = html_table(state.confused_pairs(), percent=("share of true",), css_classes=["wb-pairs"])
    examples = html_table(state.pair_examples(), decimals=("confidence",), css_classes=["wb-examples"])

    def refresh(*_):
        children.object = state.children()
        pairs.object = state.confused_pairs()
        examples.object = state.pair_examples()

    state.param.watch(refresh, ["parent", "run_id"])
    return pn.Column(
        pn.pane.Markdown(f"## {TITLE}\nRows: the child of the chosen parent that holds the true "
                         "category; columns: where the model put it. Colour: share of the row."),
        pn.Row(run_select(state, ctx.workspace, ctx.settings.part), parent, outside),
        pn.Row(pn.panel(state.heatmap),
               pn.Column(pn.pane.Markdown("### Children"), children, sizing_mode="stretch_width"),
               sizing_mode="stretch_width"),
        pn.pane.Markdown("### Most confused pairs"), pairs,
        pn.pane.Markdown("### Example products of those pairs"), examples,
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-confusion"])
