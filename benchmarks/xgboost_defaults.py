"""Benchmark: XGBoost's defaults against the defaults it had before (fashion, 4,000 products).

Fits ``xgboost`` on a seeded, leaf-stratified sample of 4,000 products of the fashion catalog's
grouped training part (embeddings from the workspace cache, warmed first and not timed), with
early stopping on the whole validation part, and scores the whole test part; every
configuration in the same process, one after the other, so the times are comparable under the
same load. ``threads`` is what the configuration ran with: ``2`` (the two cores of the
target) or ``auto`` (the free cores; 1 on a loaded 2-core machine). Target: the new defaults
fit in under 60 s on 2 cores and lose at most 1 point of accuracy against the old ones.

    python benchmarks/xgboost_defaults.py                      # every configuration
    python benchmarks/xgboost_defaults.py --configs new,new-auto
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from models import keep_step, machine, report, warm_embeddings  # noqa: E402

SECTION = "## XGBoost defaults"
OUT = HERE / "xgboost_defaults_results.json"
#: The defaults before issue 20 (xgboost 300 rounds of depth-6 trees at rate 0.2, all cores).
OLD = {"n_estimators": 300, "learning_rate": 0.2, "max_depth": 6, "min_child_weight": 1.0,
       "subsample": 1.0, "colsample_bytree": 0.5, "max_bin": 64, "early_stopping_rounds": 20}
CONFIGS = {
    "old defaults, 2 threads": {**OLD, "n_jobs": 2},
    "new defaults, 2 threads": {"n_jobs": 2},
    "new defaults, threads auto": {},
}


def uptime() -> str:
    """The 1-minute load average, as ``uptime`` prints it."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.split("load average:")[-1].split(",")[0].strip()


def run(ws, params: dict, train, valid, test, leaves) -> dict:
    """Fit one configuration; wall and CPU seconds of ``fit``, rounds kept, test accuracy."""
    from workbench.evaluate.metrics import accuracy, macro_f1
    from workbench.models.xgb import XGBoostClassifier

    model = XGBoostClassifier(leaves=leaves, workspace=str(ws.path), progress=False, **params)
    before = uptime()
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(train, train["leaf"], valid, valid["leaf"])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    proba = model.predict_proba(test)
    return {"params": params, "resolved": model.resolved_params(), "wall_s": wall, "cpu_s": cpu,
            "rounds": (model.best_iteration_ + 1) if model.best_iteration_ is not None else None,
            "accuracy": accuracy(test["leaf"], proba, classes=leaves),
            "macro_f1": macro_f1(test["leaf"], proba, classes=leaves),
            "load_before": before, "load_after": uptime()}


def render(results: dict) -> str:
    """The section text."""
    rows = results["runs"]
    base = rows.get("old defaults, 2 threads")
    lines = [SECTION, "",
             f"Command: `.venv/bin/python benchmarks/xgboost_defaults.py`. Measured on: {results['machine']}, "
             f"{results['date']}. Fashion catalog, grouped split: {results['n_train']:,} training products "
             "(seeded, leaf-stratified sample), early stopping on the whole validation part "
             f"({results['n_valid']:,}), accuracy on the whole test part ({results['n_test']:,}); MiniLM "
             "embeddings + brand one-hot + log price from the workspace cache (warmed before, not timed). "
             "All configurations ran in one process, one after the other; `fit` wall and CPU seconds, "
             "1-minute load average before and after each.", "",
             "| configuration | parameters | fit wall s | fit CPU s | rounds kept | test accuracy | macro-F1 | accuracy vs old | load before / after |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        params = ", ".join(f"{k}={v}" for k, v in {**r["params"], **r["resolved"]}.items()) or "(defaults)"
        delta = f"{(r['accuracy'] - base['accuracy']) * 100:+.1f} points" if base else "-"
        lines.append(f"| {name} | {params} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['rounds'] or '-'} | "
                     f"{r['accuracy']:.3f} | {r['macro_f1']:.3f} | {delta} | {r['load_before']} / {r['load_after']} |")
    if results.get("conclusion"):
        lines += ["", results["conclusion"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """Run the configurations; see the module docstring."""
    from workbench import Workspace, ingest_dataset, load_taxonomy
    from workbench.runs.training import load_training_frame, stratified_sample

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", default=str(HERE / "out" / "fashion-ws"))
    p.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names of CONFIGS")
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    ws = Workspace(args.workspace)
    if not ws.scalar("SELECT count(*) FROM products"):
        print(ingest_dataset(ws, "fashion"), flush=True)
    warm_embeddings(ws)
    frame = load_training_frame(ws, "grouped", ("catalog", "human"))
    train = stratified_sample(frame[frame["part"] == "train"], args.n_train, 0).reset_index(drop=True)
    valid = frame[frame["part"] == "valid"].reset_index(drop=True)
    test = frame[frame["part"] == "test"].reset_index(drop=True)
    leaves = load_taxonomy(ws).leaves
    results = json.loads(OUT.read_text()) if OUT.exists() else {"runs": {}}
    results.update(machine=machine(), date=time.strftime("%Y-%m-%d"), n_train=len(train),
                   n_valid=len(valid), n_test=len(test))
    for name in [c.strip() for c in args.configs.split(",") if c.strip()]:
        keep_step(OUT, results, "runs", name, run(ws, CONFIGS[name], train, valid, test, leaves))
    return report(render(results), SECTION, not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
