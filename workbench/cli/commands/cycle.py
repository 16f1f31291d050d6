"""``workbench cycle``: the retraining loop, one step per call (for cron)."""

from __future__ import annotations

import json
import sys

from workbench.cli.output import existing_workspace, print_json_lines
from workbench.errors import WorkbenchError


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise WorkbenchError(f"--set {text!r} must be NAME=VALUE, e.g. shadow_requests=500")
    return name.strip(), value.strip()


def register(sub, common) -> None:
    """Add the ``cycle`` subcommand."""
    c = sub.add_parser(
        "cycle", parents=[common], help="take the retraining loop one step further (for cron)",
        description="Import the API's feedback and monitor the traffic; when a trigger fires (drift, "
                    "falling acceptance, new human labels, the schedule) retrain the serving run's family, "
                    "evaluate it on the same labels, run the promotion gate, shadow it and promote it. "
                    "One step per call, never waiting. Exit 0: nothing to do, advanced or waiting in "
                    "shadow; 1: a person must decide (refused at the gate or in shadow); 2: error.")
    c.add_argument("--dry-run", action="store_true", help="say what the next step would do; change nothing")
    c.add_argument("--json", action="store_true", help="print the answer as JSON (it names the state)")
    c.add_argument("--by", help="who or what starts this call, recorded with every decision "
                                "(default $WORKBENCH_ACTOR or the system user; e.g. cron)")
    c.add_argument("--retrain", action="store_true",
                   help="open a cycle now, whatever the triggers say (recorded as asked by --by)")
    c.add_argument("--abandon", action="store_true", help="give up the open cycle (its shadow switched off)")
    c.add_argument("--set", dest="settings", type=_setting, action="append", default=[], metavar="NAME=VALUE",
                   help="store a setting in the workspace (service/cycle.json) and stop: on_drift, "
                        "on_acceptance, new_labels, schedule_hours, since, embedding, candidates, "
                        "shadow_requests, shadow_hours, min_agreement, min_feedback")
    c.add_argument("--show-config", action="store_true", help="print the settings in force and stop")
    c.add_argument("--history", action="store_true", help="print the recorded decisions, newest first, and stop")
    c.set_defaults(func=run_cycle_command)


def run_cycle_command(args) -> int:
    """Handler of ``workbench cycle``: the exit code says whether a person is needed."""
    from workbench.service.cycle_config import cycle_config, save_cycle_config

    path = existing_workspace(args)
    if args.settings:
        settings = save_cycle_config(path, dict(args.settings))
        print(json.dumps(settings, indent=2) if args.json else
              "cycle settings stored: " + ", ".join(f"{k}={settings[k]}" for k, _ in args.settings))
        return 0
    if args.show_config:
        print(json.dumps(cycle_config(path), indent=2))
        return 0
    from workbench.service.cycle import run_cycle
    from workbench.service.cycle_records import cycle_history
    from workbench.store import Workspace

    if args.history:
        import pandas as pd

        frame = cycle_history(Workspace(path))
        if args.json:
            print_json_lines(frame.drop(columns=["figures"]).to_dict("records"))
        elif frame.empty:
            print("no cycle decision recorded yet (`workbench cycle` records one per call)")
        for row in ([] if args.json else frame.itertuples()):
            cycle = "" if pd.isna(row.cycle_id) else f"cycle {int(row.cycle_id)} "
            print(f"{row.event_at:%Y-%m-%d %H:%M:%S}  {cycle}{row.step:<8} -> {row.state:<17} by {row.actor}: "
                  f"{row.message}")
        return 0
    if args.dry_run and (args.abandon):
        raise WorkbenchError("--dry-run cannot be combined with --abandon; drop one")
    result = run_cycle(Workspace(path), by=args.by, dry_run=args.dry_run, retrain_now=args.retrain,
                       abandon=args.abandon)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        print(result)
    if result.exit_code == 2 and not args.json:
        print(f"workbench cycle: error: {result.message}", file=sys.stderr)
    return result.exit_code
