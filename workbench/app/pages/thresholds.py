"""Threshold explorer: move the global threshold and per-category overrides, watch coverage,
accuracy, auto-shelved and review counts move, see the operating point on the curve, publish."""

from __future__ import annotations

import panel as pn

from workbench.app.state import ThresholdState
from workbench.app.widgets import alert, no_runs, pct, run_select, table
from workbench.errors import WorkbenchError

TITLE = "Threshold explorer"
ORDER = 20
WARM = True  # rendered once at server start (fills caches, compiles datashader)


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
    return f"**Published:** global threshold {glob:.3f}" + (f" and {n} category overrides." if n else ".")


def view(ctx):
    """The threshold explorer page."""
    state = ThresholdState(workspace=ctx.workspace, part=ctx.settings.part)
    if state.run_id is None:
        return no_runs()
    slider = pn.widgets.FloatSlider.from_param(state.param.threshold, step=0.001, format="0.000",
                                               width=640, css_classes=["wb-threshold-slider"])
    exact = pn.widgets.FloatInput.from_param(state.param.threshold, step=0.001, label="Exact value", width=140,
                                             css_classes=["wb-exact"])
    numbers = pn.pane.HTML(pn.bind(figures_html, state.param.summary), stylesheets=[STYLE],
                           sizing_mode="stretch_width")
    plot = pn.pane.HoloViews(state.plot(), width=620, height=400, sizing_mode="fixed")

    node = pn.widgets.Select.from_param(state.param.override_node, width=380)
    value = pn.widgets.FloatInput.from_param(state.param.override_value, width=120)
    add = pn.widgets.Button(label="Add override", color="primary", width=180, align="end")
    suggest = pn.widgets.Button(label="Use per-category thresholds for 95% accuracy", width=380)
    clear = pn.widgets.Button(label="Clear overrides", width=380)
    overrides = table(state.overrides_frame(), percent=("accuracy",), decimals=("threshold",),
                      buttons={"remove": "✕"}, layout="fit_data_table", width=520, sizing_mode="fixed",
                      css_classes=["wb-overrides"])
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

    add.on_click(on_add)
    suggest.on_click(lambda _: feedback.__setattr__("objects", [alert(
        f"Set {state.suggest_overrides(0.95)} category overrides from the stored evaluation.", "info")]))
    clear.on_click(lambda _: setattr(state, "overrides", {}))

    publish = pn.widgets.Button(label="Publish thresholds", color="success", disabled=not ctx.can_publish,
                                width=220, css_classes=["wb-publish"])
    published = pn.pane.Markdown(pn.bind(published_text, state.param.published))

    def on_publish(_):
        try:
            ctx.require("publish")  # on the server, now: a re-enabled button or a revoked user is refused
            version = state.publish(by=ctx.actor)
        except WorkbenchError as exc:
            feedback.objects = [alert(str(exc))]
            return
        feedback.objects = [alert(f"Published version {version}: global threshold {state.threshold:.3f}"
                                  f" with {len(state.overrides)} category overrides, by {ctx.actor}.",
                                  "success")]

    publish.on_click(on_publish)
    controls = pn.Column(run_select(state, ctx.workspace, ctx.settings.part), pn.Row(slider, exact), numbers,
                         sizing_mode="stretch_width")
    override_box = pn.Column(
        pn.pane.Markdown("### Per-category overrides\nAn override on a parent applies to every leaf "
                         "below it; the most specific one wins."),
        node, pn.Row(value, add), suggest, clear, overrides, width=530)
    if not ctx.can_publish:
        feedback.objects = [alert("You are signed in as a viewer: publishing needs the reviewer role.", "info")]
    layout = pn.Column(
        pn.pane.Markdown(f"## {TITLE}\nA product is shelved automatically when its top probability "
                         "reaches its threshold; the rest go to review."),
        controls, pn.FlexBox(plot, override_box, gap="1em"), pn.Row(publish, published), feedback,
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-thresholds"])
    layout.state = state  # the session's state, for notebooks and benchmarks
    return layout
