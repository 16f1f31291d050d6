"""Benchmark of the explanations (issue 33): faithfulness and latency.

Faithfulness: for fashion and Flipkart, a tfidf run on the grouped split of a seeded sample;
on up to ``--n`` test products whose titles have at least 5 words, removing the explanation's 3
strongest words must lower the chosen leaf's probability more than the mean of 5 draws of 3
random words of the same title (``workbench.runs.explain_faithfulness``). With ``--embed N``,
N products of the fashion sample are embedded and the first neighbour's category is compared
with the truth beside the model's accuracy on the same test products.

Latency: one product's explanation (median and p95 over 200 real titles, one at a time) for
tfidf without neighbours, and with 5 neighbours found in an index of ``--vectors`` synthetic
384-dimensional vectors (clustered, L2-normalised) standing in for a million stored embeddings;
the index build time is reported.

    .venv/bin/python benchmarks/explain.py [--n 1000] [--sample 8000] [--vectors 1000000] [--embed 0]
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
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import workbench as wb  # noqa: E402
from workbench.embeddings.neighbour_index import NeighbourIndex  # noqa: E402
from workbench.runs.explain import Explainer, explainer_for_run, stored_products  # noqa: E402
from workbench.runs.explain_faithfulness import faithfulness  # noqa: E402
from workbench.runs.training import train_models  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def workspace(root: Path, dataset: str, sample: int):
    ws = wb.Workspace(root / dataset)
    sample = int(sample * 1.3) if dataset == "flipkart" else sample  # fewer long titles in its test part
    options = {"min_count": 5} if dataset == "flipkart" else {}
    wb.ingest_dataset(ws, dataset, sample=sample, seed=0, **options)
    run = train_models(ws, ["tfidf"], "grouped", seed=0)[0]
    test = ws.df("SELECT p.product_id, coalesce(p.title_raw, p.title) AS t FROM products p JOIN splits s "
                 "USING (product_id) WHERE s.kind = 'grouped' AND s.part = 'test' ORDER BY p.product_id")
    long = test[test["t"].str.split().str.len() >= 5]["product_id"].tolist()
    return ws, run, long


def percentile_ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def synthetic_index(n: int, dim: int = 384, seed: int = 0) -> NeighbourIndex:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((2000, dim)).astype(np.float32)
    vectors = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, 100_000):
        hi = min(n, lo + 100_000)
        vectors[lo:hi] = centers[rng.integers(0, len(centers), hi - lo)] + 0.6 * rng.standard_normal((hi - lo, dim))
    products = pd.DataFrame({"product_id": np.arange(n).astype(str), "title": "synthetic product",
                             "leaf": "synthetic > leaf"})
    return NeighbourIndex.build(vectors, products, model="synthetic")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=8000)
    ap.add_argument("--vectors", type=int, default=1_000_000)
    ap.add_argument("--embed", type=int, default=0)
    ap.add_argument("--faithfulness-only", action="store_true", help="skip the latency part")
    ap.add_argument("--latency-only", action="store_true", help="fashion only, no faithfulness")
    ap.add_argument("--out", default=str(Path(__file__).with_name("explain_results.json")))
    args = ap.parse_args()
    results: dict = {"load_start": load(), "args": vars(args)}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fashion = None
        for dataset in ("fashion",) if args.latency_only else ("fashion", "flipkart"):
            t0 = time.perf_counter()
            ws, run, ids = workspace(root, dataset, args.sample)
            ex = explainer_for_run(ws, run, neighbours=False)
            products = stored_products(ws, ids[: args.n])
            if args.latency_only:
                fashion = (ws, run, ex, products)
                continue
            found = faithfulness(ex, products)
            results[dataset] = {"test_products_5_words": len(ids), "measured": len(found),
                                "faithful_share": float(found["faithful"].mean()),
                                "median_drop_top": float((found["proba"] - found["proba_top"]).median()),
                                "median_drop_random": float((found["proba"] - found["proba_random"]).median()),
                                "seconds": time.perf_counter() - t0}
            print(dataset, results[dataset], flush=True)
            if dataset == "fashion":
                fashion = (ws, run, ex, products)
        ws, run, ex, products = fashion
        if args.faithfulness_only:
            results["load_end"] = load()
            Path(args.out).write_text(json.dumps(results, indent=2))
            print(json.dumps(results, indent=2))
            return 0
        # latency, tfidf alone: one product at a time
        titles = [{"title": p["title_raw"] or p["title"]} for p in products[:200]]
        ex.explain(titles[:1], 5, neighbours=0)
        times = []
        for t in titles:
            t0 = time.perf_counter()
            ex.explain([t], 5, neighbours=0)
            times.append(time.perf_counter() - t0)
        results["latency_tfidf_ms"] = {"median": percentile_ms(times, 50), "p95": percentile_ms(times, 95)}
        print("tfidf", results["latency_tfidf_ms"], flush=True)
        # latency with neighbours at a million synthetic stored vectors
        t0 = time.perf_counter()
        index = synthetic_index(args.vectors)
        results["index"] = {"vectors": len(index), "lists": len(index.centroids),
                            "build_seconds": time.perf_counter() - t0, "load_after_build": load()}
        print("index", results["index"], flush=True)
        big = Explainer(ex.predictor, index)
        big.explain(titles[:1], 5, neighbours=5)
        times, search = [], []
        for t in titles:
            t0 = time.perf_counter()
            big.explain([t], 5, neighbours=5)
            times.append(time.perf_counter() - t0)
            q = np.random.default_rng(len(times)).standard_normal((1, 384)).astype(np.float32)
            t1 = time.perf_counter()
            index.search(q, 5)
            search.append(time.perf_counter() - t1)
        # a stored product (a review item, --product): its stored vector, no encoding
        stored = []
        vec = np.random.default_rng(7).standard_normal((1, 384)).astype(np.float32)
        for t in titles:
            t0 = time.perf_counter()
            big.explain([t], 5, neighbours=5, vectors=vec)
            stored.append(time.perf_counter() - t0)
        results["latency_with_neighbours_ms"] = {"new_title_median": percentile_ms(times, 50),
                                                 "new_title_p95": percentile_ms(times, 95),
                                                 "stored_product_median": percentile_ms(stored, 50),
                                                 "stored_product_p95": percentile_ms(stored, 95),
                                                 "search_only_median": percentile_ms(search, 50)}
        # the same search by a full scan, same run (the ratio)
        scan = []
        for i in range(20):
            q = np.random.default_rng(i).standard_normal(384).astype(np.float32)
            t1 = time.perf_counter()
            np.argpartition(-(index.vectors @ q), 5)[:5]
            scan.append(time.perf_counter() - t1)
        results["latency_with_neighbours_ms"]["full_scan_median"] = percentile_ms(scan, 50)
        print("neighbours", results["latency_with_neighbours_ms"], flush=True)
        if args.embed:
            ws_f = fashion[0]
            wb.embed_products(ws_f)
            exn = explainer_for_run(ws_f, run, neighbours=True)
            exps = exn.explain(products, 1, neighbours=1)
            truth = dict(zip(ws_f.df("SELECT product_id, leaf FROM products")["product_id"],
                             ws_f.df("SELECT product_id, leaf FROM products")["leaf"]))
            got = [(truth[e["product_id"]], e["category"], (e["neighbours"] or [{}])[0].get("category")) for e in exps]
            results["neighbours_agreement"] = {
                "products": len(got), "model_accuracy": float(np.mean([t == c for t, c, _ in got])),
                "first_neighbour_accuracy": float(np.mean([t == n for t, _, n in got]))}
            print("agreement", results["neighbours_agreement"], flush=True)
    results["load_end"] = load()
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
