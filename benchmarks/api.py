"""Load test of the HTTP API (``workbench api``) against the same model called in-process.

Builds (or reuses, ``--workspace``) a workspace with a seeded sample of the real fashion catalog
and one tfidf run on the grouped split, starts ``workbench api`` in a child process on a free
port of 127.0.0.1, and drives it with a bounded client: a fixed number of asyncio connections
(keep-alive, raw HTTP/1.1, so that the client costs little CPU beside the server on the same
two cores), each sending its next request when the previous answer arrived. Titles are the
test split's real titles, in a seeded order.

* single product: p50 / p99 latency with 1, 8 and 32 concurrent clients, and requests/s;
* batches of 1,000 products: products/s, one client;
* the same model in this process (:class:`workbench.runs.predictor.Predictor`, what the
  API calls): single-product latency and products/s for batches of 1,000, as the baseline.
  The ratios (HTTP / in-process) are the overhead of the service.
* ``"explain": true`` on one product, one client, alternating request by request with the same
  titles without it (so both see the same load): p50 / p99 of each and their ratio. The
  explanation is the terms, spans, per-level probabilities and the 5 nearest labelled products
  (the neighbour index is built once, before the timing).

Targets on a 2-core machine: p99 under 50 ms for one product at 8 concurrent clients; batch
throughput at least 50% of in-process. Usage:
``python benchmarks/api.py [--sample 10000] [--seconds 10] [--workspace DIR] [--json OUT]``.

``--baseline REV [--rounds 2]`` compares with an earlier commit in the same run, the way
``benchmarks/ingest.py --baseline`` does: the commit is extracted with ``git archive``, and each
round runs this benchmark from the baseline tree and from this one (alternating, same workspace,
each in its own process), plus ``workbench classify`` of ``--classify-rows`` real held-out
fashion products (not in the workspace) on a copy of the workspace; it prints every figure with
the load average beside it and the ratios this / baseline per round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def load_average() -> str:
    """``uptime``'s load averages."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def build_workspace(path: Path, sample: int) -> str:
    """A fashion sample with one tfidf run; returns its run id (reuses a run already there)."""
    from workbench import Workspace, ingest_dataset
    from workbench.runs.records import list_runs
    from workbench.runs.training import train_models

    ws = Workspace(path)
    if not ws.has_table("runs") or list_runs(ws).empty:
        ingest_dataset(ws, "fashion", sample=sample, seed=0)
        train_models(ws, ["tfidf"], "grouped", seed=0)
    run_id = str(list_runs(ws)["run_id"].iloc[-1])
    ws.rows("CHECKPOINT")
    ws.close()
    return run_id


def test_titles(path: Path, run_id: str) -> list[str]:
    from workbench import Workspace
    from workbench.runs.records import load_predictions

    ws = Workspace(path)
    ids = load_predictions(ws, run_id, "test").product_ids.tolist()
    titles = ws.df("SELECT title_raw FROM products WHERE product_id IN (SELECT unnest(?))", [ids])["title_raw"]
    ws.close()
    return titles.tolist()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Connection:
    """One keep-alive HTTP/1.1 connection: POST JSON, read the answer (status, body)."""

    def __init__(self, port: int, key: str):
        self.port, self.key = port, key

    async def open(self) -> "Connection":
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        await self.writer.drain()
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = 0
        for line in header.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def drive(port: int, key: str, bodies: list[bytes], clients: int, seconds: float) -> dict:
    """``clients`` connections, each posting the next body as soon as its answer is in, for
    ``seconds``; latencies in ms of the answers (all must be 200)."""
    conns = [await Connection(port, key).open() for _ in range(clients)]
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**12))

    async def client(conn: Connection):
        nonlocal failures
        while time.perf_counter() < deadline:
            body = bodies[next(counter) % len(bodies)]
            t0 = time.perf_counter()
            status, _ = await conn.post("/v1/classify", body)
            latencies.append((time.perf_counter() - t0) * 1000)
            failures += status != 200

    t0 = time.perf_counter()
    await asyncio.gather(*(client(c) for c in conns))
    wall = time.perf_counter() - t0
    for c in conns:
        c.close()
    lat = np.array(latencies)
    return {"clients": clients, "requests": len(lat), "failures": failures, "wall_s": wall,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "requests_per_s": len(lat) / wall}


