"""Small Panel building blocks shared by the pages: tables, alerts, run selectors, error guards."""

from __future__ import annotations

import logging
import math
from typing import Callable, Iterable

import pandas as pd
import panel as pn
import param
from bokeh.models.widgets.tables import NumberFormatter

import workbench.app.data as data
from workbench.app.safe_text import escape_markdown
from workbench.errors import WorkbenchError

log = logging.getLogger("workbench.app")


def table(frame: pd.DataFrame, *, percent: Iterable[str] = (), decimals: Iterable[str] = (),
          page_size: int | None = None, wrap: bool = True, **kwargs) -> pn.widgets.Tabulator:
    """A read-only, sortable table; ``percent`` columns as 12.3%, ``decimals`` as 0.123.

    With ``wrap`` (the default) the columns share the table's width and long text (category
    paths, titles) wraps inside its cell instead of pushing columns out of view.
    """
    formatters = {c: NumberFormatter(format="0.0%", nan_format="n/a") for c in percent if c in frame}
    formatters.update({c: NumberFormatter(format="0.000", nan_format="n/a") for c in decimals if c in frame})
    formatters.update(kwargs.pop("formatters", {}))
    options = dict(disabled=True, show_index=False, formatters=formatters, sizing_mode="stretch_width",
                   layout="fit_data_table", header_align="left")
    if wrap:
        text = [c for c in frame.columns if frame[c].dtype == object and c not in formatters]
        formatters.update({c: {"type": "textarea"} for c in text})
        options.update(layout="fit_columns", configuration={"columnDefaults": {"headerWordWrap": True}})
    if page_size:
        options.update(pagination="local", page_size=page_size)
    options.update(kwargs)
    options["stylesheets"] = [TABULATOR_CSS, *options.get("stylesheets", [])]
    return pn.widgets.Tabulator(frame, **options)


#: Tabulator tables that fit their width: headers wrap instead of being cut to "thresh…", and
#: Panel's 1-pixel filler column (added for select editors) takes no padding, which otherwise
#: made every row 9 pixels wider than the table and scroll sideways
TABULATOR_CSS = """
.tabulator .tabulator-header .tabulator-col .tabulator-col-content .tabulator-col-title {
  white-space: normal; overflow-wrap: break-word; text-overflow: clip}
.tabulator.table-sm .tabulator-tableholder .tabulator-table .tabulator-row .tabulator-cell.empty,
.tabulator .tabulator-tableholder .tabulator-table .tabulator-row .tabulator-cell.empty,
.tabulator .tabulator-header .tabulator-col.empty {padding: 0 !important; border: none !important}
"""


class HtmlTable(pn.pane.DataFrame):
    """A plain HTML table of a DataFrame whose ``percent`` and ``decimals`` columns are written as
    text before rendering (pandas skips formatters on missing values and would print ``NaN``)."""

    percent = param.List(default=[], doc="columns shown as 12.3%")
    decimals = param.List(default=[], doc="columns shown as 0.123")

    _rename = {**pn.pane.DataFrame._rename, "percent": None, "decimals": None}

    def _formatted(self, obj):
        if not isinstance(obj, pd.DataFrame):
            return obj
        out = obj.copy()
        for column in self.percent:
            if column in out:
                out[column] = [pct(v, 1) for v in out[column]]
        for column in self.decimals:
            if column in out:
                out[column] = ["n/a" if v is None or pd.isna(v) else f"{v:.3f}" for v in out[column]]
        return out

    def _transform_object(self, obj):
        return super()._transform_object(self._formatted(obj))


def html_table(frame: pd.DataFrame, *, percent: Iterable[str] = (), decimals: Iterable[str] = (),
               css_classes: list[str] | None = None, **kwargs) -> HtmlTable:
    """A plain HTML table (renders at once in the browser; for small read-only tables); text is
    escaped, missing numbers read ``n/a``, long cells wrap."""
    return HtmlTable(frame, percent=list(percent), decimals=list(decimals), index=False, escape=True,
                     border=0, na_rep="n/a", classes=["wb-table"], sizing_mode="stretch_width",
                     css_classes=css_classes or [], stylesheets=[TABLE_CSS], **kwargs)


TABLE_CSS = """
:host {overflow-x: auto; max-width: 100%}
table.wb-table {border-collapse: collapse; font-size: 0.9em; max-width: 100%}
table.wb-table th {text-align: left; border-bottom: 2px solid #ccc; padding: 4px 8px; vertical-align: bottom}
table.wb-table td {border-bottom: 1px solid #eee; padding: 4px 8px; overflow-wrap: break-word}
"""


def alert(message: str, kind: str = "danger", *, markdown: bool = False, **kwargs) -> pn.pane.Alert:
    """A message on the page (``danger``, ``warning``, ``success``, ``info``).

    ``message`` is plain text and shows exactly as written: error messages and confirmations
    quote titles, category and file names, which sellers and users supply. ``markdown=True`` is
    for Markdown composed by the page itself, with every such value passed through
    :func:`workbench.app.safe_text.escape_markdown`. Other keywords go to ``pn.pane.Alert``.
    """
    return pn.pane.Alert(message if markdown else escape_markdown(message), alert_type=kind,
                         sizing_mode="stretch_width", **kwargs)


def no_runs() -> pn.pane.Alert:
    """What a page shows when nothing is evaluated yet."""
    return alert(data.NO_RUNS, "warning", markdown=True)


def run_select(state, ws, part: str, name: str = "Run") -> pn.widgets.Select:
    """A Select showing run labels, bound to ``state.run_id``."""
    options = data.run_options(ws, part)
    select = pn.widgets.Select(label=name, options=options, value=state.run_id, width=380, css_classes=["wb-run"])
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
