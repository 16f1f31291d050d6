"""``auto``'s photo head on real fashion products with photos: chosen on validation and recorded,
a product without a usable photo classified by the text alone, the same answers after save and
load and through the one predictor; the heads' ``C`` by the one-standard-error rule."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.models.base import CategoryClassifier
from workbench.models.head_mixing import HEAD_C_DEFAULT, normalised_rows, one_se_choice
from workbench.models.stacked import AutoClassifier

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def photo_model(fashion_ws):
    """``auto`` over the catalog's usage and colour attributes alone (a text part that says little
    about the category, so the photos have something to add) on 400
    real fashion products with photos, validated on 150: fitted once for the module."""
    from workbench.catalog.relabel import load_taxonomy
    from workbench.runs.training import load_training_frame

    frame = load_training_frame(fashion_ws, "grouped", ("catalog", "human"))
    part = {p: frame[frame["part"] == p].reset_index(drop=True) for p in ("train", "valid", "test")}
    train, valid = part["train"].iloc[:400].reset_index(drop=True), part["valid"].iloc[:150].reset_index(drop=True)
    test = part["test"].iloc[:40].reset_index(drop=True)
    named = train["image"].fillna("").str.endswith(".jpg")
    assert named.mean() > 0.95 and not named.all()  # the built-in catalog's photos, a few products without one
    leaves = list(load_taxonomy(fashion_ws).leaves)
    model = AutoClassifier(leaves=leaves, fields=["usage", "baseColour"], embedding_model=None, rare_leaves=None,
                           probe_size=150, workspace=str(fashion_ws.path))
    model.fit(train, train["leaf"], valid, valid["leaf"])
    return model, valid, test, leaves


def test_the_photo_head_is_chosen_on_validation_and_recorded(photo_model):
    model, valid, _, _ = photo_model
    r = model.resolved_params()
    assert r["photo"] == "kept" and model.photo_ is not None
    from workbench.runs.explain import reads_photos

    assert reads_photos(model) and model.inputs == ("text", "image")  # the Classify page offers a photo
    from workbench.runs.run_setup import run_setup

    setup = run_setup({"resolved": r})  # compare's setup column
    assert f"+ photo (weight {r['photo_weight']})" in setup and "photo_valid_accuracy" not in setup
    assert r["image_model"] == "efficientnet-lite0-80" and 0.95 < r["photo_share"] < 1.0
    assert r["device"] == model.device_ in ("cpu", "cuda")  # the device the photos were encoded on
    # the probe (150 of 400 training products) decided first, then the full head on every usable photo
    assert set(r["photo_probe_valid_accuracy"]) == {"0.0", "0.1", "0.2", "0.35"}
    assert 360 < r["photo_products"] < 400
    scores = r["photo_valid_accuracy"]
    assert r["photo_weight"] == float(max(scores, key=lambda w: (scores[w], -float(w)))) > 0
    assert scores[str(r["photo_weight"])] > scores["0.0"]  # kept because it raised validation accuracy
    # the recorded weight-0 score is the text part alone on the same validation products
    yv = np.searchsorted(model.classes_, valid["leaf"].to_numpy(dtype=object))
    assert scores["0.0"] == round(float(np.mean(model._text_head_proba(valid).argmax(axis=1) == yv)), 4)
    assert r["photo_C"] in (1.0, 10.0, 100.0) and set(r["photo_C_valid_accuracy"]) == {"1.0", "10.0", "100.0"}
    assert r["photo_C"] == one_se_choice({float(c): a for c, a in r["photo_C_valid_accuracy"].items()},
                                         HEAD_C_DEFAULT, len(valid))
    accuracy = float(np.mean(model.predict(valid) == valid["leaf"].to_numpy()))
    assert round(accuracy, 4) == scores[str(r["photo_weight"])]


def test_a_product_without_a_usable_photo_gets_the_text_prediction(photo_model):
    model, _, test, _ = photo_model
    proba = model.predict_proba(test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    text_only = normalised_rows(model._text_head_proba(test))
    assert not np.allclose(proba, text_only)  # the photos moved the probabilities
    broken = test.copy()
    broken.loc[0, "image"] = None
    broken.loc[1, "image"] = ""
    broken.loc[2, "image"] = HOSTILE
    broken.loc[3, "image"] = "/nonexistent/photo.jpg"
    got = model.predict_proba(broken)
    np.testing.assert_allclose(got[:4], text_only[:4], atol=1e-9)  # the text combination, no penalty
    np.testing.assert_allclose(got[4:], proba[4:], atol=1e-9)
    no_column = model.predict_proba(test.drop(columns=["image"]))
    np.testing.assert_allclose(no_column, text_only, atol=1e-9)
    parts = model.member_probabilities(broken)
    assert set(parts) == {"tfidf", "photo"} and (parts["photo"][:4] == 0).all()


def test_saved_and_loaded_model_and_the_predictor_answer_the_same(photo_model, tmp_path, fashion_ws):
    from workbench.catalog.relabel import load_taxonomy
    from workbench.runs.predictor import Predictor

    model, _, test, _ = photo_model
    folder = model.save(tmp_path / "auto-photo")
    assert (folder / "photo.safetensors").exists()
    assert not [p for p in folder.rglob("*") if p.suffix in (".pkl", ".pickle", ".joblib")]
    again = CategoryClassifier.load(folder)
    assert again.resolved_params() == model.resolved_params() and again.photo_weight_ == model.photo_weight_
    np.testing.assert_allclose(again.predict_proba(test), model.predict_proba(test), atol=1e-6)
    # the one road: detached from the workspace (as the API and the workers load it), photos read from their paths
    predictor = Predictor.load(folder, "photo-run", load_taxonomy(fashion_ws), detached=True)
    products = [{"title": t, "extra": e, "image": i} for t, e, i in zip(test["title"], test["extra"], test["image"])]
    extra = '{"usage": "Sports", "baseColour": "Blue"}'
    products.append({"title": "Nike Men Blue Running Shoes", "extra": extra, "image": HOSTILE})
    products.append({"title": "Nike Men Blue Running Shoes", "extra": extra,
                     "image_url": "https://example.com/x.jpg"})
    answers = predictor.predict(products, top_k=1)
    expected = model.classes_[model.predict_proba(test).argmax(axis=1)]
    assert [a["category"] for a in answers[:len(test)]] == list(expected)
    assert answers[-1]["category"] == answers[-2]["category"]  # neither photo usable: the text alone


def test_the_one_standard_error_rule_keeps_the_default_C_unless_another_is_clearly_better():
    # 1,000 validation products: one standard error of 0.95 is about 0.0069
    assert one_se_choice({1.0: 0.952, 10.0: 0.948, 100.0: 0.94}, 10.0, 1000) == 10.0
    assert one_se_choice({1.0: 0.965, 10.0: 0.948, 100.0: 0.94}, 10.0, 1000) == 1.0
    assert one_se_choice({1.0: 0.90, 10.0: 0.90, 100.0: 0.90}, 10.0, 1000) == 10.0
    # the sentence head follows it too (on its probe): recorded with its scores
    assert AutoClassifier().get_params()["head_C"] == "auto"
