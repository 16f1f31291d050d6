"""The one model interface, checked for every family on real fashion products.

Parametrised over ``tfidf``, ``xgboost``, ``transformer``, ``cnn-lstm``, ``fasttext``,
``ensemble``, ``hierarchical``, ``fusion`` and ``image`` (on the products' real photos) with tiny
configurations: clone / ``get_params``, the not-fitted error, ``fit`` returning ``self``,
probabilities over every taxonomy leaf summing to 1, ``predict`` = labels of the argmax, a
zero column for a leaf unseen in training, ``save`` / ``load`` giving the same probabilities
(with the manifest), and the same seed giving the same output.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from workbench.errors import WorkbenchError
from workbench.models.base import CategoryClassifier, model_class
from workbench.paths import PROJECT_ROOT

STYLES = PROJECT_ROOT.parent / "shared" / "datasets" / "fashion" / "styles.csv"
FLIPKART = PROJECT_ROOT.parent / "shared" / "datasets" / "flipkart" / "flipkart_20k.csv"

KINDS = ["tfidf", "xgboost", "transformer", "cnn-lstm", "fasttext", "ensemble", "hierarchical", "fusion", "image"]
PHOTOS = PROJECT_ROOT.parent / "shared" / "datasets" / "fashion" / "images_small"

# Tiny configurations; keys a family does not have are skipped (see ``make``).
TINY = {
    "tfidf": {},
    "xgboost": dict(n_estimators=12, max_depth=3, early_stopping_rounds=4, n_jobs=1, progress=False),
    "transformer": dict(max_epochs=1, max_length=16, batch_size=32, train_last_n_layers=1,
                        early_stopping_patience=None, num_threads=1, progress=False),
    "cnn-lstm": dict(embedding_dim=16, n_buckets=4096, n_filters=16, lstm_hidden=16, max_length=16,
                     batch_size=32, lr=3e-2, warmup_ratio=0.0, max_epochs=2,
                     early_stopping_patience=None, num_threads=1, progress=False),
    "fasttext": dict(epoch=10, dim=16, maxn=4),
    "ensemble": dict(members={"tfidf": {}, "fasttext": dict(epoch=10, dim=16, maxn=4)}),
    "hierarchical": {},
    "fusion": dict(hidden=32, n_buckets=2048, batch_size=32, max_epochs=3, lr=1e-2, semantic_smoothing=0.0,
                   early_stopping_patience=None, num_threads=1, progress=False),
    "image": dict(hidden=32, batch_size=32, max_epochs=3, lr=1e-2, semantic_smoothing=0.0,
                  early_stopping_patience=None, num_threads=1, progress=False),
}


def _leaf(df: pd.DataFrame) -> pd.Series:
    return df["masterCategory"] + " > " + df["subCategory"] + " > " + df["articleType"]


@pytest.fixture(scope="module")
def catalog():
    """All leaves of the real fashion catalog, and 400 real products of its 12 largest leaves
    (seeded): 300 to train, 100 to predict."""
    df = pd.read_csv(STYLES, on_bad_lines="skip").dropna(subset=["productDisplayName"])
    df["leaf"] = _leaf(df)
    leaves = sorted(df["leaf"].unique())
    top = df["leaf"].value_counts().index[:12]
    rows = df[df["leaf"].isin(top)].sample(400, random_state=0).reset_index(drop=True)
    products = pd.DataFrame({"title": rows["productDisplayName"].astype(str),
                             "brand": rows["productDisplayName"].str.split().str[0],
                             "department": rows["gender"],
                             # the real photo where there is one (a few products have none)
                             "image": [str(PHOTOS / f"{i}.jpg") if (PHOTOS / f"{i}.jpg").exists() else None
                                       for i in rows["id"]]})
    labels = rows["leaf"].to_numpy(dtype=object)
    return {"leaves": leaves, "train": (products.iloc[:300].reset_index(drop=True), labels[:300]),
            "test": (products.iloc[300:].reset_index(drop=True), labels[300:])}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A workspace directory whose embedding cache the xgboost models share."""
    from workbench import Workspace

    return str(Workspace(tmp_path_factory.mktemp("contract_ws")).path)


def make(kind: str, leaves, cache_dir: str, seed: int = 0) -> CategoryClassifier:
    """A tiny unfitted model of ``kind`` over ``leaves``."""
    cls = model_class(kind)
    known = cls().get_params()
    params = {k: v for k, v in TINY[kind].items() if k in known}
    if "workspace" in known:
        params["workspace"] = cache_dir
    return cls(leaves=leaves, random_state=seed, **params)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


_FITTED: dict[str, CategoryClassifier] = {}


