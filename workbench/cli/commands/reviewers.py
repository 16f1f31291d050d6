"""``workbench reviewers``: reviewer quality (gold accuracy, rubber-stamping, agreement), gold items."""

from __future__ import annotations

import argparse
import json
import math

from workbench.store import Workspace


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the ``reviewers`` subcommand."""
    p = subparsers.add_parser(
        "reviewers", parents=[common], help="reviewer quality: gold accuracy, rubber-stamping, agreement",
        description="Per reviewer: accuracy on gold items (with a Wilson interval) and how often they accepted "
                    "the model's wrong suggestion; agreement on double-reviewed products (Cohen's kappa per "
                    "pair, Krippendorff's alpha overall and per category). Flagged reviewers are named.")
    p.add_argument("--gold-share", type=float, metavar="SHARE",
                   help="configure the share of gold items seeded into each reviewer's queue (e.g. 0.1)")
    p.add_argument("--import-gold", metavar="CSV", help="import gold labels from a CSV with product_id,leaf")
    p.add_argument("--gold-from-double-reviews", action="store_true",
                   help="make gold every product two reviewers labelled alike")
    p.add_argument("--second-review", metavar="REVIEWER",
                   help="send this reviewer's latest decisions to today's queue for another reviewer")
    p.add_argument("--last", type=int, default=50, help="how many decisions --second-review sends (default 50)")
    p.add_argument("--send-disagreements", action="store_true",
                   help="send the products reviewers disagree on to today's queue (third reviewer or admin)")
    p.add_argument("--by", default=None, help="who makes the change (gold import, second review)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_reviewers)


def _clean(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def run_reviewers(args: argparse.Namespace) -> int:
    """Handler of ``workbench reviewers``."""
    from workbench.errors import WorkbenchError
    from workbench.loop import gold, reviewer_quality

    ws = Workspace(args.workspace)
    changes = args.import_gold or args.gold_from_double_reviews or args.second_review or args.send_disagreements
    if changes and not str(args.by or "").strip():
        raise WorkbenchError("say who makes the change (--by NAME)")
    if args.gold_share is not None:
        print(f"gold share set to {gold.set_gold_share(ws, args.gold_share):.0%}")
    if args.import_gold:
        print(f"imported {gold.import_gold(ws, args.import_gold, by=args.by):,} gold labels")
    if args.gold_from_double_reviews:
        print(f"{gold.gold_from_double_reviews(ws, by=args.by):,} products confirmed by two reviewers made gold")
    if args.second_review:
        n = reviewer_quality.send_for_second_review(ws, args.second_review, by=args.by, last=args.last)
        print(f"sent {n:,} decisions of {args.second_review} to today's queue for a second review")
    if args.send_disagreements:
        print(f"sent {reviewer_quality.send_disagreements(ws, by=args.by):,} disagreements to today's queue")
    report = reviewer_quality.reviewer_report(ws)
    agreement = reviewer_quality.agreement_report(ws)
    if args.json:
        out = {"gold_share": gold.gold_share(ws), "gold_items": int(len(gold.gold_items(ws))),
               "reviewers": [{k: _clean(v) for k, v in row.items()} for row in report.to_dict("records")],
               "agreement": {"double_reviewed": agreement["double_reviewed"], "share": _clean(agreement["share"]),
                             "alpha": _clean(agreement["alpha"]),
                             "alpha_by_category": {k: _clean(v) for k, v in agreement["alpha_by_category"].items()},
                             "pairs": [{k: _clean(v) for k, v in r.items()}
                                       for r in agreement["pairs"].to_dict("records")],
                             "disagreements": len(agreement["disagreements"])}}
        print(json.dumps(out, indent=2, default=str))
        return 0
    if report.empty:
        print(f"no reviews in {ws.path} yet")
        return 0
    print(f"gold share {gold.gold_share(ws):.0%}, {len(gold.gold_items(ws)):,} gold items")
    for row in report.to_dict("records"):
        acc = ("n/a" if not row["gold"] else
               f"{row['gold_accuracy']:.1%} [{row['gold_low']:.1%}, {row['gold_high']:.1%}] on {row['gold']} gold")
        print(f"{row['reviewer']:<16} {row['reviews']:>6,} reviews  gold accuracy {acc}  accepted "
              f"{row['accepted_wrong']} of {row['wrong_suggestions']} wrong suggestions"
              + (f"  FLAGGED: {'; '.join(row['flags'])}" if row["flagged"] else ""))
    alpha = agreement["alpha"]
    print(f"double-reviewed products: {agreement['double_reviewed']:,}; Krippendorff's alpha "
          + ("n/a" if math.isnan(alpha) else f"{alpha:.3f}"))
    for r in agreement["pairs"].to_dict("records"):
        print(f"  {r['a']} / {r['b']}: {r['n']} products, agree {r['agree']:.1%}, Cohen's kappa {r['kappa']:.3f}")
    return 0
