"""Small Panel building blocks shared by the pages: tables, alerts, run selectors, error guards."""

from __future__ import annotations

import json
import logging
import math
from typing import Callable, Iterable

import pandas as pd
import panel as pn
import param
import numpy as np
from bokeh.models.widgets.tables import NumberFormatter

import workbench.app.data as data
from workbench.app.glossary import define, header, term
from workbench.security.safe_text import escape_html, escape_markdown
from workbench.app.style import STYLESHEET
from workbench.errors import WorkbenchError

log = logging.getLogger("workbench.app")


#: a category path cell: its last two levels, the whole path on hover (Bokeh's template
#: formatter, run in the browser; ``<%- %>`` escapes)
PATH_TEMPLATE = ("<% var parts = String(value).split(' > '); %>"
                 "<span class='wb-path' title='<%- value %>'><%- (parts.length > 2 ? '… > ' : '')"
                 " + parts.slice(-2).join(' > ') %></span>")
#: about the width of one character of a header (bold 13 px) and a header's padding and sort arrow
#: (workbench.css), and of one digit of a cell and a cell's padding
HEADER_CHAR_PX, HEADER_EXTRA_PX = 8.2, 24
DIGIT_PX, CELL_EXTRA_PX = 9.5, 20
#: the narrowest a column of category paths may be (two levels on two or three lines)
PATH_MIN_PX = 140
#: about the width of one character of a text cell (14 px, workbench.css; measured in Chromium), and
#: the widest a column's minimum grows for its longest word (beyond it ten columns no longer fit
#: beside the sidebar at 1280 px; text columns take a double share of the spare width instead)
CELL_CHAR_PX, WORD_MAX_PX = 10, 96


def header_text(name: str) -> str:
    """A column name as a header: words separated by spaces (``predicted_category`` -> ``predicted category``)."""
    return str(name).replace("_", " ")


def header_min_px(name: str) -> int:
    """The narrowest a column may be so that its header breaks only between words."""
    longest = max((len(w) for w in header_text(name).split()), default=1)
    return int(longest * HEADER_CHAR_PX + HEADER_EXTRA_PX)


def number_min_px(frame: pd.DataFrame, column: str, formatter) -> int:
    """The narrowest a number column may be so that its widest value shows whole."""
    fmt = getattr(formatter, "format", "")
    if "%" in fmt:
        chars = 6  # 100.0%
    elif fmt:
        chars = len(fmt) + 1
    else:
        values = pd.to_numeric(frame[column], errors="coerce").abs().dropna()
        top = float(values.max()) if len(values) else 0.0
        chars = len(f"{top:,.0f}") + (4 if (values % 1).any() else 0) + 1
    return int(chars * DIGIT_PX + CELL_EXTRA_PX)


def word_min_px(frame: pd.DataFrame, column: str) -> int:
    """The narrowest a text column may be so that its longest word (of the first 500 values)
    stays on one line (``not predicted`` never reads ``not predicte / d``); at most
    :data:`WORD_MAX_PX`, so that one odd long token (a URL, a code) cannot squeeze the other
    columns."""
    values = frame[column].dropna().astype(str).head(500)
    longest = max((len(w) for v in values for w in v.split()), default=0)
    return min(WORD_MAX_PX, int(longest * CELL_CHAR_PX + CELL_EXTRA_PX)) if longest else 0


def is_text(series: pd.Series) -> bool:
    """A column of text (object or string dtype)."""
    return series.dtype == object or pd.api.types.is_string_dtype(series)


def is_path_column(frame: pd.DataFrame, column: str) -> bool:
    """A text column of category paths (``A > B > C``)."""
    if not is_text(frame[column]):
        return False
    values = frame[column].dropna().astype(str).head(50)
    return len(values) > 0 and values.str.contains(" > ", regex=False).mean() >= 0.5


