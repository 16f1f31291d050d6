"""Threshold explorer: move the global threshold (slider, exact value, arrow keys by 0.01) and
per-category overrides, watch coverage, accuracy, auto-shelved and review counts move, see the
operating point on the curve, price the choice with a cost model, list the wrong products it
would shelve, publish."""

from __future__ import annotations

import panel as pn

from workbench.app.keyboard import KeyboardShortcuts
from workbench.app.drill import clickable
from workbench.app.product_table import ProductTable
from workbench.app.safe_text import markdown_code
from workbench.app.state import ThresholdState
from workbench.app.state.thresholds import DEFAULT_TARGET
from workbench.app.widgets import TABLE_CSS, alert, no_runs, pct, run_select, table
from workbench.errors import WorkbenchError

TITLE = "Threshold explorer"
ORDER = 20
WARM = True  # rendered once at server start (fills caches, compiles datashader)
ARROWS = {"ArrowLeft": -0.01, "ArrowRight": 0.01}


def figures_html(summary: dict) -> str:
    """The live numbers; each value carries its exact figure in ``data-value`` for tests."""
    if not summary:
        return "<p>No predictions for this run.</p>"
    cells = [("threshold", "wb-threshold", f"{summary['threshold']:.3f}", summary["threshold"]),
             ("coverage", "wb-coverage", pct(summary["coverage"]), summary["coverage"]),
             ("accuracy among shelved", "wb-accuracy", pct(summary["accuracy"]), summary["accuracy"]),
             ("auto-shelved", "wb-shelved", f"{summary['shelved']:,}", summary["shelved"]),
             ("sent to review", "wb-review", f"{summary['review']:,}", summary["review"])]
    items = "".join(
        f'<div class="wb-figure"><div class="wb-label">{label}</div>'
        f'<div class="wb-value {cls}" data-value="{"" if raw is None else raw!r}">{text}</div></div>'
        for label, cls, text, raw in cells)
    return (f'<div class="wb-figures" style="display:flex;gap:2em;flex-wrap:wrap">{items}</div>'
            f'<p style="color:#666">of {summary["n"]:,} products in the run\'s test part'
            f'{", with " + str(summary["n_overrides"]) + " category overrides" if summary["n_overrides"] else ""}</p>')


STYLE = """
.wb-figure .wb-label {font-size: 0.85em; color: #555}
.wb-figure .wb-value {font-size: 1.8em; font-weight: 600}
"""


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
            "<p style='color:#666;font-size:0.85em'>Global threshold only; categories with an override "
            "keep theirs.</p>")


