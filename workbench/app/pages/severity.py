"""Error severity: the distribution of tree distance between predicted and true category per run
(a click on a bar lists its products), and the worst errors of one run with photos and both paths."""

from __future__ import annotations

import holoviews as hv
import panel as pn

from workbench.app.factor_tap import FactorTap
from workbench.app.product_table import ProductTable
from workbench.app.state import SeverityState
from workbench.app.widgets import intro, no_runs, run_select, table

TITLE = "Error severity"
ORDER = 40
HOW = ("each bar is the share of a run's test part at one tree distance between the predicted and the true "
       "category: 0 is right, 2 a sibling (a near miss), the largest cross departments (embarrassing misses). "
       "<b>Click a bar</b> to see its products.")
WARM = True  # rendered once at server start (fills caches, compiles datashader)


def view(ctx):
    """The error severity page."""
    state = SeverityState(workspace=ctx.workspace, part=ctx.settings.part, news=ctx.news.param.runs)
    if state.run_id is None:
        return no_runs()
    errors_only = pn.widgets.Checkbox.from_param(state.param.errors_only)
    k = pn.widgets.IntInput.from_param(state.param.k, width=140)
    worst = table(state.worst_errors(), percent=("confidence",), page_size=10, hidden_columns=["product_id"],
                  formatters={"photo": {"type": "html"}}, widths={"photo": 84, "distance": 90, "confidence": 110},
                  css_classes=["wb-worst"])
    worst.value = pn.bind(lambda *_: state.worst_errors(), state.param.run_id, state.param.k)
    products = ProductTable(ctx, hint="Click a bar to list the products at that distance.")
    bars = hv.DynamicMap(state.plot)
    tap = FactorTap(source=bars, x=None, y=None)  # the bar clicked, not factors[int(x)]
    tap.add_subscriber(lambda x=None, y=None: products.show(state.bar(x)) if x is not None else None)
    layout = pn.Column(
        intro(TITLE, HOW),
        errors_only, pn.pane.HoloViews(bars, css_classes=["wb-severity-plot"]),
        pn.pane.Markdown("### Products of the selected bar"), products,
        pn.pane.Markdown("### Worst errors"), pn.Row(run_select(state, ctx), k),
        worst, sizing_mode="stretch_width", css_classes=["wb-page", "wb-severity"])
    layout.state, layout.products, layout.tap = state, products, tap
    layout.follows = True  # the run picker follows ctx.news
    return layout
