"""Review queue: one product at a time with the model's top-5; accept it, or pick another
category through a search over the whole taxonomy; undo the last decision. Keyboard: ``a``
accept, ``/`` search, ``c`` save the correction, ``n`` next (skip), ``u`` undo."""

from __future__ import annotations

import pandas as pd
import panel as pn

from workbench.app.keyboard import KeyboardShortcuts
from workbench.app.safe_text import escape_html
from workbench.app.state.review import ReviewState, recent_frame
from workbench.app.widgets import alert, table
from workbench.errors import WorkbenchError

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


def product_html(item: dict | None, names=None) -> str:
    """Title, brand, description, reasons and the predicted path of the item on screen
    (``names``: a leaf's display name in the session's language)."""
    if item is None:
        return "<div class='wb-product wb-empty'><h3>Nothing left to review in this queue.</h3></div>"
    reasons = "".join(f"<span class='wb-reason wb-reason-{r}'>{escape_html(REASON_TEXT.get(r, r))}</span>"
                      for r in item["reasons"])
    desc = escape_html(item["description"] or "")
    return (f"<div class='wb-product' data-product-id='{escape_html(item['product_id'])}'>"
            f"<h3 class='wb-title'>{escape_html(item['title'] or '')}</h3>"
            f"<div class='wb-muted'>Brand: {escape_html(item['brand'] or 'n/a')} · product "
            f"{escape_html(item['product_id'])} · queue rank {item['rank']}</div>"
            f"<p>{desc[:600] + ('…' if len(desc) > 600 else '')}</p>"
            f"<div>Why it is here: {reasons}</div>"
            f"<p>Model: <b class='wb-predicted'>{escape_html((names or str)(item['predicted_leaf'] or ''))}</b> "
            f"({item['proba']:.1%}; {'shelved automatically' if item['decision'] == 'shelved' else 'sent to review'})"
            f"</p></div>")


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


def photo_pane(item: dict | None):
    """The product photo, or a note that there is none."""
    if item and item.get("photo"):
        return pn.pane.JPG(item["photo"], width=224, height=224, css_classes=["wb-photo"])
    return pn.pane.HTML("<div class='wb-muted' style='width:224px'>no photo</div>", width=224)


def view(ctx):
    """The review page."""
    state = ReviewState(workspace=ctx.workspace, reviewer=ctx.actor, role=ctx.role,
                        preferences=ctx.preferences)
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.on_session_destroyed(lambda _ctx: state.close())  # give back the claimed item
    readonly = not state.may_review
    search = pn.widgets.AutocompleteInput(
        label="Another category", options=state.search_options(), case_sensitive=False,
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
    product = pn.pane.HTML(product_html(state.item, state.display_name), stylesheets=[STYLE],
                           sizing_mode="stretch_width")
    photo = pn.Column(photo_pane(state.item), width=240)
    top5 = table(top5_frame(state.item, state.display_name), percent=("probability",),
                 buttons={"choose": "✓ choose"}, css_classes=["wb-top5"], layout="fit_data_fill",
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
                         f"disagree {c.get('disagree', 0)})</span>")

    def show_item(*_):
        product.object = product_html(state.item, state.display_name)
        photo.objects = [photo_pane(state.item)]
        top5.value = top5_frame(state.item, state.display_name)
        search.value = ""

    def show_language(*_):
        search.options = state.search_options()
        show_item()

    def show_message(*_):
        message.objects = [alert(state.message, state.message_kind)] if state.message else []

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
    keys.on_key(lambda key: act(shortcuts[key])())

    show_counts()
    show_message()
    if readonly:
        message.objects = [alert(f"You are signed in as {ctx.actor} ({ctx.role}): you can look at the "
                                 "queue, but submitting reviews needs the reviewer role.", "info")]
    who = pn.pane.Markdown(f"Reviewer: **{ctx.actor}** ({ctx.role})", css_classes=["wb-who"])
    return pn.Column(
        pn.pane.Markdown(f"## {TITLE}\nA random sample of each day's products (for an honest accuracy "
                         "figure), the least confident ones and those two runs disagree on."),
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
