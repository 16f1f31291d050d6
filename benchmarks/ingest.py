"""Ingest benchmark: a 1,000,000-row catalog made by repeating the fashion rows with perturbed
titles, ingested into a fresh workspace (validate, clean, taxonomy, both splits).

Measures wall seconds and peak RSS of the ingest (in a child process, so the data generation
does not count), against ``pandas.read_csv`` of the same file in the same run, and against the
ingest of an earlier commit (``--baseline``, default d327b12, the commit before the "bring your
own catalog" reader) checked out with ``git archive`` into a temporary folder and run on the
same file in the same run.

    .venv/bin/python benchmarks/ingest.py [--rows 1000000] [--baseline d327b12 | --baseline none]
"""

from __future__ import annotations

import argparse
import os
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
    id="id", title="productDisplayName", price="price",
    levels=["masterCategory", "subCategory", "articleType"], department="gender"))
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
    frame["price"] = pd.Series(rng.integers(99, 9999, rows)).astype(str) + ".00"  # plain numbers: both versions parse them
    frame.to_csv(path, index=False)


def ingest_seconds(path: Path, workspace: Path, code_root: Path) -> tuple[float, float, str, str]:
    """(seconds, peak MB, accepted, rejected) of one ingest in a child process running ``code_root``."""
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(workspace)], capture_output=True,
                         text=True, check=True, env=env, cwd=code_root)
    seconds, peak_mb, accepted, rejected = out.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(peak_mb), accepted, rejected


def checkout(rev: str, folder: Path) -> Path:
    """The project at ``rev``, extracted with ``git archive`` (no worktree left behind)."""
    repo = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(repo), "archive", rev], capture_output=True, check=True).stdout
    folder.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline", default="d327b12", help="commit to compare with in the same run, or 'none'")
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    print(f"load at start: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.csv"
        make_catalog(args.rows, path)
        read = subprocess.run([sys.executable, "-c", READ, str(path)], capture_output=True, text=True, check=True)
        read_s, read_mb = map(float, read.stdout.strip().splitlines()[-1].split())
        base = None
        if args.baseline != "none":
            old = checkout(args.baseline, Path(tmp) / "baseline")
            base = ingest_seconds(path, Path(tmp) / "ws-baseline", old)
        seconds, peak_mb, accepted, rejected = ingest_seconds(path, Path(tmp) / "ws", here)
    print(f"rows {args.rows:,}: ingest {seconds:.1f} s, peak RSS {peak_mb / 1024:.2f} GiB "
          f"({accepted} accepted, {rejected} rejected)")
    if base is not None:
        print(f"baseline {args.baseline}: ingest {base[0]:.1f} s, peak RSS {base[1] / 1024:.2f} GiB "
              f"({base[2]} accepted, {base[3]} rejected); this / baseline = {seconds / base[0]:.2f}x")
    print(f"pandas.read_csv of the same file: {read_s:.1f} s, peak {read_mb / 1024:.2f} GiB; "
          f"ingest / read = {seconds / read_s:.1f}x")
    print(f"load at end: {os.getloadavg()[0]:.1f} (1 min)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, no GPU")


if __name__ == "__main__":
    main()