@pytest.fixture(params=KINDS)
def fitted(request, catalog, cache_dir):
    """(kind, a tiny model fitted on the 300 training products), fitted once per kind."""
    kind = request.param
    if kind not in _FITTED:
        X, y = catalog["train"]
        _FITTED[kind] = make(kind, catalog["leaves"], cache_dir).fit(X.iloc[:250], y[:250],
                                                                      X.iloc[250:], y[250:])
    return kind, _FITTED[kind]


# the contract ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_clone_and_get_params(kind, catalog, cache_dir):
    model = make(kind, catalog["leaves"], cache_dir, seed=7)
    params = model.get_params()
    assert params["leaves"] == catalog["leaves"] and params["random_state"] == 7
    twin = clone(model)
    assert twin is not model and type(twin) is type(model)
    assert twin.get_params().keys() == params.keys()
    for key, value in params.items():
        assert twin.get_params()[key] == value, key
    twin.set_params(random_state=3)
    assert twin.random_state == 3 and model.random_state == 7
    assert not hasattr(twin, "classes_")


@pytest.mark.parametrize("kind", KINDS + ["department"])
def test_init_stores_exactly_its_parameters(kind):
    """scikit-learn's own checks: ``__init__`` sets every parameter and nothing else, and every
    parameter has a default (each family stores them through ``_store_params(locals())``)."""
    from sklearn.utils.estimator_checks import (check_no_attributes_set_in_init,
                                                check_parameters_default_constructible)

    cls = model_class(kind)
    check_no_attributes_set_in_init(kind, cls())
    check_parameters_default_constructible(kind, cls())
    values = {name: f"value of {name}" for name in cls._get_param_names()}
    assert cls(**values).get_params(deep=False) == values


@pytest.mark.parametrize("kind", KINDS)
def test_not_fitted_error(kind, catalog, cache_dir):
    model = make(kind, catalog["leaves"], cache_dir)
    X, _ = catalog["test"]
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict_proba(X)
    with pytest.raises(NotFittedError):
        model.predict(X)
    with pytest.raises(NotFittedError):
        model.save("unused-directory")


@pytest.mark.parametrize("kind", ["tfidf", "xgboost"])
def test_fit_returns_self(kind, catalog, cache_dir):
    X, y = catalog["train"]
    model = make(kind, catalog["leaves"], cache_dir)
    assert model.fit(X, y) is model
    assert list(model.classes_) == catalog["leaves"]


def test_fit_returns_self_for_every_kind(fitted, catalog):
    kind, model = fitted
    assert isinstance(model, model_class(kind))
    assert list(model.classes_) == catalog["leaves"]


def test_probabilities_cover_every_leaf(fitted, catalog):
    kind, model = fitted
    X, _ = catalog["test"]
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), len(catalog["leaves"]))
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_predict_is_the_label_of_the_argmax(fitted, catalog):
    kind, model = fitted
    X, _ = catalog["test"]
    labels = model.predict(X)
    expected = np.asarray(catalog["leaves"], dtype=object)[model.predict_proba(X).argmax(axis=1)]
    assert list(labels) == list(expected)
    assert all(isinstance(v, str) and v in catalog["leaves"] for v in labels)


def test_a_leaf_unseen_in_training_has_a_column_of_zeros(fitted, catalog):
    kind, model = fitted
    X, y = catalog["test"]
    seen = set(catalog["train"][1][:250])
    unseen = [i for i, leaf in enumerate(catalog["leaves"]) if leaf not in seen]
    assert len(unseen) > 100  # the catalog has far more leaves than the 12 trained on
    proba = model.predict_proba(X)
    assert np.all(proba[:, unseen] == 0.0), f"{kind} gives probability to leaves it never saw"


def test_save_then_load_gives_the_same_probabilities(fitted, catalog, tmp_path):
    from workbench import __version__

    kind, model = fitted
    X, _ = catalog["test"]
    model.save(tmp_path / kind, data_fingerprint="d" * 16, split_fingerprint="s" * 16)
    manifest = json.loads((tmp_path / kind / "manifest.json").read_text())
    assert manifest["kind"] == kind and manifest["classes"] == catalog["leaves"]
    assert manifest["workbench_version"] == __version__
    assert manifest["data_fingerprint"] == "d" * 16 and manifest["split_fingerprint"] == "s" * 16
    assert manifest["params"]["random_state"] == 0
    assert not list((tmp_path / kind).rglob("*.pkl")) and not list((tmp_path / kind).rglob("*.pickle"))
    loaded = CategoryClassifier.load(tmp_path / kind)
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-6)
    assert list(loaded.predict(X)) == list(model.predict(X))


def test_the_same_seed_gives_the_same_output(fitted, catalog, cache_dir):
    kind, model = fitted
    X, y = catalog["train"]
    again = clone(model).fit(X.iloc[:250], y[:250], X.iloc[250:], y[250:])
    Xt, _ = catalog["test"]
    np.testing.assert_allclose(again.predict_proba(Xt), model.predict_proba(Xt), atol=1e-6)


