"""The classification service on the command line: ``api``, ``keys add|list|remove``,
``monitor`` and ``feedback import|list|confirm``."""

from __future__ import annotations

import json
import sys

from workbench.cli.output import existing_workspace, print_json_lines
from workbench.errors import WorkbenchError
from workbench.service.files import ServiceFiles
from workbench.security.roles import KEY_ROLES


DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000  # as workbench.service.server (not imported at start-up)


def _threshold(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise WorkbenchError(f"--threshold {text!r} must be NAME=NUMBER, e.g. category_mix_psi=0.3") from None


def register(sub, common) -> None:
    """Add the service subcommands."""
    a = sub.add_parser("api", parents=[common], help="serve the HTTP API (classify, feedback, model, taxonomy)",
                       description="Serve the classification API of a workspace with the serving run "
                                   "(`workbench registry`). It never holds the workspace database, so it runs "
                                   "beside `workbench serve`. Every /v1 endpoint needs a key (`workbench keys add`).")
    a.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    a.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    a.add_argument("--max-batch", type=int, default=1000, help="most products per request (default 1000)")
    a.add_argument("--max-body-mb", type=float, default=4.0, help="largest request body in MB (default 4)")
    a.add_argument("--import-seconds", type=float, default=2.0,
                   help="import the logged feedback into the workspace this often, in one short visit "
                        "(0: never; the dashboards' sync does it too)")
    a.add_argument("--flush-seconds", type=float, default=1.0,
                   help="how often the request log is written (default 1)")
    a.add_argument("--no-docs", action="store_true", help="do not serve the OpenAPI docs at /docs")
    a.set_defaults(func=run_api)

    k = sub.add_parser("keys", help="manage API keys (only their hashes are stored)")
    ks = k.add_subparsers(dest="keys_command", metavar="add|list|remove")
    add = ks.add_parser("add", parents=[common], help="make a key for a caller (shown once)")
    add.add_argument("name", help="who uses the key, e.g. listing-form")
    add.add_argument("--role", choices=list(KEY_ROLES), required=True,
                     help="viewer: health, model, taxonomy; classify: also classify and feedback; "
                          "admin: also the monitoring report")
    add.add_argument("--rate", default="600/min", help="rate limit, e.g. 600/min, 20/s (default 600/min)")
    add.set_defaults(func=run_keys_add)
    ls = ks.add_parser("list", parents=[common], help="list keys (names, roles, rates)")
    ls.set_defaults(func=run_keys_list)
    rm = ks.add_parser("remove", parents=[common], help="revoke a key")
    rm.add_argument("name")
    rm.set_defaults(func=run_keys_remove)
    k.set_defaults(func=lambda args: (k.print_help(), 2)[1])

    m = sub.add_parser("monitor", parents=[common], help="drift and health statistics of served traffic",
                       description="Volume, errors, latency, confidence drift, category-mix drift, input "
                                   "drift, feedback acceptance, live accuracy and shadow agreement of the "
                                   "traffic served in a period, each against its threshold. Exits 1 when a "
                                   "threshold is crossed (for a cron job), 0 otherwise.")
    m.add_argument("--since", default="24h", help="a duration (30m, 24h, 7d), an ISO time (UTC) or 'all' "
                                                  "(default 24h)")
    m.add_argument("--until", help="an ISO time (UTC; default now)")
    m.add_argument("--bucket", choices=["hour", "day"], default="hour", help="series granularity")
    m.add_argument("--threshold", type=_threshold, action="append", default=[], metavar="NAME=VALUE",
                   help="override a threshold for this run (repeatable; defaults and service/monitoring.json)")
    m.add_argument("--no-embedding", action="store_true", help="skip the embedding drift test (no encoder)")
    m.add_argument("--no-sync", action="store_true", help="do not import feedback or refresh the snapshot first")
    m.add_argument("--json", action="store_true", help="print the report as JSON")
    m.set_defaults(func=run_monitor)

    f = sub.add_parser("feedback", help="feedback from the API and the seller's page, apart from the catalog "
                                        "until a reviewer confirms it")
    fs = f.add_subparsers(dest="feedback_command", metavar="import|list|confirm")
    imp = fs.add_parser("import", parents=[common], help="bring logged feedback into the workspace now")
    imp.set_defaults(func=run_feedback_import)
    fl = fs.add_parser("list", parents=[common], help="feedback categories no reviewer has confirmed")
    fl.add_argument("--json", action="store_true", help="print JSON lines")
    fl.set_defaults(func=run_feedback_list)
    fc = fs.add_parser("confirm", parents=[common], help="confirm feedback categories as human labels")
    fc.add_argument("product_ids", nargs="+", metavar="PRODUCT_ID")
    fc.add_argument("--reviewer", required=True, help="who confirms (recorded with the review)")
    fc.set_defaults(func=run_feedback_confirm)
    f.set_defaults(func=lambda args: (f.print_help(), 2)[1])


def run_api(args) -> int:
    """Handler of ``workbench api``: blocks until interrupted."""
    from workbench.service.server import serve_api
    from workbench.service.state import ApiSettings

    settings = ApiSettings(max_batch=args.max_batch, max_body_bytes=int(args.max_body_mb * 1024 * 1024),
                           flush_seconds=args.flush_seconds, docs=not args.no_docs,
                           import_seconds=args.import_seconds)
    serve_api(args.workspace, args.host, args.port, settings)
    return 0


def run_keys_add(args) -> int:
    """Handler of ``workbench keys add``."""
    from workbench.service.keys import add_key

    path = ServiceFiles(existing_workspace(args)).keys
    key = add_key(path, args.name, args.role, args.rate)
    print(key)
    print(f"key for {args.name} ({args.role}, {args.rate}) saved in {path} as a SHA-256 hash; the key above "
          "is shown only now", file=sys.stderr)
    return 0


def run_keys_list(args) -> int:
    """Handler of ``workbench keys list``."""
    from workbench.service.keys import list_keys

    path = ServiceFiles(args.workspace).keys
    keys = list_keys(path)
    if not keys:
        print(f"no API keys in {path}; add one with `workbench keys add NAME --role classify`")
    for k in keys:
        print(f"{k.name:<24} {k.role:<9} {k.rate:<10} wbk_{k.key_id}_...  {k.created_at}")
    return 0


def run_keys_remove(args) -> int:
    """Handler of ``workbench keys remove``."""
    from workbench.service.keys import remove_key

    path = ServiceFiles(args.workspace).keys
    if not remove_key(path, args.name):
        raise WorkbenchError(f"no key named {args.name!r} in {path}; see `workbench keys list`")
    print(f"revoked the key of {args.name} (the API refuses it within a second)")
    return 0


def report_text(report) -> str:
    """The monitoring report for people: one line per statistic, crossed ones marked."""
    since = "the start" if report.since is None else f"{report.since:%Y-%m-%d %H:%M}"
    lines = [f"traffic from {since} to {report.until:%Y-%m-%d %H:%M} UTC, serving run {report.serving_run}"
             + (f", shadow {report.shadow_run}" if report.shadow_run else "")]
    for s in report.statistics:
        mark = {"crossed": "CROSSED", "ok": "ok"}.get(s.status, s.status)
        value = "-" if s.value is None else f"{s.value:.4g}"
        side = ">" if s.direction == "max" else "<"
        lines.append(f"  {mark:<9} {s.label:<52} {value:>9}  (alert {side} {s.threshold:g}; n={s.n:,})"
                     + (f"  {s.detail}" if s.detail else ""))
    lines += [f"  note: {n}" for n in report.notes]
    crossed = report.crossed
    lines.append(f"{len(crossed)} threshold(s) crossed: {', '.join(s.key for s in crossed)}" if crossed
                 else "no threshold crossed")
    return "\n".join(lines)


def run_monitor(args) -> int:
    """Handler of ``workbench monitor``: exit 1 when a threshold is crossed."""
    from workbench.service.monitoring import monitor_report, parse_since
    from workbench.service.sync import try_sync

    path = existing_workspace(args)
    if not args.no_sync:
        summary, note = try_sync(path)
        print(f"sync: {summary if summary is not None else note}", file=sys.stderr)
    try:
        since, until = parse_since(args.since), parse_since(args.until) if args.until else None
    except ValueError as exc:
        raise WorkbenchError(str(exc)) from None
    report = monitor_report(ServiceFiles(path), since=since, until=until, bucket=args.bucket,
                            thresholds=dict(args.threshold), embedding=not args.no_embedding)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report_text(report))
    return 1 if report.crossed else 0


