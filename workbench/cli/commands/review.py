"""The review loop on the command line: ``classify``, ``export --shelved``, ``queue build|show``,
``retrain``, ``users add|list|remove`` and ``live-accuracy``."""

from __future__ import annotations

import getpass
import json
import math
import sys

from workbench.cli.cluster_options import add_cluster_options, cluster_client
from workbench.cli.output import print_json_lines
from workbench.errors import WorkbenchError
from workbench.catalog.mapping import RECIPES, ColumnMapping
from workbench.store import Workspace
from workbench.security.roles import PERSON_ROLES


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def register(sub, common) -> None:
    """Add the review-loop subcommands."""
    c = sub.add_parser("classify", parents=[common], help="classify new products and shelve the confident ones",
                       description="Ingest products without categories, predict them with a run's model and "
                                   "apply the published thresholds: shelve above, send to review below.")
    c.add_argument("path", help="file of new products (CSV, Parquet or JSON lines)")
    c.add_argument("--run", help="run id whose model predicts (default: the promoted serving run, else the best "
                                 "run with a saved model: highest validation accuracy, never one trained on a sample)")
    c.add_argument("--dataset", choices=sorted(RECIPES), help="use a built-in catalog's column mapping")
    c.add_argument("--map", dest="mapping", help="field=column pairs as for `workbench ingest` (categories ignored; default: the "
                        "columns the catalog was ingested with)")
    c.add_argument("--sep", default=">", help="separator of category paths in --map (unused here)")
    c.add_argument("--format", dest="fmt", choices=["csv", "jsonl", "json", "parquet", "xlsx"])
    c.add_argument("--delimiter", help="CSV field delimiter (default: detected)")
    c.add_argument("--encoding", help="text encoding, e.g. cp1252 (default: detected)")
    c.add_argument("--threshold", type=float, help="global threshold instead of the published thresholds")
    c.add_argument("--date", help="batch date YYYY-MM-DD (default: today, UTC)")
    add_cluster_options(c)
    c.add_argument("--decision", choices=["argmax", "min-risk"], default="argmax",
                   help="leaf of each product: the most probable (argmax, default) or the one with the "
                        "smallest expected tree distance (min-risk: fewer embarrassing misses)")
    c.set_defaults(func=run_classify)

    e = sub.add_parser("export", parents=[common], help="export the shelf",
                       description="Write the shelved products with their category path at every level.")
    e.add_argument("--shelved", required=True, metavar="OUT.csv", help="CSV file to write")
    e.set_defaults(func=run_export)

    q = sub.add_parser("queue", help="build or show the daily review queue")
    qs = q.add_subparsers(dest="queue_command", metavar="build|show")
    b = qs.add_parser("build", parents=[common], help="sample the day's review queue",
                      description="Random sample (for measurement), least confident products and "
                                  "disagreements between two runs, and suspect catalog labels, each item "
                                  "with its reason.")
    b.add_argument("--date", help="batch date YYYY-MM-DD (default: the newest batch)")
    b.add_argument("--random", type=int, default=50, help="size of the random sample (default 50)")
    b.add_argument("--uncertain", type=int, default=50, help="least confident products (default 50)")
    b.add_argument("--disagree", type=int, default=50, help="products two runs disagree on (default 50)")
    b.add_argument("--runs", type=_names, help="the two runs to compare, RUN_A,RUN_B (default: the batch's run "
                                               "and the best other run)")
    b.add_argument("--uncertainty", choices=["top1", "margin"], default="top1",
                   help="least confident by top-1 probability or by top-1/top-2 margin")
    b.add_argument("--suspect", type=int, default=0, metavar="N",
                   help="catalog labels that look wrong, from the newest `workbench label-issues` scan "
                        "(default 0); works without a classified batch")
    b.add_argument("--issues-run", help="take the suspect labels of this label-issues run instead of the newest")
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(func=run_queue_build)
    s = qs.add_parser("show", parents=[common], help="list a day's queue")
    s.add_argument("--date", help="queue date YYYY-MM-DD (default: the newest queue)")
    s.add_argument("--status", choices=["pending", "done"])
    s.add_argument("--json", action="store_true", help="print JSON lines")
    s.set_defaults(func=run_queue_show)
    q.set_defaults(func=lambda args: (q.print_help(), 2)[1])

    r = sub.add_parser("retrain", parents=[common], help="train new runs on catalog and human labels only",
                       description="Rebuild the splits with the reviewers' labels and train new runs; "
                                   "the model's own unreviewed labels are never trained on.")
    r.add_argument("--models", type=_names, default=["tfidf"], help="model kinds, comma separated (default tfidf)")
    r.add_argument("--split", choices=["grouped", "random"], default="grouped")
    r.add_argument("--sample", type=int, help="train on a seeded sample of this many products")
    r.add_argument("--seed", type=int, default=0)
    r.set_defaults(func=run_retrain)

    u = sub.add_parser("users", help="manage who may log in to the served app")
    us = u.add_subparsers(dest="users_command", metavar="add|list|remove")
    a = us.add_parser("add", parents=[common], help="add or update a user (stores a bcrypt hash only)")
    a.add_argument("name")
    a.add_argument("--role", choices=list(PERSON_ROLES), required=True,
                   help="viewer, seller, reviewer or admin (rights: README, 'Who may do what')")
    a.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    a.add_argument("--oauth", action="store_true", help="an OAuth user: a role, no password")
    a.add_argument("--credentials", help="credentials file (default: $WORKBENCH_CREDENTIALS or "
                                         "<workspace>/credentials.json)")
    a.set_defaults(func=run_users_add)
    ls = us.add_parser("list", parents=[common], help="list users and roles")
    ls.add_argument("--credentials")
    ls.set_defaults(func=run_users_list)
    rm = us.add_parser("remove", parents=[common], help="remove a user")
    rm.add_argument("name")
    rm.add_argument("--credentials")
    rm.set_defaults(func=run_users_remove)
    u.set_defaults(func=lambda args: (u.print_help(), 2)[1])

    la = sub.add_parser("live-accuracy", parents=[common], help="accuracy measured by random-sample reviews",
                        description="Accuracy per day from reviews of the random sample only, with a "
                                    "Wilson confidence interval.")
    la.add_argument("--confidence", type=float, default=0.95)
    la.add_argument("--json", action="store_true", help="print JSON")
    la.set_defaults(func=run_live_accuracy)


