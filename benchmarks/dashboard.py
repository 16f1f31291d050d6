"""Benchmark of the dashboards with 1,000,000 predictions in the workspace.

Builds a workspace from a real fashion sample (its taxonomy, a quick tfidf run with a saved
model for the classify page), then records a synthetic run of 1,000,000 test predictions over
the real leaves with :func:`workbench.runs.records.record_run`, evaluates it, and stores 1,000,000
products with a 2-D projection for the embedding map. Then, server-side (no browser):

* threshold explorer, one slider move: the time from setting the slider's value to every
  figure of the page being recomputed and pushed into its Bokeh models (numbers, operating
  point on the curve, per-category override table), with 0 and with 20 category overrides;
  compared in the same run with the naive recompute (a mask over the million confidences, as
  :func:`workbench.evaluate.coverage_at` does) as a ratio. Target: under 50 ms.
* first render of each page: ``view(ctx)`` plus rendering it to Bokeh models, for the first
  session after start (cold caches: the million predictions are loaded and sorted) and for a
  later session (warm). Target: under 2 s.
* drill-down: a click on a cell of the sibling-confusion heat map (the ``Tap`` stream's event)
  until the product table (photos, titles, both paths, confidence) is filled and written into
  the page's Bokeh models, for the largest right cell and the largest error cell of the top
  level, with 1,000,000 predictions; compared in the same run with one DuckDB query that selects
  the same rows (predictions joined with products, most confident first) as a ratio. Target:
  under 300 ms.
* with ``--browser``: the time until each page's content is visible in headless Chromium.

The synthetic run records its accuracy as its validation accuracy too, so that it is the run
every page opens on (the default-run rule; the small tfidf run is trained on a sample, flagged).

Usage: ``python benchmarks/dashboard.py [--n 1000000] [--moves 60] [--drills 7] [--browser]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _synthetic import skewed_probabilities


def synthetic_run(ws, n: int, seed: int = 0) -> str:
    """Record ``n`` synthetic test predictions over the workspace's real leaves; errors favour
    siblings, as with real models. Returns the run id."""
    from workbench.catalog.relabel import load_taxonomy
    from workbench.runs.records import new_run_id, record_run

    tax = load_taxonomy(ws)
    leaves = np.asarray(tax.leaves, dtype=object)
    parent, _ = pd.factorize(pd.Series([tax.parent(leaf) or leaf for leaf in leaves]))
    true, proba = skewed_probabilities(np.random.default_rng(seed), parent, n, skew=0.9,
                                       group_boost=2.0, gamma=(3.0, 1.6), sharpness=1.8)
    ids = np.array([f"syn{i:07d}" for i in range(n)], dtype=object)
    run_id = new_run_id("synthetic")
    accuracy = float(np.mean(proba.argmax(axis=1) == true))
    record_run(ws, run_id=run_id, model="synthetic", split="grouped", params={"n": n, "seed": seed},
               metrics={"accuracy": accuracy, "valid": {"accuracy": accuracy}}, train_seconds=0.0,
               peak_memory_mb=None,
               data_fingerprint="synthetic", split_fingerprint="synthetic", classes=list(leaves),
               parts={"test": (ids, leaves[true], proba)})
    return run_id


def synthetic_products(ws, n: int, seed: int = 0) -> None:
    """``n`` products (``syn...`` ids, titles) with a 2-D projection in clusters, for the map."""
    from workbench.embeddings.encoder import model_id

    truth = ws.df("SELECT product_id, true_leaf FROM predictions WHERE rank = 1 AND starts_with(product_id, 'syn')")
    rng = np.random.default_rng(seed)
    codes, leaves = pd.factorize(truth["true_leaf"])
    centres = rng.normal(scale=10, size=(len(leaves), 2))
    xy = centres[codes] + rng.normal(size=(len(codes), 2))
    products = pd.DataFrame({"product_id": truth["product_id"], "title": "synthetic product " + truth["product_id"],
                             "leaf": truth["true_leaf"], "label_source": "catalog", "source": "benchmark"})
    projection = pd.DataFrame({"product_id": truth["product_id"], "model": model_id("default"),
                               "x": xy[:, 0], "y": xy[:, 1]})
    with ws.transaction() as cur:
        cur.register("_p", products)
        cur.execute("INSERT INTO products BY NAME SELECT * FROM _p")
        cur.unregister("_p")
        cur.register("_xy", projection)
        cur.execute("INSERT INTO projection SELECT product_id, model, x, y FROM _xy")
        cur.unregister("_xy")


def build_workspace(root: Path, n: int) -> tuple[object, str]:
    """The benchmark workspace and the synthetic run's id."""
    from workbench import Workspace, ingest_dataset
    from workbench.runs.evaluation import evaluate_run
    from workbench.runs.training import train_models

    ws = Workspace(root)
    ingest_dataset(ws, "fashion", sample=3000, seed=0)
    small = train_models(ws, ["tfidf"], "grouped", sample=300, seed=0)[0]
    evaluate_run(ws, small)
    run_id = synthetic_run(ws, n)
    evaluate_run(ws, run_id)
    synthetic_products(ws, n)
    return ws, run_id