def run_feedback_import(args) -> int:
    """Handler of ``workbench feedback import``."""
    from workbench.service.sync import sync_workspace
    from workbench.store import Workspace

    print(sync_workspace(Workspace(existing_workspace(args))))
    return 0


def run_feedback_list(args) -> int:
    """Handler of ``workbench feedback list``."""
    from workbench.loop.feedback import feedback_to_confirm
    from workbench.store import Workspace

    rows = feedback_to_confirm(Workspace(existing_workspace(args)))
    if rows.empty:
        print("no feedback waiting for a reviewer (import the API's with `workbench feedback import`; "
              "sellers answer on the seller's page)")
        return 0
    if args.json:
        print_json_lines(rows.to_dict(orient="records"))
        return 0
    for row in rows.itertuples():
        verdict = "accepted" if row.accepted else f"instead of {row.predicted}"
        print(f"{row.product_id:<48} {row.category}  ({verdict}; {row.channel} feedback by {row.actor}, "
              f"{row.received_at})")
    return 0


def run_feedback_confirm(args) -> int:
    """Handler of ``workbench feedback confirm``."""
    from workbench.loop.feedback import confirm_feedback
    from workbench.store import Workspace

    n = confirm_feedback(Workspace(existing_workspace(args)), args.product_ids, reviewer=args.reviewer)
    print(f"confirmed {n} feedback label(s) as reviews by {args.reviewer}: the products joined the catalog "
          "and retraining may use them")
    return 0
