"""Embedding map: the 2-D UMAP projection of the products, coloured by category or by right/wrong;
hover shows the title and category; rasterised with datashader above 50,000 points."""

from __future__ import annotations

import panel as pn

from workbench.app.state import MapState
from workbench.app.state.embedding import COLOR_OUTCOME
from workbench.app.widgets import alert, run_select

TITLE = "Embedding map"
ORDER = 50
WARM = True  # rendered once at server start (fills caches, compiles datashader)


def view(ctx):
    """The embedding map page."""
    state = MapState(workspace=ctx.workspace, part=ctx.settings.part)
    if not state.has_projection:
        return alert("No projection in this workspace yet: run `workbench embed` then "
                     "`workbench project`.", "warning", markdown=True)
    names = state.level_names()
    level = pn.widgets.Select(label="Category level", options={f"{i}. {n}": i for i, n in names.items()},
                              value=state.level, width=220)
    level.link(state, value="level")
    color = pn.widgets.RadioButtonGroup.from_param(state.param.color_by)
    controls = [pn.widgets.Select.from_param(state.param.model, width=260), color, level]
    if state.run_id is not None:
        runs = run_select(state, ctx.workspace, ctx.settings.part, name="Run (for right / wrong)")
        runs.visible = state.color_by == COLOR_OUTCOME
        state.param.watch(lambda e: setattr(runs, "visible", e.new == COLOR_OUTCOME), "color_by")
        controls.append(runs)
    n = state.n_points()
    mode = "rasterised with datashader" if n > state.rasterize_above else "one glyph per product"
    return pn.Column(
        pn.pane.Markdown(f"## {TITLE}\n{n:,} products, {mode}. Hover shows the title and category; "
                         "zoom with the mouse wheel."),
        pn.Row(*controls), pn.panel(state.plot),
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-map"])
