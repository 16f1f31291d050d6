"""The ``ensemble`` and ``fasttext`` kinds beyond the shared contract, and catalog attributes
(the fashion catalog's ``usage``) as model inputs, on real fashion products."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from workbench.errors import WorkbenchError
from workbench.models.base import check_fields, product_texts
from workbench.models.ensemble import FLOOR, EnsembleClassifier
from workbench.models.fasttext_model import FastTextClassifier
from workbench.models.tfidf import TfidfClassifier
from workbench.paths import PROJECT_ROOT

STYLES = PROJECT_ROOT.parent / "shared" / "datasets" / "fashion" / "styles.csv"
TINY_FASTTEXT = dict(epoch=10, dim=16, maxn=4)


@pytest.fixture(scope="module")
def shoes():
    """600 real Casual / Sports / Formal shoes (seeded), with ``usage`` kept in ``extra`` the
    way ingest stores a catalog's unmapped columns: 450 to train, 150 to predict."""
    df = pd.read_csv(STYLES, on_bad_lines="skip").dropna(subset=["productDisplayName", "usage"])
    df = df[df["articleType"].isin(["Casual Shoes", "Sports Shoes", "Formal Shoes"])]
    rows = df.sample(600, random_state=0).reset_index(drop=True)
    products = pd.DataFrame({
        "title": rows["productDisplayName"].astype(str),
        "extra": [json.dumps({"usage": u, "season": s}) for u, s in zip(rows["usage"], rows["season"])]})
    labels = ("Footwear > Shoes > " + rows["articleType"]).to_numpy(dtype=object)
    leaves = sorted(set(labels)) + ["Footwear > Shoes > Booties"]  # one leaf nobody has
    return {"leaves": leaves, "X": products.iloc[:450].reset_index(drop=True), "y": labels[:450],
            "X_test": products.iloc[450:].reset_index(drop=True), "y_test": labels[450:]}


@pytest.fixture(scope="module")
def ensemble(shoes):
    members = {"tfidf": {}, "fasttext": TINY_FASTTEXT}
    return EnsembleClassifier(members=members, leaves=shoes["leaves"]).fit(shoes["X"], shoes["y"])


def test_geometric_vote_is_the_normalised_weighted_mean_of_member_log_probabilities(ensemble, shoes):
    parts = ensemble.member_probabilities(shoes["X_test"])
    logp = sum(np.log(np.maximum(p, FLOOR)) for p in parts.values()) / len(parts)
    expected = np.exp(logp)
    expected[:, ensemble.classes_ == "Footwear > Shoes > Booties"] = 0.0
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ensemble.predict_proba(shoes["X_test"]), expected, rtol=1e-9, atol=1e-12)


def test_mean_vote_and_weights_are_honoured(ensemble, shoes):
    parts = ensemble.member_probabilities(shoes["X_test"])
    mean = EnsembleClassifier(members={"tfidf": {}, "fasttext": TINY_FASTTEXT}, combine="mean",
                              weights={"tfidf": 3, "fasttext": 1}, leaves=shoes["leaves"])
    mean.fit(shoes["X"], shoes["y"])
    np.testing.assert_allclose(mean.predict_proba(shoes["X_test"]),
                               0.75 * parts["tfidf"] + 0.25 * parts["fasttext"], atol=1e-9)
    only_tfidf = EnsembleClassifier(members={"tfidf": {}, "fasttext": TINY_FASTTEXT},
                                    weights={"fasttext": 0}, leaves=shoes["leaves"]).fit(shoes["X"], shoes["y"])
    np.testing.assert_array_equal(only_tfidf.predict(shoes["X_test"]),
                                  ensemble.models_["tfidf"].predict(shoes["X_test"]))


def test_ensemble_refuses_bad_members_and_weights(shoes):
    X, y, leaves = shoes["X"], shoes["y"], shoes["leaves"]
    with pytest.raises(WorkbenchError, match="unknown model kind 'svm'"):
        EnsembleClassifier(members={"svm": {}}, leaves=leaves).fit(X, y)
    with pytest.raises(WorkbenchError, match="cannot be a 'ensemble'"):
        EnsembleClassifier(members={"ensemble": {}}, leaves=leaves).fit(X, y)
    with pytest.raises(WorkbenchError, match="not members"):
        EnsembleClassifier(members=["tfidf"], weights={"xgboost": 1}, leaves=leaves).fit(X, y)
    with pytest.raises(WorkbenchError, match="has no parameter"):
        EnsembleClassifier(members={"tfidf": {"n_layers": 3}}, leaves=leaves).fit(X, y)


