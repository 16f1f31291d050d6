"""``wb.notebook()``: HoloViews and Panel ready in a notebook, with BokehJS served inline.

``hv.extension("bokeh")`` alone asks ``cdn.bokeh.org`` for BokehJS; offline every figure is then
blank (the page logs ``failed to load .../bokeh-3.x.min.js`` and nothing shows in the notebook).
:func:`notebook` loads BokehJS, HoloViews' and Panel's JavaScript inline, from the installed
packages, so figures render with no internet. It is one explicit call: ``import workbench`` stays
light (no HoloViews, no Panel).
"""

from __future__ import annotations


def notebook(*extensions: str) -> None:
    """Load HoloViews (bokeh backend) and Panel in this notebook with every JavaScript resource
    inline (never from a CDN); ``extensions`` are Panel extensions to load too (``"tabulator"``)."""
    import holoviews as hv
    import panel as pn

    pn.config.inline = True
    pn.extension(*extensions, inline=True)
    hv.extension("bokeh", inline=True)
