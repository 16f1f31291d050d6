"""The training runner and its CLI on a real fashion sample: recorded runs, metrics that match
the stored predictions, samples, departments, and the rule that model labels are never
trained on."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from workbench import Workspace, ingest_dataset, load_taxonomy, split_frame
from workbench.cli.main import main
from workbench.errors import WorkbenchError
from workbench.models.base import CategoryClassifier
from workbench.models.departments import DepartmentModel
from workbench.runs.records import get_run, list_runs, load_predictions, run_dir
from workbench.runs.training import (compare_runs, fingerprint, stratified_sample, train_models)

TINY_XGB = {"n_estimators": 15, "max_depth": 3, "early_stopping_rounds": 5, "n_jobs": 1,
            "progress": False}


def _fresh_ws(tmp_path_factory, name: str, seed: int) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp(name))
    ingest_dataset(ws, "fashion", sample=1500, seed=seed)
    return ws


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A workspace of its own (runs are added to it): 1,500 real fashion products."""
    return _fresh_ws(tmp_path_factory, "training_ws", seed=3)


@pytest.fixture(scope="module")
def trained(ws):
    """tfidf and xgboost trained on the grouped split."""
    return train_models(ws, ["tfidf", "xgboost"], split="grouped", params={"xgboost": TINY_XGB})


def test_runs_are_recorded_with_metrics_matching_their_predictions(ws, trained):
    taxonomy = load_taxonomy(ws)
    frame = split_frame(ws, "grouped", label_sources=("catalog", "human"))
    assert len(trained) == 2
    for run_id, kind in zip(trained, ["tfidf", "xgboost"]):
        run = get_run(ws, run_id)
        assert run["model"] == kind and run["split"] == "grouped" and run["train_seconds"] > 0
        assert run["peak_memory_mb"] is not None and run["label_sources"] == "catalog,human"
        assert run["data_fingerprint"] == fingerprint(frame["product_id"], frame["leaf"])
        assert run["split_fingerprint"] == fingerprint(frame["product_id"], frame["part"])
        metrics = json.loads(run["metrics"]) if isinstance(run["metrics"], str) else run["metrics"]
        test = load_predictions(ws, run_id, "test")
        assert list(test.classes) == taxonomy.leaves
        assert set(test.product_ids) == set(frame.loc[frame["part"] == "test", "product_id"])
        assert test.proba.shape == (len(test.product_ids), len(taxonomy.leaves))
        predicted = test.classes[test.proba.argmax(axis=1)]
        assert metrics["accuracy"] == pytest.approx(np.mean(predicted == test.y_true), abs=1e-9)
        assert list(metrics["level_accuracy"]) == taxonomy.level_names
        assert metrics["level_accuracy"][taxonomy.level_names[-1]] == pytest.approx(metrics["accuracy"])
        top = [taxonomy.ancestor_at(p, 1) for p in predicted]
        truth = [taxonomy.ancestor_at(t, 1) for t in test.y_true]
        assert metrics["level_accuracy"][taxonomy.level_names[0]] == pytest.approx(
            np.mean(np.array(top) == np.array(truth)))
        assert 0 < metrics["macro_f1"] <= 1 and metrics["valid"]["n"] > 0
        valid = load_predictions(ws, run_id, "valid")
        assert set(valid.product_ids) == set(frame.loc[frame["part"] == "valid", "product_id"])
        rows = ws.df("SELECT product_id, rank, leaf, proba FROM predictions WHERE run_id = ? "
                     "AND part = 'test' ORDER BY product_id, rank", [run_id])
        assert rows.groupby("product_id").size().eq(10).all()
        first = rows[rows["rank"] == 1].set_index("product_id")["leaf"]
        assert first.to_dict() == dict(zip(test.product_ids, predicted))
        model = CategoryClassifier.load(run_dir(ws, run_id) / "model")
        assert model.manifest_["data_fingerprint"] == run["data_fingerprint"]
        products = frame.set_index("product_id").loc[list(test.product_ids)].reset_index()
        np.testing.assert_allclose(model.predict_proba(products), test.proba, atol=1e-5)


