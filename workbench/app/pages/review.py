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
from workbench.app.pages._review_feedback import feedback_view
from workbench.security.safe_text import escape_html
from workbench.app.state.review import ANY, ReviewState, recent_frame
from workbench.app.style import STYLESHEET
from workbench.app.why import WHY_STYLE, product_why_html
from workbench.app.widgets import action_button, guarded_action, html, intro, live_alert, table
from workbench.loop.review_queue import suspect_reason
from workbench.loop.reviews import TEST_PART_NOTICE

TITLE = "Review queue"
ORDER = 70
MODES = ("One at a time", "Bulk: same predicted category", "Feedback to confirm")

REASON_TEXT = {"random": "random sample (measures accuracy)", "uncertain": "least confident",
               "disagree": "runs disagree", "dashboard": "sent from the dashboard",
               "taxonomy split": "taxonomy split: pick one of the new categories",
               "category retired": "category retired: pick its new category"}
#: the empty queue in words (HTML composed here): the command and the button that fill it
EMPTY_HINT = ("The queue is empty: build one with <code>workbench queue build</code>, or tick products in a "
              "table of the Model comparison, Categories, Threshold explorer, Sibling confusion, Error severity "
              "or Embedding map page and press <b>Send selected to review queue</b>.")
HOW = ("one product at a time with the model's five best categories: accept the model's choice or pick "
       "another; every decision becomes a training label, and the random sample also measures live accuracy.")
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
    if item is None:  # ``empty`` is the page's own HTML (empty_text), never catalog text
        return f"<div class='wb-product wb-empty'><p class='wb-empty-state'>{empty}</p></div>"
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
            + (blind_html() if item.get("blind") else
               f"<p>Model: <b class='wb-predicted'>{escape_html((names or str)(item['predicted_leaf'] or ''))}</b> "
               f"({confidence}{_decision_text(item)})</p>")
            + f"{suspect_html(item)}{test_part_html(item)}</div>")


def blind_html() -> str:
    """In place of the model's suggestion, for an item of the random sample."""
    return ("<p class='wb-blind'>Pick this product's category yourself: it is part of the random sample "
            "that measures live accuracy, so the model's suggestion is not shown.</p>")


def test_part_html(item: dict) -> str:
    """For a product in the test part: the notice that its label is evaluation truth."""
    if not item.get("in_test_part"):
        return ""
    given = item.get("catalog_leaf")
    return (f"<p class='wb-test-part'><b>{escape_html(TEST_PART_NOTICE[0].upper() + TEST_PART_NOTICE[1:])}.</b>"
            + (f" Catalog label: <b class='wb-catalog-leaf'>{escape_html(given)}</b>." if given else "") + "</p>")


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
        return f"<img class='wb-photo' src='{item['photo']}' alt=''>"
    return "<div class='wb-muted wb-no-photo'>no photo</div>"


def empty_text(state: ReviewState) -> str:
    """What the product area says when there is nothing to show."""
    if not state.param.queue_date.objects:
        return EMPTY_HINT
    if state.reason_filter != ANY or state.category_filter:
        return "No pending product matches these filters; clear them to see the rest of the queue."
    return "Nothing left to review in this queue. " + EMPTY_HINT.replace("The queue is empty: b", "B")


def counts_html(c: dict | None) -> str:
    """The queue's counts in words (``data-pending`` and ``data-done`` for tests)."""
    c = c or {}
    return (f"<span data-pending='{c.get('pending', 0)}' data-done='{c.get('done', 0)}'>"
            f"{c.get('pending', 0)} to review, {c.get('done', 0)} done of {c.get('total', 0)} "
            f"(random {c.get('random', 0)}, uncertain {c.get('uncertain', 0)}, "
            f"disagree {c.get('disagree', 0)}, from dashboards {c.get('dashboard', 0)}, "
            f"suspect labels {c.get('suspect', 0)})</span>")


def message_text(message: str, notice: str) -> str:
    """The answer to the last action; a viewer keeps the notice whenever there is no other message."""
    return message or notice


def message_area(state: ReviewState, notice: str) -> pn.Column:
    """The answer to the last action in ONE alert that stays on the page and changes in place (its
    text, its colour, hidden while there is nothing to say): the page's redraws every two seconds
    (the bulk grid, the counts) never replace it, so a confirmation stays readable."""
    box = live_alert(pn.bind(message_text, state.param.message, notice),
                     pn.bind(lambda message, kind: kind if message else "info", state.param.message,
                             state.param.message_kind))
    return pn.Column(box, sizing_mode="stretch_width", min_height=64, css_classes=["wb-message"])


