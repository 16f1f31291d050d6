"""Review queue: one product at a time with the model's top-5; accept it, or pick another
category through a search over the whole taxonomy; undo the last decision. Keyboard: ``a``
accept, ``/`` search, ``c`` save the correction, ``n`` next (skip), ``u`` undo."""

from __future__ import annotations

import html

import pandas as pd
import panel as pn

from workbench.app.keyboard import KeyboardShortcuts
from workbench.app.safe_text import escape_html
from workbench.app.state.review import ReviewState, recent_frame
from workbench.app.widgets import alert, table
from workbench.errors import WorkbenchError
from workbench.loop.review_queue import suspect_reason

TITLE = "Review queue"
ORDER = 70

REASON_TEXT = {"random": "random sample (measures accuracy)", "uncertain": "least confident",
               "disagree": "runs disagree"}
STYLE = """
.wb-reason {display:inline-block; padding:2px 8px; margin-right:6px; border-radius:10px;
            background:#eef; font-size:0.85em}
.wb-product h3 {margin: 0 0 0.3em 0}
.wb-muted {color:#666}
"""


def reason_text(reason: str, item: dict) -> str:
    """The words of one reason badge (a suspect label names the suggested category)."""
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


def product_html(item: dict | None) -> str:
    """Title, brand, description, reasons and the predicted path of the item on screen."""
    if item is None:
        return "<div class='wb-product wb-empty'><h3>Nothing left to review in this queue.</h3></div>"
    reasons = "".join(f"<span class='wb-reason wb-reason-{escape_html(r)}'>{escape_html(reason_text(r, item))}</span>"
                      for r in item["reasons"])
    desc = html.escape(item["description"] or "")
    return (f"<div class='wb-product' data-product-id='{html.escape(item['product_id'])}'>"
            f"<h3 class='wb-title'>{html.escape(item['title'] or '')}</h3>"
            f"<div class='wb-muted'>Brand: {html.escape(item['brand'] or 'n/a')} · product "
            f"{html.escape(item['product_id'])} · queue rank {item['rank']}</div>"
            f"<p>{desc[:600] + ('…' if len(desc) > 600 else '')}</p>"
            f"<div>Why it is here: {reasons}</div>"
            f"<p>Model: <b class='wb-predicted'>{html.escape(item['predicted_leaf'] or '')}</b> "
            f"({item['proba']:.1%}; {_decision_text(item)})"
            f"</p>{suspect_html(item)}</div>")


def _decision_text(item: dict) -> str:
    if item.get("suspect") and item.get("decision") is None:
        return "out-of-sample suggestion of the label-issues scan"
    return "shelved automatically" if item["decision"] == "shelved" else "sent to review"


def top5_frame(item: dict | None) -> pd.DataFrame:
    """``rank, category, probability`` of the model's five best leaves (full paths)."""
    if not item or not item["top5"]:
        return pd.DataFrame({"rank": pd.Series([], dtype="int64"), "category": pd.Series([], dtype=object),
                             "probability": pd.Series([], dtype=float)})
    return pd.DataFrame({"rank": range(1, len(item["top5"]) + 1),
                         "category": [t["leaf"] for t in item["top5"]],
                         "probability": [t["proba"] for t in item["top5"]]})


def photo_pane(item: dict | None):
    """The product photo, or a note that there is none."""
    if item and item.get("photo"):
        return pn.pane.JPG(item["photo"], width=224, height=224, css_classes=["wb-photo"])
    return pn.pane.HTML("<div class='wb-muted' style='width:224px'>no photo</div>", width=224)


def view(ctx):
    """The review page."""
    state = ReviewState(workspace=ctx.workspace, reviewer=ctx.actor, role=ctx.role)
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.on_session_destroyed(lambda _ctx: state.close())  # give back the claimed item
    readonly = not state.may_review
    search = pn.widgets.AutocompleteInput(
        label="Another category", options=state.leaf_options(), case_sensitive=False,
        search_strategy="includes", min_characters=2, restrict=True, width=520,
        placeholder="Search categories… (press /)", css_classes=["wb-search"])
    accept = pn.widgets.Button(label="Accept (a)", color="success", disabled=readonly,
                               css_classes=["wb-accept"])
    correct = pn.widgets.Button(label="Save correction (c)", color="primary", disabled=readonly,
                                css_classes=["wb-correct"])
    skip = pn.widgets.Button(label="Next (n)", css_classes=["wb-skip"])
    undo = pn.widgets.Button(label="Undo last (u)", color="warning", disabled=readonly,
                             css_classes=["wb-undo"])
    date = pn.widgets.Select.from_param(state.param.queue_date, width=160)
    message = pn.Column(sizing_mode="stretch_width", css_classes=["wb-message"])
    product = pn.pane.HTML(product_html(state.item), stylesheets=[STYLE], sizing_mode="stretch_width")
    photo = pn.Column(photo_pane(state.item), width=240)
    top5 = table(top5_frame(state.item), percent=("probability",), buttons={"choose": "✓ choose"},
                 css_classes=["wb-top5"], layout="fit_data_fill")
    recent = table(recent_frame(state), css_classes=["wb-recent"])
    counts = pn.pane.HTML(sizing_mode="stretch_width", css_classes=["wb-counts"])
    keys = KeyboardShortcuts(keys=["a", "c", "n", "u"], focus_placeholder="Search categories",
                             hint="Keys: a accept · / search · c save correction · n next · u undo")

    def show_counts(*_):
        c = state.counts or {}
        counts.object = (f"<span data-pending='{c.get('pending', 0)}' data-done='{c.get('done', 0)}'>"
                         f"{c.get('pending', 0)} to review, {c.get('done', 0)} done of {c.get('total', 0)} "
                         f"(random {c.get('random', 0)}, uncertain {c.get('uncertain', 0)}, "
                         f"disagree {c.get('disagree', 0)}, suspect labels {c.get('suspect', 0)})</span>")

    def show_item(*_):
        product.object = product_html(state.item)
        photo.objects = [photo_pane(state.item)]
        top5.value = top5_frame(state.item)
        search.value = ""

    def show_message(*_):
        message.objects = [alert(state.message, state.message_kind)] if state.message else []

    def show_recent(*_):
        recent.value = recent_frame(state)

    state.param.watch(show_item, "item")
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
    top5.on_click(lambda e: act(lambda: state.correct(top5.value.iloc[e.row]["category"]))()
                  if e.column == "choose" else None)
    shortcuts = {"a": state.accept, "c": state.correct, "n": state.skip, "u": state.undo}
    keys.on_key(lambda key: act(shortcuts[key])())

    show_counts()
    show_message()
    if readonly:
        message.objects = [alert(f"You are signed in as {ctx.actor} ({ctx.role}): you can look at the "
                                 "queue, but submitting reviews needs the reviewer role.", "info")]
    who = pn.pane.Markdown(f"Reviewer: **{ctx.actor}** ({ctx.role})", css_classes=["wb-who"])
    return pn.Column(
        pn.pane.Markdown(f"## {TITLE}\nA random sample of each day's products (for an honest accuracy "
                         "figure), the least confident ones, those two runs disagree on, and catalog "
                         "labels that look wrong (suspect labels)."),
        pn.Row(date, counts, who, sizing_mode="stretch_width"),
        keys,
        pn.Row(photo, product, sizing_mode="stretch_width"),
        pn.pane.Markdown("**The model's top 5** (choose one to correct to it)"),
        top5,
        pn.Row(accept, search, correct, skip, undo, sizing_mode="stretch_width"),
        message,
        pn.pane.Markdown("### Your latest decisions"),
        recent,
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-review"])
