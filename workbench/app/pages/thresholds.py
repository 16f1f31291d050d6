"""Threshold explorer: move the global threshold (slider, exact value, arrow keys by 0.01) and
per-category overrides, watch coverage, accuracy, auto-shelved and review counts move, see the
operating point on the curve, price the choice with a cost model, list the wrong products it
would shelve, publish."""

from __future__ import annotations

import panel as pn

from workbench.app.keyboard import KeyboardShortcuts
from workbench.app.drill import clickable
from workbench.app.product_table import ProductTable
from workbench.security.safe_text import escape_html, markdown_code
from workbench.app.state import ThresholdState
from workbench.app.state.thresholds import DEFAULT_TARGET
from workbench.app.glossary import define
from workbench.app.widgets import alert, empty_state_html, html, intro, no_runs, pct, run_select, table
from workbench.errors import WorkbenchError

TITLE = "Threshold explorer"
ORDER = 20
WARM = True  # rendered once at server start (fills caches, compiles datashader)
ARROWS = {"ArrowLeft": -0.01, "ArrowRight": 0.01}
HOW = ("a product is shelved automatically when its top probability reaches its threshold, the rest go to "
       "review; move the threshold and read coverage (share shelved) against accuracy among shelved on the "
       "run's test part. <b>Click the curve</b> to list the wrong products still shelved at that point.")


def figures_html(summary: dict) -> str:
    """The live numbers; each value carries its exact figure in ``data-value`` for tests."""
    if not summary:
        return empty_state_html("This run has no predictions on the test part: evaluate it first.",
                                "workbench evaluate --all")
    cells = [("threshold", "wb-threshold", f"{summary['threshold']:.3f}", summary["threshold"]),
             ("coverage", "wb-coverage", pct(summary["coverage"]), summary["coverage"]),
             ("accuracy among shelved", "wb-accuracy", pct(summary["accuracy"]), summary["accuracy"]),
             ("auto-shelved", "wb-shelved", f"{summary['shelved']:,}", summary["shelved"]),
             ("sent to review", "wb-review", f"{summary['review']:,}", summary["review"])]
    items = "".join(
        f'<div class="wb-figure"><div class="wb-label">{label}</div>'
        f'<div class="wb-value {cls}" data-value="{"" if raw is None else raw!r}">{text}</div></div>'
        for label, cls, text, raw in cells)
    return define(f'<div class="wb-figures">{items}</div>'
                  f'<p class="wb-muted">of {summary["n"]:,} products in the run\'s test part'
                  f'{", with " + str(summary["n_overrides"]) + " category overrides" if summary["n_overrides"] else ""}</p>')


def published_text(published: dict) -> str:
    """The currently published set, in words."""
    glob = published.get("threshold")
    if glob is None:
        return "**Published:** nothing yet; until you publish, every product goes to review."
    n = len(published.get("overrides") or {})
    run = published.get("run_id")
    return (f"**Published:** global threshold {glob:.3f}" + (f" and {n} category overrides" if n else "")
            + (f", tuned on run {markdown_code(run)}." if run else "."))


def cost_html(costs: dict, cost_wrong: float, cost_review: float) -> str:
    """The cost model's answer: the cheapest global threshold beside the current one and the one
    for the target accuracy (exact figures in ``data-*`` for tests)."""
    best, now, target = costs.get("cheapest"), costs.get("current"), costs.get("target")
    if best is None:
        return ""

    def line(label: str, point, cls: str) -> str:
        shown = "never shelve" if point.threshold > 1 else f"{point.threshold:.3f}"
        return (f"<tr class='{cls}' data-threshold='{point.threshold!r}' data-cost='{point.cost!r}'>"
                f"<td>{label}</td><td><b>{shown}</b></td><td>{point.cost:,.0f}</td>"
                f"<td>{point.wrong:,} wrong shelves × {cost_wrong:g} + {point.review:,} reviews × {cost_review:g}</td></tr>")

    rows = [line("cheapest", best, "wb-cost-best"), line("current", now, "wb-cost-now")]
    if target is not None:
        rows.append(line(f"for {float(DEFAULT_TARGET):.0%} accuracy", target, "wb-cost-target"))
    return ("<table class='wb-table wb-cost'><thead><tr><th>threshold</th><th></th><th>total cost</th>"
            "<th>made of</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
            "<p class='wb-note'>Global threshold only; categories with an override keep theirs.</p>")