def filters(state: ReviewState, mode) -> pn.FlexBox:
    """Queue date, reason and predicted-category filters, and the mode switch."""
    category = pn.widgets.AutocompleteInput(
        label="Predicted under", options=pn.bind(lambda *_: state.filter_options(), *languages(state)),
        case_sensitive=False, search_strategy="includes", min_characters=1, restrict=True, width=300,
        placeholder="Filter by category…", css_classes=["wb-category-filter"])
    pn.bind(lambda picked: setattr(state, "category_filter", picked or ""), category, watch=True)
    clear = pn.widgets.Button(label="Clear filters", width=120, align="end")
    pn.bind(lambda _clicked: (setattr(category, "value", ""), setattr(state, "reason_filter", ANY)), clear,
            watch=True)
    return pn.FlexBox(pn.widgets.Select.from_param(state.param.queue_date, width=150),
                      pn.widgets.Select.from_param(state.param.reason_filter, width=170,
                                                   css_classes=["wb-reason-filter"]),
                      category, clear, mode, gap="0.5em", align_items="flex-end", sizing_mode="stretch_width")


def languages(state: ReviewState) -> list:
    """The preferences that change how category names read (bound views follow them)."""
    prefs = state.preferences
    return [] if prefs is None else [prefs.param.language, prefs.param.search_languages]


def single_view(state: ReviewState, readonly: bool, mode) -> pn.Column:
    """One product at a time: photo, text, the model's top 5, accept / correct / next / undo, keys."""
    names = languages(state)
    search = pn.widgets.AutocompleteInput(
        label="Another category", options=pn.bind(lambda *_: state.search_options(), *names),
        value=pn.bind(lambda item: "", state.param.item), case_sensitive=False, search_strategy="includes",
        min_characters=2, restrict=True, width=460, placeholder="Search categories… (press /)",
        css_classes=["wb-search"])
    pn.bind(lambda picked: setattr(state, "correction", picked or ""), search, watch=True)
    idle = pn.bind(lambda item: item is None, state.param.item)
    locked = pn.bind(lambda item: item is None or readonly, state.param.item)
    button = lambda label, css, color="default", disabled=locked, action=None: action_button(  # noqa: E731
        state, action, label=label, color=color, disabled=disabled, css_classes=[css],
        width=170)  # a fixed width: the row wraps at 1280 px instead of overlapping its buttons
    # the random sample is reviewed blind: nothing to accept, the reviewer picks the category
    blind = pn.bind(lambda item: item is None or readonly or bool(item.get("blind")), state.param.item)
    buttons = [button("Accept (a)", "wb-accept", "success", disabled=blind, action=state.accept), search,
               button("Save correction (c)", "wb-correct", "primary", action=state.correct),
               button("Next (n)", "wb-skip", disabled=idle, action=state.skip),
               button("Undo last (u)", "wb-undo", "warning", disabled=readonly, action=state.undo)]
    top5 = table(top5_frame(state.item, state.display_name), percent=("probability",), buttons={"choose": "✓ choose"},
                 widths={"rank": 80, "probability": 130, "choose": 100}, height=232, css_classes=["wb-top5"],
                 hidden_columns=["leaf"])
    top5.value = pn.bind(lambda item, *_: top5_frame(item, state.display_name), state.param.item, *names)
    # a click on a cell's "choose" is an event of the table (no parameter holds it)
    top5.on_click(lambda e: guarded_action(state, lambda: state.correct(top5.value.iloc[e.row]["leaf"]))()
                  if e.column == "choose" else None)
    keys = KeyboardShortcuts(keys=["a", "c", "n", "u"], focus_placeholder="Search categories",
                             hint="Keys: a accept · / search · c save correction · n next · u undo")
    shortcuts = {"a": state.accept, "c": state.correct, "n": state.skip, "u": state.undo}
    pn.bind(lambda key: guarded_action(state, shortcuts[key])() if mode.value == MODES[0] else None,
            keys.param.pressed, watch=True)
    product = pn.pane.HTML(pn.bind(lambda item, *_: product_html(item, empty_text(state), state.display_name),
                                   state.param.item, state.param.reason_filter, state.param.category_filter, *names),
                           stylesheets=[STYLESHEET], sizing_mode="stretch_width", height=240)
    photo = pn.pane.HTML(pn.bind(photo_html, state.param.item), width=240, height=240, css_classes=["wb-photo-box"],
                         stylesheets=[STYLESHEET])
    # the reasons, computed for the item shown only (never for the whole queue); hidden for a blind item
    why = pn.pane.HTML(pn.bind(lambda item: "" if item is None or item.get("blind") else
                               product_why_html(state.workspace, item["product_id"], item.get("run_id")),
                               state.param.item),
                       stylesheets=[WHY_STYLE], sizing_mode="stretch_width", css_classes=["wb-why-box"])
    # a blind item (the random sample) shows neither heading over an empty table: the product's
    # text already says to pick the category yourself
    suggestion = pn.Column(html("<p><b>Why this category?</b></p>"), why,
                           html("<p><b>The model's top 5</b> (choose one to correct to it)</p>"), top5,
                           visible=pn.bind(lambda item: item is not None and not item.get("blind"), state.param.item),
                           sizing_mode="stretch_width", css_classes=["wb-model-suggestion"])
    return pn.Column(keys, pn.Row(photo, product, sizing_mode="stretch_width"), suggestion,
                     pn.FlexBox(*buttons, gap="0 0.6em", align_items="flex-end", css_classes=["wb-review-buttons"]),
                     sizing_mode="stretch_width",
                     css_classes=["wb-review-single"])