def clear_caches() -> None:
    """Empty every ``pn.cache`` (a cold start)."""
    import panel as pn

    pn.state.clear_caches()


def page_render_times(ws, repeat_warm: int = 3) -> tuple[pd.DataFrame, float]:
    """Seconds to build and render each page (``view`` + Bokeh models): ``cold`` (first session
    of a fresh process, empty caches), ``after_warmup`` (first session after the start-up warm-up
    that ``workbench serve`` runs, see :func:`workbench.app.data.warm`) and ``warm`` (median of
    later sessions). Also returns the warm-up's own seconds."""
    from bokeh.document import Document

    from workbench.app import AppContext
    from workbench.app.data import warm
    from workbench.app.template import discover_pages, page_slug

    def render(module) -> float:
        t0 = time.perf_counter()
        module.view(AppContext(ws)).get_root(Document())
        return time.perf_counter() - t0

    pages = discover_pages()
    clear_caches()
    cold = {page_slug(m): render(m) for m in pages}
    clear_caches()
    t0 = time.perf_counter()
    warm(str(ws.path))
    warmup = time.perf_counter() - t0
    after = {page_slug(m): render(m) for m in pages}
    rows = []
    for m in pages:
        slug = page_slug(m)
        rows.append({"page": slug, "title": m.TITLE, "cold_s": cold[slug], "after_warmup_s": after[slug],
                     "warm_s": statistics.median(render(m) for _ in range(repeat_warm))})
    return pd.DataFrame(rows), warmup


def slider_times(ws, run_id: str, moves: int, n_overrides: int, seed: int = 0) -> dict:
    """Milliseconds per slider move on the served threshold page (rendered to Bokeh models): from
    setting the slider to the numbers, the operating point and the override table being updated."""
    from bokeh.document import Document

    from workbench.app import AppContext
    from workbench.app.data import taxonomy
    from workbench.app.pages import thresholds as page_module

    page = page_module.view(AppContext(ws))
    page.get_root(Document())
    state = page.state
    state.run_id = run_id
    slider = next(iter(page.select(lambda o: type(o).__name__ == "FloatSlider")))
    numbers = next(iter(page.select(lambda o: type(o).__name__ == "HTML")))
    rng = np.random.default_rng(seed)
    if n_overrides:
        nodes = rng.choice(np.asarray(taxonomy(ws).nodes, dtype=object), size=n_overrides, replace=False)
        for node in nodes:
            state.add_override(str(node), round(float(rng.uniform(0.3, 0.95)), 3))
    times, shown = [], set()
    for value in rng.uniform(0.2, 0.95, size=moves):
        t0 = time.perf_counter()
        slider.value = round(float(value), 3)
        times.append(time.perf_counter() - t0)
        shown.add(numbers.object)
    assert len(shown) > moves // 2, "the numbers did not follow the slider"
    assert state.summary["n"] > 0 and len(state.overrides) == n_overrides
    _, marker, *_ = state._markers[0]  # the operating point on the rendered curve followed too
    assert marker.data["coverage"] == [state.summary["coverage"]]
    return {"median_ms": 1000 * statistics.median(times), "p95_ms": 1000 * float(np.percentile(times, 95)),
            "max_ms": 1000 * max(times)}