def run_classify(args) -> int:
    """Handler of ``workbench classify``."""
    from workbench.loop.shelving import classify_file, to_date

    mapping = ColumnMapping.parse(args.mapping, args.sep) if args.mapping else None
    with cluster_client(args) as client:
        rows_for = None
        if client is not None:
            from workbench.scale.classify import ClusterClassifier

            rows_for = ClusterClassifier(client, shared=args.shared_dir, echo=print)
        summary = classify_file(Workspace(args.workspace), args.path, mapping, dataset=args.dataset,
                                run_id=args.run, threshold=args.threshold, batch_date=to_date(args.date),
                                fmt=args.fmt, delimiter=args.delimiter, encoding=args.encoding,
                                rows_for=rows_for, decision=args.decision)
    print(summary)
    return 0


def run_export(args) -> int:
    """Handler of ``workbench export --shelved``."""
    from workbench.loop.shelving import export_shelved

    n = export_shelved(Workspace(args.workspace), args.shelved)
    print(f"wrote {n:,} shelved products to {args.shelved}")
    return 0


def run_queue_build(args) -> int:
    """Handler of ``workbench queue build``."""
    from workbench.loop.review_queue import build_queue

    summary = build_queue(Workspace(args.workspace), args.date, n_random=args.random,
                          n_uncertain=args.uncertain, n_disagree=args.disagree, runs=args.runs,
                          uncertainty=args.uncertainty, seed=args.seed, n_suspect=args.suspect,
                          issues_run=args.issues_run)
    print(summary)
    return 0


