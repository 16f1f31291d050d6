"""Scale-out benchmark: batch classification and embedding in this process, on ``local:1`` and
on ``local:2`` (LocalClusters of single-threaded worker processes), in one run.

The catalog is the fashion rows repeated with perturbed titles and fresh ids (as
``benchmarks/ingest.py``), ingested into a fresh workspace; a ``tfidf`` run trained on a
sample of it classifies every product (the rows ``workbench classify`` stores, without
storing them); embedding encodes the first ``--embed-rows`` distinct titles into an empty
cache each time. For each path: seconds, products/s, peak memory (this process, or the largest
worker), the ratio of 2 workers to 1, and a projection to 100M products on 50 workers from the
measured per-partition cost (worker time) plus the single writer's cost per product (export
and read-back here, which more workers do not shorten).

    .venv/bin/python benchmarks/scale.py [--rows 1000000] [--embed-rows 20000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import make_catalog  # noqa: E402

from workbench import ColumnMapping, Workspace, ingest_file  # noqa: E402
from workbench.embeddings.embed_cache import EmbeddingCache, text_hashes  # noqa: E402
from workbench.embeddings.embed import encode_missing_here  # noqa: E402
from workbench.loop.labels import utc_now  # noqa: E402
from workbench.loop.shelving import local_rows  # noqa: E402
from workbench.runs.predictor import Predictor  # noqa: E402
from workbench.runs.training import PeakMemory, train_models  # noqa: E402
from workbench.scale.classify import ClusterClassifier  # noqa: E402
from workbench.scale.cluster import connect  # noqa: E402
from workbench.scale.embed import ClusterEncoder  # noqa: E402
from workbench.scale.partitions import export_products, new_job, remove_job  # noqa: E402

MODES = ("in-process", "local:1", "local:2")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def classify(ws, ids, run_id, mode: str, rows_per_part: int) -> dict:
    now = utc_now()
    rules = dict(predictor=Predictor.for_run(ws, run_id, threshold=0.8, overrides={}), now=now, batch=now.date())
    started = time.perf_counter()
    if mode == "in-process":
        with PeakMemory() as memory:
            rows = local_rows(ws, ids, **rules)
        return {"seconds": time.perf_counter() - started, "rows": len(rows), "peak_mb": memory.peak_mb,
                "partition_seconds": None}
    with connect(mode) as client:
        started = time.perf_counter()  # the cluster's start-up is not the job's
        remote = ClusterClassifier(client, rows_per_part=rows_per_part, progress=False)
        rows = remote(ws, ids, **rules)
    return {"seconds": time.perf_counter() - started, "rows": len(rows),
            "peak_mb": max(s["peak_rss_mb"] for s in remote.stats),
            "partition_seconds": float(np.median([s["seconds"] for s in remote.stats])),
            "partitions": len(remote.stats)}


def embed(texts, mode: str, rows_per_part: int, folder: Path) -> dict:
    cache = EmbeddingCache(folder / mode.replace(":", "-"), "bench")
    hashes = text_hashes(texts)
    started = time.perf_counter()
    if mode == "in-process":
        with PeakMemory() as memory:
            encode_missing_here(texts, hashes, model="default", device="cpu", batch_size=None, cache=cache,
                                progress=False)
        return {"seconds": time.perf_counter() - started, "rows": len(texts), "peak_mb": memory.peak_mb,
                "partition_seconds": None}
    with connect(mode) as client:
        started = time.perf_counter()
        remote = ClusterEncoder(client, rows_per_part=rows_per_part, progress=False)
        remote(texts, hashes, model="default", device="cpu", batch_size=None, cache=cache, progress=False)
    return {"seconds": time.perf_counter() - started, "rows": len(texts),
            "peak_mb": max(s["peak_rss_mb"] for s in remote.stats),
            "partition_seconds": float(np.median([s["seconds"] for s in remote.stats])),
            "partitions": len(remote.stats)}


def map_benchmark(points: int, folder: Path, seed: int = 0) -> dict:
    """A ``points``-product map: synthetic positions in 47 category clusters written as Parquet,
    rendered with datashader from a Dask dataframe (``workbench.scale.map``) against the same
    aggregation from one in-memory pandas frame; plus the cost of placing products on the map
    by their nearest fitted neighbours (``place_by_neighbours``: 20,000 products against 50,000
    anchors)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from workbench.embeddings.projection import place_by_neighbours
    from workbench.scale.map import map_dataframe, map_image

    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (47, 2))
    folder.mkdir(parents=True, exist_ok=True)
    per_file = 1_000_000
    for i in range(math.ceil(points / per_file)):
        n = min(per_file, points - i * per_file)
        cat = rng.integers(0, 47, n)
        xy = centres[cat] + rng.normal(0, 1, (n, 2))
        pq.write_table(pa.table({"x": xy[:, 0].astype(np.float32), "y": xy[:, 1].astype(np.float32),
                                 "category": [f"family {c:02d}" for c in cat]}), folder / f"map-{i:03d}.parquet")
    warm = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0], "category": pd.Categorical(["a", "b"])})
    map_image(warm)  # datashader compiles its kernels once; neither path pays for it below
    t0 = time.perf_counter()
    frame = map_dataframe(folder)
    image = map_image(frame)
    dask_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    flat = pd.read_parquet(folder)
    flat["category"] = flat["category"].astype("category")
    map_image(flat)
    pandas_s = time.perf_counter() - t0
    anchors = rng.normal(size=(50_000, 384)).astype(np.float32)
    anchors /= np.linalg.norm(anchors, axis=1, keepdims=True)
    queries = rng.normal(size=(20_000, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    t0 = time.perf_counter()
    place_by_neighbours(queries, anchors, rng.normal(size=(50_000, 2)))
    place_s = time.perf_counter() - t0
    return {"points": points, "dask_render_s": dask_s, "pandas_render_s": pandas_s,
            "image": list(image.shape), "place_s_per_product": place_s / 20_000, "load": load()}


def projection(result: dict, single_writer_s_per_row: float, rows_per_part: int, total: int = 100_000_000,
               workers: int = 50) -> float:
    """Hours for ``total`` products on ``workers`` from one run's per-partition cost."""
    waves = math.ceil(math.ceil(total / rows_per_part) / workers)
    return (waves * result["partition_seconds"] + total * single_writer_s_per_row) / 3600


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--embed-rows", type=int, default=20_000)
    parser.add_argument("--train-sample", type=int, default=20_000)
    parser.add_argument("--rows-per-part", type=int, default=50_000)
    parser.add_argument("--embed-rows-per-part", type=int, default=2_500)
    parser.add_argument("--map-points", type=int, default=10_000_000)
    args = parser.parse_args()
    report: dict = {"rows": args.rows, "embed_rows": args.embed_rows, "load_start": load(),
                    "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, no GPU"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_catalog(args.rows, tmp / "catalog.csv")
        ws = Workspace(tmp / "ws")
        ingest_file(ws, tmp / "catalog.csv", ColumnMapping(
            id="id", title="productDisplayName", levels=["masterCategory", "subCategory", "articleType"]))
        run_id = train_models(ws, ["tfidf"], "grouped", sample=args.train_sample, seed=0)[0]
        ids = ws.df("SELECT product_id FROM products ORDER BY product_id")["product_id"].tolist()
        report["classify"] = {}
        for mode in MODES:
            report["classify"][mode] = classify(ws, ids, run_id, mode, args.rows_per_part)
            report["classify"][mode]["load"] = load()
            print(mode, "classify", report["classify"][mode], flush=True)
        # the single writer's share: exporting the partitions (reading back is of the same order)
        t0 = time.perf_counter()
        job = new_job(ws.path, "bench")
        export_products(ws, ids, job / "input", args.rows_per_part)
        report["writer_s_per_row"] = (time.perf_counter() - t0) / len(ids)
        remove_job(job)
        texts = ws.df("SELECT DISTINCT title FROM products ORDER BY title LIMIT ?", [args.embed_rows])["title"].tolist()
        report["embed"] = {}
        for mode in MODES:
            report["embed"][mode] = embed(texts, mode, args.embed_rows_per_part, tmp / "caches")
            report["embed"][mode]["load"] = load()
            print(mode, "embed", report["embed"][mode], flush=True)
        report["map"] = map_benchmark(args.map_points, tmp / "map")
        print("map", report["map"], flush=True)
    for job in ("classify", "embed"):
        one, two = report[job]["local:1"], report[job]["local:2"]
        report[job]["scaling_2_over_1"] = one["seconds"] / two["seconds"]
        report[job]["hours_100M_on_50"] = projection(
            two, report["writer_s_per_row"] if job == "classify" else 0.0,
            args.rows_per_part if job == "classify" else args.embed_rows_per_part)
    report["load_end"] = load()
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "scale.json").write_text(json.dumps(report, indent=2))
    print(f"\n{report['machine']}; load at start {report['load_start']}, at end {report['load_end']}")
    print("| job | path | products | seconds | products/s | peak MB (largest process) | load |")
    print("|---|---|---|---|---|---|---|")
    for job in ("classify", "embed"):
        for mode in MODES:
            r = report[job][mode]
            print(f"| {job} | {mode} | {r['rows']:,} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | "
                  f"{r['peak_mb']:,.0f} | {r['load']} |")
        print(f"| {job} | 2 workers / 1 worker | | | {report[job]['scaling_2_over_1']:.2f}x | | |")
        print(f"| {job} | 100M on 50 workers (projected) | | {report[job]['hours_100M_on_50'] * 3600:,.0f} "
              f"({report[job]['hours_100M_on_50']:.2f} h) | | | |")
    m = report["map"]
    print(f"\nmap of {m['points']:,} points: datashader from a Dask dataframe {m['dask_render_s']:.1f} s, "
          f"from one pandas frame {m['pandas_render_s']:.1f} s (dask / pandas {m['dask_render_s'] / m['pandas_render_s']:.2f}x); "
          f"placing a product by its neighbours {m['place_s_per_product'] * 1e3:.2f} ms "
          f"(100M products on 50 workers: {m['place_s_per_product'] * 1e8 / 50 / 3600:.2f} h); load {m['load']}")


if __name__ == "__main__":
    main()
