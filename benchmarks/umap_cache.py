"""The map's first projection in a new process: umap-learn as it ships against ``import_umap``.

Each figure is a fresh Python process that imports umap-learn and fits a 2-D UMAP (cosine, as
``workbench.embeddings.projection``) of ``--points`` seeded 384-d vectors, in this order in each
round, on one ``NUMBA_CACHE_DIR`` that starts empty: ``cold`` uses
``workbench.embeddings.umap_loader.import_umap`` (everything compiled and written to the cache),
``plain`` imports ``umap`` as it ships (pynndescent's functions, which ship with ``cache=True``,
are loaded from that cache as on any machine where they ran once; umap-learn's own are compiled
again, as in every process), ``warm`` is ``import_umap`` again (loaded from the cache). Rounds
repeat the three so that they see the same load; the ratio is warm / plain of the medians::

    python benchmarks/umap_cache.py [--points 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys, time, warnings
t0 = time.perf_counter()
if sys.argv[1] == "plain":
    import umap
else:
    from workbench.embeddings.umap_loader import import_umap
    umap = import_umap()
t1 = time.perf_counter()
import numpy as np
warnings.simplefilter("ignore")
x = np.random.default_rng(0).normal(size=(int(sys.argv[2]), 384)).astype(np.float32)
umap.UMAP(n_components=2, metric="cosine", random_state=0).fit_transform(x)
print(f"{t1 - t0:.3f} {time.perf_counter() - t1:.3f}")
"""


def one(kind: str, points: int, cache: Path) -> tuple[float, float]:
    """Import and fit seconds of one fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(points)], capture_output=True, text=True,
                         env=env, check=True)
    a, b = out.stdout.split()
    return float(a), float(b)


def main() -> int:
    """Run cold / plain / warm processes per round and print the medians and the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    times: dict[str, list[float]] = {"cold": [], "plain": [], "warm": []}
    for _ in range(args.rounds):
        cache = Path(tempfile.mkdtemp(prefix="numba-cache-"))
        try:
            times["cold"].append(sum(one("cached", args.points, cache)))
            times["plain"].append(sum(one("plain", args.points, cache)))
            times["warm"].append(sum(one("cached", args.points, cache)))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({"points": args.points, "seconds": times, "median_s": medians,
                      "warm_over_plain": medians["warm"] / medians["plain"],
                      "load": os.getloadavg()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
