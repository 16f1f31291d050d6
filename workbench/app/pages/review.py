"""Review queue: one product at a time with the model's top-5; accept it, or pick another
category through a search over the whole taxonomy; undo the last decision. Keyboard: ``a``
accept, ``/`` search, ``c`` save the correction, ``n`` next (skip), ``u`` undo. Filters by
reason and predicted category; a bulk mode accepts many products of one predicted category in
one pass."""

from __future__ import annotations

import pandas as pd
import panel as pn

from workbench.app.keyboard import KeyboardShortcuts
from workbench.app.pages._review_bulk import bulk_view
from workbench.app.safe_text import escape_html, escape_markdown
from workbench.app.state.review import ANY, ReviewState, recent_frame
from workbench.app.why import WHY_STYLE, product_why_html
from workbench.app.widgets import alert, table
from workbench.errors import WorkbenchError
from workbench.loop.review_queue import suspect_reason

TITLE = "Review queue"
ORDER = 70
MODES = ("One at a time", "Bulk: same predicted category")

REASON_TEXT = {"random": "random sample (measures accuracy)", "uncertain": "least confident",
               "disagree": "runs disagree", "dashboard": "sent from the dashboard"}
EMPTY_HINT = ("The queue is empty: build one with `workbench queue build` or from any drill-down (tick "
              "products in a table of the Model comparison, Categories, Threshold explorer, Sibling "
              "confusion, Error severity or Embedding map page and press **Send selected to review queue**).")
STYLE = """
.wb-reason {display:inline-block; padding:2px 8px; margin-right:6px; border-radius:10px;
            background:#eef; font-size:0.85em}
.wb-product {height: 236px; overflow-y: auto}
.wb-product h3 {margin: 0 0 0.3em 0}
.wb-muted {color:#666}
"""
PHOTO = 224


def reason_text(reason: str, item: dict) -> str:
    """The words of one reason badge (``dashboard`` names who sent the product, a suspect label
    the suggested category)."""
    if reason == "dashboard" and item.get("sender"):
        return f"sent from the dashboard by {item['sender']}"
    if reason == "suspect" and item.get("suspect"):
        return suspect_reason(item["suspect"].get("suggested", ""))
    return REASON_TEXT.get(reason, reason)


def suspect_html(item: dict) -> str:
    """For a suspect catalog label: the label as the catalog has it, and what accepting does."""
    suspect = item.get("suspect")
    if not suspect:
        return ""
    return (f"<p class='wb-suspect'>Catalog label: <b class='wb-given'>{escape_html(suspect.get('given'))}</b>. "
            "Accept takes the suggestion; to keep the catalog label, search for it and save it as the "
            "correction.</p>")


def product_html(item: dict | None, empty: str = "Nothing left to review in this queue.", names=None) -> str:
    """Title, brand, description, reasons and the predicted path of the item on screen (escaped;
    ``names``: a leaf's display name in the session's language)."""
    if item is None:
        return f"<div class='wb-product wb-empty'><h3>{escape_html(empty)}</h3></div>"
    reasons = "".join(f"<span class='wb-reason wb-reason-{escape_html(r)}'>{escape_html(reason_text(r, item))}</span>"
                      for r in item["reasons"])
    desc = str(item["description"] or "")
    desc = desc[:600] + ("…" if len(desc) > 600 else "")
    current = (f" · now labelled <b>{escape_html(item['current_leaf'])}</b> ({escape_html(item['label_source'])})"
               if item.get("current_leaf") else "")
    confidence = "" if item["proba"] is None or pd.isna(item["proba"]) else f"{item['proba']:.1%}; "
    return (f"<div class='wb-product' data-product-id='{escape_html(item['product_id'])}'>"
            f"<h3 class='wb-title'>{escape_html(item['title'] or '')}</h3>"
            f"<div class='wb-muted'>Brand: {escape_html(item['brand'] or 'n/a')} · product "
            f"{escape_html(item['product_id'])} · queue rank {item['rank']}{current}</div>"
            f"<p>{escape_html(desc)}</p>"
            f"<div>Why it is here: {reasons}</div>"
            f"<p>Model: <b class='wb-predicted'>{escape_html((names or str)(item['predicted_leaf'] or ''))}</b> "
            f"({confidence}{_decision_text(item)})"
            f"</p>{suspect_html(item)}</div>")


def _decision_text(item: dict) -> str:
    if item.get("suspect") and item.get("decision") is None:
        return "out-of-sample suggestion of the label-issues scan"
    return "shelved automatically" if item["decision"] == "shelved" else "sent to review"