def run_queue_show(args) -> int:
    """Handler of ``workbench queue show``."""
    from workbench.loop.review_queue import queue_items

    items = queue_items(Workspace(args.workspace), args.date, args.status)
    if items.empty:
        print("the review queue is empty; build it with `workbench queue build`")
        return 0
    items = items.assign(why=[why_text(r, d) for r, d in zip(items["reason"], items["detail"])])
    cols = ["queue_date", "rank", "product_id", "reason", "status", "proba", "predicted_leaf", "why", "title"]
    if args.json:
        print_json_lines(items[cols].to_dict(orient="records"))
    else:
        with_width = items[cols].assign(title=items["title"].str.slice(0, 40))
        print(with_width.to_string(index=False))
    return 0


def why_text(reason: str, detail: str | None) -> str:
    """Why an item is in the queue, in words (a suspect label names the suggested category)."""
    from workbench.loop.review_queue import suspect_reason

    info = json.loads(detail) if isinstance(detail, str) and detail else {}
    words = {"random": "random sample", "uncertain": "least confident", "disagree": "runs disagree"}
    return "; ".join(suspect_reason(info["suspect"]["suggested"]) if r == "suspect" and "suspect" in info
                     else words.get(r, r) for r in str(reason).split(","))


def run_retrain(args) -> int:
    """Handler of ``workbench retrain``."""
    from workbench.loop.retraining import retrain

    run_ids = retrain(Workspace(args.workspace), args.models, args.split, args.sample, seed=args.seed, echo=print)
    print(f"trained {len(run_ids)} run(s) on catalog and human labels: {', '.join(run_ids)}")
    return 0


def _read_password(args) -> str | None:
    if args.oauth:
        return None
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("repeat it: ") != first:
        raise WorkbenchError("the two passwords differ; run the command again")
    return first


def run_users_add(args) -> int:
    """Handler of ``workbench users add``."""
    from workbench.security.auth import add_user, credentials_path

    path = credentials_path(args.workspace, args.credentials)
    add_user(path, args.name, _read_password(args), args.role, oauth_only=args.oauth)
    print(f"user {args.name} ({args.role}) saved in {path} (bcrypt hash only)")
    return 0


def run_users_list(args) -> int:
    """Handler of ``workbench users list``."""
    from workbench.security.auth import credentials_path, list_users

    path = credentials_path(args.workspace, args.credentials)
    users = list_users(path)
    if not users:
        print(f"no users in {path}; add one with `workbench users add NAME --role reviewer`")
    for u in users:
        print(f"{u['name']:<20} {u['role']:<9} {u['login']}")
    return 0


def run_users_remove(args) -> int:
    """Handler of ``workbench users remove``."""
    from workbench.security.auth import credentials_path, remove_user

    path = credentials_path(args.workspace, args.credentials)
    if not remove_user(path, args.name):
        raise WorkbenchError(f"no user {args.name!r} in {path}; see `workbench users list`")
    print(f"removed {args.name} from {path}")
    return 0


def run_live_accuracy(args) -> int:
    """Handler of ``workbench live-accuracy``."""
    from workbench.loop.live_accuracy import live_accuracy, live_accuracy_overall

    ws = Workspace(args.workspace)
    daily = live_accuracy(ws, confidence=args.confidence)
    overall = live_accuracy_overall(ws, confidence=args.confidence)
    if args.json:
        clean = lambda v: None if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
        print(json.dumps({"overall": {k: clean(v) for k, v in overall.items()},
                          "daily": [{k: clean(v) for k, v in row.items()}
                                    for row in daily.to_dict(orient="records")]}, default=str, indent=2))
        return 0
    if not overall["n"]:
        print("no random-sample reviews yet; build a queue and review its random items")
        return 0
    print(f"live accuracy {overall['accuracy']:.1%} [{overall['low']:.1%}, {overall['high']:.1%}] "
          f"from {overall['n']} random-sample reviews ({args.confidence:.0%} Wilson interval)")
    for row in daily.itertuples():
        print(f"  {row.queue_date}: {row.accuracy:.1%} [{row.low:.1%}, {row.high:.1%}] n={row.n}")
    return 0
