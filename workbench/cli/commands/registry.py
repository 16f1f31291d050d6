"""The model registry on the command line: ``promote``, ``shadow`` and ``registry``."""

from __future__ import annotations

import getpass
import json

from workbench.store import Workspace


def _who() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container): the caller must say
        return ""


def register(sub, common) -> None:
    """Add the registry subcommands."""
    p = sub.add_parser("promote", parents=[common], help="make a run the model the HTTP API serves",
                       description="Promote a run to serve the API if it passes the gate: validation accuracy "
                                   "at least the configured minimum and not below the serving run's on the "
                                   "same validation products. Refusals are recorded too.")
    p.add_argument("run", help="run id (see `workbench runs`)")
    p.add_argument("--min-accuracy", type=float, help="minimum validation accuracy for this decision "
                                                      "(default: the configured one, see `workbench registry`)")
    p.add_argument("--force", action="store_true", help="promote even if the gate refuses (recorded as forced)")
    p.add_argument("--note", help="why (required with --force; recorded)")
    p.add_argument("--by", default=_who(), help="who promotes (default: your login name)")
    p.add_argument("--json", action="store_true", help="print the gate's verdict as JSON")
    p.set_defaults(func=run_promote)

    s = sub.add_parser("shadow", parents=[common], help="score every API request with a challenger run too",
                       description="A shadow run scores every request beside the serving run without "
                                   "answering; the monitoring shows how often they agree.")
    which = s.add_mutually_exclusive_group(required=True)
    which.add_argument("run", nargs="?", help="run id of the challenger")
    which.add_argument("--off", action="store_true", help="stop shadowing")
    s.add_argument("--by", default=_who(), help="who decides (default: your login name)")
    s.set_defaults(func=run_shadow)

    r = sub.add_parser("registry", parents=[common], help="the serving run, the shadow run and their history",
                       description="Show which run serves the API and which shadows it, the promotion "
                                   "minimum, and every promotion, refusal and shadow change.")
    r.add_argument("--set-min-accuracy", type=float, metavar="ACC",
                   help="configure the minimum validation accuracy of a promotion (0 to 1)")
    r.add_argument("--json", action="store_true", help="print JSON")
    r.set_defaults(func=run_registry)


def _sync(ws: Workspace) -> str:
    from workbench.service.sync import sync_workspace

    return str(sync_workspace(ws))


def run_promote(args) -> int:
    """Handler of ``workbench promote``."""
    from workbench.runs.registry import promote

    ws = Workspace(args.workspace)
    gate = promote(ws, args.run, by=args.by, force=args.force, note=args.note, minimum=args.min_accuracy)
    if args.json:
        print(json.dumps({**gate.as_dict(), "forced": bool(args.force and not gate.passed)}, indent=2))
    else:
        print(gate if gate.passed else f"{gate}; promoted anyway (--force, recorded)")
        for note in gate.notes:
            print(f"  note: {note}")
    print(f"now serving {args.run}; {_sync(ws)}")
    _threshold_warning(ws, args.run)
    return 0


def _threshold_warning(ws: Workspace, run_id: str) -> None:
    from workbench.loop.thresholds import threshold_run_warning

    warning = threshold_run_warning(ws, run_id)
    if warning:
        print(f"warning: {warning}")


def run_shadow(args) -> int:
    """Handler of ``workbench shadow``."""
    from workbench.runs.registry import set_shadow

    ws = Workspace(args.workspace)
    run = set_shadow(ws, None if args.off else args.run, by=args.by)
    print("shadowing is off" if run is None else f"run {run} now shadows the serving run")
    print(_sync(ws))
    return 0


def run_registry(args) -> int:
    """Handler of ``workbench registry``."""
    from workbench.loop.thresholds import threshold_run_warning
    from workbench.runs.registry import min_accuracy, serving_history, serving_run, set_min_accuracy, shadow_run

    ws = Workspace(args.workspace)
    if args.set_min_accuracy is not None:
        set_min_accuracy(ws, args.set_min_accuracy)
    serving, shadow = serving_run(ws), shadow_run(ws)
    history = serving_history(ws)
    if args.json:
        print(json.dumps({"serving": {"run_id": serving.run_id, "source": serving.source,
                                      "since": None if serving.since is None else str(serving.since)},
                          "shadow": shadow, "min_accuracy": min_accuracy(ws),
                          "threshold_warning": threshold_run_warning(ws, serving.run_id),
                          "history": history.to_dict(orient="records")}, default=str, indent=2))
        return 0
    source = "promoted" if serving.source == "promoted" else "the default run: nothing promoted yet"
    print(f"serving: {serving.run_id} ({source})")
    print(f"shadow:  {shadow or 'none'}")
    print(f"promotion minimum validation accuracy: {min_accuracy(ws):.4f}")
    _threshold_warning(ws, serving.run_id)
    for row in history.itertuples():
        what = {"promote": "promoted" + (" (forced)" if row.forced else ""), "refuse": "refused",
                "shadow": "shadow", "shadow_off": "shadow off"}[row.event]
        accuracy = "" if row.valid_accuracy is None or row.valid_accuracy != row.valid_accuracy else \
            f" valid {row.valid_accuracy:.4f}"
        print(f"  {row.event_at:%Y-%m-%d %H:%M:%S}  {what:<17} {row.run_id or '-'}{accuracy}  by {row.actor}"
              + (f"  ({'; '.join(row.reasons)})" if row.reasons else "") + (f"  note: {row.note}" if row.note else ""))
    return 0
