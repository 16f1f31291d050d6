"""Latency of one tfidf explanation beside plain classification, in the same run (issue 33).

A tfidf run on the grouped split of a seeded fashion sample; ``--n`` real test titles, each
explained (``Explainer.explain``, no neighbours: the terms, spans, marked title and per-level
probabilities) and classified (``Predictor.predict``, what ``/v1/classify`` runs) one product
at a time, the two interleaved product by product so that both see the same load. Reports the
median, quartile and p95 of each, the explain / classify ratio of the medians, and the load
average (``os.getloadavg``) before and after. ``--rounds`` repeats the pass.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/explain_latency.py [--n 200] [--sample 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import workbench as wb  # noqa: E402
from workbench.runs.explain import explainer_for_run, stored_products  # noqa: E402
from workbench.runs.training import train_models  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def stats_ms(values: list[float]) -> dict[str, float]:
    ms = np.asarray(values) * 1000
    return {"median": float(np.median(ms)), "p25": float(np.percentile(ms, 25)), "p95": float(np.percentile(ms, 95))}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--sample", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).with_name("explain_latency_ratio_results.json")))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = wb.Workspace(Path(tmp) / "ws")
        wb.ingest_dataset(ws, "fashion", sample=args.sample, seed=0)
        run = train_models(ws, ["tfidf"], "grouped", seed=0)[0]
        ids = ws.df("SELECT product_id FROM splits WHERE kind = 'grouped' AND part = 'test' "
                    "ORDER BY product_id LIMIT ?", [args.n])["product_id"].tolist()
        titles = [{"title": p["title_raw"] or p["title"], "brand": p["brand"]} for p in stored_products(ws, ids)]
        explainer = explainer_for_run(ws, run, neighbours=False)
        predictor = explainer.predictor
        explainer.explain(titles[:1], 5, neighbours=0)
        predictor.predict(titles[:1])
        results: dict = {"args": vars(args), "machine": f"{os.cpu_count()} CPUs", "load_start": load(), "rounds": []}
        for _ in range(args.rounds):
            explain_s, classify_s = [], []
            for t in titles:
                t0 = time.perf_counter()
                explainer.explain([t], 5, neighbours=0)
                t1 = time.perf_counter()
                predictor.predict([t])
                t2 = time.perf_counter()
                explain_s.append(t1 - t0)
                classify_s.append(t2 - t1)
            e, c = stats_ms(explain_s), stats_ms(classify_s)
            row = {"explain_ms": e, "classify_ms": c, "ratio_median": e["median"] / c["median"],
                   "ratio_p25": e["p25"] / c["p25"], "load": load()}
            results["rounds"].append(row)
            print(json.dumps(row), flush=True)
        results["load_end"] = load()
    Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