async def explain_pairs(port: int, key: str, titles: list[str], seconds: float) -> dict:
    """One connection posting each title without, then with ``"explain": true``, for ``seconds``:
    the latencies (ms) of each kind, interleaved so that both see the same load."""
    conn = await Connection(port, key).open()
    plain, explained, failures = [], [], 0
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        title = titles[i % len(titles)]
        for explain, out in ((False, plain), (True, explained)):
            body = json.dumps({"title": title, **({"explain": True} if explain else {})}).encode()
            t0 = time.perf_counter()
            status, answer = await conn.post("/v1/classify", body)
            out.append((time.perf_counter() - t0) * 1000)
            failures += status != 200 or (explain and b'"explanation":{' not in answer.replace(b" ", b""))
        i += 1
    conn.close()
    figures = {kind: {"p50_ms": float(np.percentile(v, 50)), "p99_ms": float(np.percentile(v, 99)),
                      "requests": len(v)} for kind, v in (("plain", plain), ("explain", explained))}
    figures["ratio_p50"] = figures["explain"]["p50_ms"] / figures["plain"]["p50_ms"]
    figures["failures"] = failures
    return figures


async def send_batches(port: int, key: str, body: bytes, n: int) -> list[float]:
    """Seconds of each of ``n`` batch requests, one after another on one connection."""
    conn = await Connection(port, key).open()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, _ = await conn.post("/v1/classify", body)
        if status != 200:
            raise RuntimeError(f"a batch got HTTP {status}")
        times.append(time.perf_counter() - t0)
    conn.close()
    return times


