"""The review page's bulk mode: a grid of pending products with the same predicted category;
tick the ones whose category is right and accept them in one pass. Each card says why (the
strongest words) and how products like it were labelled (its nearest labelled neighbours),
computed for the cards shown in one batch."""

from __future__ import annotations

import panel as pn

from workbench.security.safe_text import escape_html
from workbench.app.style import STYLESHEET
from workbench.app.why import grid_reasons, short_why_html


def card_html(item: dict, why: dict | None = None, names=None) -> str:
    """One product of the grid: thumbnail, title, confidence and, with ``why`` (its
    explanation), the reasons in two lines (all escaped)."""
    img = f"<img src='{item['thumb']}' alt=''>" if item.get("thumb") else "<div class='wb-no-thumb'>no photo</div>"
    reasons = "" if why is None else short_why_html(why, names)
    return (f"<div class='wb-bulk-card-body' data-product-id='{escape_html(item['product_id'])}'>{img}"
            f"<div>{escape_html(item['title'])}</div><div class='wb-muted'>{item['proba']:.1%}</div>{reasons}</div>")


def bulk_view(state, act, readonly: bool) -> pn.Column:
    """The bulk grid bound to a :class:`workbench.app.state.review.ReviewState`; ``act`` wraps an
    action so that a refusal shows on the page. The returned column has ``reload()``."""
    leaf = pn.widgets.Select(label="Predicted category", options={}, width=520, css_classes=["wb-bulk-category"])
    tick_all = pn.widgets.Button(label="Tick all", width=110, css_classes=["wb-bulk-all"])
    accept = pn.widgets.Button(label="Accept the ticked products", color="success", disabled=readonly,
                               width=260, css_classes=["wb-bulk-accept"])
    grid = pn.FlexBox(gap="10px", sizing_mode="stretch_width", css_classes=["wb-bulk-grid"])
    boxes: dict[str, pn.widgets.Checkbox] = {}
    column = pn.Column(
        pn.pane.Markdown("Products the model put in the same category: tick those where it is right and accept "
                         "them together; the others stay in the queue for one-at-a-time review."),
        pn.Row(leaf, tick_all, accept, align="end"), grid, sizing_mode="stretch_width", css_classes=["wb-bulk"])

    def draw(*_):
        boxes.clear()
        cards = []
        reasons = grid_reasons(state.workspace, state.bulk) if state.bulk else {}
        for item in state.bulk:
            box = pn.widgets.Checkbox(label="category is right", value=False, css_classes=["wb-bulk-tick"])
            boxes[item["product_id"]] = box
            why = reasons.get(item["product_id"], {})
            cards.append(pn.Column(box, pn.pane.HTML(card_html(item, why, state.display_name), stylesheets=[STYLESHEET],
                                                     width=190),
                                   width=210, styles={"border": "1px solid #ddd", "border-radius": "6px",
                                                      "padding": "6px"}, css_classes=["wb-bulk-card"]))
        grid.objects = cards or [pn.pane.Markdown(
            "No pending product with a predicted category in this queue passes the filters.")]

    busy = []

    def reload(*_):
        options = state.bulk_options()
        chosen = leaf.value if leaf.value in options.values() else next(iter(options.values()), None)
        busy.append(True)
        try:
            leaf.param.update(options=options, value=chosen)
        finally:
            busy.pop()
        state.load_bulk(chosen)
        draw()

    def on_leaf(event):
        if event.new and not busy:
            state.load_bulk(event.new)
            draw()

    def accept_ticked(_):
        ticked = [pid for pid, box in boxes.items() if box.value]
        act(lambda: state.accept_many(ticked))()
        reload()

    leaf.param.watch(on_leaf, "value")
    tick_all.on_click(lambda _: [setattr(box, "value", True) for box in boxes.values()])
    accept.on_click(accept_ticked)
    column.reload = reload
    return column
