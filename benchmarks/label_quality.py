"""Benchmark: how well `workbench label-issues` finds wrong catalog labels, by planting them.

Ingests the full fashion catalog into a fresh benchmark workspace, flips 2% of the training
labels of the grouped split (half to a sibling leaf, half to a leaf anywhere:
:func:`workbench.loop.simulation.plant_label_flips`), runs the label-issues scan (5-fold
``tfidf`` out-of-sample probabilities, cleanlab's ``find_label_issues``) and reports the
precision and recall of the flagged set against the planted flips, at the flagged set's own
size, beside the baseline "the products with the lowest out-of-sample probability on their
given label", cut at the same size from the same probabilities (same run). The memory-lean
batched search runs on the same probabilities too. Writes ``## Label quality`` in RESULTS.md::

    python benchmarks/label_quality.py [--share 0.02] [--folds 5] [--seed 0]

Precision counts only planted flips as right: the catalog's own wrong labels, which the scan
also finds, count against it, so it is a lower bound.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from workbench import Workspace, ingest_dataset

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "label_quality_results.json"
SECTION = "## Label quality"


def uptime() -> str:
    """The machine's ``uptime`` line (load averages)."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def precision_recall(flagged: set, planted: set) -> tuple[float, float]:
    """Precision and recall of a flagged set against the planted flips."""
    hits = len(flagged & planted)
    return (hits / len(flagged) if flagged else 0.0, hits / len(planted) if planted else 0.0)


def measure(ws: Workspace, share: float, folds: int, seed: int) -> dict:
    """Plant, scan, and compare with the baseline; returns every figure."""
    from workbench.loop.label_issues import find_label_issues, rank_label_issues
    from workbench.loop.simulation import plant_label_flips
    from workbench.runs.records import get_run, load_predictions
    from workbench.runs.training import PeakMemory

    flips = plant_label_flips(ws, share, sibling_share=0.5, seed=seed)
    planted = set(flips["product_id"])
    load_before = uptime()
    t0 = time.perf_counter()
    scan = find_label_issues(ws, folds=folds, seed=seed, echo=lambda line: print(line, flush=True))
    scan_seconds = time.perf_counter() - t0
    run = get_run(ws, scan.run_id)
    preds = load_predictions(ws, scan.run_id, "test")
    flagged = set(scan.issues["product_id"])
    k = len(flagged)
    column = {c: i for i, c in enumerate(preds.classes)}
    p_given = preds.proba[np.arange(len(preds.y_true)), [column[y] for y in preds.y_true]]
    order = np.argsort(p_given, kind="stable")
    baseline = set(preds.product_ids[order[:k]])
    at_flips = len(planted)
    cleanlab_top = set(scan.issues["product_id"].head(at_flips))
    baseline_top = set(preds.product_ids[order[:at_flips]])
    t1 = time.perf_counter()
    with PeakMemory() as default_mem:
        rank_label_issues(preds.y_true, preds.proba, classes=preds.classes, low_memory=False)
    default_seconds = time.perf_counter() - t1
    t1 = time.perf_counter()
    with PeakMemory() as lean_mem:
        lean = rank_label_issues(preds.y_true, preds.proba, classes=preds.classes, low_memory=True)
    lean_seconds = time.perf_counter() - t1
    lean_set = set(preds.product_ids[lean["row"].to_numpy()])
    filters = {}
    for filter_by in ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
                      "predicted_neq_given", "low_self_confidence", "low_normalized_margin"):
        found = rank_label_issues(preds.y_true, preds.proba, classes=preds.classes, filter_by=filter_by)
        got = set(preds.product_ids[found["row"].to_numpy()])
        same_size = set(preds.product_ids[order[:len(got)]])
        filters[filter_by] = {"flagged": len(got), **dict(zip(("precision", "recall"), precision_recall(got, planted))),
                              "baseline": dict(zip(("precision", "recall"), precision_recall(same_size, planted)))}
    by_kind = {}
    for kind in ("sibling", "anywhere"):
        mine = set(flips.loc[flips["kind"] == kind, "product_id"])
        by_kind[kind] = {"planted": len(mine), "cleanlab_recall": len(flagged & mine) / len(mine),
                         "baseline_recall": len(baseline & mine) / len(mine)}
    right_suggestion = flips.merge(scan.issues, on="product_id")
    out = {
        "products": scan.n_products, "planted": len(planted), "flagged": k,
        "cleanlab": dict(zip(("precision", "recall"), precision_recall(flagged, planted))),
        "baseline": dict(zip(("precision", "recall"), precision_recall(baseline, planted))),
        "at_planted_size": {"cleanlab": precision_recall(cleanlab_top, planted)[0],
                            "baseline": precision_recall(baseline_top, planted)[0]},
        "lean": {"flagged": len(lean_set), **dict(zip(("precision", "recall"),
                                                      precision_recall(lean_set, planted)))},
        "by_kind": by_kind, "filters": filters,
        "suggestion_is_original": float((right_suggestion["suggested_leaf"] == right_suggestion["original"]).mean())
        if len(right_suggestion) else None,
        "run_id": scan.run_id, "fold_seconds": run["params"]["cross_validation"]["fold_seconds"],
        "scan_seconds": scan_seconds, "cleanlab_seconds": default_seconds, "lean_seconds": lean_seconds,
        "cleanlab_peak_mb": default_mem.peak_mb, "lean_peak_mb": lean_mem.peak_mb,
        "method": scan.method, "notes": scan.notes, "load_before": load_before, "load_after": uptime(),
        "share": share, "folds": folds, "seed": seed, "leaves": len(preds.classes),
    }
    return out


