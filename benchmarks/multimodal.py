"""Benchmark: product photos as a model input on the fashion catalog (``## Photos`` of RESULTS.md).

1. Ingests the fashion catalog into a benchmark workspace (once; ``--catalog-sample N`` keeps a
   seeded sample instead of all 44,446 products), embeds every photo (``embed_product_images``:
   44,072 photos, 60 x 80 px) into the workspace cache, timed, with the peak memory of the
   process (psutil) and the load average (``uptime``) beside it. A second run reuses the cache.
2. Image-embedding throughput in one run on ``--throughput-n`` photos the cache does not hold:
   one photo at a time (decode, encode a batch of one, no cache) against the batched path into an
   empty cache, and the cached path (the same photos again); the figures are ratios.
3. For each split trains, with :func:`workbench.runs.training.train_models`: ``tfidf`` on the
   titles (the same products' titles-only reference), ``fusion`` on the
   text alone (``inputs=["text"]``), ``image`` (photo only), ``fusion`` (text and photo) and late
   fusion (``ensemble`` of tfidf, fasttext and image, each weighed by its validation accuracy),
   and prints them beside the best titles-only rows of ``## Models`` (no ``usage`` attribute).

Rows go to ``benchmarks/multimodal_results.json``::

    python benchmarks/multimodal.py --workspace benchmarks/out/multimodal
    python benchmarks/multimodal.py --catalog-sample 6000 --splits grouped   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from workbench import Workspace, ingest_dataset
from workbench.runs.records import get_run
from workbench.runs.training import PeakMemory, compare_runs, train_models

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "multimodal_results.json"
#: The best titles-only rows of ``## Models`` (benchmarks/RESULTS.md), full catalog, test part.
BEST_TITLES_ONLY = {"random": ("vote (tfidf, fasttext, cnn-lstm)", 0.976, 0.913),
                    "grouped": ("vote (tfidf, fasttext, cnn-lstm)", 0.970, 0.878)}
ROWS = {
    "tfidf (titles only)": ("tfidf", {}),
    "fusion (text only)": ("fusion", {"inputs": ["text"], "progress": False}),
    "image": ("image", {"progress": False}),
    "fusion (text + photo)": ("fusion", {"progress": False}),
    "late fusion": ("ensemble", {"members": {"tfidf": {}, "fasttext": {},
                                             "image": {"progress": False}},
                                 "weights": "accuracy", "combine": "geometric"}),
    # variants of the fused model; which one to quote is chosen by validation accuracy, not by the test part
    "fusion (text + photo; sentence vectors and n-grams)": ("fusion", {"text_encoder": "both", "progress": False}),
    "fusion (text + photo; gated)": ("fusion", {"fusion": "gated", "progress": False}),
    "fusion (text + photo; hidden 256; 20 epochs)": ("fusion", {"hidden": 256, "max_epochs": 20, "progress": False}),
}
#: The rows a run trains unless ``--rows`` names others.
DEFAULT_ROWS = list(ROWS)[:5]


def uptime() -> str:
    """The load averages, as ``uptime`` prints them."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average:")[-1].strip()


def embed_all(ws: Workspace) -> dict:
    """Embed every product photo into the workspace cache, timed, with peak memory."""
    from workbench.embeddings.image_embed import embed_product_images

    load = uptime()
    with PeakMemory() as memory:
        t0 = time.perf_counter()
        report = embed_product_images(ws, progress=True)
        seconds = time.perf_counter() - t0
    print(report, flush=True)
    return {**report.as_dict(), "wall_seconds": seconds, "peak_rss_mb": memory.peak_bytes / 2**20,
            "peak_growth_mb": memory.peak_mb, "load": load}