def short_path(path) -> str:
    """A category path as its last two levels with the whole path on hover (escaped HTML)."""
    if path is None or (isinstance(path, float) and math.isnan(path)):
        return ""
    parts = str(path).split(" > ")
    shown = ("… > " if len(parts) > 2 else "") + " > ".join(parts[-2:])
    return f"<span class='wb-path' title='{escape_html(path)}'>{escape_html(shown)}</span>"


def column_options(frame: pd.DataFrame, formatters: dict, paths: Iterable[str] | None = None,
                   per_column: bool = True) -> dict:
    """Tabulator options for ``frame``'s columns: headers with spaces and glossary definitions on
    hover, wide enough for their longest word, numbers right-aligned, category paths short.

    ``per_column=False`` for a table with a checkbox column: Panel merges per-column settings by
    position and the checkbox column shifts them onto the wrong columns; such a table gets plain
    headers and fixed widths for its number columns instead."""
    from bokeh.models.widgets.tables import HTMLTemplateFormatter

    paths = [c for c in frame.columns if c not in formatters and is_path_column(frame, c)] if paths is None else paths
    for c in paths:
        formatters.setdefault(c, HTMLTemplateFormatter(template=PATH_TEMPLATE))
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool]
    widths = {c: max(header_min_px(c), number_min_px(frame, c, formatters.get(c)) if c in numeric else 0)
              for c in frame.columns}
    for c in paths:
        widths[c] = max(widths[c], PATH_MIN_PX)
    for c in frame.columns:
        if c not in paths and c not in numeric and c not in formatters and is_text(frame[c]):
            widths[c] = max(widths[c], word_min_px(frame, c))
    options = dict(text_align={c: "right" for c in numeric}, header_align={c: "right" for c in numeric})
    if not per_column:
        return dict(options, titles={c: header_text(c) for c in frame.columns},
                    widths={c: widths[c] for c in numeric}, configuration={"columnDefaults": {"headerWordWrap": True}})
    # a path takes three shares of the spare width (it wraps to 2-5 lines in a share of its own),
    # other text two (its long words stay whole where the screen allows), a number one
    grow = {c: 3 if c in paths else 2 if c not in numeric and is_text(frame[c]) else 1 for c in frame.columns}
    columns = [{"field": str(c), "titleFormatter": "html", "minWidth": widths[c],
                **({"widthGrow": grow[c]} if grow[c] > 1 else {})} for c in frame.columns]
    return dict(options, titles={c: term(header_text(c)) for c in frame.columns},
                configuration={"columnDefaults": {"headerWordWrap": True}, "columns": columns})


def table(frame: pd.DataFrame, *, percent: Iterable[str] = (), decimals: Iterable[str] = (),
          page_size: int | None = None, wrap: bool = True, paths: Iterable[str] | None = None,
          **kwargs) -> pn.widgets.Tabulator:
    """A read-only, sortable table; ``percent`` columns as 12.3%, ``decimals`` as 0.123, category
    paths (``paths``, else found by their `` > ``) as their last two levels with the whole path on
    hover; headers wrap only between words and carry the glossary's definition on hover.

    With ``wrap`` (the default) the columns share the table's width and long text (titles) wraps
    inside its cell instead of pushing columns out of view.
    """
    formatters = {c: NumberFormatter(format="0.0%", nan_format="n/a") for c in percent if c in frame}
    formatters.update({c: NumberFormatter(format="0.000", nan_format="n/a") for c in decimals if c in frame})
    formatters.update(kwargs.pop("formatters", {}))
    options = dict(disabled=True, show_index=False, sizing_mode="stretch_width", layout="fit_data_table",
                   header_align="left")
    options.update(column_options(frame, formatters, paths))
    if wrap:
        text = [c for c in frame.columns if is_text(frame[c]) and c not in formatters]
        formatters.update({c: {"type": "textarea"} for c in text})
        options.update(layout="fit_columns")
    if page_size:
        options.update(pagination="local", page_size=page_size)
    options["formatters"] = formatters
    options.update(kwargs)
    options["stylesheets"] = [STYLESHEET, *options.get("stylesheets", [])]
    return pn.widgets.Tabulator(frame, **options)