def top5_frame(item: dict | None, names=None) -> pd.DataFrame:
    """``rank, category, probability, leaf`` of the model's five best leaves: ``category`` the
    full path as shown (``names``: in the session's language), ``leaf`` the node id."""
    if not item or not item["top5"]:
        return pd.DataFrame({"rank": pd.Series([], dtype="int64"), "category": pd.Series([], dtype=object),
                             "probability": pd.Series([], dtype=float), "leaf": pd.Series([], dtype=object)})
    leaves = [t["leaf"] for t in item["top5"]]
    return pd.DataFrame({"rank": range(1, len(leaves) + 1),
                         "category": [(names or str)(leaf) for leaf in leaves],
                         "probability": [t["proba"] for t in item["top5"]], "leaf": leaves})


def photo_html(item: dict | None) -> str:
    """The product photo (a data URI made by :mod:`workbench.app.thumbnails`), or a note."""
    if item and item.get("photo"):
        return (f"<img class='wb-photo' src='{item['photo']}' alt='' "
                f"style='max-width:{PHOTO}px;max-height:{PHOTO}px;display:block;margin:auto'>")
    return "<div class='wb-muted wb-no-photo'>no photo</div>"


def empty_text(state: ReviewState) -> str:
    """What the product area says when there is nothing to show."""
    if not state.param.queue_date.objects:
        return EMPTY_HINT
    if state.reason_filter != ANY or state.category_filter:
        return "No pending product matches these filters; clear them to see the rest of the queue."
    return "Nothing left to review in this queue. " + EMPTY_HINT.replace("The queue is empty: b", "B")


