"""Monitoring: what the HTTP API served and whether it drifts. Every statistic of the period
against its threshold (crossed ones marked), traffic per hour or day, confidence against the test
split, category mix against training, the shadow run's agreement, the newest requests; reviewers may promote a run or choose the shadow run."""

from __future__ import annotations

import math

import panel as pn

from workbench.app.safe_text import escape_html, markdown_code
from workbench.app.state.monitoring import MonitoringState
from workbench.app.widgets import alert, log, pct
from workbench.errors import WorkbenchError
from workbench.plots.monitoring import confidence_plot, mix_plot, statistic_over_time, volume_plot

TITLE = "Monitoring"
ORDER = 90

STYLE = """
table.wb-stats {border-collapse: collapse; font-size: 0.9em; width: 100%}
table.wb-stats th {text-align: left; border-bottom: 2px solid #ccc; padding: 4px 8px}
table.wb-stats td {border-bottom: 1px solid #eee; padding: 4px 8px; vertical-align: top}
tr.wb-crossed td {background: #fdecea}
.wb-badge {display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 0.85em; background: #eee}
tr.wb-crossed .wb-badge {background: #d62728; color: white; font-weight: 600}
tr.wb-ok .wb-badge {background: #e3f4e3; color: #1a6b1a}
.wb-muted {color: #666; font-size: 0.9em}
"""


