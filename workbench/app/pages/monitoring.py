"""Monitoring: what the HTTP API served and whether it drifts. Every statistic of the period
against its threshold (crossed ones marked; one judged from no traffic reads "not enough traffic
yet", grey), traffic per hour or day, confidence against the test split, category mix against
training, the shadow run's agreement, the newest requests; reviewers may promote a run or choose
the shadow run; the retraining cycle's history, and for admins a button that starts a step.
Sellers who may mislead (:mod:`workbench.loop.misleading_sellers`) are listed in their own section
with their low-probability choices."""

from __future__ import annotations

import math
import re

import panel as pn

from workbench.security.safe_text import escape_html, markdown_code
from workbench.app.pages._monitoring_cycle import cycle_section
from workbench.app.state.monitoring import STATUS_TEXT, MonitoringState
from workbench.app.widgets import alert, empty_state_html, html, intro, log, pct
from workbench.errors import WorkbenchError
from workbench.plots.monitoring import confidence_plot, mix_plot, statistic_over_time, volume_plot

TITLE = "Monitoring"
ORDER = 90
HOW = ("one row per statistic of the served traffic against its threshold: red only when a threshold is "
       "crossed, grey while there is not enough traffic to judge; the figures below compare the traffic "
       "with the test part and the training data.")
NO_TRAFFIC = ("Nothing was served in this period yet: the statistics and charts fill once the HTTP API "
              "classifies products.")


