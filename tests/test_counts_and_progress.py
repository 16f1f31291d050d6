"""Progress and counts people can read: lines in a log, the products each level's accuracy
counts, labelled products without the model's own shelving, no torch compiler unless used."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from workbench.cli.main import main

ROOT = Path(__file__).resolve().parent.parent

TRAIN_TINY_CNN = """
import hashlib, sys
import torch
{preload}
from workbench.models.neural import CnnLstmClassifier
titles = ["red cotton shirt", "blue denim jeans", "black leather belt", "white canvas shoes"] * 30
labels = ["a", "b", "c", "d"] * 30
torch.set_num_threads(1)
model = CnnLstmClassifier(embedding_dim=8, n_filters=8, lstm_hidden=8, n_buckets=512, max_epochs=2,
                          early_stopping_patience=None, progress=False).fit(titles, labels)
digest = hashlib.sha256()
for name, tensor in sorted(model.module_.state_dict().items()):
    digest.update(tensor.numpy().tobytes())
print("torch._dynamo" in sys.modules, digest.hexdigest())
"""


def _run(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return out.stdout.split()


def test_training_a_neural_model_does_not_import_the_torch_compiler_and_learns_the_same():
    eager = _run(TRAIN_TINY_CNN.format(preload=""))
    assert eager[0] == "False"
    # with the compiler already loaded, torch's own optimizer path runs: same weights to the bit
    compiled_loaded = _run(TRAIN_TINY_CNN.format(preload="import torch._dynamo"))
    assert compiled_loaded == ["True", eager[1]]


def test_progress_lines_name_the_model_the_step_and_its_figures(capsys):
    from workbench.models.progress import progress_line, progress_mode

    assert progress_mode(None) == "lines"  # pytest captures stderr: not a terminal
    assert progress_mode(False) == "off" and progress_mode(True) == "bar"
    line = progress_line("cnn-lstm", "epoch 3/10", {"train_loss": 0.41234, "lr": 0.0012}, 41.25, "best so far")
    assert line == "cnn-lstm epoch 3/10: train_loss 0.4123  lr 1.20e-03  (41.2 s, best so far)"
    assert capsys.readouterr().err == line + "\n"


def test_xgboost_and_fasttext_write_a_line_per_round_in_a_log(fashion_ws, capsys):
    from workbench.runs.training import train_models

    train_models(fashion_ws, ["xgboost"], sample=300, params={"xgboost": {
        "n_estimators": 3, "max_depth": 2, "early_stopping_rounds": None}})
    err = capsys.readouterr().err
    rounds = [line for line in err.splitlines() if line.startswith("xgboost round ")]
    assert [r.split(":")[0] for r in rounds] == ["xgboost round 1/3", "xgboost round 2/3", "xgboost round 3/3"]
    train_models(fashion_ws, ["fasttext"], sample=300, params={"fasttext": {"epoch": 2}})
    err = capsys.readouterr().err
    assert "fasttext training: products 300  epochs 2" in err and "fasttext trained: epochs 2" in err


def test_compare_counts_the_products_behind_each_level(flipkart_ws, capsys):
    from workbench import load_taxonomy
    from workbench.runs.training import compare_runs, train_models

    [run_id] = train_models(flipkart_ws, ["tfidf"])
    row = compare_runs(flipkart_ws, [run_id]).iloc[0]
    depth = {name: i + 1 for i, name in enumerate(load_taxonomy(flipkart_ws).level_names)}
    n_test = int(flipkart_ws.scalar("SELECT count(*) FROM splits WHERE kind = 'grouped' AND part = 'test'"))
    assert row["n"] == n_test
    # Flipkart's tree has shallow leaves ("Other", depth 1): the deepest level counts fewer products
    deepest = max(depth, key=depth.get)
    shallow = int(flipkart_ws.scalar(
        "SELECT count(*) FROM splits s JOIN products p USING (product_id) WHERE s.kind = 'grouped' "
        "AND s.part = 'test' AND len(string_split(p.leaf, ' > ')) < ?", [depth[deepest]]))
    assert shallow > 0 and row[f"n {deepest}"] == n_test - shallow
    assert main(["compare", run_id, "--workspace", str(flipkart_ws.path)]) == 0
    header, _, line = capsys.readouterr().out.splitlines()[:3]
    assert f"n {deepest}" in header.split("  ") and f"{n_test:,}" in line.split()


def test_info_does_not_count_the_models_shelving_as_labels(tmp_path, capsys):
    from _review_setup import build
    from workbench.loop.shelving import classify_file

    day = date(2026, 2, 2)
    rw = build(tmp_path, n_catalog=600, batches={day: 150})
    classify_file(rw.ws, rw.files[day], dataset="fashion", run_id=rw.run_main, batch_date=day)
    sources = dict(rw.ws.df("SELECT coalesce(label_source, '-') AS s, count(*) AS n FROM products "
                            "GROUP BY ALL").itertuples(index=False))
    assert sources["model"] > 0 and sources["catalog"] == 600
    assert main(["info", "--json", "--workspace", str(rw.ws.path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["products"] == 750 and info["labelled"] == 600
    assert info["shelved_by_model"] == sources["model"] and info["interrupted_runs"] == []
    assert main(["info", "--workspace", str(rw.ws.path)]) == 0
    assert f"750 accepted (600 labelled, {sources['model']:,} shelved by a model)" in capsys.readouterr().out