def view(ctx):
    """The review page."""
    state = ReviewState(workspace=ctx.workspace, reviewer=ctx.actor, role=ctx.role,
                        authorize=lambda: ctx.require("review"),  # re-checked at every write
                        preferences=ctx.preferences)
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.on_session_destroyed(lambda _ctx: state.close())  # give back the claimed item
    readonly = not state.may_review
    search = pn.widgets.AutocompleteInput(
        label="Another category", options=state.search_options(), case_sensitive=False,
        search_strategy="includes", min_characters=2, restrict=True, width=460,
        placeholder="Search categories… (press /)", css_classes=["wb-search"])
    accept = pn.widgets.Button(label="Accept (a)", color="success", disabled=readonly, css_classes=["wb-accept"])
    correct = pn.widgets.Button(label="Save correction (c)", color="primary", disabled=readonly,
                                css_classes=["wb-correct"])
    skip = pn.widgets.Button(label="Next (n)", css_classes=["wb-skip"])
    undo = pn.widgets.Button(label="Undo last (u)", color="warning", disabled=readonly, css_classes=["wb-undo"])
    date = pn.widgets.Select.from_param(state.param.queue_date, width=150)
    reason = pn.widgets.Select.from_param(state.param.reason_filter, width=170, css_classes=["wb-reason-filter"])
    category = pn.widgets.AutocompleteInput(
        label="Predicted under", options=state.filter_options(), case_sensitive=False, search_strategy="includes", min_characters=1,
        restrict=True, width=300, placeholder="Filter by category…", css_classes=["wb-category-filter"])
    category.param.watch(lambda e: setattr(state, "category_filter", e.new or ""), "value")
    clear = pn.widgets.Button(label="Clear filters", width=120, align="end")
    clear.on_click(lambda _: (setattr(category, "value", ""), setattr(state, "reason_filter", ANY)))
    mode = pn.widgets.RadioButtonGroup(options=list(MODES), value=MODES[0], css_classes=["wb-review-mode"])
    message = pn.Column(sizing_mode="stretch_width", min_height=64, css_classes=["wb-message"])
    product = pn.pane.HTML(product_html(state.item, empty_text(state), state.display_name), stylesheets=[STYLE],
                           sizing_mode="stretch_width", height=240)
    photo = pn.pane.HTML(photo_html(state.item), width=240, height=240, css_classes=["wb-photo-box"])
    why = pn.pane.HTML("", stylesheets=[WHY_STYLE], sizing_mode="stretch_width", css_classes=["wb-why-box"])

    def show_why(*_):  # computed for the item shown only
        item = state.item
        why.object = "" if item is None else product_why_html(state.workspace, item["product_id"], item.get("run_id"))
    top5 = table(top5_frame(state.item, state.display_name), percent=("probability",), buttons={"choose": "✓ choose"},
                 widths={"rank": 80, "probability": 130, "choose": 100}, height=232, css_classes=["wb-top5"],
                 hidden_columns=["leaf"])
    recent = table(recent_frame(state), css_classes=["wb-recent"])
    counts = pn.pane.HTML(sizing_mode="stretch_width", css_classes=["wb-counts"])
    keys = KeyboardShortcuts(keys=["a", "c", "n", "u"], focus_placeholder="Search categories",
                             hint="Keys: a accept · / search · c save correction · n next · u undo")

    def show_counts(*_):
        c = state.counts or {}
        counts.object = (f"<span data-pending='{c.get('pending', 0)}' data-done='{c.get('done', 0)}'>"
                         f"{c.get('pending', 0)} to review, {c.get('done', 0)} done of {c.get('total', 0)} "
                         f"(random {c.get('random', 0)}, uncertain {c.get('uncertain', 0)}, "
                         f"disagree {c.get('disagree', 0)}, from dashboards {c.get('dashboard', 0)}, "
                         f"suspect labels {c.get('suspect', 0)})</span>")

    def show_item(*_):
        product.object = product_html(state.item, empty_text(state), state.display_name)
        photo.object = photo_html(state.item)
        top5.value = top5_frame(state.item, state.display_name)
        show_why()
        search.value = ""
        for button in (accept, correct, skip):
            button.disabled = state.item is None or (readonly and button is not skip)

    def show_language(*_):
        search.options = state.search_options()
        category.options = state.filter_options()
        show_item()
        if bulk.visible:
            bulk.reload()

    notice = (f"You are signed in as {ctx.actor} ({ctx.role}): you can look at the queue, but submitting "
              "reviews needs the reviewer role.") if readonly else ""

    def show_message(*_):  # a viewer keeps the notice whenever there is no other message
        if state.message:
            message.objects = [alert(state.message, state.message_kind)]
        else:
            message.objects = [alert(notice, "info")] if notice else []

    def show_recent(*_):
        recent.value = recent_frame(state)

    state.param.watch(show_item, "item")
    ctx.preferences.param.watch(show_language, ["language", "search_languages"])
    state.param.watch(show_counts, "counts")
    state.param.watch(show_message, ["message", "message_kind"])
    state.param.watch(show_recent, "recent")
    search.param.watch(lambda e: setattr(state, "correction", e.new or ""), "value")

    def act(action):
        def run(*_):
            try:
                action()
            except WorkbenchError as exc:  # refused (viewer) or bad input: say so on the page
                state.report_error(exc)
        return run

    accept.on_click(act(state.accept))
    correct.on_click(act(state.correct))
    skip.on_click(act(state.skip))
    undo.on_click(act(state.undo))
    top5.on_click(lambda e: act(lambda: state.correct(top5.value.iloc[e.row]["leaf"]))()
                  if e.column == "choose" else None)
    shortcuts = {"a": state.accept, "c": state.correct, "n": state.skip, "u": state.undo}
    keys.on_key(lambda key: act(shortcuts[key])() if mode.value == MODES[0] else None)

    single = pn.Column(
        keys, pn.Row(photo, product, sizing_mode="stretch_width"),
        pn.pane.Markdown("**Why this category?**"), why,
        pn.pane.Markdown("**The model's top 5** (choose one to correct to it)"), top5,
        pn.Row(accept, search, correct, skip, undo, sizing_mode="stretch_width"),
        sizing_mode="stretch_width", css_classes=["wb-review-single"])
    bulk = bulk_view(state, act, readonly)
    bulk.visible = False

    def switch(event):
        if event.new != MODES[0]:
            bulk.reload()  # before it shows: the grid never appears with an empty category picker
        else:
            state.load_next()
        single.visible = event.new == MODES[0]
        bulk.visible = event.new != MODES[0]

    mode.param.watch(switch, "value")
    # a grid on screen follows the date and the filters (the single item already does)
    state.param.watch(lambda *_: bulk.reload() if bulk.visible else None,
                      ["queue_date", "reason_filter", "category_filter"])
    show_item()
    show_counts()
    show_message()
    who = pn.pane.Markdown(f"Reviewer: **{escape_markdown(ctx.actor)}** ({ctx.role})", css_classes=["wb-who"])
    layout = pn.Column(
        pn.pane.Markdown(f"## {TITLE}\nA random sample of each day's products (for an honest accuracy "
                         "figure), the least confident ones, those two runs disagree on, catalog labels "
                         "that look wrong (suspect labels) and products people sent from a dashboard."),
        pn.FlexBox(date, reason, category, clear, mode, gap="0.5em", align_items="flex-end",
                   sizing_mode="stretch_width"),
        pn.Row(counts, who, sizing_mode="stretch_width"),
        single, bulk, message,
        pn.pane.Markdown("### Your latest decisions"),
        recent,
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-review"])
    layout.state, layout.mode, layout.bulk, layout.message = state, mode, bulk, message
    return layout
