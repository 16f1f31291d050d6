"""How much of the plain reference's test error a better model could still remove (issue 32).

Issue 32 asks the default model for "at least 1 point above the reference in accuracy" on half
the catalogs. A point of accuracy is a point of the *given* labels: a product whose catalog label
is wrong, or which the catalog's own tree files under two leaves, cannot be won by any model
that reads the same title. This script measures that headroom on a workspace's grouped split:

1. the reference (``_reference.reference_pipeline``) fitted on the training part and scored on
   the test part, as in ``benchmarks/models.py``: its errors ``E``;
2. confident learning (``workbench.loop.label_issues.rank_label_issues``, cleanlab) over 5-fold
   out-of-fold probabilities of the same pipeline on *all* labelled products (folds grouped by
   normalised title; probabilities a softmax of the SVM's decision values, its temperature chosen
   by log loss): the test products whose given label the other products contradict;
3. a seeded sample of ``--audit`` reference errors, printed with the title, brand, given and
   predicted leaf, for a person to judge; their verdicts (``benchmarks/reference_ceiling_audit.json``,
   product ids and verdicts only, never the catalog's text) are counted when present:
   ``title`` (the title and brand decide the given leaf: a better model could fix it),
   ``ambiguous`` (the title fits both leaves, or the tree has the same kind of product under
   both), ``label`` (the given leaf is wrong for the title).

Writes ``reference_ceiling_<name>.json`` and prints a Markdown row::

    python benchmarks/reference_ceiling.py --workspace WS --name flipkart [--folds 5] [--audit 40]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
AUDIT = HERE / "reference_ceiling_audit.json"
TEMPERATURES = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def uptime() -> str:
    """The machine's ``uptime`` line (load averages)."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def softmax_rows(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Row softmax of ``scores * temperature``."""
    z = scores * temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def out_of_fold_scores(texts: list[str], labels: np.ndarray, groups: np.ndarray, classes: np.ndarray,
                       folds: int, seed: int) -> np.ndarray:
    """The reference's decision values for every product from the fold that did not train on it."""
    from sklearn.model_selection import GroupKFold

    from _reference import reference_pipeline

    scores = np.full((len(texts), len(classes)), -10.0, dtype=np.float32)
    order = np.random.default_rng(seed).permutation(len(texts))
    for train_idx, held_idx in GroupKFold(n_splits=folds).split(order, groups=groups[order]):
        train_idx, held_idx = order[train_idx], order[held_idx]
        model = reference_pipeline().fit([texts[i] for i in train_idx], labels[train_idx])
        cols = np.searchsorted(classes, model.classes_)
        decision = model.decision_function([texts[i] for i in held_idx])
        scores[np.ix_(held_idx, cols)] = decision
    return scores


def best_temperature(scores: np.ndarray, codes: np.ndarray) -> float:
    """The softmax temperature with the lowest log loss of the given labels."""
    losses = [float(-np.log(np.maximum(softmax_rows(scores, t)[np.arange(len(codes)), codes], 1e-12)).mean())
              for t in TEMPERATURES]
    return TEMPERATURES[int(np.argmin(losses))]