#: kept for callers of the former names: everything is in the one stylesheet
TABULATOR_CSS = TABLE_CSS = STYLESHEET


def _cell(value, column: str, percent, decimals, paths) -> tuple[str, bool]:
    """One cell of :func:`frame_html` as (escaped HTML, is a number)."""
    missing = value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value))
    if column in percent:
        return ("n/a" if missing else pct(value, 1)), True
    if column in decimals:
        return ("n/a" if missing else f"{value:.3f}"), True
    if missing:
        return "n/a", False
    if column in paths:
        return short_path(value), False
    if isinstance(value, (bool, np.bool_)):
        return escape_html(value), False
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}", True
    if isinstance(value, (float, np.floating)):
        return (f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}"), True
    return escape_html(value), False


def frame_html(frame: pd.DataFrame, percent: Iterable[str] = (), decimals: Iterable[str] = (),
               paths: Iterable[str] | None = None) -> str:
    """``frame`` as an escaped HTML table: glossary headers, numbers right-aligned, shares in
    percent with one decimal, category paths short with the whole path on hover, ``n/a`` for
    a missing value."""
    percent, decimals = set(percent), set(decimals)
    paths = set(c for c in frame.columns if is_path_column(frame, c)) if paths is None else set(paths)
    numeric = {c for c in frame.columns if c in percent or c in decimals
               or (pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool)}
    head = "".join(f"<th class='{'wb-num' if c in numeric else ''}'>{header(header_text(c))}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = [_cell(v, c, percent, decimals, paths) for c, v in zip(frame.columns, values)]
        rows.append("<tr>" + "".join(f"<td class='{'wb-num' if num else ''}'>{text}</td>" for text, num in cells)
                    + "</tr>")
    return (f"<table class='wb-table'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


class HtmlTable(pn.pane.HTML):
    """A plain HTML table of a DataFrame (:func:`frame_html`); set ``object`` to a new frame to
    redraw it."""

    percent = param.List(default=[], doc="columns shown as 12.3%")
    decimals = param.List(default=[], doc="columns shown as 0.123")

    _rename = {**pn.pane.HTML._rename, "percent": None, "decimals": None}

    @classmethod
    def applies(cls, obj) -> bool:
        """Takes DataFrames (and HTML text)."""
        return isinstance(obj, (pd.DataFrame, str))

    def _transform_object(self, obj):
        if isinstance(obj, pd.DataFrame):
            obj = frame_html(obj, self.percent, self.decimals)
        return super()._transform_object(obj)


def html_table(frame: pd.DataFrame, *, percent: Iterable[str] = (), decimals: Iterable[str] = (),
               css_classes: list[str] | None = None, **kwargs) -> HtmlTable:
    """A plain HTML table (renders at once in the browser; for small read-only tables); text is
    escaped, missing numbers read ``n/a``, long cells wrap."""
    return HtmlTable(frame, percent=list(percent), decimals=list(decimals), sizing_mode="stretch_width",
                     css_classes=["wb-html-table", *(css_classes or [])], stylesheets=[STYLESHEET], **kwargs)


def empty_state(sentence: str, command: str | list[str] | None = None, css_class: str = "") -> pn.pane.HTML:
    """An empty state: one plain sentence and, where one fills it, the command(s) to run (escaped)."""
    return pn.pane.HTML(empty_state_html(sentence, command, css_class), sizing_mode="stretch_width",
                        stylesheets=[STYLESHEET])


def empty_state_html(sentence: str, command: str | list[str] | None = None, css_class: str = "") -> str:
    """The HTML of :func:`empty_state`."""
    commands = [command] if isinstance(command, str) else list(command or [])
    run = (" Run " + ", then ".join(f"<code>{escape_html(c)}</code>" for c in commands) + ".") if commands else ""
    return f"<p class='wb-empty-state {escape_html(css_class)}'>{define(escape_html(sentence))}{run}</p>"


def intro(title: str, how: str, more: str = "") -> pn.pane.HTML:
    """A page's heading, its "how to read this page" line and an optional paragraph; ``how`` and
    ``more`` are the page's own HTML (never catalog text), glossary terms get their definitions."""
    extra = f"<p>{define(more)}</p>" if more else ""
    return pn.pane.HTML(f"<h2>{escape_html(title)}</h2><p class='wb-how'><b>How to read this page:</b> "
                        f"{define(how)}</p>{extra}", sizing_mode="stretch_width", stylesheets=[STYLESHEET],
                        css_classes=["wb-intro"])


def html(text: str, **kwargs) -> pn.pane.HTML:
    """The page's own HTML with the stylesheet and glossary definitions (catalog text escaped by the caller)."""
    kwargs.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HTML(define(text) if isinstance(text, str) else text, stylesheets=[STYLESHEET], **kwargs)


def alert(message: str, kind: str = "danger", *, markdown: bool = False, **kwargs) -> pn.pane.Alert:
    """A message on the page (``danger``, ``warning``, ``success``, ``info``).

    ``message`` is plain text and shows exactly as written: error messages and confirmations
    quote titles, category and file names, which sellers and users supply. ``markdown=True`` is
    for Markdown composed by the page itself, with every such value passed through
    :func:`workbench.security.safe_text.escape_markdown`. Other keywords go to ``pn.pane.Alert``.
    """
    return pn.pane.Alert(message if markdown else escape_markdown(message), alert_type=kind,
                         sizing_mode="stretch_width", **kwargs)


def live_alert(message, kind, **kwargs) -> pn.pane.Alert:
    """One alert that stays on the page and changes in place: its text (plain, shown exactly as
    written, as in :func:`alert`) and its kind follow ``message`` and ``kind`` (references such
    as ``pn.bind(...)``); hidden while the text is empty. A redraw of the page never replaces it."""
    return pn.pane.Alert(pn.bind(escape_markdown, message), alert_type=kind, visible=pn.bind(bool, message),
                         sizing_mode="stretch_width", **kwargs)


def no_runs() -> pn.pane.HTML:
    """What a page shows when nothing is evaluated yet."""
    return empty_state("No evaluated runs in this workspace yet: train and evaluate a model first.",
                       ["workbench train", "workbench evaluate --all"], "wb-no-runs")


def following_page(ctx, content: Callable[[object], list], css_class: str) -> pn.Column:
    """A page whose parts, ``content(ctx)``, are read again after every write of any process (a
    review elsewhere moves its figures), in a column of CSS classes ``wb-page`` and ``css_class``."""
    layout = pn.Column(objects=pn.bind(lambda _: content(ctx), ctx.news.param.writes),
                       sizing_mode="stretch_width", css_classes=["wb-page", css_class])
    layout.follows = True
    return layout


def run_select(state, ctx, name: str = "Run") -> pn.widgets.Select:
    """A Select showing run labels, bound to ``state.run_id``; it follows ``ctx.news``: a run
    completed elsewhere joins the options (the chosen run stays chosen), and when the chosen run
    was evaluated again its figures and tables are read again."""
    follow = RunFollower(state, ctx.settings.part)
    select = pn.widgets.Select(label=name, options=pn.bind(follow, ctx.news.param.runs), value=state.run_id,
                               width=380, css_classes=["wb-run"])
    select.link(state, value="run_id")
    return select


class RunFollower:
    """The run options of a state's picker, read again as runs complete or are evaluated
    elsewhere; re-reads the chosen run (``param.trigger``) only when its evaluation changed."""

    def __init__(self, state, part: str):
        self.state, self.part = state, part
        self.seen = self._evaluation(state.run_id)

    def _evaluation(self, run_id) -> str:
        runs = data.evaluated_runs(self.state.workspace, self.part)
        hit = runs[runs["run_id"] == run_id]
        return json.dumps(hit["evaluation"].iloc[0], sort_keys=True, default=str) if len(hit) else ""

    def __call__(self, _news: int = 0) -> dict[str, str]:
        """``{label: run id}``, newest first."""
        options = data.run_options(self.state.workspace, self.part)
        state = self.state
        if options and list(state.param.run_id.objects) != list(options.values()):
            state.param.run_id.objects = list(options.values())
        seen = self._evaluation(state.run_id)
        if seen != self.seen:
            self.seen = seen
            if seen:
                state.param.trigger("run_id")  # the chosen run was evaluated again: read it again
        return options


def pct(value: float | None, digits: int = 1) -> str:
    """``0.8342 -> "83.4%"`` (one decimal, the app's one format for shares); ``None``/NaN -> ``"n/a"``."""
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


def action_button(state, action, **params) -> pn.widgets.Button:
    """A button bound to ``action`` (``pn.bind(..., watch=True)``) through :func:`guarded_action`:
    a refusal or bad input shows on the page through the state's ``report_error``."""
    button = pn.widgets.Button(**params)
    pn.bind(guarded_action(state, action), button, watch=True)
    return button


def guarded_action(state, action):
    """``action`` as a callback whose refusal (a viewer) or bad input shows on the page, through
    the state's ``report_error``."""
    def run(*_):
        try:
            action()
        except WorkbenchError as exc:
            state.report_error(exc)
    return run


def limited_dropper(limit_bytes: int, *, css: str, box_css: str, box_sizing: str | None = "stretch_width",
                    **options) -> tuple[pn.widgets.FileDropper, pn.Column]:
    """One file dropped on a page, refused while it arrives (on the server, not only in the
    browser) when larger than ``limit_bytes``, and the column below it where the refusal shows
    and the caller puts what it made of the file. ``css``: the dropper's class, ``box_css`` and
    ``box_sizing``: the column's; ``options`` go to the dropper."""
    from workbench.security.limited_dropper import LimitedFileDropper

    dropper = LimitedFileDropper(limit_bytes=limit_bytes, multiple=False, sizing_mode="stretch_width",
                                 css_classes=[css], **options)
    box = pn.Column(sizing_mode=box_sizing, css_classes=[box_css])
    pn.bind(lambda refused: setattr(box, "objects", [alert(refused)]) if refused else None,
            dropper.param.refused, watch=True)
    return dropper, box


def photo_dropper(state, limit_bytes: int, shown: Callable[[str], list], *, css: str, box_css: str) -> pn.Column:
    """A product photo (JPEG, PNG or WebP) dropped on a page: refused while it arrives when larger
    than ``limit_bytes`` (the page says so), checked once whole by ``state.set_photo`` (type,
    pixels; a refusal names the file and the cause), then ``shown(name)`` gives what the page
    shows of it. ``css``: the dropper's class, ``box_css``: the class of what is shown."""
    dropper, box = limited_dropper(limit_bytes, css=css, box_css=box_css, box_sizing=None, layout="compact",
                                   previews=[], accepted_filetypes=["image/jpeg", "image/png", "image/webp"])

    def on_photo(files: dict):
        if not files:
            state.photo, box.objects = None, []
            return
        name, content = list(files.items())[-1]
        try:
            state.set_photo(content, limit_bytes=limit_bytes)
        except WorkbenchError as exc:
            box.objects = [alert(f"{name}: {exc}")]
            return
        box.objects = shown(name)

    pn.bind(on_photo, dropper.param.value, watch=True)
    return pn.Column(pn.pane.Markdown("Photo (optional; JPEG, PNG or WebP)"), dropper, box,
                     sizing_mode="stretch_width")
