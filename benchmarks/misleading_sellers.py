"""Benchmark: how often the misleading-seller flag fires on honest sellers, and how often it
catches a misleading one, over repeated seeds.

Ingests a seeded sample of the fashion catalog into a fresh benchmark workspace, trains a tfidf
run on the grouped split's training part and scores the products it never saw (validation and
test parts). Each seed then simulates 20 sellers with 100 of those products each
(:func:`workbench.loop.misleading_sellers.simulate_seller_choices`): honest sellers choose the
catalog's category; a misleading one chooses, for a share of their products, one of the five
categories the model finds least probable. :func:`workbench.loop.misleading_sellers.flag_sellers`
(one-sided binomial test of the low-probability choices, under 1%, against the other sellers'
pooled rate, p < 0.01, at least 20 choices) judges each seed. Writes ``## Misleading sellers`` in
RESULTS.md::

    python benchmarks/misleading_sellers.py [--sample 10000] [--seeds 500]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from workbench import Workspace, ingest_dataset
from workbench.loop.misleading_sellers import (ALPHA, LOW_PROBA, flag_sellers, held_out_probabilities,
                                              simulate_seller_choices)
from workbench.runs.training import train_models

HERE = Path(__file__).resolve().parent
SECTION = "## Misleading sellers"


def uptime() -> str:
    """The machine's ``uptime`` line (load averages)."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def scenario(proba, truth, classes, *, seeds: int, misleading: int, share: float) -> dict:
    """Flag rates over ``seeds`` simulations of 20 sellers x 100 products."""
    honest_flags = honest_total = caught = seeds_with_false = 0
    honest_share = []
    for seed in range(seeds):
        sim = simulate_seller_choices(proba, truth, classes, n_sellers=20, n_products=100, misleading=misleading,
                                      mislead_share=share, seed=seed)
        verdicts = flag_sellers(sim).set_index("seller")
        bad = {f"seller-{s:02d}" for s in range(misleading)}
        honest = verdicts.drop(index=list(bad))
        honest_flags += int(honest["flagged"].sum())
        honest_total += len(honest)
        seeds_with_false += bool(honest["flagged"].any())
        caught += sum(bool(verdicts.loc[b, "flagged"]) for b in bad)
        honest_share.append(float(honest["low_share"].mean()))
    return {"misleading": misleading, "share": share, "seeds": seeds,
            "false_flag_rate": honest_flags / honest_total, "seeds_with_a_false_flag": seeds_with_false / seeds,
            "detected": caught / (seeds * misleading) if misleading else None,
            "honest_low_share": float(np.mean(honest_share))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample", type=int, default=10_000)
    p.add_argument("--seeds", type=int, default=500)
    p.add_argument("--workspace", default=str(HERE / "out" / "misleading-sellers-ws"))
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    load_before = uptime()
    shutil.rmtree(args.workspace, ignore_errors=True)
    ws = Workspace(args.workspace)
    ingest_dataset(ws, "fashion", sample=args.sample, seed=0)
    [run_id] = train_models(ws, ["tfidf"], "grouped", seed=0)
    proba, truth, classes = held_out_probabilities(ws, run_id)
    t0 = time.perf_counter()
    rows = [scenario(proba, truth, classes, seeds=args.seeds, misleading=m, share=s)
            for m, s in ((0, 0.0), (1, 0.05), (1, 0.10), (1, 0.20))]
    seconds = time.perf_counter() - t0
    load_after = uptime()
    lines = [SECTION, "",
             f"Command: `.venv/bin/python benchmarks/misleading_sellers.py --sample {args.sample} --seeds {args.seeds}`. "
             f"Machine: 2 shared cores, no GPU; `uptime` before: `{load_before}`, after: `{load_after}`.", "",
             f"A tfidf run trained on the grouped split of {args.sample:,} fashion products scored the "
             f"{len(proba):,} products it never saw; each seed simulates 20 sellers with 100 of them each "
             "(honest: the catalog's category; misleading: for a share of their products one of the five least "
             f"probable categories). The flag: one-sided binomial test of the choices under {LOW_PROBA:.0%} model "
             f"probability against the other sellers' pooled rate, p < {ALPHA}, at least 20 choices "
             f"({seconds:.0f} s for all seeds).", "",
             "| misleading sellers | their share of misleading choices | seeds | honest sellers flagged (false-flag rate) "
             "| seeds with at least one honest seller flagged | misleading seller flagged | honest low-probability share |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        detected = "n/a" if r["detected"] is None else f"{r['detected']:.1%}"
        lines.append(f"| {r['misleading']} | {r['share']:.0%} | {r['seeds']} | {r['false_flag_rate']:.2%} | "
                     f"{r['seeds_with_a_false_flag']:.1%} | {detected} | {r['honest_low_share']:.1%} |")
    lines += ["", "The false-flag rate is per honest seller and seed; a reviewer sees a flag as a request to look, "
              "never as a penalty."]
    sys.path.insert(0, str(HERE))
    from models import report

    return report("\n".join(lines) + "\n", SECTION, not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