def test_ensemble_fields_reach_every_member(shoes):
    model = EnsembleClassifier(members={"tfidf": {}, "fasttext": TINY_FASTTEXT}, fields=["title", "usage"],
                               leaves=shoes["leaves"]).fit(shoes["X"], shoes["y"])
    assert [list(m.fields) for m in model.models_.values()] == [["title", "usage"]] * 2


def test_attributes_in_extra_become_text_and_unknown_fields_are_refused(shoes):
    texts = product_texts(shoes["X"].iloc[:3], ("title", "usage"))
    usages = [json.loads(e)["usage"] for e in shoes["X"]["extra"].iloc[:3]]
    assert texts == [f"{t} | usage {u}" for t, u in zip(shoes["X"]["title"].iloc[:3], usages)]
    with pytest.raises(WorkbenchError, match=r"no training product has a value for field 'usge'.*season, usage"):
        check_fields(shoes["X"], ("title", "usge"))
    with pytest.raises(WorkbenchError, match="'usge'"):
        TfidfClassifier(fields=("title", "usge"), leaves=shoes["leaves"]).fit(shoes["X"], shoes["y"])


def test_a_model_trained_on_usage_reads_it_when_predicting(shoes):
    """The same shoe titles, relabelled Sports vs Casual usage: the prediction moves."""
    model = TfidfClassifier(fields=("title", "usage"), leaves=shoes["leaves"]).fit(shoes["X"], shoes["y"])
    X = shoes["X_test"].copy()
    sports = X.assign(extra=json.dumps({"usage": "Sports"}))
    casual = X.assign(extra=json.dumps({"usage": "Casual"}))
    col = list(model.classes_).index("Footwear > Shoes > Sports Shoes")
    assert (model.predict_proba(sports)[:, col] > model.predict_proba(casual)[:, col]).mean() > 0.9
    # a column of the same name (an uploaded CSV) is read the same way as the attribute
    as_column = X.drop(columns="extra").assign(usage="Sports")
    np.testing.assert_allclose(model.predict_proba(as_column), model.predict_proba(sports))


def test_fasttext_treats_a_newline_as_a_space_and_predicts_one_row_per_product(shoes):
    model = FastTextClassifier(leaves=shoes["leaves"], **TINY_FASTTEXT).fit(shoes["X"], shoes["y"])
    one_line = model.predict_proba(pd.DataFrame({"title": ["Nike Men Black Sports Shoes"]}))
    two_lines = model.predict_proba(pd.DataFrame({"title": ["Nike Men Black\nSports Shoes"]}))
    assert one_line.shape == two_lines.shape == (1, len(shoes["leaves"]))
    np.testing.assert_allclose(one_line, two_lines)
    empty = model.predict_proba(pd.DataFrame({"title": [""]}))
    assert empty.shape == (1, len(shoes["leaves"])) and empty.sum() == pytest.approx(1.0)


def test_training_on_a_workspace_reads_attributes_from_ingested_extra(fashion_ws):
    """Ingest keeps fashion's ``usage`` in ``extra``; a run trained on it records the field and
    its saved model, loaded back for shelving, reads ``usage`` from the workspace's products."""
    from workbench.runs.records import get_run, load_predictions
    from workbench.loop.shelving import products_frame
    from workbench.runs.predictor import run_model as load_run_model
    from workbench.runs.training import train_models

    [run_id] = train_models(fashion_ws, ["tfidf"], "random", params={"tfidf": {"fields": ["title", "usage"]}})
    assert get_run(fashion_ws, run_id)["params"]["fields"] == ["title", "usage"]
    preds = load_predictions(fashion_ws, run_id, "test")
    frame = products_frame(fashion_ws, preds.product_ids)
    assert frame["extra"].str.contains('"usage"').mean() > 0.9
    model = load_run_model(fashion_ws, run_id)
    np.testing.assert_allclose(model.predict_proba(frame), preds.proba, atol=1e-6)
    without = model.predict_proba(frame.drop(columns="extra"))
    assert not np.allclose(without, preds.proba)