def _value(value, key: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if key in ("volume",):
        return f"{int(value):,}"
    if key in ("error_share", "feedback_acceptance", "shadow_agreement"):
        return pct(value, 1)
    return f"{value:.3f}" if abs(value) < 100 else f"{value:,.0f}"


def statistics_html(frame) -> str:
    """The statistics table; a crossed row has class ``wb-crossed`` and every row its key."""
    rows = []
    for r in frame.itertuples():
        rows.append(f"<tr class='wb-{escape_html(r.status.replace(' ', '-'))}' data-key='{escape_html(r.key)}' "
                    f"data-status='{escape_html(r.status)}'><td>{escape_html(r.statistic)}</td>"
                    f"<td class='wb-stat-value'>{escape_html(_value(r.value, r.key))}</td>"
                    f"<td>{escape_html(r.side + ' ' + _value(r.threshold, r.key))}</td><td>{r.n:,}</td>"
                    f"<td><span class='wb-badge'>{escape_html(r.status)}</span></td>"
                    f"<td class='wb-muted'>{escape_html(r.detail)}</td></tr>")
    return ("<table class='wb-stats'><thead><tr><th>statistic</th><th>value</th><th>alert when</th><th>n</th>"
            "<th>status</th><th>detail</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def headline_html(report) -> str:
    """How many thresholds are crossed (``data-crossed`` carries the count)."""
    crossed = report.crossed
    since = "the first request" if report.since is None else f"{report.since:%Y-%m-%d %H:%M} UTC"
    text = (f"<b>{len(crossed)} threshold{'s' if len(crossed) != 1 else ''} crossed</b>: "
            + ", ".join(escape_html(s.label) for s in crossed)) if crossed else "<b>No threshold crossed.</b>"
    colour = "#d62728" if crossed else "#1a6b1a"
    return (f"<p class='wb-monitor-alerts' data-crossed='{len(crossed)}' style='color:{colour}'>{text}</p>"
            f"<p class='wb-muted'>Traffic since {since}, served by run {escape_html(report.serving_run)}"
            + (f", shadowed by {escape_html(report.shadow_run)}" if report.shadow_run else "") + ".</p>")


def serving_html(snapshot: dict | None) -> str:
    """The serving run, its source, the shadow run and the thresholds, in words."""
    if snapshot is None:
        return ("<p>No serving snapshot yet: start the API (<code>workbench api</code>) or wait a few seconds "
                "for the dashboards to write it.</p>")
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
        return "<p class='wb-muted'>No requests in the last day.</p>"
    rows = "".join(f"<tr><td>{escape_html(f'{r.time:%m-%d %H:%M:%S}')}</td><td>{escape_html(r.key_name)}</td>"
                   f"<td class='wb-recent-title'>{escape_html(r.title_raw)}</td><td>{escape_html(r.category)}</td>"
                   f"<td>{r.confidence:.3f}</td><td>{escape_html(r.decision)}</td></tr>" for r in frame.itertuples())
    return ("<table class='wb-stats wb-recent'><thead><tr><th>time (UTC)</th><th>key</th><th>title</th>"
            "<th>category</th><th>confidence</th><th>decision</th></tr></thead><tbody>" + rows + "</tbody></table>")


def shadow_md(report) -> str:
    """Agreement of the shadow run and, where feedback says the right category, both accuracies."""
    s = report.shadow
    if not s.get("n"):
        return "No shadow run scored this period's traffic (`workbench shadow RUN` sets one)."
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


def registry_controls(ctx, state: MonitoringState, message: pn.Column) -> pn.Column:
    """Promote a run or set the shadow run (reviewers; the server checks the role)."""
    runs = state.runs_with_models()
    choice = pn.widgets.Select(name="Run", options=runs, value=runs[0] if runs else None, width=380)
    promote = pn.widgets.Button(label="Promote (through the gate)", color="primary", disabled=not ctx.can_publish,
                                css_classes=["wb-promote"])
    shadow = pn.widgets.Button(label="Shadow this run", disabled=not ctx.can_publish, css_classes=["wb-shadow"])
    off = pn.widgets.Button(label="Stop shadowing", disabled=not ctx.can_publish)

    def act(kind):
        try:
            ctx.require("promote")  # the role read again now: a removed, downgraded or logged-out user is refused
            if kind == "promote":
                gate = state.promote(choice.value, by=ctx.actor)
                message.objects = [alert(str(gate), "success")]
            else:
                state.set_shadow(choice.value if kind == "shadow" else None, by=ctx.actor)
                message.objects = [alert("Shadow run set." if kind == "shadow" else "Shadowing stopped.", "success")]
        except WorkbenchError as exc:
            message.objects = [alert(str(exc))]

    promote.on_click(lambda _: act("promote"))
    shadow.on_click(lambda _: act("shadow"))
    off.on_click(lambda _: act("off"))
    return pn.Column(pn.pane.Markdown("### Serving run"), choice, pn.Row(promote, shadow, off), width=640)


def view(ctx):
    """The monitoring page."""
    state = MonitoringState(workspace=ctx.workspace)
    message = pn.Column(sizing_mode="stretch_width")
    refresh = pn.widgets.Button(label="Refresh", width=120, align="end")
    refresh.on_click(lambda _: setattr(state, "refreshed", state.refreshed + 1))

    def body(period, bucket, level, embedding, refreshed):
        snapshot = state.snapshot()
        if snapshot is None:
            return pn.pane.HTML(serving_html(None))
        report = state.report()
        plots = [pn.pane.HoloViews(volume_plot(report.series, bucket=bucket), sizing_mode="fixed"),
                 pn.pane.HoloViews(confidence_plot(report.confidence, threshold=snapshot["thresholds"]["global"]),
                                   sizing_mode="fixed")]
        if level in report.mix:
            plots.append(pn.pane.HoloViews(mix_plot(report.mix[level], level=level), sizing_mode="fixed"))
        if report.series["mix_psi"].notna().any():
            limit = next((s.threshold for s in report.statistics if s.key.startswith("category_mix_psi")), None)
            plots.append(pn.pane.HoloViews(statistic_over_time(report.series, "mix_psi", label="leaf mix PSI",
                                                               threshold=limit), sizing_mode="fixed"))
        return pn.Column(
            pn.pane.HTML(serving_html(snapshot), sizing_mode="stretch_width"),
            pn.pane.HTML(headline_html(report), sizing_mode="stretch_width"),
            pn.pane.HTML(statistics_html(state.statistics_frame(report)), stylesheets=[STYLE],
                         sizing_mode="stretch_width", css_classes=["wb-monitor-stats"]),
            *[alert(n, "info") for n in report.notes],
            pn.FlexBox(*plots, gap="1em"),
            pn.pane.Markdown("### Shadow run\n" + shadow_md(report)),
            pn.pane.HTML(feedback_html(report, state.feedback_in_workspace()), sizing_mode="stretch_width"),
            pn.pane.Markdown("### Newest requests"),
            pn.pane.HTML(recent_html(state.recent()), stylesheets=[STYLE], sizing_mode="stretch_width"),
            sizing_mode="stretch_width")

    controls = pn.Row(pn.widgets.Select.from_param(state.param.period, width=160),
                      pn.widgets.Select.from_param(state.param.bucket, width=100),
                      pn.widgets.Select.from_param(state.param.level, width=180),
                      pn.widgets.Checkbox.from_param(state.param.embedding, align="end"), refresh)
    content = pn.Column(pn.pane.Markdown("Computing the statistics of the served traffic…"),
                        sizing_mode="stretch_width", css_classes=["wb-monitor-content"])

    def update(*_):
        content.loading = True
        try:
            content.objects = [body(state.period, state.bucket, state.level, state.embedding, state.refreshed)]
        except WorkbenchError as exc:
            content.objects = [alert(str(exc))]
        except Exception as exc:  # the server keeps serving whatever the log holds
            log.exception("the monitoring report failed")
            content.objects = [alert(f"The monitoring report failed: {type(exc).__name__}: {exc}")]
        finally:
            content.loading = False

    state.param.watch(update, ["period", "bucket", "level", "embedding", "refreshed"])
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.onload(update)  # the page opens at once; the statistics (an encoder, maybe) follow
    else:
        update()
    layout = pn.Column(
        pn.pane.Markdown(f"## {TITLE}\nThe traffic the HTTP API (`workbench api`) served, judged against the "
                         "serving run's training reference; `workbench monitor` prints the same figures and "
                         "exits non-zero when a threshold is crossed."),
        controls, content, message, registry_controls(ctx, state, message),
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-monitoring"])
    layout.state = state
    return layout
