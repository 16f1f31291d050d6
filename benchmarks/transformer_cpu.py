"""Benchmark: what makes the fine-tuned transformer affordable on a CPU (fashion, grouped split).

Two phases, every configuration in the same process one after the other, so the speed figures
are ratios against the first (today's benchmark setting) measured under the same load:

* ``speed``: each configuration trains one epoch on a seeded, leaf-stratified slice of the
  training part (``--slice``, default 1,000 products); the figures are the epoch's CPU and wall
  seconds per 1,000 products (model loading and tokenising excluded) and the CPU ratio to the
  baseline (with one thread, CPU seconds measure the work done however loaded the machine is).
* ``accuracy``: the chosen configurations train ``--epochs`` epochs on a larger slice
  (``--accuracy-slice``, default 6,000) and are scored on 2,000 validation products, so that
  what a choice costs in accuracy is seen before the whole split is trained once
  (``benchmarks/models.py --models transformer``).

Results go to ``benchmarks/RESULTS.md`` under ``## Transformer on a CPU``, with ``uptime``
read before and after each configuration::

    python benchmarks/transformer_cpu.py                 # both phases
    python benchmarks/transformer_cpu.py --phase speed
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from models import keep_step, machine, report  # noqa: E402

SECTION = "## Transformer on a CPU"
OUT = HERE / "transformer_cpu_results.json"

BASELINE = {"max_length": 32, "train_last_n_layers": None, "batch_size": 32, "lr": 5e-5}
SPEED = {
    "baseline (today's benchmark: 32 tokens, every layer, batch 32)": BASELINE,
    "16 tokens": {**BASELINE, "max_length": 16},
    "16 tokens, last 2 layers": {**BASELINE, "max_length": 16, "train_last_n_layers": 2},
    "16 tokens, last layer": {**BASELINE, "max_length": 16, "train_last_n_layers": 1},
    "16 tokens, last 2 layers, batch 64": {**BASELINE, "max_length": 16, "train_last_n_layers": 2,
                                           "batch_size": 64},
    "16 tokens, last 2 layers, batch 128": {**BASELINE, "max_length": 16, "train_last_n_layers": 2,
                                            "batch_size": 128},
    "16 tokens, head only, batch 64": {**BASELINE, "max_length": 16, "train_last_n_layers": 0,
                                       "batch_size": 64},
}
ACCURACY = {
    "every layer, lr 5e-5, batch 32": {**BASELINE, "max_length": 16},
    "last 2 layers, lr 2e-4, head lr 2e-3, batch 64": {
        "max_length": 16, "train_last_n_layers": 2, "batch_size": 64, "lr": 2e-4, "head_lr": 2e-3},
    "last layer, lr 3e-4, head lr 3e-3, batch 64": {
        "max_length": 16, "train_last_n_layers": 1, "batch_size": 64, "lr": 3e-4, "head_lr": 3e-3},
    "head only, head lr 5e-3, batch 64": {
        "max_length": 16, "train_last_n_layers": 0, "batch_size": 64, "lr": 5e-3, "head_lr": 5e-3},
}


def uptime() -> str:
    """The load averages, as ``uptime`` prints them."""
    out = subprocess.run(["uptime"], capture_output=True, text=True).stdout
    return out.split("load average:")[-1].strip()


def data(workspace: str, n_train: int, n_valid: int):
    """A seeded slice of the grouped split's training part and its first validation products."""
    from workbench import Workspace
    from workbench.runs.training import load_training_frame, stratified_sample

    ws = Workspace(workspace)
    frame = load_training_frame(ws, "grouped", ("catalog", "human"))
    ws.close()  # let other benchmarks use the workspace while this one trains
    train = stratified_sample(frame[frame["part"] == "train"], n_train, 0).reset_index(drop=True)
    valid = frame[frame["part"] == "valid"].sample(n=n_valid, random_state=0).reset_index(drop=True)
    return train, valid


def epoch_timer():
    """A training callback that records each epoch's wall time in the history (``seconds``)."""
    from workbench.models.neural.callbacks import Callback

    class EpochTimer(Callback):
        name = "epoch_timer"

        def on_epoch_begin(self, trainer, epoch):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_epoch_end(self, trainer, epoch, metrics):
            metrics["seconds"] = time.perf_counter() - self.t0
            metrics["cpu_seconds"] = time.process_time() - self.c0

    return EpochTimer()