def render(r: dict) -> str:
    """The ``## Label quality`` section."""
    pct = lambda v: f"{100 * v:.1f}%"  # noqa: E731
    lines = [SECTION, "",
             "Command: `.venv/bin/python benchmarks/label_quality.py` (share 2%, 5 folds, seed "
             f"{r['seed']}). Machine: 2 shared cores, 24 GiB, no GPU; `uptime` before the scan: "
             f"`{r['load_before']}`, after: `{r['load_after']}`.", "",
             f"Data: the full fashion catalog ({r['products']:,} labelled products, {r['leaves']} leaves). "
             f"{r['planted']} training labels of the grouped split (2%) were flipped, half to a sibling leaf "
             "(Heels as Flats), half to a leaf anywhere, as catalog labels. `workbench label-issues` then "
             f"computed 5-fold out-of-sample tfidf probabilities ({', '.join(f'{s:.0f}' for s in r['fold_seconds'])} s "
             f"per fold, {r['scan_seconds']:.0f} s in all) and ranked the issues with {r['method']}.", "",
             "| flagged set | size | precision (planted flips) | recall (planted flips) |",
             "|---|---|---|---|",
             f"| cleanlab (`workbench label-issues`) | {r['flagged']:,} | {pct(r['cleanlab']['precision'])} | "
             f"{pct(r['cleanlab']['recall'])} |",
             f"| baseline: lowest probability on the given label, same size, same run | {r['flagged']:,} | "
             f"{pct(r['baseline']['precision'])} | {pct(r['baseline']['recall'])} |",
             f"| cleanlab memory-lean batched search (`--low-memory`), same probabilities | {r['lean']['flagged']:,} | "
             f"{pct(r['lean']['precision'])} | {pct(r['lean']['recall'])} |",
             "",
             f"At the size of the planted set ({r['planted']}), the cleanlab ranking's precision is "
             f"{pct(r['at_planted_size']['cleanlab'])} against the baseline's {pct(r['at_planted_size']['baseline'])}. "
             "Recall by kind of flip: "
             + "; ".join(f"{kind} {pct(v['cleanlab_recall'])} (baseline {pct(v['baseline_recall'])}, of {v['planted']})"
                         for kind, v in r["by_kind"].items())
             + (f". For the flips found, the suggested category is the original one {pct(r['suggestion_is_original'])} "
                "of the time." if r["suggestion_is_original"] is not None else "."),
             f"The cleanlab search itself took {r['cleanlab_seconds']:.1f} s (peak growth {r['cleanlab_peak_mb']:.0f} MB), "
             f"the batched one {r['lean_seconds']:.1f} s ({r['lean_peak_mb']:.0f} MB), both in the same process.",
             "Precision counts only planted flips as right; the flagged set also holds labels the catalog "
             "itself got wrong, so the figures are lower bounds.", "",
             "Every `filter_by` of cleanlab on the same probabilities (`workbench label-issues --filter F`), "
             "each beside the baseline cut at its own size:", "",
             "| filter_by | flagged | precision | recall | baseline precision | baseline recall |",
             "|---|---|---|---|---|---|"]
    for name, f in (r.get("filters") or {}).items():
        lines.append(f"| {name} | {f['flagged']:,} | {pct(f['precision'])} | {pct(f['recall'])} | "
                     f"{pct(f['baseline']['precision'])} | {pct(f['baseline']['recall'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--share", type=float, default=0.02)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workspace", default=str(HERE / "out" / "label-quality-ws"))
    p.add_argument("--sample", type=int, default=None, help="a seeded sample of the catalog (a quick try)")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--render-only", action="store_true", help="rewrite the section from the stored JSON")
    args = p.parse_args(argv)
    if args.render_only:
        result = json.loads(RESULTS_JSON.read_text())
    else:
        shutil.rmtree(args.workspace, ignore_errors=True)  # planting changes labels: start clean
        ws = Workspace(args.workspace)
        print(ingest_dataset(ws, "fashion", sample=args.sample, seed=args.seed), flush=True)
        print(f"load: {os.getloadavg()}", flush=True)
        result = measure(ws, args.share, args.folds, args.seed)
        if args.sample is None:
            RESULTS_JSON.write_text(json.dumps(result, indent=1, default=str))
    from models import report

    return report(render(result), SECTION, not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
