"""Ablation: the cnn-lstm model with and without semantic label smoothing, same split, same seed.

Ingests the fashion catalog into a temporary workspace, takes its grouped split (by normalised
title), trains ``cnn-lstm`` twice per seed (``semantic_smoothing=0`` and ``> 0``, everything
else equal) and reports on the test part: accuracy, macro-F1, the share of the top-5
predictions that are semantic neighbours of the true leaf, the share of wrong top-1
predictions that land on a neighbour, and the mean probability given to the neighbours.

    .venv/bin/python benchmarks/ablation_smoothing.py [--sample 20000] [--seeds 0 1] [--epochs 6]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from workbench import Workspace, ingest_dataset, load_taxonomy, split_frame
from workbench.embeddings.category_neighbours import leaf_neighbours
from workbench.evaluate.metrics import accuracy, macro_f1
from workbench.evaluate.severity import neighbour_error_share, neighbour_share
from workbench.models.neural import CnnLstmClassifier

OUT = Path(__file__).resolve().parent / "out"


def neighbour_probability(y_true, proba, classes, neighbours) -> float:
    """Mean probability the model puts on the true leaf's semantic neighbours."""
    index = {c: i for i, c in enumerate(classes)}
    mass = [proba[r, [index[n] for n in neighbours[leaf]]].sum() for r, leaf in enumerate(y_true)]
    return float(np.mean(mass))


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    ws = Workspace(tempfile.mkdtemp(prefix="ablation-"))
    ingest_dataset(ws, "fashion", sample=args.sample, seed=0)
    frame = split_frame(ws, "grouped")
    taxonomy = load_taxonomy(ws)
    parts = {p: frame[frame["part"] == p].reset_index(drop=True) for p in ("train", "valid", "test")}
    neighbours = {leaf: [n for n, _ in near] for leaf, near in leaf_neighbours(taxonomy, k=args.k).items()}
    results = []
    for seed in args.seeds:
        for weight in (0.0, args.weight):
            model = CnnLstmClassifier(
                leaves=taxonomy.leaves, random_state=seed, max_epochs=args.epochs,
                early_stopping_patience=2, semantic_smoothing=weight, smoothing_neighbours=args.k,
                smoothing_start=args.start, smoothing_end=args.end, num_threads=args.threads)
            start = time.perf_counter()
            model.fit(parts["train"], parts["train"]["leaf"], parts["valid"], parts["valid"]["leaf"])
            seconds = time.perf_counter() - start
            test = parts["test"]
            proba = model.predict_proba(test)
            classes, y = model.classes_, test["leaf"].to_numpy()
            row = {
                "seed": seed, "semantic_smoothing": weight, "epochs": model.n_epochs_,
                "best_epoch": model.best_epoch_, "train_s": round(seconds, 1),
                "accuracy": accuracy(y, proba, classes=classes),
                "macro_f1": macro_f1(y, proba, classes=classes),
                "top5_neighbour_share": neighbour_share(y, proba, classes=classes, neighbours=neighbours, k=5),
                "error_on_neighbour": neighbour_error_share(y, proba, classes=classes, neighbours=neighbours),
                "neighbour_probability": neighbour_probability(y, proba, classes, neighbours),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    return {
        "machine": f"{platform.machine()} CPU, torch {torch.__version__}, {args.threads} thread(s)",
        "rows": {p: len(v) for p, v in parts.items()}, "leaves": len(taxonomy.leaves),
        "config": vars(args), "results": results,
    }


def table(report: dict) -> str:
    """The results as a markdown table, with the smoothed / plain ratio per seed."""
    cols = ["accuracy", "macro_f1", "top5_neighbour_share", "error_on_neighbour", "neighbour_probability"]
    lines = ["| seed | semantic_smoothing | epochs (best) | train s | " + " | ".join(cols) + " |",
             "|---|---|---|---|" + "---|" * len(cols)]
    for r in report["results"]:
        lines.append(f"| {r['seed']} | {r['semantic_smoothing']} | {r['epochs']} ({r['best_epoch']}) | "
                     f"{r['train_s']} | " + " | ".join(f"{r[c]:.4f}" for c in cols) + " |")
    by_seed: dict[int, dict[float, dict]] = {}
    for r in report["results"]:
        by_seed.setdefault(r["seed"], {})[r["semantic_smoothing"]] = r
    for seed, pair in by_seed.items():
        plain, smooth = pair[0.0], pair[max(pair)]
        lines.append(f"| {seed} | ratio smoothed / plain | | | " + " | ".join(
            f"{smooth[c] / plain[c]:.3f}" if plain[c] else "n/a" for c in cols) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=None, help="products to ingest (default: all 44,446)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--weight", type=float, default=1.0, help="semantic_smoothing (KL weight) of the smoothed run")
    parser.add_argument("--start", type=float, default=0.3, help="smoothing_start")
    parser.add_argument("--end", type=float, default=0.0, help="smoothing_end")
    parser.add_argument("--k", type=int, default=5, help="neighbours per leaf (smoothing and metric)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    report = run(args)
    OUT.mkdir(exist_ok=True)
    (OUT / "ablation_smoothing.json").write_text(json.dumps(report, indent=1))
    print(report["machine"], report["rows"], f"{report['leaves']} leaves")
    print(table(report))


if __name__ == "__main__":
    main()
