"""The feedback trap, measured: 12 simulated weeks of new arrivals through classify -> shelve ->
review -> retrain, under several labelling policies side by side (issue 31, item 4).

Real products of a built-in catalog (fashion by default, or Flipkart) are ingested once by the
workbench (its taxonomy, merges and leaves); a seeded split makes the initial labelled catalog,
one batch of new arrivals per week, and a fixed held-out truth on which every policy's model is
scored each week. Each week every policy: classifies the arrivals with its current tfidf model,
shelves those above the confidence threshold (model labels), sends products to review at a fixed
weekly budget, takes the simulated reviewers' answers (drawn from the held-out truth with an error
rate; a rubber-stamper accepts the model's suggestion at a given rate), and retrains on what its
rule allows.

Policies:

* ``a-naive``: retrain on everything shelved (the model's own labels) plus the reviews;
* ``b-rule``: the workbench's rule, human and catalog labels only; the queue is the least
  confident arrivals (uncertainty sampling) at the weekly budget;
* ``c-random``: as ``b`` with a random sample of the arrivals instead;
* ``d-stamp``: as ``b`` with half the budget reviewed by a rubber-stamping reviewer;
* ``d-stamp-gold``: as ``d`` with gold items seeded into each reviewer's queue
  (:mod:`workbench.loop.gold`'s rule: one per block of ``1 / share`` items, the model's wrong
  ones at :data:`workbench.loop.gold.WRONG_SHARE`), the flag of
  :func:`workbench.loop.reviewer_quality.reviewer_flags`, and, once flagged, the reviewer's
  decisions sent to a second review by the careful reviewer (those reviews count) and their
  share of the budget given to the careful reviewer. Gold answers are extra items, not counted
  among the weekly reviews; the second reviews are.

The loop's rules are replayed in memory (not through the DuckDB store) so that 12 weeks of five
policies fit well under an hour on 2 cores; the defaults say the sizes.

    PYTHONPATH=. nice .venv/bin/python benchmarks/feedback_trap.py            # fashion, defaults
    PYTHONPATH=. nice .venv/bin/python benchmarks/feedback_trap.py --dataset flipkart --min-count 5

Writes ``benchmarks/feedback_trap_<dataset>.json`` and ``.svg`` (the plot) and prints the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.loop.gold import WRONG_SHARE
from workbench.loop.reviewer_quality import reviewer_flags
from workbench.models.base import model_class

HERE = Path(__file__).resolve().parent
POLICIES = ("a-naive", "b-rule", "c-random", "d-stamp", "d-stamp-gold")


@dataclass
class Reviewer:
    """A simulated reviewer: ``error`` (a wrong leaf when answering honestly) and ``stamp`` (the
    rate at which they accept the model's suggestion without looking)."""

    name: str
    error: float
    stamp: float = 0.0
    reviews: int = 0
    gold: list = field(default_factory=list)  # (correct, suggestion wrong, accepted suggestion)
    flagged_at: int | None = None

    def answer(self, truth: str, suggestion: str, leaves: list[str], rng: np.random.Generator) -> str:
        """The leaf this reviewer gives a product."""
        if rng.random() < self.stamp:
            return suggestion
        if rng.random() < self.error:
            return leaves[int(rng.integers(len(leaves)))]
        return truth


def load(dataset: str, n: int, seed: int, min_count: int) -> pd.DataFrame:
    """``n`` real products of ``dataset`` as the workbench ingests them: ``product_id, title,
    brand, leaf``."""
    from workbench import Workspace, ingest_dataset

    with tempfile.TemporaryDirectory(prefix="feedback-trap-") as folder:
        ws = Workspace(folder)
        ingest_dataset(ws, dataset, sample=n, seed=seed, min_count=min_count)
        frame = ws.df("SELECT product_id, title, brand, leaf FROM products WHERE leaf IS NOT NULL "
                      "ORDER BY product_id")
        ws.close()
    return frame


def fit(frame: pd.DataFrame, leaves: list[str]):
    """A tfidf model (the workbench's) fitted on ``frame``."""
    model = model_class("tfidf")(leaves=leaves, random_state=0)
    model.fit(frame, frame["leaf"].to_numpy(dtype=object))
    return model


def accuracy(model, frame: pd.DataFrame, classes: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` on ``frame``'s leaves."""
    pred = classes[model.predict_proba(frame).argmax(axis=1)]
    return float(np.mean(pred == frame["leaf"].to_numpy(dtype=object)))


def run(args: argparse.Namespace) -> dict:
    """Replay the weeks under every policy of ``args.policies``; the curves and counts."""
    rng_master = np.random.default_rng(args.seed)
    total = args.catalog + args.weeks * args.arrivals + args.holdout + args.gold
    data = load(args.dataset, total, args.seed, args.min_count)
    leaves = sorted(data["leaf"].unique())
    classes = np.array(leaves, dtype=object)
    order = rng_master.permutation(len(data))
    data = data.iloc[order].reset_index(drop=True)
    catalog = data.iloc[:args.catalog]
    holdout = data.iloc[args.catalog:args.catalog + args.holdout]
    gold_pool = data.iloc[args.catalog + args.holdout:args.catalog + args.holdout + args.gold]
    arrivals = data.iloc[args.catalog + args.holdout + args.gold:]
    weeks = [arrivals.iloc[i * args.arrivals:(i + 1) * args.arrivals] for i in range(args.weeks)]
    weeks = [w for w in weeks if len(w)]
    print(f"{args.dataset}: {len(leaves)} leaves; catalog {len(catalog):,}, holdout {len(holdout):,}, "
          f"gold pool {len(gold_pool):,}, {len(weeks)} weeks of {args.arrivals:,} arrivals", flush=True)
    truth_of = dict(zip(data["product_id"], data["leaf"]))
    start_model = fit(catalog, leaves)
    start = accuracy(start_model, holdout, classes)
    results = {}
    for policy in args.policies:
        rng = np.random.default_rng(args.seed + 1)
        shelf: list[pd.DataFrame] = []
        model = start_model
        careful = Reviewer("careful", args.error)
        stamper = Reviewer("stamper", args.error, stamp=args.stamp)
        human: dict[str, tuple[str, str]] = {}  # product -> (leaf, reviewer)
        cumulative, curve, reviews_curve = 0, [start], [0]
        for week, batch in enumerate(weeks, start=1):
            proba = model.predict_proba(batch)
            top = classes[proba.argmax(axis=1)]
            conf = proba.max(axis=1)
            shelved = conf >= args.threshold
            if policy == "c-random":
                chosen = rng.choice(len(batch), size=min(args.budget, len(batch)), replace=False)
            else:
                chosen = np.argsort(conf, kind="stable")[:args.budget]
            stamping = policy.startswith("d-")
            for j, i in enumerate(chosen):
                who = stamper if stamping and j % 2 == 1 and stamper.flagged_at is None else careful
                if policy == "d-stamp-gold" and args.gold_share > 0 and len(gold_pool):
                    _seed_gold(who, model, gold_pool, classes, args, rng)
                    _check_flag(stamper, args)
                    if stamper.flagged_at is not None and not getattr(stamper, "resent", False):
                        # a second review of everything the flagged reviewer decided
                        for pid, (leaf, by) in list(human.items()):
                            if by == "stamper":
                                truth = truth_of[pid]
                                human[pid] = (careful.answer(truth, leaf, leaves, rng), "careful")
                                careful.reviews += 1
                                cumulative += 1
                        stamper.resent = True
                        who = careful
                row = batch.iloc[int(i)]
                human[row["product_id"]] = (who.answer(row["leaf"], top[int(i)], leaves, rng), who.name)
                who.reviews += 1
                cumulative += 1
            labelled = pd.DataFrame([(pid, leaf) for pid, (leaf, _) in human.items()], columns=["product_id", "leaf"])
            reviewed = data[data["product_id"].isin(labelled["product_id"])].drop(columns="leaf").merge(
                labelled, on="product_id")
            if policy == "a-naive":  # everything shelved, with the model's own labels
                shelf.append(batch[shelved].assign(leaf=top[shelved]))
            # reviewed labels win over the shelf's model labels of the same product
            frame = pd.concat([catalog, *shelf, reviewed], ignore_index=True).drop_duplicates("product_id", keep="last")
            model = fit(frame, leaves)
            curve.append(accuracy(model, holdout, classes))
            reviews_curve.append(cumulative)
            print(f"  {policy:<13} week {week:>2}: accuracy {curve[-1]:.4f}  reviews {cumulative:,}", flush=True)
        results[policy] = {"accuracy": curve, "cumulative_reviews": reviews_curve,
                           "stamper_flagged_after": stamper.flagged_at,
                           "stamper_reviews": stamper.reviews, "gold_answers": len(stamper.gold) + len(careful.gold)}
    return {"dataset": args.dataset, "start": start, "leaves": len(leaves), "results": results,
            "settings": {k: v for k, v in vars(args).items() if k != "policies"}}


def _seed_gold(who: Reviewer, model, gold_pool: pd.DataFrame, classes: np.ndarray, args, rng) -> None:
    """One gold item per block of ``1 / gold_share`` items of this reviewer (the module's rule)."""
    size = max(int(round(1 / args.gold_share)), 2)
    if (who.reviews + len(who.gold)) % size != size - 1:
        return
    proba = model.predict_proba(gold_pool)
    suggestion = classes[proba.argmax(axis=1)]
    wrong = np.flatnonzero(suggestion != gold_pool["leaf"].to_numpy(dtype=object))
    right = np.flatnonzero(suggestion == gold_pool["leaf"].to_numpy(dtype=object))
    pool = wrong if len(wrong) and (not len(right) or rng.random() < WRONG_SHARE) else right
    k = int(pool[int(rng.integers(len(pool)))])
    truth = gold_pool["leaf"].iloc[k]
    given = who.answer(truth, suggestion[k], list(classes), rng)
    who.gold.append((given == truth, suggestion[k] != truth, given == suggestion[k]))


def _check_flag(who: Reviewer, args) -> None:
    if who.flagged_at is not None or not who.gold:
        return
    n, ok = len(who.gold), sum(g[0] for g in who.gold)
    wrong = [g for g in who.gold if g[1]]
    if reviewer_flags(n, ok, len(wrong), sum(g[2] for g in wrong)):
        who.flagged_at = who.reviews


def targets(out: dict) -> list[str]:
    """The issue's targets, each in one line saying whether it was met."""
    r = out["results"]
    lines = []
    if "a-naive" in r and "b-rule" in r:
        a, b = r["a-naive"]["accuracy"], r["b-rule"]["accuracy"]
        lines.append(f"(a) naive self-training: {a[0]:.4f} -> {a[-1]:.4f} ({(a[-1] - a[0]) * 100:+.2f} pt); "
                     f"target: loses at least 1 pt -> {'met' if a[-1] - a[0] <= -0.01 else 'NOT met'}")
        lines.append(f"(b) the workbench's rule: {b[0]:.4f} -> {b[-1]:.4f} ({(b[-1] - b[0]) * 100:+.2f} pt); "
                     f"target: within 0.5 pt of its start or better -> {'met' if b[-1] - b[0] >= -0.005 else 'NOT met'}")
    if "b-rule" in r and "c-random" in r:
        b, c = r["b-rule"], r["c-random"]
        goal = c["accuracy"][-1]
        first = next((i for i, acc in enumerate(b["accuracy"]) if acc >= goal), None)
        if first is None:
            lines.append(f"(b) never reaches (c)'s week-{len(c['accuracy']) - 1} accuracy {goal:.4f}; target NOT met")
        else:
            need_b, need_c = b["cumulative_reviews"][first], c["cumulative_reviews"][-1]
            saving = 1 - need_b / need_c if need_c else 0.0
            lines.append(f"(b) reaches (c)'s final accuracy {goal:.4f} in week {first} after {need_b:,} reviews, "
                         f"(c) used {need_c:,}: {saving:.0%} fewer; target at least 30% -> "
                         f"{'met' if saving >= 0.3 else 'NOT met'}")
    if "d-stamp-gold" in r:
        d = r["d-stamp-gold"]
        flagged = d["stamper_flagged_after"]
        lines.append(f"gold flagging caught the {out['settings']['stamp']:.0%}-rubber-stamping reviewer "
                     + (f"after {flagged} of their reviews" if flagged is not None else "never")
                     + f"; target within 200 -> {'met' if flagged is not None and flagged <= 200 else 'NOT met'}")
    if "d-stamp" in r and "d-stamp-gold" in r:
        lines.append(f"week-12 accuracy with the rubber-stamper: {r['d-stamp']['accuracy'][-1]:.4f} without gold "
                     f"flagging, {r['d-stamp-gold']['accuracy'][-1]:.4f} with it")
    return lines


def plot(out: dict, path: Path) -> None:
    """Accuracy per week of every policy as a standalone SVG (no plotting library needed)."""
    colours = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd"]
    curves = {p: r["accuracy"] for p, r in out["results"].items()}
    lo = min(min(c) for c in curves.values())
    hi = max(max(c) for c in curves.values())
    lo, hi = lo - 0.005, hi + 0.005
    width, height, left, top, plot_w, plot_h = 720, 400, 60, 30, 480, 320
    n = max(len(c) for c in curves.values()) - 1

    def xy(i, v):
        return left + plot_w * i / max(n, 1), top + plot_h * (1 - (v - lo) / (hi - lo))

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' "
             "font-size='12'><rect width='100%' height='100%' fill='white'/>",
             f"<text x='{left}' y='18'>The feedback trap ({out['dataset']}): accuracy on the fixed held-out truth</text>",
             f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' y2='{top + plot_h}' stroke='black'/>",
             f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + plot_h}' stroke='black'/>"]
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        _, y = xy(0, v)
        parts.append(f"<text x='{left - 50}' y='{y + 4:.1f}'>{v:.3f}</text>")
    for i in range(n + 1):
        x, _ = xy(i, lo)
        parts.append(f"<text x='{x - 4:.1f}' y='{top + plot_h + 16}'>{i}</text>")
    parts.append(f"<text x='{left + plot_w / 2 - 15}' y='{top + plot_h + 34}'>week</text>")
    for j, (policy, curve) in enumerate(curves.items()):
        colour = colours[j % len(colours)]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(curve)))
        parts.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{points}'/>")
        parts.append(f"<text x='{left + plot_w + 15}' y='{top + 20 + 18 * j}' fill='{colour}'>{policy}</text>")
    parts.append("</svg>")
    path.write_text("\n".join(parts))


def main() -> None:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion")
    p.add_argument("--min-count", type=int, default=1, help="taxonomy option of the ingest (flipkart: 5)")
    p.add_argument("--weeks", type=int, default=12)
    p.add_argument("--catalog", type=int, default=1000, help="initial labelled catalog (default 1000)")
    p.add_argument("--arrivals", type=int, default=400, help="new arrivals per week (default 400)")
    p.add_argument("--holdout", type=int, default=1500, help="fixed held-out truth (default 1500)")
    p.add_argument("--gold", type=int, default=300, help="gold pool (default 300)")
    p.add_argument("--budget", type=int, default=40, help="reviews per week (default 40)")
    p.add_argument("--threshold", type=float, default=0.8, help="shelving confidence threshold (default 0.8)")
    p.add_argument("--error", type=float, default=0.03, help="honest reviewers' error rate (default 0.03)")
    p.add_argument("--stamp", type=float, default=0.9, help="the rubber-stamper's rate (default 0.9)")
    p.add_argument("--gold-share", type=float, default=0.1, help="gold items per reviewer item (default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--policies", default=",".join(POLICIES))
    args = p.parse_args()
    args.policies = [x.strip() for x in args.policies.split(",") if x.strip()]
    t0 = time.perf_counter()
    out = run(args)
    out["seconds"] = time.perf_counter() - t0
    out["load"] = os.getloadavg()
    out["targets"] = targets(out)
    stem = HERE / f"feedback_trap_{args.dataset}"
    stem.with_suffix(".json").write_text(json.dumps(out, indent=2, default=float))
    plot(out, stem.with_suffix(".svg"))
    print(f"\n{args.dataset}: {out['seconds']:.0f} s, load {out['load'][0]:.2f} {out['load'][1]:.2f} {out['load'][2]:.2f}")
    for line in out["targets"]:
        print(line)


if __name__ == "__main__":
    main()