def view(ctx):
    """The review page."""
    state = ReviewState(workspace=ctx.workspace, reviewer=ctx.actor, role=ctx.role,
                        authorize=lambda: ctx.require("review"),  # re-checked at every write
                        preferences=ctx.preferences,
                        news=ctx.news.param.writes)  # a product reviewed elsewhere leaves this page
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.on_session_destroyed(lambda _ctx: state.close())  # give back the claimed item
    readonly = not state.may_review
    mode = pn.widgets.RadioButtonGroup(options=list(MODES), value=MODES[0], css_classes=["wb-review-mode"])
    single = single_view(state, readonly, mode)
    bulk = bulk_view(state, lambda action: guarded_action(state, action), readonly)
    bulk.visible = False
    feedback = feedback_view(state, lambda action: guarded_action(state, action), readonly)
    feedback.visible = False

    def switch(chosen: str):
        if chosen == MODES[1]:
            bulk.reload()  # before it shows: the grid never appears with an empty category picker
        else:
            state.bulk = []  # its claims go with the next item's claim
        if chosen == MODES[0]:
            state.load_next()
        if chosen == MODES[2]:
            feedback.reload()
        single.visible, bulk.visible, feedback.visible = chosen == MODES[0], chosen == MODES[1], chosen == MODES[2]

    pn.bind(switch, mode, watch=True)
    # a grid on screen follows the date, the filters and the language (the single item already does)
    pn.bind(lambda *_: bulk.reload() if bulk.visible else None, state.param.queue_date, state.param.reason_filter,
            state.param.category_filter, *languages(state), watch=True)
    notice = (f"You are signed in as {ctx.actor} ({ctx.role}): you can look at the queue, but submitting "
              "reviews needs the reviewer role.") if readonly else ""
    message = message_area(state, notice)
    recent = table(recent_frame(state), css_classes=["wb-recent"])
    recent.value = pn.bind(lambda _: recent_frame(state), state.param.recent)
    # a decision that changes a test-part product's catalog label needs this one more click
    confirm = action_button(state, state.confirm_test_change, label="Confirm: change the test label",
                            color="danger", visible=pn.bind(bool, state.param.pending_test_change),
                            css_classes=["wb-confirm-test-change"])
    who = html(f"<p>{'Looking as' if readonly else 'Reviewer'}: <b>{escape_html(ctx.actor)}</b> "
               f"({escape_html(ctx.role)})</p>", css_classes=["wb-who"])
    layout = pn.Column(
        intro(TITLE, HOW, "The queue holds a random sample of each day's products (for an honest accuracy "
                          "figure), the least confident ones, those two runs disagree on, catalog labels that "
                          "look wrong (suspect labels) and products people sent from a dashboard."),
        filters(state, mode),
        pn.Row(html(pn.bind(counts_html, state.param.counts), css_classes=["wb-counts"]), who,
               sizing_mode="stretch_width"),
        single, bulk, feedback, message, confirm, html("<h3>Your latest decisions</h3>"), recent,
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-review"])
    layout.state, layout.mode, layout.bulk, layout.message = state, mode, bulk, message
    layout.feedback = feedback
    layout.follows = True  # the item, the grid and the counts follow ctx.news (state.news)
    return layout