def message_view(message: str, kind: str):
    """The answer to the last action on the page."""
    return alert(message, kind) if message else None


def live_figures(state) -> pn.Column:
    """The global threshold (slider, exact value, arrow keys), where it opened and the live numbers."""
    slider = pn.widgets.FloatSlider.from_param(state.param.threshold, step=0.001, format="0.000",
                                               width=560, css_classes=["wb-threshold-slider"])
    exact = pn.widgets.FloatInput.from_param(state.param.threshold, step=0.001, label="Exact value", width=140,
                                             css_classes=["wb-exact"])
    keys = KeyboardShortcuts(keys=list(ARROWS), focus_placeholder="Search categories",
                             hint="Keys: ← → move the threshold by 0.01")
    pn.bind(lambda key: state.step(ARROWS[key]), keys.param.pressed, watch=True)
    opened = html(pn.bind(lambda text: f"<p class='wb-opened'>{define(escape_html(text))}</p>", state.param.opened_at),
                  css_classes=["wb-opened-at"])
    numbers = html(pn.bind(figures_html, state.param.summary))
    return pn.Column(pn.Row(slider, exact), opened, keys, numbers, sizing_mode="stretch_width")


def override_box(state) -> pn.Column:
    """Per-category overrides: add one, load the suggested ones, clear, remove from the table."""
    node = pn.widgets.AutocompleteInput(
        label="Category (type any part of its path)", options=list(state.param.override_node.objects),
        value=state.override_node or "", case_sensitive=False, search_strategy="includes", min_characters=1,
        restrict=True, placeholder="Search categories…", width=460, css_classes=["wb-override-node"])
    pn.bind(lambda picked: setattr(state, "override_node", picked) if picked else None, node, watch=True)
    replace = pn.widgets.Checkbox(label="replace my own overrides too", value=False, css_classes=["wb-replace"])
    add_button = pn.widgets.Button(label="Add override", color="primary", width=160, align="end")
    suggest_button = pn.widgets.Button(label="Use per-category thresholds for 95% accuracy", width=380,
                                       css_classes=["wb-suggest"])
    clear = pn.widgets.Button(label="Clear overrides", width=380)

    def suggest(_):
        kept = {} if replace.value else state.hand_made()
        n = state.suggest_overrides(0.95, replace=replace.value)
        note = f"; kept {len(kept)} of your own overrides" if kept else ""
        state.message_kind, state.message = "info", f"Set {n} category overrides from the stored evaluation{note}."

    def add(_):
        try:
            state.add_override()
            state.message = ""
        except WorkbenchError as exc:
            state.message_kind, state.message = "danger", str(exc)

    overrides = table(state.overrides_frame(), percent=("accuracy",), decimals=("threshold",),
                      buttons={"remove": "✕"}, widths={"remove": 50}, css_classes=["wb-overrides"])
    overrides.value = pn.bind(lambda summary: state.overrides_frame(), state.param.summary)
    # a click on a cell's ✕ is an event of the table (Panel has no parameter for it)
    overrides.on_click(lambda e: state.remove_override(overrides.value.iloc[e.row]["category"])
                       if e.column == "remove" else None)
    pn.bind(add, add_button, watch=True)
    pn.bind(suggest, suggest_button, watch=True)
    pn.bind(lambda _: setattr(state, "overrides", {}), clear, watch=True)
    return pn.Column(
        pn.pane.Markdown("### Per-category overrides\nAn override on a parent applies to every leaf "
                         "below it; the most specific one wins."),
        node, pn.Row(pn.widgets.FloatInput.from_param(state.param.override_value, width=120), add_button),
        suggest_button, replace, clear, overrides, min_width=420, max_width=560, sizing_mode="stretch_width")


