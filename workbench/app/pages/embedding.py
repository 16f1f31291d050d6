"""Embedding map: the 2-D UMAP projection of the products, coloured by category (a searchable
highlight when there are too many for a legend) or by right/wrong; hovering a product shows its
title, category and photo; a box or lasso selection lists the products inside. Rasterised with
datashader above 50,000 points."""

from __future__ import annotations

import panel as pn

from workbench.app.product_table import ProductTable
from workbench.security.safe_text import choice_options
from workbench.app.state import MapState
from workbench.app.state.embedding import COLOR_OUTCOME
from workbench.app.widgets import empty_state, intro, run_select
from workbench.plots.embedding import LEGEND_MAX

TITLE = "Embedding map"
ORDER = 50
HOW = ("each dot is a product, placed by what its title means: products close together read alike. Colour by "
       "category to find mixed regions, or by right / wrong to see where the model fails; <b>draw a box or a "
       "lasso</b> (toolbar) to list the products inside.")
WARM = True  # rendered once at server start (fills caches, compiles datashader)


def view(ctx):
    """The embedding map page."""
    state = MapState(workspace=ctx.workspace, part=ctx.settings.part)
    if not state.has_projection:
        return empty_state("No map yet: this workspace has no 2-D projection of its products.",
                           ["workbench embed", "workbench project"])
    names = state.level_names()
    level = pn.widgets.Select(label="Category level", options={f"{i}. {n}": i for i, n in names.items()},
                              value=state.level, width=220)
    level.link(state, value="level")
    color = pn.widgets.RadioButtonGroup.from_param(state.param.color_by)
    highlight = pn.widgets.MultiChoice(label="Highlight categories (type to search)",
                                       options=pn.bind(lambda _: choice_options(state.categories()), state.param.level),
                                       value=pn.bind(lambda _: [], state.param.level),
                                       disabled=pn.bind(lambda by: by == COLOR_OUTCOME, state.param.color_by),
                                       search_option_limit=30, option_limit=200, width=420,
                                       placeholder="Search categories…", css_classes=["wb-highlight"])
    highlight.link(state, value="highlight")
    controls = [pn.widgets.Select.from_param(state.param.model, width=260), color, level, highlight]
    if state.run_id is not None:
        runs = run_select(state, ctx, name="Run (right / wrong, and a selection's predictions)")
        controls.append(runs)
    products = ProductTable(ctx, hint="Draw a box or a lasso on the map (toolbar) to list the products inside.")
    state.on_selection = products.show
    n = state.n_points()
    mode = "rasterised with datashader" if n > state.rasterize_above else "one glyph per product"
    legend = (f"With more than {LEGEND_MAX} categories at a level the legend gives way to the highlight: "
              "pick categories to draw them in colour and the rest in grey.")
    layout = pn.Column(
        intro(TITLE, HOW, f"{n:,} products, {mode}. Hover a product for its title, category and photo; zoom "
                          f"with the mouse wheel. Only products of the run's test part have a prediction. {legend}"),
        pn.FlexBox(*controls, gap="0.5em", sizing_mode="stretch_width"), pn.panel(state.plot),
        pn.pane.Markdown("### Products of the selection"), products,
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-map"])
    layout.state, layout.products = state, products
    layout.follows = True  # the run picker follows ctx.news
    return layout
