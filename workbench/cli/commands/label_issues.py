"""``workbench label-issues``: suspect catalog labels found by confident learning (cleanlab)."""

from __future__ import annotations

import argparse
import json

from workbench.loop.label_issues import FILTERS, RANKINGS
from workbench.store import Workspace


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the ``label-issues`` subcommand."""
    p = subparsers.add_parser(
        "label-issues", parents=[common], help="find catalog labels that look wrong (cleanlab)",
        description="Compute out-of-sample probabilities of every labelled product by k-fold "
                    "cross-validation (recorded as a run), rank the label issues with cleanlab, each with "
                    "a suggested category and a score, and store them; `workbench queue build --suspect N` "
                    "sends the most suspect to review.")
    p.add_argument("--run", help="rank the stored out-of-sample probabilities of this run instead of "
                                 "training a k-fold run (a k-fold run covers every labelled product; "
                                 "another run only its valid and test products)")
    p.add_argument("--model", default="tfidf", help="model kind of the k-fold run (default tfidf, cheap)")
    p.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter of the k-fold model, e.g. C=0.25 (value parsed as JSON when it can "
                        "be; repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--filter", dest="filter_by", default="prune_by_noise_rate", choices=FILTERS, metavar="FILTER",
                   help=f"cleanlab's filter_by: {', '.join(FILTERS)} (default prune_by_noise_rate)")
    p.add_argument("--rank-by", default="self_confidence", choices=RANKINGS,
                   help="label-quality score the issues are ranked by (default self_confidence)")
    p.add_argument("--low-memory", action="store_true",
                   help="cleanlab's batched, memory-lean search (chosen by itself for very large inputs)")
    p.add_argument("--show", type=int, default=20, metavar="N", help="print the N most suspect (default 20)")
    p.add_argument("--csv", metavar="PATH", help="also write every issue to a CSV file for a spreadsheet")
    p.add_argument("--json", action="store_true", help="print the run id and every issue as JSON")
    p.set_defaults(func=run_label_issues)


def run_label_issues(args: argparse.Namespace) -> int:
    """Handler of ``workbench label-issues``."""
    from workbench.catalog.people_csv import write_people_csv
    from workbench.cli.commands.train import parse_params
    from workbench.loop.label_issues import find_label_issues, stored_issues

    ws = Workspace(args.workspace)
    params = parse_params([f"{args.model}.{p}" for p in args.param]).get(args.model)
    result = find_label_issues(ws, run_id=args.run, model=args.model, params=params, folds=args.folds,
                               seed=args.seed, filter_by=args.filter_by, rank_by=args.rank_by,
                               low_memory=True if args.low_memory else None,
                               echo=None if args.json else print)
    issues = stored_issues(ws, result.run_id)
    columns = ["rank", "product_id", "title", "given_leaf", "suggested_leaf", "score", "given_proba",
               "suggested_proba"]
    if args.csv:
        write_people_csv(issues[columns], args.csv)
    if args.json:
        print(json.dumps({"run_id": result.run_id, "n_products": result.n_products, "method": result.method,
                          "notes": result.notes, "issues": issues[columns].to_dict(orient="records")},
                         default=str))
        return 0
    print(result)
    if len(issues) and args.show > 0:
        head = issues[columns].head(args.show).assign(title=lambda f: f["title"].str.slice(0, 40))
        print(head.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.csv:
        print(f"wrote {len(issues):,} issues to {args.csv}")
    print("send them to review with `workbench queue build --suspect N`")
    return 0