def _value(value, key: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if key in ("volume",):
        return f"{int(value):,}"
    if key in ("error_share", "feedback_acceptance", "shadow_agreement", "low_confidence_gap",
               "unknown_token_gap", "live_accuracy_gap"):
        return pct(value, 1)
    return f"{value:.3f}" if abs(value) < 100 else f"{value:,.0f}"


def code_spans(text: str) -> str:
    """Escaped ``text`` with its `backtick` spans as <code> (the service's details name commands so)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape_html(text))


def statistics_html(frame) -> str:
    """The statistics table; a crossed row has class ``wb-crossed`` and every row its key."""
    rows = []
    for r in frame.itertuples():
        rows.append(f"<tr class='wb-{escape_html(r.status.replace(' ', '-'))}' data-key='{escape_html(r.key)}' "
                    f"data-status='{escape_html(r.status)}'><td>{escape_html(r.statistic)}</td>"
                    f"<td class='wb-stat-value'>{escape_html(_value(r.value, r.key))}</td>"
                    f"<td>{escape_html(r.side + ' ' + _value(r.threshold, r.key))}</td><td class='wb-num'>{r.n:,}</td>"
                    f"<td><span class='wb-badge'>{escape_html(STATUS_TEXT.get(r.status, r.status))}</span></td>"
                    f"<td class='wb-muted'>{code_spans(r.detail)}</td></tr>")
    return ("<table class='wb-stats'><thead><tr><th>statistic</th><th class='wb-num'>value</th><th>alert when</th>"
            "<th class='wb-num'>n</th><th>status</th><th>detail</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>")


def headline_html(report, crossed: list[str]) -> str:
    """How many thresholds are crossed (``data-crossed`` carries the count); grey while nothing was served."""
    since = "the first request" if report.since is None else f"{report.since:%Y-%m-%d %H:%M} UTC"
    served = int(report.series["predictions"].sum()) if len(report.series) else 0
    if crossed:
        text, kind = (f"<b>{len(crossed)} threshold{'s' if len(crossed) != 1 else ''} crossed</b>: "
                      + ", ".join(escape_html(s) for s in crossed)), "crossed"
    elif not served:
        text, kind = f"<b>No alarm:</b> {NO_TRAFFIC}", "quiet"
    else:
        text, kind = "<b>No threshold crossed.</b>", "ok"
    return (f"<p class='wb-monitor-alerts wb-alerts-{kind}' data-crossed='{len(crossed)}'>{text}</p>"
            f"<p class='wb-muted'>Traffic since {since}, served by run {escape_html(report.serving_run)}"
            + (f", shadowed by {escape_html(report.shadow_run)}" if report.shadow_run else "") + ".</p>")


def serving_html(snapshot: dict | None) -> str:
    """The serving run, its source, the shadow run and the thresholds, in words."""
    if snapshot is None:
        return empty_state_html("No serving snapshot yet: start the API, or wait a few seconds for the "
                                "dashboards to write it.", "workbench api")
    serving = snapshot["serving"]
    source = "promoted" if serving["source"] == "promoted" else "default run, nothing promoted yet"
    glob = snapshot["thresholds"]["global"]
    shadow = snapshot.get("shadow")
    valid = serving["metrics"].get("valid_accuracy")
    return (f"<p class='wb-serving' data-run='{escape_html(serving['run_id'])}'><b>Serving:</b> "
            f"<code>{escape_html(serving['run_id'])}</code> ({escape_html(serving['model'])}, {source}; validation "
            f"accuracy {pct(valid, 1)}) · <b>shadow:</b> "
            + (f"<code>{escape_html(shadow['run_id'])}</code>" if shadow else "none")
            + " · <b>threshold:</b> " + ("none published (everything goes to review)" if glob is None else f"{glob:.3f}")
            + "</p>" + (f"<p class='wb-threshold-warning'>{escape_html(warning)}</p>"
                        if (warning := snapshot["thresholds"].get("warning")) else ""))


def recent_html(frame) -> str:
    """The newest requests; titles come from callers and are escaped."""
    if frame.empty:
        return empty_state_html("No requests in the last day; they are listed here as the API serves them.")
    rows = "".join(f"<tr><td>{escape_html(f'{r.time:%m-%d %H:%M:%S}')}</td><td>{escape_html(r.key_name)}</td>"
                   f"<td class='wb-recent-title'>{escape_html(r.title_raw)}</td><td>{escape_html(r.category)}</td>"
                   f"<td class='wb-num'>{pct(r.confidence, 1)}</td><td>{escape_html(r.decision)}</td></tr>"
                   for r in frame.itertuples())
    return ("<table class='wb-stats wb-recent'><thead><tr><th>time (UTC)</th><th>key</th><th>title</th>"
            "<th>category</th><th class='wb-num'>confidence</th><th>decision</th></tr></thead><tbody>" + rows
            + "</tbody></table>")


def shadow_md(report) -> str:
    """Agreement of the shadow run and, where feedback says the right category, both accuracies."""
    s = report.shadow
    if not s.get("n"):
        return "No shadow run scored this period's traffic; <code>workbench shadow RUN</code> sets one."
    text = (f"Shadow run {markdown_code(s['run_id'])} agreed with the serving run on "
            f"**{pct(s['agreement'], 1)}** of {s['n']:,} predictions.")
    if s.get("n_labelled"):
        text += (f" On {s['n_labelled']:,} predictions whose right category feedback gave: serving "
                 f"{pct(s['serving_accuracy'], 1)}, shadow {pct(s['shadow_accuracy'], 1)}.")
    return text


def feedback_html(report, stored: dict[str, int]) -> str:
    """Feedback of the period and what reached the label history (``data-imported`` for tests)."""
    fb = report.feedback
    rate = "" if not fb.get("n") else f", {pct(fb['acceptance'], 1)} accepted"
    return (f"<h3>Feedback</h3><p class='wb-feedback' data-imported='{stored['imported']}' "
            f"data-to-confirm='{stored['to_confirm']}'>{fb.get('n', 0):,} feedback this period{rate}. "
            f"In the label history (provenance <i>feedback</i>, never trained on until confirmed): "
            f"{stored['imported']:,}, of which {stored['to_confirm']:,} await a reviewer "
            f"(<code>workbench feedback list</code>).</p>")


def figures(report, snapshot: dict, bucket: str, level: str) -> list:
    """The charts of the period; with no traffic, one sentence instead of empty axes."""
    if not len(report.series) or not report.series["predictions"].sum():
        return [html(empty_state_html("The charts of traffic, confidence and category mix appear once the API "
                                      "has served predictions in this period; start it with a key.", "workbench api"),
                     css_classes=["wb-no-traffic"])]
    plots = [volume_plot(report.series, bucket=bucket),
             confidence_plot(report.confidence, threshold=snapshot["thresholds"]["global"])]
    if level in report.mix:
        plots.append(mix_plot(report.mix[level], level=level))
    if report.series["mix_psi"].notna().any():
        limit = next((s.threshold for s in report.statistics if s.key.startswith("category_mix_psi")), None)
        plots.append(statistic_over_time(report.series, "mix_psi", label="leaf mix PSI", threshold=limit))
    return [pn.FlexBox(*[pn.pane.HoloViews(p, sizing_mode="fixed") for p in plots], gap="1em")]


def body(state: MonitoringState, period=None, bucket="hour", level=None, embedding=True, refreshed=0):
    """Everything below the controls, for the state's period (bound to its parameters)."""
    snapshot = state.snapshot()
    if snapshot is None:
        return html(serving_html(None))
    try:
        report = state.report()
    except WorkbenchError as exc:
        return alert(str(exc))
    except Exception as exc:  # the server keeps serving whatever the log holds
        log.exception("the monitoring report failed")
        return alert(f"The monitoring report failed: {type(exc).__name__}: {exc}")
    return pn.Column(
        html(serving_html(snapshot)), html(headline_html(report, state.crossed(report))),
        html(statistics_html(state.statistics_frame(report)), css_classes=["wb-monitor-stats"]),
        *[alert(n, "info") for n in report.notes], *figures(report, snapshot, bucket, level),
        pn.pane.Markdown("### Shadow run\n" + shadow_md(report)),
        html(feedback_html(report, state.feedback_in_workspace())),
        pn.pane.Markdown("### Newest requests"), html(recent_html(state.recent())),
        sizing_mode="stretch_width")


def message_view(message: str, kind: str):
    """The answer to the last registry action."""
    return alert(message, kind) if message else None


def registry_controls(ctx, state: MonitoringState) -> pn.Column:
    """Promote a run or set the shadow run (reviewers; the server checks the role again)."""
    def act(kind):
        def run(_clicked):
            try:
                ctx.require("promote")  # the role read again now: a removed or downgraded user is refused
            except WorkbenchError as exc:
                state.message_kind, state.message = "danger", str(exc)
                return
            state.act(kind, by=ctx.actor)
        return run

    buttons = []
    for label, color, classes, kind in (("Promote (through the gate)", "primary", ["wb-promote"], "promote"),
                                        ("Shadow this run", "default", ["wb-shadow"], "shadow"),
                                        ("Stop shadowing", "default", [], "off")):
        button = pn.widgets.Button(label=label, color=color, disabled=not ctx.can_publish, css_classes=classes)
        pn.bind(act(kind), button, watch=True)
        buttons.append(button)
    return pn.Column(pn.pane.Markdown("### Serving run"), pn.widgets.Select.from_param(state.param.promote_run, width=380),
                     pn.Row(*buttons), width=640)


def flagged_sellers_html(verdicts, listed) -> str:
    """Sellers (or API callers) who choose low-probability categories far more often than the
    others, with those choices listed for a reviewer (escaped); no automatic penalty."""
    from workbench.loop.misleading_sellers import ALPHA, LOW_PROBA, MIN_CHOICES

    head = ("<h3>Sellers who may mislead</h3><p class='wb-how'>A seller is flagged when their choices of "
            f"categories the model gave under {LOW_PROBA:.0%} are far more frequent than the other sellers' "
            f"(one-sided binomial test against the others' pooled rate, p &lt; {ALPHA}, at least {MIN_CHOICES} "
            "choices). A flag asks a reviewer to look; nothing is penalised automatically.</p>")
    if verdicts is None or not len(verdicts):
        return head + "<p class='wb-sellers-none'>No seller feedback with a chosen category yet.</p>"
    flagged = verdicts[verdicts["flagged"]]
    if not len(flagged):
        return head + (f"<p class='wb-sellers-none'>No seller is flagged ({len(verdicts):,} sellers, "
                       f"{int(verdicts['choices'].sum()):,} choices).</p>")
    parts = [head]
    for row in flagged.itertuples():
        mine = listed[listed["seller"] == row.seller]
        items = "".join(
            f"<tr><td>{escape_html(t)}</td><td>{escape_html(c)}</td><td class='num'>{p:.2%}</td>"
            f"<td>{escape_html(f)}</td></tr>"
            for t, c, p, f in zip(mine["title"].fillna(""), mine["chosen"], mine["chosen_proba"],
                                  mine["first_suggestion"].fillna("")))
        parts.append(
            f"<div class='wb-flagged-seller' data-seller='{escape_html(row.seller)}'>"
            f"<p><b>{escape_html(row.seller)}</b>: {row.low_choices} of {row.choices} choices "
            f"({row.low_share:.1%}) had a model probability under {LOW_PROBA:.0%}, against "
            f"{row.others_rate:.1%} for the other sellers (p = {row.p_value:.2g}).</p>"
            "<table class='wb-html-table'><tr><th>title</th><th>chosen category</th><th>model's probability</th>"
            f"<th>first suggestion</th></tr>{items}</table></div>")
    return "".join(parts)


def flagged_sellers_section(ws, refreshed=0):
    """The flagged sellers of the workspace's feedback (bound to the page's refresh)."""
    from workbench.loop.misleading_sellers import misleading_sellers

    try:
        verdicts, listed = misleading_sellers(ws)
    except Exception as exc:  # the page keeps serving
        log.exception("the flagged sellers failed")
        return alert(f"The flagged sellers could not be computed: {type(exc).__name__}: {exc}")
    return html(flagged_sellers_html(verdicts, listed), css_classes=["wb-flagged-sellers"])


def view(ctx):
    """The monitoring page."""
    # runs trained and thresholds published elsewhere are read again (the runs first: rare)
    state = MonitoringState(workspace=ctx.workspace, news=pn.bind(lambda runs, published: runs + published,
                                                                  ctx.news.param.runs, ctx.news.param.published))
    refresh = pn.widgets.Button.from_param(state.param.refresh, width=120, align="end")
    controls = pn.Row(pn.widgets.Select.from_param(state.param.period, width=160),
                      pn.widgets.Select.from_param(state.param.bucket, width=100),
                      pn.widgets.Select.from_param(state.param.level, width=180),
                      pn.widgets.Checkbox.from_param(state.param.embedding, align="end"), refresh)
    bound = pn.bind(body, state, state.param.period, state.param.bucket, state.param.level, state.param.embedding,
                    state.param.refreshed)
    # the page opens at once; the statistics (an encoder, maybe) follow
    deferred = pn.state.curdoc is not None and pn.state.curdoc.session_context is not None
    content = pn.panel(bound, defer_load=deferred, loading_indicator=True, sizing_mode="stretch_width")
    layout = pn.Column(
        intro(TITLE, HOW, "The traffic the HTTP API (<code>workbench api</code>) served, judged against the "
                          "serving run's training reference; <code>workbench monitor</code> prints the same "
                          "figures and exits non-zero when a threshold is crossed."),
        controls, pn.Column(content, sizing_mode="stretch_width", css_classes=["wb-monitor-content"]),
        pn.panel(pn.bind(message_view, state.param.message, state.param.message_kind)),
        registry_controls(ctx, state),
        pn.panel(pn.bind(flagged_sellers_section, ctx.workspace, state.param.refreshed), sizing_mode="stretch_width"),
        cycle_section(ctx),
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-monitoring"])
    layout.state = state
    layout.follows = True  # the report and the runs follow ctx.news
    return layout