def in_process(run_id: str, path: Path, titles: list[str], seconds: float) -> dict:
    """The same model in this process: single-product latency and batch throughput."""
    from workbench import Workspace
    from workbench.catalog.relabel import load_taxonomy
    from workbench.runs.predictor import Predictor, model_dir

    ws = Workspace(path)
    predictor = Predictor.load(model_dir(ws, run_id), run_id, load_taxonomy(ws), None)
    ws.close()
    predictor.predict([{"title": titles[0]}])
    single = []
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        predictor.predict([{"title": titles[i % len(titles)]}])
        single.append((time.perf_counter() - t0) * 1000)
        i += 1
    batch = [{"title": titles[j % len(titles)]} for j in range(1000)]
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        predictor.predict(batch)
        runs.append(time.perf_counter() - t0)
    return {"p50_ms": float(np.percentile(single, 50)), "p99_ms": float(np.percentile(single, 99)),
            "calls": len(single), "batch_products_per_s": 1000 / statistics.median(runs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=10000, help="fashion products in the workspace")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each concurrency level")
    parser.add_argument("--batches", type=int, default=10, help="batches of 1,000 sent over HTTP")
    parser.add_argument("--workspace", help="reuse this workspace (built there if empty)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--baseline", help="commit to compare with in the same run (e.g. 0424c82)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of baseline then this tree (with --baseline)")
    parser.add_argument("--classify-rows", type=int, default=2000, help="held-out products classified (with --baseline)")
    args = parser.parse_args()
    if args.baseline:
        return compare_with(args)

    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    path = Path(args.workspace or tempfile.mkdtemp(prefix="bench-api-"))
    from importlib.metadata import version

    stack = ", ".join(f"{name} {version(name)}" for name in ("fastapi", "uvicorn", "uvloop", "httptools"))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; server: {stack}; "
          f"load average {load_average()} at the start", flush=True)
    t0 = time.perf_counter()
    run_id = build_workspace(path, args.sample)
    titles = test_titles(path, run_id)
    print(f"workspace {path}: run {run_id}, {len(titles)} test titles ({time.perf_counter() - t0:.0f} s)", flush=True)

    from workbench.service.files import ServiceFiles
    from workbench.service.keys import add_key

    key = add_key(ServiceFiles(path).keys, "bench", "classify", "100000000/min")
    port = free_port()
    log = open(path / "api-bench.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "workbench.cli.main", "api", "--workspace", str(path),
                               "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/health",
                                             headers={"Authorization": f"Bearer {key}"})
                urllib.request.urlopen(req, timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the API did not start; see {path / 'api-bench.log'}")
                time.sleep(0.5)
        base = in_process(run_id, path, titles, args.seconds)
        print(f"in-process: one product p50 {base['p50_ms']:.2f} ms p99 {base['p99_ms']:.2f} ms; "
              f"batches of 1,000: {base['batch_products_per_s']:,.0f} products/s", flush=True)
        rng = np.random.default_rng(0)
        order = rng.permutation(len(titles))
        singles = [json.dumps({"title": titles[i]}).encode() for i in order]
        results = {"in_process": base, "single": [], "load_start": load_average()}
        asyncio.run(drive(port, key, singles[:50], 1, 1.0))  # warm the connection path
        for clients in (1, 8, 32):
            r = asyncio.run(drive(port, key, singles, clients, args.seconds))
            r["load"] = load_average()
            results["single"].append(r)
            print(f"HTTP, {clients:>2} concurrent: p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms, "
                  f"{r['requests_per_s']:,.0f} requests/s, {r['failures']} failures (load {r['load']})", flush=True)
        from workbench import Workspace
        from workbench.runs.explain import neighbour_index

        from workbench.embeddings.embed import embed_products

        ws = Workspace(path)
        if neighbour_index(ws, "default") is None:  # built once, as `workbench api` finds it afterwards
            embed_products(ws)
            neighbour_index(ws, "default")
        ws.close()
        explained = [titles[i] for i in order[:200]]
        asyncio.run(explain_pairs(port, key, explained[:5], 0.1))  # loads the explainer once
        pairs = asyncio.run(explain_pairs(port, key, explained, args.seconds))
        pairs["load"] = load_average()
        results["explain"] = pairs
        print(f"HTTP, one product with explain: true: p50 {pairs['explain']['p50_ms']:.2f} ms "
              f"p99 {pairs['explain']['p99_ms']:.2f} ms against p50 {pairs['plain']['p50_ms']:.2f} ms "
              f"p99 {pairs['plain']['p99_ms']:.2f} ms without it, interleaved ({pairs['ratio_p50']:.1f}x at p50; "
              f"{pairs['failures']} failures; load {pairs['load']})", flush=True)
        batch = json.dumps({"products": [{"title": titles[i % len(titles)]} for i in order[:1000]]}).encode()
        times = asyncio.run(send_batches(port, key, batch, args.batches + 1))[1:]  # the first warms up
        http_batch = 1000 / statistics.median(times)
        results["batch"] = {"products_per_s": http_batch, "median_s": statistics.median(times),
                            "ratio_to_in_process": http_batch / base["batch_products_per_s"], "load": load_average()}
        print(f"HTTP, batches of 1,000: {http_batch:,.0f} products/s = "
              f"{results['batch']['ratio_to_in_process']:.0%} of in-process (load {load_average()})", flush=True)
        eight = results["single"][1]
        results["targets"] = {"p99_ms_at_8_under_50": eight["p99_ms"] < 50,
                              "batch_at_least_half_of_in_process": results["batch"]["ratio_to_in_process"] >= 0.5,
                              "single_overhead_ratio_p50": eight["p50_ms"] / base["p50_ms"]}
        print(f"targets: p99 at 8 concurrent {eight['p99_ms']:.1f} ms (< 50: {results['targets']['p99_ms_at_8_under_50']}); "
              f"batch {results['batch']['ratio_to_in_process']:.0%} of in-process (>= 50%: "
              f"{results['targets']['batch_at_least_half_of_in_process']}); load average {load_average()} at the end")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    return 0


def held_out_file(path: Path, rows: int, out: Path) -> Path:
    """``rows`` real fashion products that are not in the workspace, as a styles.csv file."""
    import pandas as pd

    from workbench import Workspace
    from workbench.catalog.datasets import locate

    ws = Workspace(path)
    inside = set(ws.df("SELECT product_id FROM products")["product_id"].astype(str))
    ws.close()
    styles = pd.read_csv(locate("fashion/styles.csv"), dtype=str, on_bad_lines="skip")
    styles = styles[~styles["id"].astype(str).isin(inside)].sample(rows, random_state=1)
    styles.to_csv(out, index=False)
    return out


def classify_seconds(tree: Path, path: Path, products: Path, scratch: Path) -> float:
    """Wall time of ``workbench classify`` (code of ``tree``) on a fresh copy of the workspace."""
    import shutil

    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(path, scratch, ignore=shutil.ignore_patterns("api-bench.log", "*.wal"))
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "workbench.cli.main", "classify", str(products), "--workspace",
                    str(scratch), "--dataset", "fashion", "--date", "2026-12-06"], check=True, env=env, cwd=tree,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def compare_with(args) -> int:
    """Rounds of (baseline tree, this tree): the API benchmark and ``workbench classify``, ratios per round."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ingest import checkout

    tmp = Path(tempfile.mkdtemp(prefix="bench-api-baseline-"))
    trees = {"baseline": checkout(args.baseline, tmp / "baseline"), "this": ROOT}
    path = Path(args.workspace or tmp / "ws")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; baseline "
          f"{args.baseline}; load average {load_average()} at the start", flush=True)
    run_id = build_workspace(path, args.sample)
    products = held_out_file(path, args.classify_rows, tmp / "held_out.csv")
    rows = []
    for round_ in range(1, args.rounds + 1):
        order = list(trees.items()) if round_ % 2 else list(trees.items())[::-1]  # alternate who goes first
        for name, tree in order:
            out = tmp / f"{name}-{round_}.json"
            start = load_average()
            env = {**os.environ, "PYTHONPATH": str(tree)}
            subprocess.run([sys.executable, str(tree / "benchmarks" / "api.py"), "--workspace", str(path),
                            "--seconds", str(args.seconds), "--batches", str(args.batches), "--json", str(out)],
                           check=True, env=env, cwd=tree, stdout=subprocess.DEVNULL)
            figures = json.loads(out.read_text())
            classify_s = classify_seconds(tree, path, products, tmp / "classify-ws")
            row = {"round": round_, "tree": name, "load_start": start, "load_end": load_average(),
                   "in_p50_ms": figures["in_process"]["p50_ms"],
                   "in_batch_per_s": figures["in_process"]["batch_products_per_s"],
                   "http8_p50_ms": figures["single"][1]["p50_ms"], "http8_p99_ms": figures["single"][1]["p99_ms"],
                   "http_batch_per_s": figures["batch"]["products_per_s"], "classify_s": classify_s}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"run {run_id}, {args.classify_rows:,} products classified per `workbench classify`")
    print("| round (load start / end) | tree | in-process one product p50 ms | in-process batch products/s | "
          "HTTP 8 concurrent p50 / p99 ms | HTTP batch products/s | `workbench classify` s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['round']} ({r['load_start'].split()[0]} / {r['load_end'].split()[0]}) | {r['tree']} | "
              f"{r['in_p50_ms']:.2f} | {r['in_batch_per_s']:,.0f} | {r['http8_p50_ms']:.1f} / {r['http8_p99_ms']:.1f} | "
              f"{r['http_batch_per_s']:,.0f} | {r['classify_s']:.1f} |")
    for round_ in range(1, args.rounds + 1):
        base, this = (next(r for r in rows if r["round"] == round_ and r["tree"] == t) for t in ("baseline", "this"))
        print(f"round {round_}, this / baseline (time ratios: below 1 is faster; rates: above 1 is faster): "
              f"in-process one product {this['in_p50_ms'] / base['in_p50_ms']:.2f}x, in-process batch rate "
              f"{this['in_batch_per_s'] / base['in_batch_per_s']:.2f}x, HTTP p50 {this['http8_p50_ms'] / base['http8_p50_ms']:.2f}x, "
              f"p99 {this['http8_p99_ms'] / base['http8_p99_ms']:.2f}x, HTTP batch rate "
              f"{this['http_batch_per_s'] / base['http_batch_per_s']:.2f}x, classify {this['classify_s'] / base['classify_s']:.2f}x")
    print(f"load average {load_average()} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