# beyond the shared contract: the non-neural families ---------------------------------------
@pytest.mark.parametrize("kind", ["tfidf", "xgboost", "hierarchical"])
def test_learns_more_than_the_majority_leaf(kind, catalog, cache_dir):
    X, y = catalog["train"]
    Xt, yt = catalog["test"]
    model = make(kind, catalog["leaves"], cache_dir).fit(X, y)
    majority = pd.Series(y).value_counts(normalize=True).iloc[0]
    accuracy = float(np.mean(model.predict(Xt) == yt))
    assert accuracy > majority + 0.3, (kind, accuracy, majority)


def test_tfidf_logistic_regression_head(catalog, cache_dir):
    X, y = catalog["train"]
    Xt, yt = catalog["test"]
    model = make("tfidf", catalog["leaves"], cache_dir).set_params(classifier="logreg", C=10.0).fit(X, y)
    assert float(np.mean(model.predict(Xt) == yt)) > 0.7
    np.testing.assert_allclose(model.predict_proba(Xt).sum(axis=1), 1.0, atol=1e-6)


def test_tfidf_refuses_a_file_with_types_outside_its_allow_list(catalog, cache_dir, tmp_path):
    import skops.io as sio
    from sklearn.tree import DecisionTreeClassifier

    X, y = catalog["train"]
    make("tfidf", catalog["leaves"], cache_dir).fit(X, y).save(tmp_path / "m")
    sio.dump({"seen_classes": np.array([0]), "temperature": 1.0,
              "pipeline": DecisionTreeClassifier()}, tmp_path / "m" / "model.skops")
    with pytest.raises(WorkbenchError, match="allow-list"):
        CategoryClassifier.load(tmp_path / "m")


def test_a_single_training_leaf_predicts_it_everywhere(catalog, cache_dir):
    X, y = catalog["train"]
    leaf = y[0]
    Xt, _ = catalog["test"]
    for kind in ("tfidf", "xgboost"):
        model = make(kind, catalog["leaves"], cache_dir).fit(X[y == leaf], y[y == leaf])
        assert set(model.predict(Xt)) == {leaf}


def test_xgboost_uses_brand_and_price_and_keeps_them_on_reload(cache_dir, tmp_path):
    df = pd.read_csv(FLIPKART, usecols=["product_name", "brand", "retail_price", "category_path"],
                     nrows=3000).dropna(subset=["product_name", "category_path"])
    df["leaf"] = df["category_path"].str.split(" >> ").str[:1].str.join(" > ")
    top = df["leaf"].value_counts().index[:5]
    df = df[df["leaf"].isin(top)].sample(300, random_state=0).reset_index(drop=True)
    X = pd.DataFrame({"title": df["product_name"], "brand": df["brand"], "price": df["retail_price"]})
    y = df["leaf"].to_numpy(dtype=object)
    leaves = sorted(df["leaf"].unique())
    model = make("xgboost", leaves, cache_dir).set_params(brand_top_n=8).fit(X, y)
    brands = model.encoders_["brands"]
    assert len(brands) == 8 and model.encoders_["price"] is True
    counts = X["brand"].dropna().str.strip().str.lower().value_counts()
    assert brands[0] == counts.index[0]
    features = model._features(X)
    assert features.shape[1] == 384 + 8 + 1
    np.testing.assert_allclose(features[:, -1], np.log1p(X["price"].to_numpy(dtype=float)), rtol=1e-6)
    model.save(tmp_path / "xgb")
    loaded = CategoryClassifier.load(tmp_path / "xgb")
    assert loaded.encoders_ == model.encoders_
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-6)
    without = make("xgboost", leaves, cache_dir).set_params(use_brand=False, use_price=False).fit(X, y)
    assert without._features(X).shape[1] == 384


def test_bad_labels_and_lengths_are_clear_errors(catalog, cache_dir):
    X, y = catalog["train"]
    model = make("tfidf", catalog["leaves"], cache_dir)
    with pytest.raises(WorkbenchError, match="not leaves"):
        model.fit(X, np.array(["Not > A > Leaf"] * len(X), dtype=object))
    with pytest.raises(WorkbenchError, match="one label per product"):
        model.fit(X, y[:-1])


def test_xgboost_shows_one_progress_step_per_boosting_round(catalog, cache_dir, capsys):
    X, y = catalog["train"]
    model = make("xgboost", catalog["leaves"], cache_dir).set_params(
        n_estimators=6, early_stopping_rounds=None, progress=True)
    model.fit(X.iloc[:250], y[:250], X.iloc[250:], y[250:])
    err = capsys.readouterr().err
    assert "xgboost rounds" in err and "6/6" in err
    assert model.booster_.num_boosted_rounds() == 6
