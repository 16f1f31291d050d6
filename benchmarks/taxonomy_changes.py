"""The cost of a taxonomy change on a large catalog: wall time, the longest write transaction
(the change is one transaction, so this is how long other writers wait) and the load, for a
rename of a subtree, a merge of two leaves and a keyword split, each undone after, with a
same-run ratio against a plain ``UPDATE products`` of the same rows (one statement, one
transaction) on the same workspace.

The scratch workspace is the fashion catalog (a sample ingested) with its products repeated
until ``--products`` rows (new ids, same titles and paths).

    .venv/bin/python benchmarks/taxonomy_changes.py [--products 200000] [--sample 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench import Workspace, ingest_dataset  # noqa: E402
from workbench.loop import taxonomy_changes as tc  # noqa: E402
from workbench.loop.taxonomy_split import split  # noqa: E402
from workbench.loop.taxonomy_undo import undo  # noqa: E402

TOPWEAR = "Apparel > Topwear"


class TimedWorkspace(Workspace):
    """A workspace that records how long each write transaction held the lock."""

    held: list[float] = []

    @contextlib.contextmanager
    def transaction(self):
        start = time.perf_counter()
        with super().transaction() as cur:
            yield cur
        TimedWorkspace.held.append(time.perf_counter() - start)


def grow(ws: Workspace, n: int) -> int:
    """Repeat the products (new ids) until about ``n`` rows."""
    base = int(ws.scalar("SELECT count(*) FROM products"))
    copies = max(0, n // base - 1)
    with ws.transaction() as cur:
        cur.execute("CREATE TEMP TABLE _base AS SELECT * FROM products")
        cur.execute("INSERT INTO products SELECT _base.* REPLACE (product_id || '-r' || CAST(c AS VARCHAR) "
                    "AS product_id) FROM _base, range(1, ?) t(c)", [copies + 1])
        cur.execute("DROP TABLE _base")
    return int(ws.scalar("SELECT count(*) FROM products"))


def timed(label: str, call, rows: int) -> dict:
    TimedWorkspace.held = []
    start = time.perf_counter()
    call()
    wall = time.perf_counter() - start
    out = {"what": label, "rows": rows, "wall_s": wall, "longest_tx_s": max(TimedWorkspace.held, default=0.0),
           "transactions": len(TimedWorkspace.held), "load": os.getloadavg()[0]}
    print(f"{label:<44} rows {rows:>9,}  wall {wall:7.2f} s  longest transaction {out['longest_tx_s']:7.2f} s "
          f"({out['transactions']} tx)  load {out['load']:.1f}", flush=True)
    return out


def plain_update(ws: Workspace, old: str, new: str) -> None:
    """The reference: one UPDATE of the same products' two path columns, then back."""
    for a, b in ((old, new), (new, old)):
        with ws.transaction() as cur:
            cur.execute("UPDATE products SET leaf = ? || substr(leaf, ?), "
                        "category_path = ? || substr(category_path, ?) WHERE starts_with(leaf, ?)",
                        [b, len(a) + 1, b, len(a) + 1, a])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=200_000)
    parser.add_argument("--sample", type=int, default=2000)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        ws = TimedWorkspace(Path(tmp) / "big")
        ingest_dataset(ws, "fashion", sample=args.sample, seed=0)
        total = grow(ws, args.products)
        count = lambda sql, p: int(ws.scalar(sql, p))  # noqa: E731
        topwear = count("SELECT count(*) FROM products WHERE starts_with(leaf, ?)", [TOPWEAR + " > "])
        tunics = count("SELECT count(*) FROM products WHERE leaf = ?", [f"{TOPWEAR} > Tunics"])
        tshirts = count("SELECT count(*) FROM products WHERE leaf = ?", [f"{TOPWEAR} > Tshirts"])
        print(f"{total:,} products; {topwear:,} under {TOPWEAR}")
        rows = []
        rows.append(timed("plain UPDATE of the subtree (and back) x1", lambda: plain_update(
            ws, TOPWEAR, "Apparel > Upper Wear"), topwear * 2))
        rows.append(timed("rename subtree", lambda: tc.rename(ws, TOPWEAR, "Upper Wear", by="bench"), topwear))
        rows.append(timed("undo rename", lambda: undo(ws, by="bench"), topwear))
        rows.append(timed("merge Tunics into Tops", lambda: tc.merge(
            ws, [f"{TOPWEAR} > Tunics"], into=f"{TOPWEAR} > Tops", by="bench"), tunics))
        rows.append(timed("undo merge", lambda: undo(ws, by="bench"), tunics))
        rows.append(timed("split Tshirts by keywords", lambda: split(
            ws, f"{TOPWEAR} > Tshirts", ["Polo", "Round Neck"], by="bench",
            keywords={"Polo": ["polo"], "Round Neck": ["round neck"]}), tshirts))
        rows.append(timed("undo split", lambda: undo(ws, by="bench"), tshirts))
        assert int(ws.scalar("SELECT count(*) FROM products")) == total
        plain = rows[0]["wall_s"] / 2
        for row in rows[1:]:
            per_row = row["wall_s"] / max(row["rows"], 1)
            print(f"{row['what']:<30} {row['wall_s'] / plain:6.1f} x the plain UPDATE of the subtree "
                  f"({1e6 * per_row:.1f} us per product)")


if __name__ == "__main__":
    main()
