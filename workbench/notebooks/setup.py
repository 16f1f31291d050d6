"""``wb.notebook()``: HoloViews and Panel ready in a notebook, every resource served inline.

``hv.extension("bokeh")`` alone asks ``cdn.bokeh.org`` for BokehJS; offline every figure is then
blank (the page logs ``failed to load .../bokeh-3.x.min.js`` and nothing shows in the notebook).
:func:`notebook` loads BokehJS, HoloViews' and Panel's JavaScript inline, from the installed
packages. HoloViews renders its figures through Panel without Panel's own inlining of
stylesheets, so each figure would still link four CSS files on ``cdn.holoviz.org``; a
preprocessing hook puts those stylesheets inline too. It is one explicit call: ``import
workbench`` stays light (no HoloViews, no Panel).
"""

from __future__ import annotations


def inline_stylesheets(viewable, root) -> None:
    """Panel preprocessing hook: every stylesheet of ``root`` that links Panel's CDN is replaced
    by the same file's text from the installed package."""
    from bokeh.models import UIElement
    from panel.io.notebook import patch_inline_stylesheets

    for model in root.select({"type": UIElement}):
        patch_inline_stylesheets(model)


def notebook(*extensions: str) -> None:
    """Load HoloViews (bokeh backend) and Panel in this notebook with every JavaScript and CSS
    resource inline (never from a CDN); ``extensions`` are Panel extensions to load too
    (``"tabulator"``)."""
    import holoviews as hv
    import panel as pn
    from panel.viewable import Viewable

    pn.config.inline = True
    if inline_stylesheets not in Viewable._preprocessing_hooks:
        Viewable._preprocessing_hooks.append(inline_stylesheets)
    if extensions:
        pn.extension(*extensions, inline=True)
    hv.extension("bokeh", inline=True)
