"""A team on one workspace: how long does anyone wait for the database?

On a workspace of ``--products`` synthetic products (default 1,000,000), for 1, 2, 4 and 8
reviewer processes writing reviews (``submit_review``, as the review page does) beside one process
refreshing the dashboards' data (the runs' stamp and a count per category, as pages do) and one
training run writing predictions for every product in short chunks (``write_in_chunks``, then
the run's last transaction): reviews per second, p50/p99 of the wait for the database (time in
the workspace lock's queue, per turn), seconds from a run's last transaction to the moment a
page's watcher (:class:`workbench.app.live.WorkspaceWatch`, polling as served pages do) sees it,
and, measured apart on the idle workspace, the open+close cost of a read and of a write
transaction (a write's close checkpoints). Targets on 2 cores: p99 wait under 1 s with 8 writers
and the training write running; a write visible to a page within 5 s; open+close of a read under
20 ms median.

    .venv/bin/python benchmarks/concurrency.py [--products 1000000] [--seconds 20] [--writers 1,2,4,8]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.store import Workspace  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
LEAVES = [f"Dept {d} > Family {f} > Type {t}" for d in range(4) for f in range(5) for t in range(5)]


def build(path: Path, n: int) -> Workspace:
    """A workspace of ``n`` synthetic products over 100 leaves (kept between runs)."""
    ws = Workspace(path)
    if ws.scalar("SELECT count(*) FROM products") == n:
        return ws
    rng = np.random.default_rng(0)
    leaf = np.array(LEAVES, dtype=object)[rng.integers(0, len(LEAVES), n)]
    products = pd.DataFrame({"product_id": [f"p{i:07d}" for i in range(n)],
                             "title": [f"product {i} of {lf.rsplit(' > ', 1)[-1]}" for i, lf in enumerate(leaf)],
                             "leaf": leaf})
    nodes = sorted({" > ".join(lf.split(" > ")[:k]) for lf in LEAVES for k in (1, 2, 3)})
    cats = pd.DataFrame({"node_id": nodes, "name": [x.rsplit(" > ", 1)[-1] for x in nodes],
                         "parent_id": [x.rsplit(" > ", 1)[0] if " > " in x else None for x in nodes],
                         "level": [x.count(" > ") + 1 for x in nodes],
                         "level_name": [f"level {x.count(' > ') + 1}" for x in nodes],
                         "is_leaf": [x.count(" > ") == 2 for x in nodes], "n_products": 0})
    with ws.transaction() as cur:
        cur.execute("DELETE FROM products")
        cur.execute("DELETE FROM categories")
        cur.register("_p", products)
        cur.execute("INSERT INTO products (product_id, title, title_raw, leaf, category_path, label_source) "
                    "SELECT product_id, title, title, leaf, leaf, 'catalog' FROM _p")
        cur.register("_c", cats)
        cur.execute("INSERT INTO categories SELECT * FROM _c")
    return ws


def _record_waits(waits: list) -> None:
    from workbench.store import lock

    original = lock.WorkspaceLock.acquire

    def timed(self, *a, **kw):
        t0 = time.perf_counter()
        out = original(self, *a, **kw)
        waits.append(time.perf_counter() - t0)
        return out

    lock.WorkspaceLock.acquire = timed


def reviewer(path: str, index: int, seconds: float, n: int, out: mp.Queue) -> None:
    """Submit reviews of random products for ``seconds``; report count and lock waits."""
    from workbench.loop.reviews import submit_review

    waits: list[float] = []
    _record_waits(waits)
    ws = Workspace(path)
    rng = np.random.default_rng(index)
    done, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        pid = f"p{int(rng.integers(0, n)):07d}"
        submit_review(ws, pid, reviewer=f"r{index}", final_leaf=LEAVES[int(rng.integers(0, len(LEAVES)))])
        done += 1
    out.put({"reviews": done, "waits": waits})


def refresher(path: str, seconds: float, out: mp.Queue) -> None:
    """What the dashboards do: read the runs' stamp and a count per category, and watch for runs."""
    from workbench.app.live import WorkspaceNews, WorkspaceWatch

    ws = Workspace(path)
    seen: list[float] = []
    watch = WorkspaceWatch(ws, WorkspaceNews(), lambda: seen.append(time.time()))
    end, reads = time.monotonic() + seconds, 0
    next_look = time.monotonic()
    while time.monotonic() < end:
        ws.df("SELECT leaf, count(*) FROM products GROUP BY leaf")
        reads += 1
        if time.monotonic() >= next_look:
            watch.check()
            next_look += 2.0  # as a served page looks
        time.sleep(0.25)
    out.put({"reads": reads, "seen": seen})