def numbers_only_times(ws, run_id: str, moves: int, seed: int = 0) -> dict:
    """Milliseconds for the numbers alone: sorted arrays + binary searches (the dashboard) versus
    a mask over every confidence (what ``coverage_at`` does), same thresholds."""
    from workbench.app.data import sorted_predictions
    from workbench.runs.records import load_predictions

    sp = sorted_predictions(ws, run_id)
    preds = load_predictions(ws, run_id)
    pred = preds.proba.argmax(axis=1)
    conf = preds.proba[np.arange(len(pred)), pred]
    correct = pd.Index(preds.classes).get_indexer(preds.y_true) == pred
    del preds
    rng = np.random.default_rng(seed)
    fast, naive = [], []
    for value in rng.uniform(0.2, 0.95, size=moves):
        per_class = np.full(len(sp.classes), value)
        t0 = time.perf_counter()
        point = sp.at(per_class)
        fast.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        covered = conf >= per_class.astype(np.float32)[pred]
        n_cov, n_ok = int(covered.sum()), int(np.count_nonzero(covered & correct))
        naive.append(time.perf_counter() - t0)
        assert (n_cov, n_ok) == (point.n_shelved, point.n_correct)
    return {"sorted_ms": 1000 * statistics.median(fast), "mask_ms": 1000 * statistics.median(naive)}


def drill_times(ws, run_id: str, repeats: int = 7) -> list[dict]:
    """Milliseconds from a tap on a heat-map cell to the rendered product table, server-side, for
    the largest right cell and the largest error cell of the top level; and the same rows read
    with one DuckDB query, in the same run."""
    from bokeh.document import Document

    from workbench.app import AppContext
    from workbench.app.pages import confusion as page_module
    from workbench.catalog.taxonomy import SEP
    from workbench.evaluate.confusion import OUTSIDE
    from workbench.plots.confusion import axis_labels

    page = page_module.view(AppContext(ws))
    page.get_root(Document())
    state, table = page.state, page.products
    state.run_id = run_id
    matrix = state.matrix().drop(columns=OUTSIDE)
    labels = axis_labels([str(c) for c in matrix.columns])
    values = matrix.to_numpy()
    diagonal = np.diag(values).copy()
    off = values.copy()
    np.fill_diagonal(off, -1)
    right = matrix.index[int(diagonal.argmax())]
    r, c = np.unravel_index(int(off.argmax()), off.shape)
    cells = {"largest right cell": (right, right), "largest error cell": (matrix.index[r], matrix.columns[c])}
    out = []
    for name, (true_child, predicted_child) in cells.items():
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            page.tap.event(x=labels[str(predicted_child)], y=labels[str(true_child)])
            times.append(time.perf_counter() - t0)
        n = table.selection.size
        assert len(table.table.value) == min(n, 200) and n == int(matrix.loc[true_child, predicted_child])
        sql = ("SELECT pr.product_id, p.title, p.image, pr.true_leaf, pr.leaf, pr.proba FROM predictions pr "
               "JOIN products p USING (product_id) WHERE pr.run_id = ? AND pr.part = 'test' AND pr.rank = 1 "
               "AND (pr.true_leaf = ? OR starts_with(pr.true_leaf, ?)) AND (pr.leaf = ? OR starts_with(pr.leaf, ?)) "
               "ORDER BY pr.proba DESC LIMIT 200")
        params = [run_id, true_child, true_child + SEP, predicted_child, predicted_child + SEP]
        sql_times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            ws.df(sql, params)
            sql_times.append(time.perf_counter() - t0)
        out.append({"cell": name, "products": n, "first_ms": 1000 * times[0],
                    "median_ms": 1000 * statistics.median(times), "sql_ms": 1000 * statistics.median(sql_times)})
    return out


