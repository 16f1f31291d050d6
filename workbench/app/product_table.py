"""The one product table every drill-down opens: photo, title, true and predicted paths and
confidence of the products behind a mark on a figure, with a CSV export and "send to review
queue" (reason: sent from the dashboard by NAME). A row's ▸ opens why the run chose its category
(computed for that row when it is opened, never for the whole selection); **What misleads the
model?** lists the terms most often behind the selection's wrong predictions.

Pages create one :class:`ProductTable` and call :meth:`ProductTable.show` with a
:class:`workbench.app.drill.Selection` when a figure is clicked.
"""

from __future__ import annotations

import io
import re

import pandas as pd
import panel as pn
from bokeh.models.widgets.tables import NumberFormatter

from workbench.app.drill import SHOWN, Selection, selection_frame
from workbench.app.glossary import term
from workbench.security.safe_text import escape_html
from workbench.app.style import STYLESHEET
from workbench.app.thumbnails import LARGE, img_tag, product_thumbnails
from workbench.app.widgets import alert, column_options
from workbench.app.why import WHY_STYLE, misleading_html, product_why_html
from workbench.catalog.people_csv import people_csv_text
from workbench.errors import WorkbenchError
from workbench.loop.queue_manual import send_to_queue

PAGE_SIZE = 10
#: wrong predictions explained at most for "What misleads the model?"
MISLEADING_LIMIT = 300
PATH_COLUMNS = ("true path", "predicted path")


def _empty() -> pd.DataFrame:
    text = lambda: pd.Series([], dtype=object)  # noqa: E731 - typed so the table formats text as text
    return pd.DataFrame({"product_id": text(), "photo": text(), "title": text(), "true path": text(),
                         "predicted path": text(), "confidence": pd.Series([], dtype=float)})


def heading_html(selection: Selection | None, hint: str, shown: int, unpredicted: int = 0) -> str:
    """What the table lists, in words (all catalog text escaped); ``unpredicted``: how many of
    the rows shown have no prediction of the run (products outside its test part)."""
    if selection is None:
        return f"<div class='wb-drill-heading wb-drill-empty'>{escape_html(hint)}</div>"
    n = selection.size
    more = f" (the first {shown:,} shown; the CSV holds all)" if n > shown else ""
    why = (f"<div class='wb-muted wb-unpredicted' data-unpredicted='{unpredicted}'>{unpredicted:,} of the products "
           f"shown are not in the run's {term('test part')} (the model learnt from them, or they were kept for "
           "validation), so the page has no prediction for them; their true path is the catalog's.</div>"
           if unpredicted else "")
    return (f"<div class='wb-drill-heading' data-n='{n}'><b>{n:,} products</b>: {escape_html(selection.title)}"
            f"{more} <span class='wb-muted'>· from {escape_html(selection.source)}</span>{why}</div>")


def csv_name(selection: Selection | None) -> str:
    """A file name for the selection's CSV (letters, digits and dashes only)."""
    if selection is None:
        return "products.csv"
    stem = re.sub(r"[^A-Za-z0-9]+", "-", f"{selection.source} {selection.title}").strip("-").lower()
    return f"{stem[:80] or 'products'}.csv"


