"""Model comparison: the metrics of every evaluated run (the default run marked, runs trained on a
sample flagged), their accuracy-coverage curves overlaid, accuracy per taxonomy level and
calibration. A click on a curve point or a reliability point lists the products behind it."""

from __future__ import annotations

import holoviews as hv
import panel as pn

from workbench.app.drill import clickable
from workbench.app.product_table import ProductTable
from workbench.app.state import ComparisonState
from workbench.security.safe_text import escape_html
from workbench.app.glossary import define
from workbench.app.widgets import alert, html, html_table, intro, no_runs

TITLE = "Model comparison"
ORDER = 10
WARM = True  # rendered once at server start (fills caches, compiles datashader)
PERCENT = ("accuracy", "macro-F1", "hierarchical F1", "coverage @ 90%", "coverage @ 95%", "coverage @ 98%", "ECE")
HOW = ("one row per evaluated run; higher accuracy, coverage @ 95% and hierarchical F1 are better, lower ECE "
       "and mean tree distance are better. Click a point of a curve to list its products.")
DECISION_PERCENT = ("accuracy", "macro-F1", "cross-family errors", "cross-family (of products)")


INTERVALS = ("<p class='wb-note'>Few test products per category (fewer than 50 on average): one product moves "
             "accuracy visibly, so each figure has its 95% bootstrap interval beside it, and a run is "
             "<i>clearly below</i> the most accurate one only when the interval of their difference on the "
             "same products is entirely below zero (the test <code>workbench compare</code> and the promotion "
             "gate use). Coverage at 90% and 98% and training seconds are left out here to make room: "
             "<code>workbench compare</code> shows them.</p>")

#: columns of the metrics table said below it, not in it (the table fits 1280 px)
DETAILS = ("split", "test products", "parameters")
#: left out of the table when intervals take their place (still in ``workbench compare``)
WITH_INTERVALS_HIDDEN = ("coverage @ 90%", "coverage @ 98%", "train seconds")


def shown_metrics(frame):
    """The metrics table as the page shows it: without the ids and details, and with intervals
    (a small test part) without the columns ``workbench compare`` keeps, so it fits the screen."""
    hidden = ["run_id", *DETAILS, *(WITH_INTERVALS_HIDDEN if "accuracy 95%" in frame else ())]
    return frame.drop(columns=hidden, errors="ignore")


def details_html(frame) -> str:
    """How the runs were trained and tested, below the metrics table (run labels and parameters escaped)."""
    if frame.empty:
        return ""
    splits = ", ".join(sorted({str(s) for s in frame.get("split", []) if s}))
    tested = ", ".join(sorted({f"{int(n):,}" for n in frame.get("test products", []) if n == n and n is not None}))
    params = [f"{escape_html(r['run'])}: {escape_html(r['parameters'])}" for _, r in frame.iterrows()
              if r.get("parameters")]
    return (f"<p class='wb-note'>Split: {escape_html(splits or 'n/a')}; products in the test part: "
            f"{escape_html(tested or 'n/a')}." + (f" Parameters that differ: {'; '.join(params)}." if params else "")
            + "</p>")


def view(ctx):
    """The model comparison page."""
    state = ComparisonState(workspace=ctx.workspace, part=ctx.settings.part, news=ctx.news.param.runs)
    if not state.has_runs:
        return no_runs()
    # every table is read again when runs complete or are evaluated elsewhere (state.news)
    news = state.param.news
    metrics = html_table(pn.bind(lambda _: shown_metrics(state.metrics_table()), news), percent=PERCENT,
                         decimals=("mean tree distance",), css_classes=["wb-metrics"])
    decisions = html_table(pn.bind(lambda _: state.decision_table(), news), percent=DECISION_PERCENT,
                           decimals=("mean error distance",), css_classes=["wb-decisions"])
    level_prf = html_table(pn.bind(lambda _: state.level_prf_table(), news), css_classes=["wb-level-prf"])
    runs = pn.widgets.MultiChoice.from_param(state.param.runs, label="Runs in the figures",
                                             sizing_mode="stretch_width")
    products = ProductTable(ctx, hint="Click a point of a curve: the accuracy-coverage curve lists the "
                                      "wrong products still shelved at that threshold, the calibration "
                                      "curve the products of that confidence bin.")
    curves, curve_tap = clickable(hv.DynamicMap(state.curves_plot), "coverage", "accuracy")
    calibration, calibration_tap = clickable(hv.DynamicMap(state.calibration_plot), "mean_confidence", "accuracy")
    taps = (curve_tap, calibration_tap)
    taps[0].add_subscriber(lambda x=None, y=None: products.show(state.curve_point(x, y)) if x is not None else None)
    taps[1].add_subscriber(lambda x=None, y=None: products.show(state.calibration_point(x, y))
                           if x is not None else None)
    notice = pn.Column(objects=pn.bind(lambda _: [alert(n, "warning", css_classes=["wb-sample-notice"])]
                                       if (n := state.sample_notice()) else [], news), sizing_mode="stretch_width")
    mapped = pn.Column(objects=pn.bind(lambda _: [alert(n, "info", css_classes=["wb-taxonomy-notice"])]
                                       if (n := state.taxonomy_notice()) else [], news), sizing_mode="stretch_width")
    layout = pn.Column(
        intro(TITLE, HOW, f"Every evaluated run, measured on the {'test part' if ctx.settings.part == 'test' else 'validation part'}. "
              "Coverage @ 95% is the share of products shelved automatically at the threshold that keeps 95% "
              "accuracy among them. <i>(default)</i> marks the run the other pages and <code>workbench classify</code> "
              "use: the best validation accuracy among runs not flagged (a run trained on a sample, or below 50% "
              "validation accuracy, is flagged and never the default). min-risk picks the leaf with the "
              "smallest expected tree distance instead of the most probable one."),
        notice, mapped,
        html(pn.bind(lambda _: define(INTERVALS) if "accuracy 95%" in state.metrics_table() else "", news),
             css_classes=["wb-interval-note"]),
        metrics, html(pn.bind(lambda _: define(details_html(state.metrics_table())), news),
                      css_classes=["wb-run-details"]),
        pn.FlexBox(
            pn.Column(html("<p><b>How bad the errors are</b>: mean tree distance of the wrong predictions "
                           "(2 = a sibling) and the share that leave the true family; a min-risk row per run "
                           "evaluated with <code>--decision min-risk</code></p>"), decisions),
            pn.Column(html("<p><b>Precision / recall / F1 per level</b>, macro-averaged over each level's "
                           "categories (a family predicted right counts at its level even when the type is "
                           "wrong)</p>"), level_prf),
            gap="2em"),
        runs,
        # unlinked: the curves zoom on their own accuracy range, the bars start at 0
        pn.FlexBox(pn.pane.HoloViews(curves, linked_axes=False, css_classes=["wb-curves"]),
                   pn.pane.HoloViews(state.level_plot, linked_axes=False),
                   pn.pane.HoloViews(calibration, linked_axes=False, css_classes=["wb-calibration"]), gap="1em"),
        pn.pane.Markdown("### Products behind the selected point"), products,
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-comparison"])
    layout.state, layout.products, layout.taps = state, products, taps
    layout.follows = True  # its tables and figures follow ctx.news
    return layout
