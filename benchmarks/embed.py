"""Products/s of the workbench's embedding path against plain ``SentenceTransformer(...).encode``.

Same run, same texts, same machine: fashion titles (``title | brand``) and Flipkart titles with
descriptions. "plain" is ``SentenceTransformer(path, device=...).encode(texts)`` with default
arguments; "ours" is :func:`workbench.embeddings.embed.embed_texts` (token-length-sorted batches, tuned batch
size, bf16 on CPUs with native bf16, fp16 and large batches on CUDA). Each is timed
``--repeats`` times, alternating; rates are medians and the ratio is the median of the
per-repeat ratios (plain and ours back to back, under the same machine load). The cosine of ours
against plain fp32 is reported per text (minimum).

``--stream`` measures memory: N synthetic catalog rows (real fashion titles made unique) go
through ``embed_products``; all but ``--encode`` of them are pre-filled in the cache with random
vectors, so the run does the full 1M-row bookkeeping (rendering, hashing, cache lookups,
mapping table) and encodes one real chunk; then ``load_product_embeddings`` loads the matrix.
Peak resident memory is sampled throughout.

    .venv/bin/python benchmarks/embed.py [--device cpu|cuda] [--fashion 4000] [--flipkart 400]
    .venv/bin/python benchmarks/embed.py --stream 1000000 --encode 50000
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import tempfile
import time

import numpy as np
import pandas as pd
import psutil
import torch

from workbench.catalog.datasets import locate
from workbench.embeddings.embed import embed_texts, render_texts
from workbench.embeddings.encoder import choose_device, choose_precision, load_encoder, resolve_model_path
from workbench.runs.training import PeakMemory


def fashion_texts(n: int, seed: int = 0) -> list[str]:
    """Distinct ``title | brand`` texts of real fashion products (brand = first word of the title)."""
    styles = pd.read_csv(locate("fashion/styles.csv", download=False), on_bad_lines="skip",
                         usecols=["productDisplayName"]).dropna()
    titles = styles["productDisplayName"].astype(str).str.strip()
    frame = pd.DataFrame({"title": titles, "brand": titles.str.split().str[0]})
    texts = list(dict.fromkeys(render_texts(frame)))
    rng = np.random.default_rng(seed)
    return [texts[i] for i in rng.permutation(len(texts))[:n]]


def flipkart_texts(n: int, seed: int = 0) -> list[str]:
    """Distinct ``title | brand | description`` texts of real Flipkart products that have a description."""
    frame = pd.read_csv(locate("flipkart/flipkart_20k.csv", download=False),
                        usecols=["product_name", "brand", "description"])
    frame = frame.dropna(subset=["description"]).rename(columns={"product_name": "title"})
    texts = list(dict.fromkeys(render_texts(frame, "{title} | {brand} | {description}")))
    rng = np.random.default_rng(seed)
    return [texts[i] for i in rng.permutation(len(texts))[:n]]


def machine() -> str:
    """A one-line description of the machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {psutil.cpu_count()} CPUs visible, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), {gpu}")


def compare(name: str, texts: list[str], device: str, repeats: int, batch_size: int | None,
            precision: str = "auto") -> dict:
    """Median products/s of plain encode and of ours on the same texts, alternating runs."""
    from sentence_transformers import SentenceTransformer

    plain_model = SentenceTransformer(resolve_model_path(), device=device)
    load_encoder("default", device, precision)
    warm = texts[: min(64, len(texts))]
    plain_model.encode(warm)
    embed_texts(warm, device=device, batch_size=batch_size, precision=precision)
    plain_t, ours_t = [], []
    plain_out = ours_out = None
    for _ in range(repeats):
        t = time.perf_counter()
        plain_out = plain_model.encode(texts)
        plain_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        ours_out = embed_texts(texts, device=device, batch_size=batch_size, precision=precision)
        ours_t.append(time.perf_counter() - t)
    ref = plain_out / np.linalg.norm(plain_out, axis=1, keepdims=True)
    cos = (ours_out * ref).sum(axis=1)
    plain_rate = len(texts) / statistics.median(plain_t)
    ours_rate = len(texts) / statistics.median(ours_t)
    # paired: each repeat's plain and ours ran back to back, under the same load of the machine
    paired = statistics.median(p / o for p, o in zip(plain_t, ours_t))
    return {"texts": name, "n": len(texts), "device": f"{device} {choose_precision(device, precision)}",
            "plain_per_s": plain_rate,
            "ours_per_s": ours_rate, "ratio": paired, "min_cos": float(cos.min()),
            "mean_chars": float(np.mean([len(t) for t in texts]))}