def browser_first_render(ws_root: Path, pages: list[str]) -> dict[str, tuple[float, float]]:
    """Seconds from navigation to the page's content being visible in headless Chromium, for a
    new browser (first round: Bokeh/Panel scripts not cached yet) and the median of two more
    rounds (scripts cached)."""
    import subprocess
    import sys
    import urllib.request

    from playwright.sync_api import sync_playwright

    port = 5890
    log = ws_root / "serve.log"
    with open(log, "w") as handle:
        proc = subprocess.Popen([sys.executable, "-m", "workbench.cli.main", "serve", "--workspace", str(ws_root),
                                 "--port", str(port)], stdout=handle, stderr=subprocess.STDOUT)
    out = {}
    try:
        # measure a running server: wait until its start-up warm-up is done
        for _ in range(600):
            if "dashboards ready" in log.read_text():
                break
            time.sleep(0.5)
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for round_ in range(3):
                for slug in pages:
                    t0 = time.perf_counter()
                    page.goto(f"http://127.0.0.1:{port}/?page={slug}")
                    page.wait_for_selector(".wb-content .wb-page, .wb-content .alert", timeout=120_000)
                    out.setdefault(slug, []).append(time.perf_counter() - t0)
            browser.close()
    finally:
        proc.terminate()
        proc.wait()
    return {slug: (times[0], statistics.median(times[1:])) for slug, times in out.items()}


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="predictions in the synthetic run")
    parser.add_argument("--moves", type=int, default=60, help="slider moves timed")
    parser.add_argument("--drills", type=int, default=7, help="taps timed per heat-map cell")
    parser.add_argument("--browser", action="store_true", help="also time first renders in headless Chromium")
    parser.add_argument("--workspace", default=None, help="reuse or keep the benchmark workspace here")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, no GPU; "
          f"python {platform.python_version()}; load average {os.getloadavg()[0]:.1f} at the start")
    root = Path(args.workspace or tempfile.mkdtemp(prefix="dashboard_bench_"))
    t0 = time.perf_counter()
    if (root / "workbench.duckdb").exists():
        from workbench.runs.records import latest_run_id
        from workbench.store import Workspace

        ws = Workspace(root)
        run_id = latest_run_id(ws, "synthetic")
        print(f"reusing the workspace at {root} (run {run_id})")
    else:
        ws, run_id = build_workspace(root, args.n)
        print(f"workspace with {args.n:,} predictions built in {time.perf_counter() - t0:.0f} s at {root}")

    renders, warmup = page_render_times(ws)
    print(f"\nfirst render of each page, server-side (view + Bokeh models), seconds "
          f"(start-up warm-up: {warmup:.1f} s in the background):")
    print(renders.to_string(index=False, float_format=lambda v: f"{v:.3f}"))

    print("\nthreshold explorer, one slider move, server-side (every figure of the page):")
    for k in (0, 20):
        r = slider_times(ws, run_id, args.moves, k)
        print(f"  {k:>2} overrides: median {r['median_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, max {r['max_ms']:.1f} ms")
    nums = numbers_only_times(ws, run_id, args.moves)
    print(f"  numbers alone: sorted arrays {nums['sorted_ms']:.3f} ms vs mask over {args.n:,} confidences "
          f"{nums['mask_ms']:.2f} ms ({nums['mask_ms'] / nums['sorted_ms']:.0f}x)")

    print("\ndrill-down: tap on a heat-map cell -> rendered product table, server-side:")
    for r in drill_times(ws, run_id, args.drills):
        print(f"  {r['cell']} ({r['products']:,} products): first {r['first_ms']:.0f} ms, median {r['median_ms']:.0f} ms"
              f"; the same rows by one DuckDB query {r['sql_ms']:.0f} ms ({r['sql_ms'] / r['median_ms']:.1f}x)")

    print(f"\nload average {os.getloadavg()[0]:.1f} at the end of the server-side figures")
    if args.browser:
        ws.close()
        slugs = renders["page"].tolist()
        times = browser_first_render(root, slugs)
        print("\nfirst render in headless Chromium (navigation to visible content), seconds:")
        print(f"  {'page':<14} {'new browser':>12} {'scripts cached':>15}")
        for slug in slugs:
            print(f"  {slug:<14} {times[slug][0]:>12.2f} {times[slug][1]:>15.2f}")


if __name__ == "__main__":
    main()
