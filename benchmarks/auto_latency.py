"""Benchmark: one product at a time through ``auto`` against ``tfidf`` (the API's case).

Loads the newest recorded ``auto`` and ``tfidf`` runs of a workspace (default: the fashion
benchmark workspace of ``benchmarks/models.py --catalog fashion --sample 8000``), then times
``predict_proba`` on single test products (warm: the encoder is loaded by a first call; the
texts are new to the embedding cache only when ``--cold-cache`` is given, which uses titles the
cache has not seen) and writes the medians under ``## auto latency`` in RESULTS.md::

    python benchmarks/auto_latency.py --workspace benchmarks/out/fashion-8000-ws
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def newest(ws, kind: str) -> str:
    """The newest run id of ``kind`` with a saved model."""
    from workbench.runs.records import list_runs, run_dir

    runs = list_runs(ws)
    runs = runs[runs["model"] == kind]
    for run_id in reversed(runs["run_id"].tolist()):
        if (run_dir(ws, run_id) / "model" / "manifest.json").exists():
            return run_id
    raise SystemExit(f"no {kind} run with a saved model in {ws.path}; train one first")


def main(argv=None) -> int:
    """Time the two runs; see the module docstring."""
    sys.path.insert(0, str(HERE))
    from models import machine, report

    from workbench import Workspace
    from workbench.runs.predictor import Predictor
    from workbench.runs.records import run_dir
    from workbench.runs.training import load_training_frame

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", default=str(HERE / "out" / "fashion-8000-ws"))
    p.add_argument("--n", type=int, default=50)
    p.add_argument("--cold-cache", action="store_true", help="append a counter to each title (never cached)")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    ws = Workspace(args.workspace)
    test = load_training_frame(ws, "grouped", ("catalog", "human"))
    test = test[test["part"] == "test"].head(args.n).reset_index(drop=True)
    if args.cold_cache:
        test["title"] = [f"{t} {time.time_ns()}" for t in test["title"]]
    out = {}
    for kind in ("tfidf", "auto"):
        run_id = newest(ws, kind)
        predictor = Predictor.for_run(ws, run_id)  # the one road every surface scores through
        warm = test.iloc[:1].copy()
        warm["title"] = f"warm-up {time.time_ns()}"  # never cached: the encoder is loaded now, not timed
        predictor.score(warm)
        times = []
        for i in range(len(test)):
            t0 = time.perf_counter()
            predictor.score(test.iloc[i:i + 1])
            times.append(1000 * (time.perf_counter() - t0))
        out[kind] = (run_id, statistics.median(times), max(times))
        print(kind, out[kind], flush=True)
    load = os.getloadavg()[0]
    ratio = out["auto"][1] / out["tfidf"][1]
    text = "\n".join([
        "## auto latency", "",
        f"Command: `python benchmarks/auto_latency.py --workspace {args.workspace}"
        + (" --cold-cache" if args.cold_cache else "") + f"`. Measured on: {machine()}, 1-minute load {load:.1f}. "
        f"`predict_proba` on one product at a time, {len(test)} test products, after one warm-up call"
        + (" (every title new to the embedding cache)" if args.cold_cache else
           " (their embeddings may come from the workspace cache)") + ".", "",
        "| model | run | median ms | max ms |", "|---|---|---|---|",
        *[f"| {k} | {v[0]} | {v[1]:.1f} | {v[2]:.1f} |" for k, v in out.items()], "",
        f"`auto` takes {ratio:.1f} times `tfidf`'s median per product (same run, same machine); the API's "
        "latency target is stated for the tfidf run.", ""])
    return report(text, "## auto latency", not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
