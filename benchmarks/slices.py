"""How long a reviewer waits while a map (projection) of N products is re-stored.

Before: one transaction deleted the model's rows and inserted the new ones, in a table with a
primary key (DuckDB rebuilds the key entries of every re-inserted key; 203 s for 1,000,000
products under load 15).
Now: ``workbench.store.slices.replace_slice`` writes a new generation in ~200 ms chunks and
switches to it in one short transaction. A probe thread writes one small row every 10 ms
meanwhile (as a reviewer's decision would); the figure is its longest and 99th-percentile wait.

    .venv/bin/python benchmarks/slices.py --products 200000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

import numpy as np
import pandas as pd

from workbench.store import Workspace
from workbench.store.slices import replace_slice


def frame(n: int, value: float) -> pd.DataFrame:
    """A projection slice of ``n`` products."""
    return pd.DataFrame({"product_id": [f"p{i:07d}" for i in range(n)], "model": "m",
                         "x": np.full(n, value), "y": np.full(n, value)})


def old_way(ws: Workspace, rows: pd.DataFrame) -> None:
    """The previous code: delete and re-insert in one transaction."""
    with ws.transaction() as cur:
        cur.execute("DELETE FROM projection WHERE model = 'm'")
        cur.register("_p", rows)
        cur.execute("INSERT INTO projection SELECT * FROM _p")
        cur.unregister("_p")


def probed(ws: Workspace, write) -> dict:
    """Run ``write()`` while a probe writes every 10 ms; the write's seconds and the probe's waits."""
    done, waits = threading.Event(), []

    def probe():
        while not done.is_set():
            t0 = time.perf_counter()
            with ws.transaction() as cur:
                cur.execute("INSERT INTO meta VALUES ('probe', '1') ON CONFLICT (key) DO UPDATE SET value = '1'")
            waits.append(time.perf_counter() - t0)
            time.sleep(0.01)

    thread = threading.Thread(target=probe)
    t0 = time.perf_counter()
    thread.start()
    write()
    seconds = time.perf_counter() - t0
    done.set()
    thread.join()
    return {"seconds": seconds, "probe_writes": len(waits), "max_wait_ms": 1000 * max(waits),
            "p99_wait_ms": 1000 * float(np.percentile(waits, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=200_000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {args.products:,} products")
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(os.path.join(tmp, "ws"))
        replace_slice(ws, "projection", "m", frame(args.products, 0.0))  # a map to replace
        new = probed(ws, lambda: replace_slice(ws, "projection", "m", frame(args.products, 1.0)))
        ws2 = Workspace(os.path.join(tmp, "ws2"))
        with ws2.transaction() as cur:  # the table as it was before slices: with its primary key
            cur.execute("DROP TABLE projection")
            cur.execute("CREATE TABLE projection (product_id VARCHAR, model VARCHAR, x DOUBLE, y DOUBLE, "
                        "PRIMARY KEY (product_id, model))")
        old_way(ws2, frame(args.products, 0.0))
        old = probed(ws2, lambda: old_way(ws2, frame(args.products, 1.0)))
    for name, r in (("one transaction (before)", old), ("slices (now)", new)):
        print(f"{name}: {r['seconds']:.1f} s to re-store, probe writes {r['probe_writes']}, "
              f"longest wait {r['max_wait_ms']:.0f} ms, p99 {r['p99_wait_ms']:.0f} ms")
    print(f"longest wait, before / now: {old['max_wait_ms'] / new['max_wait_ms']:.1f}x; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