def cost_box(state) -> pn.Column:
    """The cost model: what a wrong shelf and a review cost, and the cheapest threshold."""
    cost_wrong = pn.widgets.FloatInput.from_param(state.param.cost_wrong, step=0.5, width=170,
                                                  css_classes=["wb-cost-wrong"])
    cost_review = pn.widgets.FloatInput.from_param(state.param.cost_review, step=0.5, width=170,
                                                   css_classes=["wb-cost-review"])
    cheapest = pn.widgets.Button(label="Use the cheapest threshold", width=240, css_classes=["wb-use-cheapest"])
    pn.bind(lambda _: state.use_cheapest(), cheapest, watch=True)
    costs = html(pn.bind(cost_html, state.param.costs, state.param.cost_wrong, state.param.cost_review),
                 css_classes=["wb-costs"])
    return pn.Column(
        pn.pane.Markdown("### Cost model\nWhat a product shelved in the wrong category costs against what "
                         "a review costs: the threshold with the lowest total, beside yours."),
        pn.Row(cost_wrong, cost_review, cheapest), costs, sizing_mode="stretch_width", css_classes=["wb-cost-model"])


def publish_row(ctx, state) -> pn.Row:
    """Publish the thresholds (reviewers; the role is read again on the server) and what is published now."""
    def publish(_):
        try:
            ctx.require("publish")  # on the server, now: a re-enabled button or a revoked user is refused
            version = state.publish(by=ctx.actor)
        except WorkbenchError as exc:
            state.message_kind, state.message = "danger", str(exc)
            return
        state.message_kind, state.message = "success", (
            f"Published version {version}: global threshold {state.threshold:.3f} with {len(state.overrides)} "
            f"category overrides, by {ctx.actor}.")

    button = pn.widgets.Button(label="Publish thresholds", color="success", disabled=not ctx.can_publish,
                               width=220, css_classes=["wb-publish"])
    pn.bind(publish, button, watch=True)
    return pn.Row(button, pn.pane.Markdown(pn.bind(published_text, state.param.published)))


def run_warning(state, run_id=None, published=None):
    """A warning when the published thresholds were tuned on another run."""
    warning = state.published_warning()
    return alert(warning.capitalize(), "warning") if warning else None


def view(ctx):
    """The threshold explorer page."""
    state = ThresholdState(workspace=ctx.workspace, part=ctx.settings.part)
    if state.run_id is None:
        return no_runs()
    figure, tap = clickable(state.plot(), "coverage", "accuracy")
    products = ProductTable(ctx, hint="Click a point of the curve, or list the wrong products the current "
                                      "thresholds would shelve.")
    tap.add_subscriber(lambda x=None, y=None: products.show(state.curve_point(x, y)) if x is not None else None)
    list_errors = pn.widgets.Button(label="List the wrong products these thresholds shelve", width=380,
                                    css_classes=["wb-list-errors"])
    pn.bind(lambda _: products.show(state.shelved_errors_now()), list_errors, watch=True)
    # thresholds published elsewhere (another tab, a notebook): the published line and the warning
    # follow; the threshold and overrides being explored here stay as the visitor set them
    pn.bind(lambda _: state.follow_published(), ctx.news.param.published, watch=True)
    if not ctx.can_publish:
        state.message = "You are signed in as a viewer: publishing needs the reviewer role."
    layout = pn.Column(
        intro(TITLE, HOW), run_select(state, ctx), live_figures(state),
        pn.panel(pn.bind(run_warning, state, state.param.run_id, state.param.published)),
        pn.FlexBox(pn.pane.HoloViews(figure, css_classes=["wb-threshold-curve"]), override_box(state), gap="1em",
                   sizing_mode="stretch_width"),
        cost_box(state), publish_row(ctx, state),
        pn.panel(pn.bind(message_view, state.param.message, state.param.message_kind)),
        pn.pane.Markdown("### Products"), list_errors, products,
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-thresholds"])
    layout.state, layout.products, layout.tap = state, products, tap  # for notebooks, tests and benchmarks
    layout.follows = True  # runs and published thresholds follow in place (ctx.news)
    return layout
