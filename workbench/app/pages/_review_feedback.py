"""The review page's feedback mode: categories given by API clients and sellers for products no
reviewer has labelled; tick those that are right and confirm them as labels
(:class:`workbench.app.state.review_feedback.FeedbackMixin`)."""

from __future__ import annotations

import panel as pn

from workbench.app.state.review_feedback import FEEDBACK_COLUMNS, empty_feedback_frame
from workbench.app.widgets import table


def feedback_view(state, act, readonly: bool) -> pn.Column:
    """The feedback list bound to a review state; ``act`` wraps an action so that a refusal shows
    on the page. The returned column has ``reload()``."""
    empty = empty_feedback_frame()  # filled when the mode is chosen: no read while the page renders
    rows = table(empty, page_size=15, selectable="checkbox",
                 hidden_columns=[FEEDBACK_COLUMNS["product_id"]], css_classes=["wb-feedback-table"])
    rows.value = pn.bind(lambda f: empty if f is None else f, state.param.feedback)
    confirm = pn.widgets.Button(label="Confirm the ticked categories as labels", color="success",
                                disabled=readonly, width=340, css_classes=["wb-feedback-confirm"])

    def ticked():
        frame = rows.value
        return [str(frame.iloc[i][FEEDBACK_COLUMNS["product_id"]]) for i in rows.selection if i < len(frame)]

    def do_confirm(*_):
        state.confirm_ticked_feedback(ticked())
        rows.selection = []

    pn.bind(act(do_confirm), confirm, watch=True)
    column = pn.Column(
        pn.pane.Markdown("Categories that API clients and sellers gave for products no reviewer has labelled. "
                         "Nothing here is trained on until a reviewer confirms it: tick the rows whose category "
                         "is right and confirm them; each becomes your label, with where it came from."),
        confirm, rows, sizing_mode="stretch_width", css_classes=["wb-feedback"])
    column.reload = state.load_feedback
    column.table = rows
    return column
