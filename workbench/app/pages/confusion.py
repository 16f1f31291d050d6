"""Sibling confusion: pick any parent node; a heat map of the confusion among its children, the
most confused pairs, and example product titles for them. A click on a cell lists its products."""

from __future__ import annotations

import holoviews as hv
import panel as pn

from workbench.app.drill import clickable
from workbench.app.product_table import ProductTable
from workbench.app.state import ConfusionState
from workbench.app.widgets import html_table, intro, no_runs, run_select

TITLE = "Sibling confusion"
ORDER = 30
HOW = ("rows: the child of the chosen parent that holds the true category; columns: where the model put it; "
       "colour: the share of the row. A dark cell off the diagonal is a pair the model mixes up. "
       "<b>Click a cell</b> to see its products.")
WARM = True  # rendered once at server start (fills caches, compiles datashader)


def view(ctx):
    """The sibling confusion page."""
    state = ConfusionState(workspace=ctx.workspace, part=ctx.settings.part)
    if state.run_id is None:
        return no_runs()
    parent = pn.widgets.Select.from_param(state.param.parent, width=420, css_classes=["wb-parent"])
    outside = pn.widgets.Checkbox.from_param(state.param.include_outside)

    chosen = (state.param.parent, state.param.run_id)
    children = html_table(pn.bind(lambda *_: state.children(), *chosen), percent=("accuracy",),
                          css_classes=["wb-children"])
    pairs = html_table(pn.bind(lambda *_: state.confused_pairs(), *chosen), percent=("share of true",),
                       css_classes=["wb-pairs"])
    examples = html_table(pn.bind(lambda *_: state.pair_examples(), *chosen), percent=("confidence",),
                          css_classes=["wb-examples"])
    products = ProductTable(ctx, hint="Click a cell of the heat map to list its products.")

    heatmap, tap = clickable(hv.DynamicMap(state.heatmap), "predicted", "true")

    def on_tap(x=None, y=None):
        if x is not None and y is not None:
            products.show(state.cell(x, y))

    tap.add_subscriber(on_tap)

    pn.bind(lambda *_: products.show(None), *chosen, watch=True)  # the listed cell is gone
    layout = pn.Column(
        intro(TITLE, HOW),
        pn.Row(run_select(state, ctx), parent, outside),
        pn.FlexBox(pn.pane.HoloViews(heatmap, css_classes=["wb-heatmap"]),
                   pn.Column(pn.pane.Markdown("### Children"), children, min_width=320, max_width=520),
                   gap="1em", sizing_mode="stretch_width"),
        pn.pane.Markdown("### Products of the selected cell"), products,
        pn.pane.Markdown("### Most confused pairs"), pairs,
        pn.pane.Markdown("### Example products of those pairs"), examples,
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-confusion"])
    layout.state, layout.products, layout.tap = state, products, tap  # for tests and notebooks
    layout.follows = True  # the run picker follows ctx.news
    return layout