def measure(workspace: Path, folds: int, audit: int, seed: int) -> dict:
    """The headroom figures of one workspace (see the module docstring)."""
    from workbench import Workspace
    from workbench.catalog.text import normalise_series
    from workbench.loop.label_issues import rank_label_issues
    from workbench.models.base import product_texts
    from workbench.runs.training import load_training_frame

    from _reference import reference_pipeline

    ws = Workspace(workspace)
    frame = load_training_frame(ws, "grouped", ("catalog", "human"))
    texts = product_texts(frame, ("title", "brand"))
    labels = frame["leaf"].astype(str).to_numpy()
    test = frame["part"].to_numpy() == "test"
    train = frame["part"].to_numpy() == "train"

    t0 = time.perf_counter()
    model = reference_pipeline().fit([t for t, k in zip(texts, train) if k], labels[train])
    pred = model.predict([t for t, k in zip(texts, test) if k])
    test_rows = np.flatnonzero(test)
    wrong = test_rows[pred != labels[test]]
    predicted = dict(zip(test_rows.tolist(), pred.tolist()))

    classes = np.unique(labels)
    codes = np.searchsorted(classes, labels)
    groups = normalise_series(frame["title"].astype(str)).to_numpy()
    scores = out_of_fold_scores(texts, labels, groups, classes, folds, seed)
    temperature = best_temperature(scores, codes)
    issues = rank_label_issues(labels, softmax_rows(scores, temperature), classes=classes)
    flagged = set(issues["row"].tolist())
    seconds = time.perf_counter() - t0

    n_test = int(test.sum())
    flagged_test = sorted(r for r in flagged if test[r])
    wrong_flagged = [r for r in wrong.tolist() if r in flagged]
    rng = np.random.default_rng(seed)
    sample = sorted(rng.choice(wrong, size=min(audit, len(wrong)), replace=False).tolist())
    audited = [{"product_id": str(frame["product_id"].iat[r]), "title": str(frame["title"].iat[r]),
                "brand": None if frame["brand"].isna().iat[r] else str(frame["brand"].iat[r]),
                "given": labels[r], "predicted": predicted[r], "flagged": r in flagged} for r in sample]
    return {"workspace": str(workspace), "products": int(len(frame)), "n_test": n_test,
            "reference_accuracy": float(1 - len(wrong) / n_test), "errors": int(len(wrong)),
            "needed_for_one_point": int(math.ceil(0.01 * n_test)),
            "flagged_products": len(flagged), "flagged_share": len(flagged) / len(frame),
            "flagged_test": len(flagged_test), "errors_flagged": len(wrong_flagged),
            "temperature": temperature, "folds": folds, "seed": seed, "seconds": seconds,
            "audit_sample": audited, "uptime": uptime()}


def audit_counts(result: dict, verdicts: dict) -> dict | None:
    """The verdicts of the audited sample, when every one of its products has one."""
    ids = result["audit_ids"]
    if not ids or any(i not in verdicts for i in ids):
        return None
    counts = {k: sum(verdicts[i] == k for i in ids) for k in ("title", "ambiguous", "label")}
    counts["sampled"] = len(ids)
    counts["fixable_estimate"] = round(result["errors"] * counts["title"] / len(ids))
    return counts


def markdown_row(name: str, r: dict, counts: dict | None) -> str:
    """One row of RESULTS.md's table."""
    audit = (f"{counts['title']} / {counts['ambiguous']} / {counts['label']} of {counts['sampled']}; "
             f"about {counts['fixable_estimate']}" if counts else "not audited")
    return (f"| {name} | {r['n_test']:,} | {r['reference_accuracy']:.4f} | {r['errors']} | "
            f"{r['needed_for_one_point']} | {r['flagged_share']:.1%} | {r['errors_flagged']} of {r['errors']} | "
            f"{audit} | {r['seconds']:.0f} s |")


def main(argv: list[str] | None = None) -> int:
    """Measure one workspace, write its JSON, print its row and the audit sample."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, help="an ingested workspace with its grouped split")
    ap.add_argument("--name", required=True, help="the catalog's name in the output file and the row")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--audit", type=int, default=40, help="reference errors sampled for a person to judge")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", action="store_true", help="print the audit sample (titles) for judging")
    ap.add_argument("--render", action="store_true",
                    help="no measuring: count the audit's verdicts into the stored JSON and print its row")
    args = ap.parse_args(argv)
    if not args.render and args.workspace is None:
        ap.error("give --workspace WS (or --render to re-count a stored measurement)")
    out = HERE / f"reference_ceiling_{args.name}.json"
    verdicts = json.loads(AUDIT.read_text()).get(args.name, {}) if AUDIT.exists() else {}
    if args.render:
        stored = json.loads(out.read_text())
    else:
        result = measure(args.workspace, args.folds, args.audit, args.seed)
        stored = {k: v for k, v in result.items() if k != "audit_sample"}
        stored["audit_ids"] = [row["product_id"] for row in result["audit_sample"]]
        if args.show:
            for row in result["audit_sample"]:
                print(json.dumps(row, ensure_ascii=False))
    stored["audit"] = audit_counts(stored, verdicts)
    out.write_text(json.dumps(stored, indent=1) + "\n")
    print(markdown_row(args.name, stored, stored["audit"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