def trainer(path: str, n: int, out: mp.Queue) -> None:
    """A training run's writes: its row, predictions for every product in chunks, its last transaction."""
    from workbench.runs.records import mark_complete
    from workbench.store.slices import write_in_chunks

    ws = Workspace(path)
    run_id = f"bench-{time.time_ns()}"
    with ws.transaction() as cur:
        cur.execute("INSERT INTO runs (run_id, model, split, started_at, complete) "
                    "VALUES (?, 'tfidf', 'grouped', now()::TIMESTAMP, FALSE)", [run_id])
    preds = pd.DataFrame({"run_id": run_id, "part": "test", "product_id": [f"p{i:07d}" for i in range(n)],
                          "true_leaf": LEAVES[0], "rank": 1, "leaf": LEAVES[1], "proba": 0.5})
    t0 = time.perf_counter()
    write_in_chunks(ws, "predictions", preds)
    mark_complete(ws, run_id)
    out.put({"completed_at": time.time(), "write_seconds": time.perf_counter() - t0})


def open_close_costs(ws: Workspace, n: int = 200) -> dict:
    """Median open+close of a read turn and of a write transaction on the idle workspace (ms)."""
    reads, writes = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        ws.scalar("SELECT count(*) FROM runs")
        reads.append(time.perf_counter() - t0)
    for i in range(n // 4):
        t0 = time.perf_counter()
        with ws.transaction() as cur:
            cur.execute("INSERT INTO meta VALUES ('bench', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        [str(i)])
        writes.append(time.perf_counter() - t0)
    return {"read_ms_p50": 1000 * statistics.median(reads), "write_ms_p50": 1000 * statistics.median(writes)}


def one_round(path: Path, writers: int, seconds: float, n: int) -> dict:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=reviewer, args=(str(path), i, seconds, n, out)) for i in range(writers)]
    procs.append(ctx.Process(target=refresher, args=(str(path), seconds + 10, out)))
    train = ctx.Process(target=trainer, args=(str(path), n, out))
    for p in procs:
        p.start()
    time.sleep(3)  # the reviewers are writing when the training write starts
    train.start()
    results = [out.get(timeout=seconds + 900) for _ in range(writers + 2)]
    for p in [*procs, train]:
        p.join()
    reviews = [r for r in results if "reviews" in r]
    waits = np.array([w for r in reviews for w in r["waits"]] or [0.0])
    refresh = next(r for r in results if "reads" in r)
    trained = next(r for r in results if "completed_at" in r)
    seen = [t - trained["completed_at"] for t in refresh["seen"] if t >= trained["completed_at"]]
    return {"writers": writers, "reviews_per_s": sum(r["reviews"] for r in reviews) / seconds,
            "wait_p50_ms": 1000 * float(np.percentile(waits, 50)), "wait_p99_ms": 1000 * float(np.percentile(waits, 99)),
            "training_write_s": trained["write_seconds"], "visible_after_s": min(seen) if seen else None,
            "dashboard_reads": refresh["reads"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--writers", default="1,2,4,8")
    parser.add_argument("--workspace", type=Path, default=OUT / "concurrency-ws")
    parser.add_argument("--json", type=Path, default=OUT / "concurrency.json")
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}", flush=True)
    ws = build(args.workspace, args.products)
    costs = open_close_costs(ws)
    print(f"idle workspace of {args.products:,} products: open+read+close p50 {costs['read_ms_p50']:.1f} ms, "
          f"write transaction p50 {costs['write_ms_p50']:.1f} ms", flush=True)
    rows = []
    for writers in [int(w) for w in args.writers.split(",")]:
        row = one_round(args.workspace, writers, args.seconds, args.products)
        row["load"] = os.getloadavg()[0]
        rows.append(row)
        print(f"{writers} writers: {row['reviews_per_s']:.1f} reviews/s, wait p50 {row['wait_p50_ms']:.1f} ms "
              f"p99 {row['wait_p99_ms']:.1f} ms, training write {row['training_write_s']:.1f} s, run seen by a page "
              f"after {row['visible_after_s']} s (load {row['load']:.2f})", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"costs": costs, "rows": rows, "products": args.products}, indent=2))


if __name__ == "__main__":
    main()