def view(ctx):
    """The threshold explorer page."""
    state = ThresholdState(workspace=ctx.workspace, part=ctx.settings.part)
    if state.run_id is None:
        return no_runs()
    slider = pn.widgets.FloatSlider.from_param(state.param.threshold, step=0.001, format="0.000",
                                               width=560, css_classes=["wb-threshold-slider"])
    exact = pn.widgets.FloatInput.from_param(state.param.threshold, step=0.001, label="Exact value", width=140,
                                             css_classes=["wb-exact"])
    keys = KeyboardShortcuts(keys=list(ARROWS), focus_placeholder="Search categories",
                             hint="Keys: ← → move the threshold by 0.01")
    keys.on_key(lambda key: state.step(ARROWS[key]))
    numbers = pn.pane.HTML(pn.bind(figures_html, state.param.summary), stylesheets=[STYLE],
                           sizing_mode="stretch_width")
    figure, tap = clickable(state.plot(), "coverage", "accuracy")
    curve = pn.pane.HoloViews(figure, css_classes=["wb-threshold-curve"])
    products = ProductTable(ctx, hint="Click a point of the curve, or list the wrong products the current "
                                      "thresholds would shelve.")
    tap.add_subscriber(lambda x=None, y=None: products.show(state.curve_point(x, y)) if x is not None else None)
    list_errors = pn.widgets.Button(label="List the wrong products these thresholds shelve", width=380,
                                    css_classes=["wb-list-errors"])
    list_errors.on_click(lambda _: products.show(state.shelved_errors_now()))

    node = pn.widgets.AutocompleteInput(
        label="Category (type any part of its path)", options=list(state.param.override_node.objects),
        value=state.override_node or "", case_sensitive=False, search_strategy="includes", min_characters=1,
        restrict=True, placeholder="Search categories…", width=460, css_classes=["wb-override-node"])
    node.param.watch(lambda e: setattr(state, "override_node", e.new) if e.new else None, "value")
    value = pn.widgets.FloatInput.from_param(state.param.override_value, width=120)
    add = pn.widgets.Button(label="Add override", color="primary", width=160, align="end")
    suggest = pn.widgets.Button(label="Use per-category thresholds for 95% accuracy", width=380,
                                css_classes=["wb-suggest"])
    replace = pn.widgets.Checkbox(label="replace my own overrides too", value=False, css_classes=["wb-replace"])
    clear = pn.widgets.Button(label="Clear overrides", width=380)
    overrides = table(state.overrides_frame(), percent=("accuracy",), decimals=("threshold",),
                      buttons={"remove": "✕"}, widths={"remove": 50}, css_classes=["wb-overrides"])
    feedback = pn.Column(sizing_mode="stretch_width")

    def refresh_overrides(*_):
        frame = state.overrides_frame()
        if not frame.equals(overrides.value):  # most slider moves leave the override rows as they are
            overrides.value = frame

    state.param.watch(refresh_overrides, "summary")

    def on_remove(event):
        if event.column == "remove":
            state.remove_override(overrides.value.iloc[event.row]["category"])

    overrides.on_click(on_remove)

    def on_add(_):
        try:
            state.add_override()
            feedback.objects = []
        except WorkbenchError as exc:
            feedback.objects = [alert(str(exc))]

    def on_suggest(_):
        kept = {} if replace.value else state.hand_made()
        n = state.suggest_overrides(0.95, replace=replace.value)
        note = f"; kept {len(kept)} of your own overrides" if kept else ""
        feedback.objects = [alert(f"Set {n} category overrides from the stored evaluation{note}.", "info")]

    add.on_click(on_add)
    suggest.on_click(on_suggest)
    clear.on_click(lambda _: setattr(state, "overrides", {}))

    cost_wrong = pn.widgets.FloatInput.from_param(state.param.cost_wrong, step=0.5, width=170,
                                                  css_classes=["wb-cost-wrong"])
    cost_review = pn.widgets.FloatInput.from_param(state.param.cost_review, step=0.5, width=170,
                                                   css_classes=["wb-cost-review"])
    cheapest = pn.widgets.Button(label="Use the cheapest threshold", width=240, css_classes=["wb-use-cheapest"])
    cheapest.on_click(lambda _: state.use_cheapest())
    costs = pn.pane.HTML(pn.bind(cost_html, state.param.costs, state.param.cost_wrong, state.param.cost_review),
                         stylesheets=[TABLE_CSS], sizing_mode="stretch_width", css_classes=["wb-costs"])

    publish = pn.widgets.Button(label="Publish thresholds", color="success", disabled=not ctx.can_publish,
                                width=220, css_classes=["wb-publish"])
    published = pn.pane.Markdown(pn.bind(published_text, state.param.published))
    run_note = pn.Column(sizing_mode="stretch_width")

    def show_run_note(*_):
        warning = state.published_warning()
        run_note.objects = [alert(warning.capitalize(), "warning")] if warning else []

    state.param.watch(show_run_note, ["run_id", "published"])
    show_run_note()

    def on_publish(_):
        try:
            ctx.require("publish")  # on the server, now: a re-enabled button or a revoked user is refused
            version = state.publish(by=ctx.actor)
        except WorkbenchError as exc:
            feedback.objects = [alert(str(exc))]
            return
        feedback.objects = [alert(f"Published version {version}: global threshold {state.threshold:.3f}"
                                  f" with {len(state.overrides)} category overrides, by "
                                  f"{ctx.actor}.", "success")]

    publish.on_click(on_publish)
    controls = pn.Column(run_select(state, ctx.workspace, ctx.settings.part), pn.Row(slider, exact), keys, numbers,
                         sizing_mode="stretch_width")
    override_box = pn.Column(
        pn.pane.Markdown("### Per-category overrides\nAn override on a parent applies to every leaf "
                         "below it; the most specific one wins."),
        node, pn.Row(value, add), suggest, replace, clear, overrides, min_width=420, max_width=560,
        sizing_mode="stretch_width")
    cost_box = pn.Column(
        pn.pane.Markdown("### Cost model\nWhat a product shelved in the wrong category costs against what "
                         "a review costs: the threshold with the lowest total, beside yours."),
        pn.Row(cost_wrong, cost_review, cheapest), costs, sizing_mode="stretch_width", css_classes=["wb-cost-model"])
    if not ctx.can_publish:
        feedback.objects = [alert("You are signed in as a viewer: publishing needs the reviewer role.", "info")]
    layout = pn.Column(
        pn.pane.Markdown(f"## {TITLE}\nA product is shelved automatically when its top probability "
                         "reaches its threshold; the rest go to review. **Click the curve** to list the "
                         "wrong products still shelved at that point."),
        controls, run_note, pn.FlexBox(curve, override_box, gap="1em", sizing_mode="stretch_width"), cost_box,
        pn.Row(publish, published), feedback, pn.pane.Markdown("### Products"), list_errors, products,
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-thresholds"])
    layout.state, layout.products, layout.tap = state, products, tap  # for notebooks, tests and benchmarks
    return layout