def stream(n: int, encode: int, device: str, batch_size: int | None) -> None:
    """Peak memory of embedding ``n`` products of which ``encode`` are really encoded."""
    from workbench import Workspace
    from workbench.embeddings.embed import embed_products, load_product_embeddings
    from workbench.embeddings.embed_cache import EmbeddingCache, text_hashes
    from workbench.embeddings.encoder import DEFAULT_MODEL

    styles = pd.read_csv(locate("fashion/styles.csv", download=False), on_bad_lines="skip",
                         usecols=["productDisplayName"]).dropna()
    base = styles["productDisplayName"].astype(str).to_numpy()
    rng = np.random.default_rng(0)
    sizes = np.array(["XS", "S", "M", "L", "XL", "XXL", "28", "30", "32", "34", "UK 7", "UK 8", "Free Size"])
    titles = [f"{base[i]} Size {sizes[j]} Style {k}" for i, j, k in
              zip(rng.integers(0, len(base), n), rng.integers(0, len(sizes), n), rng.permutation(n))]
    products = pd.DataFrame({"product_id": [f"p{i:07d}" for i in range(n)], "title": titles,
                             "brand": [t.split()[0] for t in titles]})
    root = tempfile.mkdtemp(prefix="embed-stream-")
    ws = Workspace(root)
    with ws.transaction() as cur:
        cur.register("_bench_products", products)
        cur.execute("INSERT INTO products (product_id, title, brand) SELECT * FROM _bench_products")
        cur.unregister("_bench_products")
    prefill = n - encode
    hashes = text_hashes(render_texts(products.iloc[:prefill]))
    cache = EmbeddingCache(ws.path, DEFAULT_MODEL)
    for s in range(0, prefill, 50_000):
        m = rng.standard_normal((len(hashes[s:s + 50_000]), 384), dtype=np.float32)
        cache.add(hashes[s:s + 50_000], m / np.linalg.norm(m, axis=1, keepdims=True))
    del products, titles, hashes
    import gc

    gc.collect()
    load_encoder("default", device)
    base_rss = psutil.Process().memory_info().rss
    with PeakMemory() as mem:
        t = time.perf_counter()
        report = embed_products(ws, device=device, batch_size=batch_size, progress=True)
        embed_s = time.perf_counter() - t
    loads = []
    with PeakMemory() as mem_load:
        for _ in range(3):
            t = time.perf_counter()
            ids, matrix = load_product_embeddings(ws)
            loads.append(time.perf_counter() - t)
            del matrix
        ids, matrix = load_product_embeddings(ws)
    ws.close()
    shutil.rmtree(root, ignore_errors=True)
    print(f"stream: {n:,} products, {report.embedded:,} encoded for real at {report.products_per_s:,.0f}/s, "
          f"{report.from_cache:,} from the cache; embed_products {embed_s:.1f} s")
    print(f"  RSS before (model loaded) {base_rss / 2**30:.2f} GiB; peak during embed_products "
          f"{mem.peak_bytes / 2**30:.2f} GiB")
    print(f"  load_product_embeddings: {len(ids):,} x {matrix.shape[1]} in "
          f"{', '.join(f'{x:.2f}' for x in loads)} s (3 calls; the first also reads the keys files), "
          f"peak {mem_load.peak_bytes / 2**30:.2f} GiB (the matrix alone {matrix.nbytes / 2**30:.2f} GiB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available, else cpu)")
    ap.add_argument("--fashion", type=int, default=4000, help="fashion texts (default 4000)")
    ap.add_argument("--flipkart", type=int, default=400, help="Flipkart texts with description (default 400)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--precision", default="auto", help="ours: auto (default), fp32, bf16 or fp16")
    ap.add_argument("--stream", type=int, default=0, metavar="N", help="memory run over N products instead")
    ap.add_argument("--encode", type=int, default=50_000, help="products really encoded in --stream")
    args = ap.parse_args()
    device = choose_device(args.device)
    print(machine())
    if args.stream:
        stream(args.stream, min(args.encode, args.stream), device, args.batch_size)
        return
    rows = []
    if args.fashion:
        rows.append(compare("fashion title+brand", fashion_texts(args.fashion), device,
                            args.repeats, args.batch_size, args.precision))
    if args.flipkart:
        rows.append(compare("Flipkart title+brand+description", flipkart_texts(args.flipkart), device,
                            args.repeats, args.batch_size, args.precision))
    print("| texts | n | mean chars | device, our precision | plain encode products/s | ours products/s | ours / plain (paired median) | min cosine vs plain fp32 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['texts']} | {r['n']:,} | {r['mean_chars']:.0f} | {r['device']} | {r['plain_per_s']:,.0f} | "
              f"{r['ours_per_s']:,.0f} | {r['ratio']:.2f}x | {r['min_cos']:.5f} |")


if __name__ == "__main__":
    main()