def test_tfidf_beats_xgboost_on_a_small_sample(ws, trained):
    # TF-IDF is the strong baseline on short titles; a tiny XGBoost (15 shallow rounds) is not
    table = compare_runs(ws, trained)
    acc = dict(zip(table["model"], table["accuracy"]))
    assert acc["tfidf"] > 0.8 and acc["tfidf"] > acc["xgboost"]


def test_runs_json_and_compare_on_the_command_line(ws, trained, capsys):
    assert main(["runs", "--json", "--workspace", str(ws.path)]) == 0
    records = json.loads(capsys.readouterr().out)
    by_id = {r["run_id"]: r for r in records}
    levels = load_taxonomy(ws).level_names
    for run_id in trained:
        record = by_id[run_id]
        assert {"run_id", "model", "split", "train_seconds", "metrics"} <= set(record)
        assert set(record["metrics"]["level_accuracy"]) == set(levels)
        assert isinstance(record["metrics"]["accuracy"], float)
        assert isinstance(record["metrics"]["macro_f1"], float)
    assert main(["compare", *trained, "--workspace", str(ws.path)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    for col in ("accuracy", "macro_f1", *[f"acc {lvl}" for lvl in levels], "train_s", "peak_mb"):
        assert col in header
    for run_id in trained:
        line = next(line for line in out.splitlines() if line.startswith(run_id))
        assert f"{by_id[run_id]['metrics']['accuracy']:.4f}" in line


def test_train_command_with_params_and_errors(ws, capsys):
    assert main(["train", "--workspace", str(ws.path), "--models", "tfidf", "--split", "random",
                 "--param", "tfidf.C=0.25", "--param", "tfidf.word_ngrams=[1,1]"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "tfidf" in out and "random" in out and "accuracy" in out
    run = list_runs(ws).iloc[-1]
    assert run["split"] == "random" and run["params"]["C"] == 0.25
    # a complete run: evaluated at once, so that every dashboard page lists it
    assert ws.scalar("SELECT count(*) FROM evaluations WHERE run_id = ? AND part = 'test'", [run["run_id"]]) == 1
    assert f"evaluated run {run['run_id']}" in captured.err
    assert run["params"]["word_ngrams"] == [1, 1]
    assert main(["train", "--workspace", str(ws.path), "--models", "tfidf", "--param", "tfidf.bogus=1"]) == 2
    assert "bogus" in capsys.readouterr().err
    assert main(["train", "--workspace", str(ws.path), "--models", "nope"]) == 2
    assert "unknown model kind" in capsys.readouterr().err
    assert main(["train", "--workspace", str(ws.path), "--models", "tfidf", "--param", "C=1"]) == 2
    assert "KIND.NAME=VALUE" in capsys.readouterr().err
    assert main(["train", "--workspace", str(ws.path), "--models", "tfidf",
                 "--label-sources", "catalog,robot"]) == 2
    assert "robot" in capsys.readouterr().err


def test_stratified_sample_keeps_every_leaf_in_proportion(ws):
    train = split_frame(ws, "grouped").query("part == 'train'")
    sample = stratified_sample(train, 300, seed=0)
    assert len(sample) == 300 and sample["product_id"].is_unique
    assert set(sample["leaf"]) == set(train["leaf"]) or train["leaf"].nunique() > 300
    share = train["leaf"].value_counts(normalize=True)
    got = sample["leaf"].value_counts(normalize=True).reindex(share.index, fill_value=0)
    assert (got - share).abs().max() < 0.03
    assert stratified_sample(train, 300, seed=0)["product_id"].tolist() == sample["product_id"].tolist()
    assert stratified_sample(train, 300, seed=1)["product_id"].tolist() != sample["product_id"].tolist()


def test_sample_trains_on_fewer_products_and_keeps_valid_and_test_whole(ws, trained):
    [run_id] = train_models(ws, ["tfidf"], split="grouped", sample=200)
    run, full = get_run(ws, run_id), get_run(ws, trained[0])
    assert run["sample"] == 200 and run["data_fingerprint"] != full["data_fingerprint"]
    for part in ("valid", "test"):
        assert sorted(load_predictions(ws, run_id, part).product_ids) == sorted(
            load_predictions(ws, trained[0], part).product_ids)


def test_department_model_routes_each_product_to_its_department(ws, tmp_path):
    [run_id] = train_models(ws, ["tfidf"], split="grouped", department="department")
    run = get_run(ws, run_id)
    assert run["department"] == "department" and run["model"] == "tfidf"
    model = CategoryClassifier.load(run_dir(ws, run_id) / "model")
    assert isinstance(model, DepartmentModel) and model.base_kind == "tfidf"
    assert {"Men", "Women"} <= set(model.models_)
    test = split_frame(ws, "grouped").query("part == 'test'").reset_index(drop=True)
    proba = model.predict_proba(test)
    men = (test["department"] == "Men").to_numpy()
    np.testing.assert_allclose(proba[men], model.models_["Men"].predict_proba(test[men]), atol=1e-9)
    stored = load_predictions(ws, run_id, "test")
    order = pd.Series(range(len(test)), index=test["product_id"]).loc[list(stored.product_ids)]
    np.testing.assert_allclose(stored.proba, proba[order.to_numpy()], atol=1e-5)
    # a department never seen in training goes to the model trained on all products
    strangers = test.assign(department="Martians")
    np.testing.assert_allclose(model.predict_proba(strangers),
                               model.fallback_model_.predict_proba(strangers), atol=1e-9)
    # a department whose products share one leaf needs no model
    frame = split_frame(ws, "grouped").query("part == 'train'").reset_index(drop=True)
    frame.loc[:99, "department"] = "Socks only"
    frame.loc[:99, "leaf"] = frame.loc[0, "leaf"]
    leaves = load_taxonomy(ws).leaves
    uniform = DepartmentModel(base_kind="tfidf", leaves=leaves, fallback="uniform").fit(frame, frame["leaf"])
    assert uniform.constant_ == {"Socks only": frame.loc[0, "leaf"]}
    assert set(uniform.predict(frame.iloc[:5])) == {frame.loc[0, "leaf"]}
    odd = uniform.predict_proba(frame.iloc[:3].assign(department=None))
    seen = np.isin(leaves, frame["leaf"].unique())
    np.testing.assert_allclose(odd[:, seen], 1.0 / seen.sum())
    assert np.all(odd[:, ~seen] == 0)
    uniform.save(tmp_path / "dept")
    again = CategoryClassifier.load(tmp_path / "dept")
    np.testing.assert_allclose(again.predict_proba(frame.iloc[:50]), uniform.predict_proba(frame.iloc[:50]))


def test_department_from_an_extra_column(ws):
    [run_id] = train_models(ws, ["tfidf"], split="random", department="usage")
    model = CategoryClassifier.load(run_dir(ws, run_id) / "model")
    assert model.department_column == "usage" and {"Casual", "Sports"} <= set(model.models_)
    with pytest.raises(WorkbenchError, match="no department column"):
        train_models(ws, ["tfidf"], department="no_such_column")


def test_model_labels_are_never_trained_on(tmp_path_factory):
    ws = _fresh_ws(tmp_path_factory, "label_source_ws", seed=5)
    frame = split_frame(ws, "grouped")
    counts = frame["leaf"].value_counts()
    leaf = counts.index[3]  # a common leaf: every one of its products gets a model label
    with ws.transaction() as cur:
        cur.execute("UPDATE products SET label_source = 'model' WHERE leaf = ?", [leaf])
    taxonomy = load_taxonomy(ws)
    column = taxonomy.leaf_index(leaf)

    [honest] = train_models(ws, ["tfidf"], split="grouped")
    test = load_predictions(ws, honest, "test")
    assert leaf not in set(test.y_true)
    assert np.all(test.proba[:, column] == 0.0)
    kept = split_frame(ws, "grouped", label_sources=("catalog", "human"))
    assert get_run(ws, honest)["data_fingerprint"] == fingerprint(kept["product_id"], kept["leaf"])

    [everything] = train_models(ws, ["tfidf"], split="grouped", label_sources=("catalog", "human", "model"))
    test = load_predictions(ws, everything, "test")
    assert leaf in set(test.y_true)
    assert test.proba[:, column].max() > 0.5
