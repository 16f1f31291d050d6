"""Per category: every leaf with support, precision, recall, F1, the threshold that reaches the
target accuracy among its products and the coverage at it, and its most confused sibling;
sortable and searchable. A click on a row lists the category's products."""

from __future__ import annotations

import panel as pn

from workbench.app.product_table import ProductTable
from workbench.app.state.categories import CategoryState
from workbench.app.widgets import intro, no_runs, run_select, table

TITLE = "Categories"
ORDER = 15
HOW = ("one row per leaf category of the test part, weakest F1 first (click a header to sort): a low precision "
       "means other products land here, a low recall that this category's products land elsewhere. "
       "<b>Click a row</b> to see its products.")


def view(ctx):
    """The per-category page."""
    state = CategoryState(workspace=ctx.workspace, part=ctx.settings.part)
    if state.run_id is None:
        return no_runs()
    search = pn.widgets.TextInput.from_param(state.param.search, placeholder="Search categories… (any part of "
                                             "the path)", width=420, css_classes=["wb-category-search"])
    target = pn.widgets.Select.from_param(state.param.target, width=160)
    leaves = table(state.table(), percent=("precision", "recall", "F1", "coverage"), decimals=("threshold",),
                   page_size=20, css_classes=["wb-categories"])
    leaves.value = pn.bind(lambda *_: state.table(), state.param.run_id, state.param.target, state.param.search)
    products = ProductTable(ctx, hint="Click a category to list its products and the ones predicted as it.")

    def clicked_row(event):
        if 0 <= event.row < len(leaves.value):
            products.show(state.products(str(leaves.value.iloc[event.row]["category"])))

    leaves.on_click(clicked_row)  # a click on a row is an event of the table (no parameter holds it)
    layout = pn.Column(
        intro(TITLE, HOW, "<i>Threshold</i>: the confidence that keeps the target accuracy among the products "
                          "predicted there (a category with few products uses the global one); <i>coverage</i>: "
                          "the share of them shelved at it. Hover a path for the whole of it."),
        pn.FlexBox(run_select(state, ctx), target, search, gap="0 1em"), leaves,
        pn.pane.Markdown("### Products of the selected category"), products,
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-categories-page"])
    layout.state, layout.products = state, products
    layout.follows = True  # the run picker follows ctx.news
    return layout
