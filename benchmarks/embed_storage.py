"""Where to keep 1,000,000 x 384 float32 embeddings: DuckDB arrays or Parquet beside the database.

Measures, for each layout, the write time, the size on disk and the time to load every vector
into one numpy matrix (what XGBoost and the embedding map do), plus the peak memory of the load.

    .venv/bin/python benchmarks/embed_storage.py [--rows 1000000] [--dim 384] [--out DIR]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.runs.training import PeakMemory


def _hashes(n: int) -> np.ndarray:
    return np.array([hashlib.sha1(str(i).encode()).hexdigest() for i in range(n)], dtype=object)


def _vectors(n: int, dim: int, chunk: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    m = rng.standard_normal((n, dim), dtype=np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m


def _fsl(matrix: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), matrix.shape[1])


def _dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_duckdb(root: Path, hashes, matrix, chunk: int) -> dict:
    db = root / "duck.duckdb"
    con = duckdb.connect(str(db))
    dim = matrix.shape[1]
    con.execute(f"CREATE TABLE emb (text_hash VARCHAR, vector FLOAT[{dim}])")
    t = time.perf_counter()
    for s in range(0, len(matrix), chunk):
        tbl = pa.table({"text_hash": pa.array(hashes[s:s + chunk], pa.string()),
                        "vector": _fsl(matrix[s:s + chunk])})
        con.register("chunk_tbl", tbl)
        con.execute("BEGIN")
        con.execute("INSERT INTO emb SELECT text_hash, vector::FLOAT[%d] FROM chunk_tbl" % dim)
        con.execute("COMMIT")
        con.unregister("chunk_tbl")
    con.execute("CHECKPOINT")
    write = time.perf_counter() - t
    con.close()
    gc.collect()
    con = duckdb.connect(str(db))
    with PeakMemory(interval=0.01) as p:
        t = time.perf_counter()
        tbl = con.sql("SELECT text_hash, vector FROM emb").to_arrow_table()
        col = tbl.column("vector").combine_chunks()
        m = col.values.to_numpy(zero_copy_only=False).reshape(-1, dim)
        h = tbl.column("text_hash").to_numpy(zero_copy_only=False)
        load = time.perf_counter() - t
    ok = np.array_equal(m, matrix) and len(h) == len(hashes)
    con.close()
    return {"layout": "DuckDB FLOAT[%d] table" % dim, "write_s": write, "load_s": load,
            "size_mb": _dir_size(db) / 2**20, "load_peak_gib": p.growth_bytes / 2**30, "exact": ok}


def bench_parquet(root: Path, hashes, matrix, chunk: int, compression: str) -> dict:
    folder = root / f"parquet-{compression}"
    folder.mkdir()
    dim = matrix.shape[1]
    t = time.perf_counter()
    for i, s in enumerate(range(0, len(matrix), chunk)):
        tbl = pa.table({"text_hash": pa.array(hashes[s:s + chunk], pa.string()),
                        "vector": _fsl(matrix[s:s + chunk])})
        tmp = folder / f".part-{i:05d}.tmp"
        pq.write_table(tbl, tmp, compression=compression, use_dictionary=False,
                       write_statistics=False)
        os.replace(tmp, folder / f"part-{i:05d}.parquet")
    write = time.perf_counter() - t
    gc.collect()
    with PeakMemory(interval=0.01) as p:
        t = time.perf_counter()
        files = sorted(folder.glob("part-*.parquet"))
        tables = [pq.read_table(f) for f in files]
        n = sum(len(x) for x in tables)
        m = np.empty((n, dim), dtype=np.float32)
        hs = []
        row = 0
        for x in tables:
            vec = x.column("vector").combine_chunks()
            m[row: row + len(x)] = vec.values.to_numpy().reshape(-1, dim)
            hs.append(x.column("text_hash").to_numpy(zero_copy_only=False))
            row += len(x)
        h = np.concatenate(hs)
        load = time.perf_counter() - t
    ok = np.array_equal(m, matrix) and len(h) == len(hashes)
    return {"layout": f"Parquet shards ({compression})", "write_s": write, "load_s": load,
            "size_mb": _dir_size(folder) / 2**20, "load_peak_gib": p.growth_bytes / 2**30, "exact": ok}


def bench_npy(root: Path, hashes, matrix, chunk: int) -> dict:
    folder = root / "npy"
    folder.mkdir()
    dim = matrix.shape[1]
    t = time.perf_counter()
    for i, s in enumerate(range(0, len(matrix), chunk)):
        tmp = folder / f".part-{i:05d}.tmp.npy"
        np.save(tmp, matrix[s:s + chunk])
        os.replace(tmp, folder / f"part-{i:05d}.npy")
        tbl = pa.table({"text_hash": pa.array(hashes[s:s + chunk], pa.string())})
        pq.write_table(tbl, folder / f"part-{i:05d}.keys.parquet")
    write = time.perf_counter() - t
    gc.collect()
    with PeakMemory(interval=0.01) as p:
        t = time.perf_counter()
        parts = sorted(folder.glob("part-*[0-9].npy"))
        arrays = [np.load(f, allow_pickle=False, mmap_mode="r") for f in parts]
        m = np.empty((sum(len(a) for a in arrays), dim), dtype=np.float32)
        row = 0
        for a in arrays:
            m[row: row + len(a)] = a
            row += len(a)
        h = np.concatenate([pq.read_table(str(f)[:-4] + ".keys.parquet").column("text_hash")
                            .to_numpy(zero_copy_only=False) for f in parts])
        load = time.perf_counter() - t
    ok = np.array_equal(m, matrix) and len(h) == len(hashes)
    return {"layout": ".npy shards + Parquet keys", "write_s": write, "load_s": load,
            "size_mb": _dir_size(folder) / 2**20, "load_peak_gib": p.growth_bytes / 2**30, "exact": ok}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--out", default=None, help="scratch folder (default: a temp dir)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="embed-storage-", dir=args.out))
    try:
        hashes = _hashes(args.rows)
        matrix = _vectors(args.rows, args.dim, args.chunk)
        print(f"{args.rows:,} x {args.dim} float32 ({matrix.nbytes / 2**30:.2f} GiB), chunks of {args.chunk:,}; "
              f"{psutil.cpu_count()} CPUs")
        results = [bench_duckdb(root, hashes, matrix, args.chunk),
                   bench_parquet(root, hashes, matrix, args.chunk, "none"),
                   bench_parquet(root, hashes, matrix, args.chunk, "zstd"),
                   bench_npy(root, hashes, matrix, args.chunk)]
        print("| layout | write s | load to numpy s | size MiB | load peak extra GiB | exact |")
        print("|---|---|---|---|---|---|")
        for r in results:
            print(f"| {r['layout']} | {r['write_s']:.2f} | {r['load_s']:.2f} | {r['size_mb']:.0f} | "
                  f"{r['load_peak_gib']:.2f} | {r['exact']} |")
        base = results[0]["load_s"]
        for r in results[1:]:
            print(f"load speed-up of {r['layout']} over DuckDB: {base / r['load_s']:.1f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