class ProductTable(pn.viewable.Viewer):
    """Products of the current selection, the export and the send-to-review action of one session."""

    def __init__(self, ctx, hint: str = "Click a mark of a figure to list its products.", **params):
        super().__init__(**params)
        self.ctx = ctx
        self.hint = hint
        self.selection: Selection | None = None
        self.heading = pn.pane.HTML(heading_html(None, hint, SHOWN), stylesheets=[STYLESHEET],
                                    sizing_mode="stretch_width")
        formatters = {"photo": {"type": "html"}, "confidence": NumberFormatter(format="0.0%", nan_format="–"),
                      "title": {"type": "textarea"}}
        self.table = pn.widgets.Tabulator(
            _empty(), disabled=True, show_index=False, selectable="checkbox", pagination="local",
            page_size=PAGE_SIZE, layout="fit_columns", sizing_mode="stretch_width", hidden_columns=["product_id"],
            stylesheets=[STYLESHEET], css_classes=["wb-drill-table"], row_content=self._why_row,
            **column_options(_empty(), formatters, PATH_COLUMNS, per_column=False), formatters=formatters)
        self.table.widths = {**self.table.widths, "photo": 84}
        self.download = pn.widgets.FileDownload(callback=self._csv, filename="products.csv", label="Download CSV",
                                                color="light", disabled=True, width=200,
                                                css_classes=["wb-drill-csv"])
        self.send = pn.widgets.Button(label="Send selected to review queue", color="primary", disabled=True,
                                      width=280, css_classes=["wb-drill-send"])
        pn.bind(self._send, self.send, watch=True)
        self.misleads = pn.widgets.Button(label="What misleads the model?", color="light", disabled=True, width=240,
                                          css_classes=["wb-drill-misleads"])
        pn.bind(lambda _: self.show_misleading(), self.misleads, watch=True)
        self.misleading = pn.pane.HTML("", stylesheets=[STYLESHEET], sizing_mode="stretch_width",
                                       css_classes=["wb-drill-misleading"])
        self.message = pn.Column(sizing_mode="stretch_width", css_classes=["wb-drill-message"])
        self._layout = pn.Column(self.heading, self.table, pn.Row(self.download, self.send, self.misleads),
                                 self.misleading, self.message, sizing_mode="stretch_width", css_classes=["wb-drill"])

    def __panel__(self):
        return self._layout

    def show(self, selection: Selection | None) -> pd.DataFrame:
        """List the products of ``selection`` (``None`` clears the table); returns the rows shown."""
        self.selection = selection
        frame = _empty() if selection is None else selection_frame(self.ctx.workspace, selection, SHOWN)
        self.table.selection = []
        self.table.value = frame
        unpredicted = int(frame["confidence"].isna().sum()) if selection is not None and selection.run_id else 0
        self.heading.object = heading_html(selection, self.hint, SHOWN, unpredicted)
        self.download.filename = csv_name(selection)
        self.download.disabled = selection is None or not selection.size
        self.send.disabled = selection is None or not selection.size or not self.ctx.may("review")
        self.misleads.disabled = selection is None or not selection.size or selection.run_id is None
        self.misleading.object = ""
        self.message.objects = []
        return frame

    def _why_row(self, row: pd.Series):
        """The row's photo, larger than in the table, and why the selection's run chose its
        category (both computed when the row is opened)."""
        run_id = self.selection.run_id if self.selection is not None else None
        pid = str(row["product_id"])
        photo = img_tag(product_thumbnails(self.ctx.workspace, [pid], LARGE).get(pid), LARGE, "wb-why-own-photo")
        why = product_why_html(self.ctx.workspace, pid, run_id)
        body = (f"<div class='wb-why-with-photo'><div>{photo}</div><div class='wb-why-own-side'>{why}</div></div>"
                if photo else why)
        return pn.pane.HTML(body, stylesheets=[WHY_STYLE], sizing_mode="stretch_width", css_classes=["wb-why-box"])

    def wrong_ids(self) -> list[str]:
        """Product ids of the selection whose run's prediction is not their true category."""
        if self.selection is None or self.selection.run_id is None:
            return []
        frame = selection_frame(self.ctx.workspace, self.selection, None, photos=False)
        wrong = frame["confidence"].notna() & (frame["true path"] != frame["predicted path"]) & (frame["true path"] != "")
        return frame.loc[wrong, "product_id"].astype(str).tolist()

    def show_misleading(self) -> str:
        """Explain the selection's wrong predictions (the first :data:`MISLEADING_LIMIT`) and show
        the terms most often behind them; returns the HTML shown."""
        from workbench.runs.explain import misleading_terms_of

        wrong = self.wrong_ids()
        try:
            found = misleading_terms_of(self.ctx.workspace, self.selection.run_id, wrong, 10,
                                        limit=MISLEADING_LIMIT) if wrong else {"products": 0}
            self.misleading.object = misleading_html(found, len(wrong))
        except WorkbenchError as exc:
            self.misleading.object = f"<div class='wb-misleading'>No explanation: {escape_html(exc)}</div>"
        return self.misleading.object

    def _csv(self) -> io.StringIO:
        if self.selection is None:
            return io.StringIO("")
        frame = selection_frame(self.ctx.workspace, self.selection, None, photos=False)
        return io.StringIO(people_csv_text(frame))

    def selected_ids(self) -> list[str]:
        """Product ids of the rows ticked in the table."""
        value = self.table.value
        return [str(value.iloc[i]["product_id"]) for i in self.table.selection if i < len(value)]

    def send_selected(self) -> int:
        """Send the ticked products to today's review queue (reviewers only, checked here)."""
        self.ctx.require("review")  # the role read again now, as for every write
        ids = self.selected_ids()
        if self.selection is None or not ids:
            raise WorkbenchError("tick the products to send in the table's first column first")
        return send_to_queue(self.ctx.workspace, ids, by=self.ctx.actor, run_id=self.selection.run_id,
                             source=f"{self.selection.source}: {self.selection.title}")

    def _send(self, _=None) -> None:
        try:
            n = self.send_selected()
        except WorkbenchError as exc:
            self.message.objects = [alert(str(exc))]
            return
        self.message.objects = [alert(
            f"Sent {n} product{'s' if n != 1 else ''} to today's review queue (reason: sent from the "
            f"dashboard by {self.ctx.actor}).", "success", css_classes=["wb-drill-sent"])]