def test_train_an_ensemble_on_an_attribute_from_the_command_line(fashion_ws, capsys):
    from workbench.cli.main import main

    ws = str(fashion_ws.path)
    assert main(["train", "--models", "ensemble", "--split", "random", "--workspace", ws,
                 "--param", 'ensemble.members={"tfidf": {}, "fasttext": {"epoch": 5}}',
                 "--param", 'ensemble.fields=["title", "usage"]']) == 0
    capsys.readouterr()
    assert main(["runs", "--json", "--workspace", ws]) == 0
    run = json.loads(capsys.readouterr().out)[-1]
    assert run["model"] == "ensemble" and run["split"] == "random"
    assert run["params"]["fields"] == ["title", "usage"]
    assert list(run["params"]["members"]) == ["tfidf", "fasttext"]
    assert 0.5 < run["metrics"]["accuracy"] <= 1.0


def test_a_member_clearly_worse_on_validation_is_dropped(shoes, tmp_path):
    X, y, Xv, yv, leaves = shoes["X"], shoes["y"], shoes["X_test"], shoes["y_test"], shoes["leaves"]
    weak = {"epoch": 1, "lr": 0.02, "dim": 8}  # barely trained
    members = {"tfidf": {}, "fasttext": weak}
    model = EnsembleClassifier(members=members, leaves=leaves).fit(X, y, Xv, yv)
    acc = model.member_valid_accuracy_
    assert acc["tfidf"] > acc["fasttext"] + 0.02
    assert model.dropped_ == ["fasttext"] and list(model.models_) == ["tfidf"]
    np.testing.assert_allclose(model.predict_proba(Xv), model.models_["tfidf"].predict_proba(Xv), atol=1e-5)
    assert model.resolved_params()["dropped"] == ["fasttext"]
    loaded = EnsembleClassifier.load(model.save(tmp_path / "ens"))
    assert loaded.dropped_ == ["fasttext"] and list(loaded.models_) == ["tfidf"]
    # switched off, or without validation products, every member votes
    assert len(EnsembleClassifier(members=members, leaves=leaves, drop_margin=None).fit(X, y, Xv, yv).models_) == 2
    assert len(EnsembleClassifier(members=members, leaves=leaves).fit(X, y).models_) == 2
    # members close to each other stay, and the vote is then not below its best member
    close = EnsembleClassifier(members={"tfidf": {}, "fasttext": TINY_FASTTEXT}, leaves=leaves).fit(X, y, Xv, yv)
    vote = float(np.mean(close.predict(Xv) == yv))
    assert vote >= max(close.member_valid_accuracy_[k] for k in close.models_)


def test_a_member_the_probe_drops_is_never_fitted_on_every_product(shoes, tmp_path):
    X, y, Xv, yv, leaves = shoes["X"], shoes["y"], shoes["X_test"], shoes["y_test"], shoes["leaves"]
    members = {"tfidf": {}, "fasttext": {"epoch": 1, "lr": 0.02, "dim": 8}}
    model = EnsembleClassifier(members=members, leaves=leaves, probe_size=200).fit(X, y, Xv, yv)
    resolved = model.resolved_params()
    # the probe (200 of the 450 products) found fasttext clearly worse: only tfidf was fitted on all
    assert model.probed_out_ == ["fasttext"] and list(model.models_) == ["tfidf"]
    assert resolved["probed_out"] == ["fasttext"] and "fasttext" in resolved["dropped"]
    assert resolved["probe_valid_accuracy"]["tfidf"] > resolved["probe_valid_accuracy"]["fasttext"] + 0.02
    np.testing.assert_allclose(model.predict_proba(Xv), model.models_["tfidf"].predict_proba(Xv), atol=1e-5)
    # fewer training products than the probe size: no probe, the full fits decide
    assert EnsembleClassifier(members=members, leaves=leaves).fit(X, y, Xv, yv).probed_out_ == []
