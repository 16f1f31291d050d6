"""Precision and recall of ``workbench taxonomy diff`` / ``import`` proposals per kind, on scripted
changes to the real Shopify taxonomy (``workbench/evaluate/scripted_taxonomy.py``: renames, moves, merges,
splits, additions and retirements the matcher does not know), with the names' embeddings (the
offline default encoder) and with shared words only.

    .venv/bin/python benchmarks/taxonomy_import.py [--each 10] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.evaluate.scripted_taxonomy import precision_recall, scripted_changes  # noqa: E402
from workbench.catalog.taxonomy import Taxonomy  # noqa: E402
from workbench.catalog.taxonomy_sources import load_taxonomy_file  # noqa: E402
from workbench.loop.taxonomy_import import propose  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--each", type=int, default=10, help="changes of each kind (default 10: 60 in all)")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    tree = load_taxonomy_file("shopify")
    print(f"load average at start: {os.getloadavg()[0]:.1f}; {tree}")
    totals: dict[str, dict[str, dict[str, int]]] = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        paths, truth = scripted_changes(tree, args.each, seed=seed)
        new = Taxonomy.from_node_ids(paths)
        for mode, embeddings in (("embeddings", True), ("words", False)):
            start = time.perf_counter()
            proposed = {p.key() for p in propose(tree, new, embeddings=embeddings)}
            seconds = time.perf_counter() - start
            scores = precision_recall(proposed, truth)
            print(f"seed {seed} {mode}: {seconds:.1f} s, " + ", ".join(
                f"{k} P {v['precision']:.2f} R {v['recall']:.2f}" for k, v in scores.items()))
            for kind, v in scores.items():
                t = totals.setdefault(mode, {}).setdefault(kind, {"truth": 0, "proposed": 0, "correct": 0})
                for key in t:
                    t[key] += v[key]
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print("| kind | " + " | ".join(f"{m}: precision | {m}: recall" for m in totals) + " |")
    for kind in next(iter(totals.values())):
        cells = []
        for mode in totals:
            t = totals[mode][kind]
            cells += [f"{t['correct'] / t['proposed']:.2f} ({t['correct']}/{t['proposed']})" if t["proposed"] else "-",
                      f"{t['correct'] / t['truth']:.2f} ({t['correct']}/{t['truth']})" if t["truth"] else "-"]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    Path(__file__).with_name("taxonomy_import_results.json").write_text(json.dumps(totals, indent=1))


if __name__ == "__main__":
    main()
