"""The cost of the neighbour index's staleness check on a large catalog.

Before an explanation uses the saved neighbour index, :func:`workbench.runs.explain_index.index_is_current`
fingerprints what the index would be built from (each labelled, embedded product's id, embedded
text and label: :func:`index_source`, one ``JOIN`` and an order-free hash) once after every write
to the workspace. This script measures that fingerprint on a scratch workspace of ``--products``
rows (a fashion sample repeated with new ids, every product "embedded"), with the same-run ratio
against a plain ``SELECT count(*)`` of the same join (the least a check of those rows could cost),
and the cached path (no write since: the workspace's change counter only).

    .venv/bin/python benchmarks/explain_index_check.py [--products 1000000] [--sample 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workbench import Workspace, ingest_dataset  # noqa: E402
from workbench.embeddings.encoder import model_id  # noqa: E402
from workbench.runs.explain_index import index_source  # noqa: E402
from workbench.store.slices import stored_key  # noqa: E402


def median_seconds(call, repeat: int = 5) -> float:
    """The median wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Print one line per size: the fingerprint, the plain count, their ratio, the cached check."""
    from taxonomy_changes import grow

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--products", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--sample", type=int, default=2000)
    args = ap.parse_args(argv)
    mid = model_id("default")
    for n in sorted(args.products):
        with tempfile.TemporaryDirectory() as tmp:
            ws = Workspace(Path(tmp) / "ws")
            ingest_dataset(ws, "fashion", sample=args.sample)
            rows = grow(ws, n)
            with ws.transaction() as cur:
                cur.execute("DELETE FROM product_embeddings")
                cur.execute("INSERT INTO product_embeddings SELECT product_id, ?, md5(title), 'title', now() "
                            "FROM products", [mid])
            key = stored_key(ws, "product_embeddings", mid)
            count = median_seconds(lambda: ws.scalar(
                "SELECT count(*) FROM product_embeddings pe JOIN products p USING (product_id) "
                "WHERE pe.model = ? AND p.leaf IS NOT NULL", [key]))
            check = median_seconds(lambda: index_source(ws, "default"))
            counter = median_seconds(ws.change_counter, repeat=20)
            print(f"products {rows:>9,}  fingerprint {check * 1000:8.1f} ms  plain count of the join "
                  f"{count * 1000:8.1f} ms  ratio {check / count:5.2f}  cached check (change counter) "
                  f"{counter * 1000:6.2f} ms  load {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