def throughput(ws: Workspace, n: int) -> dict:
    """Images/s of one photo at a time against the batched and the cached path, in this run."""
    from workbench.embeddings.image_embed import embed_images, image_status
    from workbench.embeddings.image_encoder import (encode_images, image_model_id, image_model_size,
                                                    load_image_encoder)
    from workbench.embeddings.image_files import decode_image, read_image_bytes

    paths = image_status(ws).query("status == 'ok'")["location"].head(n).tolist()
    size = image_model_size(image_model_id())
    encoder = load_image_encoder()
    load = uptime()
    t0 = time.perf_counter()
    for p in paths:
        encode_images(encoder, [decode_image(read_image_bytes(Path(p)))], batch_size=1, size=size)
    single = time.perf_counter() - t0
    scratch = Workspace(Path(ws.path) / "throughput-scratch")
    t0 = time.perf_counter()
    embed_images(paths, workspace=scratch)
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = embed_images(paths, workspace=scratch)
    cached = time.perf_counter() - t0
    assert again.from_cache == len(paths)
    out = {"n": len(paths), "one_at_a_time_per_s": len(paths) / single, "batched_per_s": len(paths) / batched,
           "cached_per_s": len(paths) / cached, "load": load, "device": str(next(encoder.parameters()).device)}
    out["batched_vs_single"] = out["batched_per_s"] / out["one_at_a_time_per_s"]
    out["cached_vs_single"] = out["cached_per_s"] / out["one_at_a_time_per_s"]
    print(json.dumps(out, indent=1), flush=True)
    return out


def train_rows(ws: Workspace, split: str, rows: list[str]) -> list[dict]:
    """Train each row's model on ``split`` and return its figures."""
    out = []
    for name in rows:
        kind, params = ROWS[name]
        load = uptime()
        run_id = train_models(ws, [kind], split, params={kind: params}, echo=print)[0]
        row = compare_runs(ws, [run_id]).iloc[0].to_dict()
        metrics = get_run(ws, run_id)["metrics"] or {}
        row["valid_accuracy"] = (metrics.get("valid") or {}).get("accuracy")
        out.append({"row": name, "split": split, "load": load, "load_after": uptime(),
                    **{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}})
        save({f"{name}|{split}": out[-1]})
    return out


def save(rows: dict) -> None:
    """Merge rows into the results file."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data.update(rows)
    RESULTS.write_text(json.dumps(data, indent=1, default=str))


def table(data: dict) -> str:
    """The markdown table of the recorded training rows beside the best titles-only ones."""
    lines = ["| model | split | valid acc | accuracy | macro-F1 | masterCategory | subCategory | articleType | train s | load |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for split, (name, acc, f1) in BEST_TITLES_ONLY.items():
        lines.append(f"| best titles-only of ## Models: {name} | {split} | | {acc:.3f} | {f1:.3f} | | | | | |")
        for key, row in data.items():
            if isinstance(row, dict) and row.get("split") == split and "accuracy" in row:
                lvl = [row.get(f"acc {n}") for n in ("masterCategory", "subCategory", "articleType")]
                valid = row.get("valid_accuracy")
                lines.append(f"| {row['row']} | {split} | {'-' if valid is None else f'{valid:.3f}'} | "
                             f"{row['accuracy']:.3f} | {row['macro_f1']:.3f} | "
                             + " | ".join("-" if v is None else f"{v:.3f}" for v in lvl)
                             + f" | {row['train_s']:.0f} | {row['load']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", default=str(HERE / "out" / "multimodal"))
    parser.add_argument("--catalog-sample", type=int, default=None)
    parser.add_argument("--splits", default="random,grouped")
    parser.add_argument("--rows", default=",".join(DEFAULT_ROWS), help=f"comma-separated, of: {', '.join(ROWS)}")
    parser.add_argument("--throughput-n", type=int, default=200)
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args(argv)
    ws = Workspace(args.workspace)
    if not ws.scalar("SELECT count(*) FROM products"):
        print(ingest_dataset(ws, "fashion", sample=args.catalog_sample), flush=True)
    results = {"_info": {"python": sys.version.split()[0], "cpus": os.cpu_count(),
                         "catalog_sample": args.catalog_sample}}
    first = embed_all(ws)
    # a re-run finds every photo cached: it must not replace the figures of the run that encoded them
    results["embed" if first["embedded"] else "embed_cached"] = first
    results["embed_again"] = embed_all(ws)
    save(results)
    if args.throughput_n:
        save({"throughput": throughput(ws, args.throughput_n)})
    if not args.skip_training:
        for split in args.splits.split(","):
            train_rows(ws, split, [r for r in args.rows.split(",") if r])
    print(table(json.loads(RESULTS.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