def train(params: dict, train_frame, valid_frame, epochs: int, leaves) -> dict:
    """Fit one configuration; the epochs' seconds and the last validation accuracy."""
    from workbench.models.neural import TransformerClassifier

    model = TransformerClassifier(leaves=leaves, max_epochs=epochs, early_stopping_patience=None,
                                  num_threads=1, progress=False, callbacks=[epoch_timer()], **params)
    before = uptime()
    model.fit(train_frame, train_frame["leaf"], valid_frame, valid_frame["leaf"])
    seconds = [h["seconds"] for h in model.history_]
    cpu = [h["cpu_seconds"] for h in model.history_]
    return {"params": params, "epochs": epochs, "n_train": len(train_frame),
            "epoch_seconds": seconds, "epoch_cpu_seconds": cpu,
            "s_per_1000": sum(seconds) / epochs / len(train_frame) * 1000,
            "cpu_s_per_1000": sum(cpu) / epochs / len(train_frame) * 1000,
            "valid_acc": model.history_[-1]["valid_acc"], "uptime_before": before,
            "uptime_after": uptime()}


def render(results: dict) -> str:
    """The section text."""
    lines = [SECTION, "",
             "Command: `.venv/bin/python benchmarks/transformer_cpu.py` (fashion, grouped split; "
             "all-MiniLM-L6-v2 fine-tuned with a mean-pooled linear head; one torch thread, on a "
             f"shared 2-core machine). Measured on: {results.get('machine', '?')}, "
             f"{results.get('date', '?')}. Every configuration ran in one process, one after the "
             "other: the ratios compare runs under similar load; the 1-minute load averages "
             "(`uptime`) before and after each are beside it.", ""]
    speed = results.get("speed")
    if speed:
        base = next(iter(speed.values()))["s_per_1000"]
        lines += [f"**Speed**: one epoch on a leaf-stratified slice of "
                  f"{next(iter(speed.values()))['n_train']:,} training products; seconds per "
                  "1,000 products (the epoch alone: no loading, no tokenising). The ratio is of the "
                  "process's CPU seconds (one thread), which the other users of the machine do not "
                  "inflate the way they inflate wall time.", "",
                  "| configuration | CPU s / 1,000 products | ratio to baseline | wall s / 1,000 | valid acc. after 1 epoch | load before / after |",
                  "|---|---|---|---|---|---|"]
        cpu_base = next(iter(speed.values()))["cpu_s_per_1000"]
        for name, r in speed.items():
            lines.append(f"| {name} | {r['cpu_s_per_1000']:.1f} | {r['cpu_s_per_1000'] / cpu_base:.2f} | "
                         f"{r['s_per_1000']:.1f} | "
                         f"{r['valid_acc']:.3f} | {_load(r['uptime_before'])} / {_load(r['uptime_after'])} |")
        lines.append("")
    acc = results.get("accuracy")
    if acc:
        first = next(iter(acc.values()))
        base = first["s_per_1000"]
        lines += [f"**Accuracy**: {first['epochs']} epochs on {first['n_train']:,} training products, "
                  "scored on 2,000 validation products (max 16 tokens: the 95th percentile of the "
                  "catalog's title + brand length is 15 word pieces).", "",
                  "| configuration | valid acc. | CPU s / 1,000 products per epoch | ratio | load before / after |",
                  "|---|---|---|---|---|"]
        base = first["cpu_s_per_1000"]
        for name, r in acc.items():
            lines.append(f"| {name} | {r['valid_acc']:.3f} | {r['cpu_s_per_1000']:.1f} | "
                         f"{r['cpu_s_per_1000'] / base:.2f} | {_load(r['uptime_before'])} / {_load(r['uptime_after'])} |")
        lines.append("")
    if results.get("conclusion"):
        lines += [results["conclusion"], ""]
    return "\n".join(lines)


def _load(text: str) -> str:
    return text.split(",")[0].strip()


def main(argv=None) -> int:
    """Run the phases; see the module docstring."""
    import torch

    from workbench import Workspace, ingest_dataset, load_taxonomy

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--phase", choices=["speed", "accuracy", "both"], default="both")
    p.add_argument("--workspace", default=str(HERE / "out" / "fashion-ws"))
    p.add_argument("--slice", type=int, default=1000)
    p.add_argument("--accuracy-slice", type=int, default=6000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    ws = Workspace(args.workspace)
    if not ws.scalar("SELECT count(*) FROM products"):
        print(ingest_dataset(ws, "fashion"), flush=True)
    leaves = load_taxonomy(ws).leaves
    ws.close()
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    results.update(machine=machine(), date=time.strftime("%Y-%m-%d"))
    if args.phase in ("speed", "both"):
        tr, va = data(args.workspace, args.slice, 1000)
        results["speed"] = {}
        for name, params in SPEED.items():
            keep_step(OUT, results, "speed", name, train(params, tr, va, 1, leaves))
    if args.phase in ("accuracy", "both"):
        tr, va = data(args.workspace, args.accuracy_slice, 2000)
        results["accuracy"] = {}
        for name, params in ACCURACY.items():
            keep_step(OUT, results, "accuracy", name, train(params, tr, va, args.epochs, leaves))
    return report(render(results), SECTION, not args.no_write)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
