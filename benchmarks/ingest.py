"""Ingest benchmark: a 1,000,000-row catalog made by repeating the fashion rows with perturbed
titles, ingested into a fresh workspace (validate, clean, taxonomy, both splits).

Measures wall seconds and peak RSS of the ingest (in a child process, so the data generation
does not count), against ``pandas.read_csv`` of the same file in the same run.

    .venv/bin/python benchmarks/ingest.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.catalog.datasets import locate

CHILD = """
import sys, time, resource
from workbench import Workspace, ingest_file, ColumnMapping
t = time.perf_counter()
summary = ingest_file(Workspace(sys.argv[2]), sys.argv[1], ColumnMapping(
    id="id", title="productDisplayName", levels=["masterCategory", "subCategory", "articleType"],
    department="gender"))
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, summary.accepted, summary.rejected)
"""

READ = """
import sys, time, resource, pandas as pd
t = time.perf_counter()
pd.read_csv(sys.argv[1], dtype=str)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def make_catalog(rows: int, path: Path, seed: int = 0) -> None:
    """Repeat the fashion rows with perturbed titles and fresh ids."""
    base = pd.read_csv(locate("fashion/styles.csv"), dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(base), rows)
    frame = base.iloc[idx].reset_index(drop=True)
    frame["id"] = np.arange(1, rows + 1).astype(str)
    words = np.array(["Classic", "New", "Slim", "Regular", "Pack of 2", "Premium", "Cotton", "2024", "XL", "500 ml"])
    extra = words[rng.integers(0, len(words), rows)]
    frame["productDisplayName"] = frame["productDisplayName"] + " " + extra + " " + \
        pd.Series(rng.integers(0, 1000, rows)).astype(str)
    frame.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.csv"
        make_catalog(args.rows, path)
        read = subprocess.run([sys.executable, "-c", READ, str(path)], capture_output=True, text=True, check=True)
        read_s, read_mb = map(float, read.stdout.strip().splitlines()[-1].split())
        out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(Path(tmp) / "ws")],
                             capture_output=True, text=True, check=True)
        seconds, peak_mb, accepted, rejected = out.stdout.strip().splitlines()[-1].split()
        seconds, peak_mb = float(seconds), float(peak_mb)
    print(f"rows {args.rows:,}: ingest {seconds:.1f} s, peak RSS {peak_mb / 1024:.2f} GiB "
          f"({accepted} accepted, {rejected} rejected)")
    print(f"pandas.read_csv of the same file: {read_s:.1f} s, peak {read_mb / 1024:.2f} GiB; "
          f"ingest / read = {seconds / read_s:.1f}x")
    print(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, no GPU")


if __name__ == "__main__":
    main()
