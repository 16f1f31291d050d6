"""The review page's bulk mode: a grid of pending products with the same predicted category;
tick the ones whose category is right and accept them in one pass. Each card says why (the
strongest words) and how products like it were labelled (its nearest labelled neighbours),
computed for the cards shown in one batch."""

from __future__ import annotations

import panel as pn
import param

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


def grid_cards(items: list, boxes: dict, reasons: dict | None = None, names=None) -> list:
    """The grid's cards for ``items``; ``boxes`` (product id -> its tick box) keeps the ticks of
    products still in the grid and forgets the others (taken elsewhere, or another grid);
    ``reasons`` (product id -> explanation) adds each card's "why"."""
    reasons = reasons or {}
    for pid in [p for p in boxes if p not in {item["product_id"] for item in items}]:
        del boxes[pid]
    drawn = []
    for item in items:
        box = boxes.setdefault(item["product_id"], pn.widgets.Checkbox(
            label="category is right", value=False, css_classes=["wb-bulk-tick"]))
        why = reasons.get(item["product_id"], {}) if reasons else None
        drawn.append(pn.Column(box, pn.pane.HTML(card_html(item, why, names), stylesheets=[STYLESHEET], width=190),
                               width=210, styles={"border": "1px solid #ddd", "border-radius": "6px",
                                                  "padding": "6px"}, css_classes=["wb-bulk-card"]))
    return drawn or [pn.pane.Markdown(
        "No pending product with a predicted category in this queue passes the filters.")]


def recount(state, leaf: pn.widgets.Select, busy: list) -> None:
    """Writes elsewhere: the category picker's counts follow (the chosen category stays while it
    has products; ``busy`` keeps the picker's own watcher from loading a grid)."""
    options = state.bulk_options() if state.bulk_category else {}
    if state.bulk_category in options.values():
        busy.append(True)
        try:
            leaf.param.update(options=options, value=state.bulk_category)
        finally:
            busy.pop()


def bulk_view(state, act, readonly: bool) -> pn.Column:
    """The bulk grid bound to a :class:`workbench.app.state.review.ReviewState`; ``act`` wraps an
    action so that a refusal shows on the page. The grid draws ``state.bulk``: products reviewed or
    claimed elsewhere leave it as the state follows the workspace, the ticks of the others stay.
    The returned column has ``reload()``."""
    leaf = pn.widgets.Select(label="Predicted category", options={}, width=520, css_classes=["wb-bulk-category"])
    tick_all = pn.widgets.Button(label="Tick all", width=110, css_classes=["wb-bulk-all"])
    accept = pn.widgets.Button(label="Accept the ticked products", color="success", disabled=readonly,
                               width=260, css_classes=["wb-bulk-accept"])
    boxes: dict[str, pn.widgets.Checkbox] = {}
    def cards(items):
        reasons = grid_reasons(state.workspace, items) if items else {}
        return pn.FlexBox(*grid_cards(items, boxes, reasons, state.display_name), gap="10px",
                          sizing_mode="stretch_width", css_classes=["wb-bulk-grid"])

    grid = pn.panel(pn.bind(cards, state.param.bulk), sizing_mode="stretch_width")
    column = pn.Column(
        pn.pane.Markdown("Products the model put in the same category: tick those where it is right and accept "
                         "them together; the others stay in the queue for one-at-a-time review."),
        pn.Row(leaf, tick_all, accept, align="end"), grid, sizing_mode="stretch_width", css_classes=["wb-bulk"])
    busy = []

    def reload(*_):
        options = state.bulk_options()
        chosen = leaf.value if leaf.value in options.values() else next(iter(options.values()), None)
        busy.append(True)
        try:
            leaf.param.update(options=options, value=chosen)
        finally:
            busy.pop()
        fresh(chosen)

    def fresh(chosen):
        """A grid loaded afresh: drawn once, unticked (even when it holds the same products)."""
        boxes.clear()
        with param.parameterized.discard_events(state):
            state.load_bulk(chosen)
        state.param.trigger("bulk")

    def on_leaf(chosen):
        if chosen and not busy:
            fresh(chosen)

    def accept_ticked(_clicked):
        ticked = [pid for pid, box in boxes.items() if box.value]
        act(lambda: state.accept_many(ticked))()
        reload()

    pn.bind(on_leaf, leaf, watch=True)
    pn.bind(lambda _news: recount(state, leaf, busy) if column.visible else None, state.param.news, watch=True)
    pn.bind(lambda _clicked: [setattr(box, "value", True) for box in boxes.values()], tick_all, watch=True)
    pn.bind(accept_ticked, accept, watch=True)
    column.reload = reload
    return column
