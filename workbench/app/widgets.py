"""Small Panel building blocks shared by the pages: tables, alerts, run selectors, error guards."""

from __future__ import annotations

import logging
import math
from typing import Callable, Iterable

import pandas as pd
import panel as pn
from bokeh.models.widgets.tables import NumberFormatter

import workbench.app.data as data
from workbench.app.safe_text import escape_markdown
from workbench.errors import WorkbenchError

log = logging.getLogger("workbench.app")


def table(frame: pd.DataFrame, *, percent: Iterable[str] = (), decimals: Iterable[str] = (),
          page_size: int | None = None, **kwargs) -> pn.widgets.Tabulator:
    """A read-only, sortable table; ``percent`` columns as 12.3%, ``decimals`` as 0.123."""
    formatters = {c: NumberFormatter(format="0.0%") for c in percent if c in frame}
    formatters.update({c: NumberFormatter(format="0.000") for c in decimals if c in frame})
    options = dict(disabled=True, show_index=False, formatters=formatters, sizing_mode="stretch_width",
                   layout="fit_data_table")
    if page_size:
        options.update(pagination="local", page_size=page_size)
    options.update(kwargs)
    return pn.widgets.Tabulator(frame, **options)


def html_table(frame: pd.DataFrame, *, percent: Iterable[str] = (), decimals: Iterable[str] = (),
               css_classes: list[str] | None = None, **kwargs) -> pn.pane.DataFrame:
    """A plain HTML table (renders at once in the browser; for small read-only tables)."""
    formatters = {c: (lambda v: pct(v, 1)) for c in percent if c in frame}
    formatters.update({c: (lambda v: "" if pd.isna(v) else f"{v:.3f}") for c in decimals if c in frame})
    return pn.pane.DataFrame(frame, index=False, formatters=formatters, escape=True, border=0,
                             classes=["wb-table"], sizing_mode="stretch_width", css_classes=css_classes or [],
                             stylesheets=[TABLE_CSS], **kwargs)


TABLE_CSS = """
table.wb-table {border-collapse: collapse; font-size: 0.9em}
table.wb-table th {text-align: left; border-bottom: 2px solid #ccc; padding: 4px 10px}
table.wb-table td {border-bottom: 1px solid #eee; padding: 4px 10px}
"""


def alert(message: str, kind: str = "danger", *, markdown: bool = False) -> pn.pane.Alert:
    """A message on the page (``danger``, ``warning``, ``success``, ``info``).

    ``message`` is plain text and shows exactly as written: error messages and confirmations
    quote titles, category and file names, which sellers and users supply. ``markdown=True`` is
    for Markdown composed by the page itself, with every such value passed through
    :func:`workbench.app.safe_text.escape_markdown`.
    """
    return pn.pane.Alert(message if markdown else escape_markdown(message), alert_type=kind,
                         sizing_mode="stretch_width")


def no_runs() -> pn.pane.Alert:
    """What a page shows when nothing is evaluated yet."""
    return alert(data.NO_RUNS, "warning", markdown=True)


def run_select(state, ws, part: str, name: str = "Run") -> pn.widgets.Select:
    """A Select showing run labels, bound to ``state.run_id``."""
    options = data.run_options(ws, part)
    select = pn.widgets.Select(label=name, options=options, value=state.run_id, width=380)
    select.param.watch(lambda event: setattr(state, "run_id", event.new), "value")
    return select


def pct(value: float | None, digits: int = 2) -> str:
    """``0.8342 -> "83.42%"``; ``None``/NaN -> ``"n/a"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:.{digits}f}%"


def guarded(build: Callable[[], object]) -> object:
    """Run a page builder; a user error becomes a red message instead of a broken page."""
    try:
        return build()
    except WorkbenchError as exc:
        return alert(str(exc))
    except Exception as exc:  # the server must keep serving whatever one page does
        log.exception("page failed")
        return alert(f"This page failed: {type(exc).__name__}: {exc}")
