"""``workbench evaluate`` (metrics of a run, stored for the dashboards) and
``workbench shelve-preview`` (how many products a threshold would shelve or send to review)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from workbench.errors import WorkbenchError
from workbench.evaluate.decision import DECISIONS
from workbench.runs.evaluation import DEFAULT_TARGETS, evaluate_run, workspace_taxonomy
from workbench.evaluate.shelving import shelving_preview
from workbench.runs.records import list_runs, load_predictions
from workbench.catalog.people_csv import write_people_csv
from workbench.store import Workspace
from workbench.loop.thresholds import published_thresholds, threshold_run_warning
from workbench.runs.selection import default_run


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the ``evaluate`` and ``shelve-preview`` subcommands."""
    p = subparsers.add_parser("evaluate", parents=[common], help="evaluate runs and store the results",
                              description="Compute every metric of a run and store it for the dashboards.")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--run", help="run id (default: the promoted serving run, else the best run by validation accuracy)")
    which.add_argument("--all", action="store_true", help="evaluate every recorded run")
    p.add_argument("--part", choices=["test", "valid"], default="test", help="which predictions (default test)")
    p.add_argument("--target", type=float, action="append", dest="targets", metavar="ACC",
                   help="target accuracy for thresholds (repeatable; default 0.9 0.95 0.98 0.99)")
    p.add_argument("--decision", action="append", dest="decisions", choices=list(DECISIONS), metavar="RULE",
                   help="how a leaf is chosen from the probabilities: argmax (default) or min-risk (the "
                        "leaf with the smallest expected tree distance); repeatable, each stored apart")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    p.set_defaults(func=run_evaluate)

    s = subparsers.add_parser("shelve-preview", parents=[common],
                              help="count products a threshold would shelve or send to review",
                              description="Apply a confidence threshold (or the published thresholds) "
                                          "to a run's predictions and count the shelving decisions.")
    s.add_argument("--run", help="run id (default: the promoted serving run, else the best run: highest "
                                 "validation accuracy, never one trained on a sample)")
    s.add_argument("--threshold", type=float, help="global threshold (default: the published thresholds)")
    s.add_argument("--part", choices=["test", "valid"], default="test", help="which predictions (default test)")
    s.add_argument("--csv", metavar="PATH", help="also write the per-product decisions to a CSV file")
    s.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    s.set_defaults(func=run_shelve_preview)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def summary_text(m: dict[str, Any]) -> str:
    """A readable summary of one run's metrics."""
    decision = m.get("decision", "argmax")
    lines = [f"run {m['run_id']} ({m['part']}, {m['n']} products"
             + (f", decision {decision}" if decision != "argmax" else "") + ")",
             f"  accuracy {_pct(m['accuracy'])}   macro-F1 {_num(m['macro_f1'])}   ECE {_num(m['ece'])}",
             "  hierarchical precision / recall / F1  micro "
             + " / ".join(_num(m["hierarchical"][k]) for k in ("precision", "recall", "f1"))
             + ("   macro " + " / ".join(_num(m["hierarchical_macro"][k]) for k in ("precision", "recall", "f1"))
                if m.get("hierarchical_macro") else ""),
             "  per level: " + ", ".join(f"{k} {_pct(v)}" for k, v in m["level_accuracy"].items())]
    if m.get("truth"):
        lines.append(f"  scored on the labels with fingerprint {m['truth']} (truth)")
    if m.get("level_prf"):
        lines.append("  per level precision / recall / F1 (macro over the level's categories): " + ", ".join(
            f"{k} {_num(v['precision_macro'])} / {_num(v['recall_macro'])} / {_num(v['f1_macro'])}"
            for k, v in m["level_prf"].items()))
    if "mean_error_distance" in m:
        lines.append(f"  errors {m['errors']}: mean tree distance {_num(m['mean_error_distance'])}, "
                     f"cross-family {_pct(m['cross_family_error_share'])} of them "
                     f"({_pct(m['cross_family_rate'])} of products)")
    lines.append("  target accuracy -> threshold, coverage:")
    for key, thr in m["threshold_at"].items():
        thr_text = "unreachable" if thr is None else f"{thr:.4f}"
        lines.append(f"    {float(key):.0%}  {thr_text:>11}  {_pct(m['coverage_at'][key])}")
    lines.append("  errors by tree distance: "
                 + ", ".join(f"{d}: {_pct(v)}" for d, v in m["severity"].items()))
    share = m.get("neighbour_share")
    lines.append(f"  top-{m['neighbour_k']} predictions among semantic neighbours: "
                 + (_pct(share) if share is not None else "n/a (no category_neighbours table)"))
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> int:
    """Handler of ``workbench evaluate``."""
    ws = Workspace(args.workspace)
    targets = tuple(args.targets) if args.targets else DEFAULT_TARGETS
    run_ids = list(list_runs(ws)["run_id"]) if args.all else [args.run or default_run(ws, need_model=False, warn=lambda m: print(f"note: {m}", file=sys.stderr))]
    if not run_ids:
        raise WorkbenchError(f"no runs in {ws.path}; train one first with `workbench train`")
    decisions = list(dict.fromkeys(args.decisions or ["argmax"]))
    from workbench.runs.rescore import bring_to_current_truth

    bring_to_current_truth(ws, run_ids)  # score on the labels of now (the saved predictions suffice)
    results = [evaluate_run(ws, run_id, targets=targets, part=args.part, decision=decision)
               for run_id in run_ids for decision in decisions]
    if args.json:
        out = results[0] if len(results) == 1 and not args.all else {
            m["run_id"] + ("" if m["decision"] == "argmax" else f"@{m['decision']}"): m for m in results}
        print(json.dumps(out, indent=2))
    else:
        print("\n\n".join(summary_text(m) for m in results))
        print(f"\nstored in the evaluations and eval_* tables of {ws.path}")
    return 0


def run_shelve_preview(args: argparse.Namespace) -> int:
    """Handler of ``workbench shelve-preview``."""
    ws = Workspace(args.workspace)
    run_id = args.run or default_run(ws, need_model=False, warn=lambda m: print(f"note: {m}", file=sys.stderr))
    warning = None
    if args.threshold is not None:
        threshold, overrides, source = args.threshold, {}, "argument"
    else:
        threshold, overrides = published_thresholds(ws)
        source = "published"
        if threshold is None:
            raise WorkbenchError("no thresholds published yet; pass --threshold 0.9 or publish them "
                                 "from the threshold dashboard")
        warning = threshold_run_warning(ws, run_id)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    preds = load_predictions(ws, run_id, args.part)
    preview = shelving_preview(preds.product_ids, preds.proba, classes=preds.classes,
                               taxonomy=workspace_taxonomy(ws), threshold=threshold,
                               overrides=overrides, y_true=preds.y_true)
    if args.csv:
        write_people_csv(preview.frame, args.csv)  # category names come from the catalog
    result = {"run_id": run_id, "part": args.part, "threshold": threshold, "overrides": overrides,
              "thresholds_from": source, "warning": warning, **preview.summary}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        extra = f" + {len(overrides)} category overrides" if overrides else ""
        print(f"run {run_id} ({args.part}, {result['total']} products), threshold {threshold:g}{extra} "
              f"({source})")
        print(f"  auto-shelved {result['shelved']} ({_pct(result['shelved_share'])}), "
              f"accuracy among them {_pct(result['accuracy_shelved'])}")
        print(f"  to review    {result['review']}")
        if args.csv:
            print(f"  decisions written to {args.csv}")
    return 0
