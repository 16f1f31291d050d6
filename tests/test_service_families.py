"""The API's predictor over the model families beside tfidf, on real fashion products (in process).

A served model must answer what the API receives (text fields; ``image_url`` is never fetched, so
no photo), must never open the workspace database (the dashboards hold it, or would be refused
while the API held it), and the min-risk decision rule must give the leaf the review loop gives.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from workbench import Workspace
from workbench.store.lock import WorkspaceLock
from workbench.catalog.taxonomy import Taxonomy
from workbench.models.base import CategoryClassifier, model_class
from workbench.paths import PROJECT_ROOT
from workbench.runs.predictor import Predictor

FASHION = PROJECT_ROOT.parent / "shared" / "datasets" / "fashion"
PHOTOS = FASHION / "images_small"
LEVELS = ["masterCategory", "subCategory", "articleType"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def products() -> pd.DataFrame:
    """360 real products with a photo, of the 8 most common leaves of two departments."""
    df = pd.read_csv(FASHION / "styles.csv", on_bad_lines="skip").dropna(subset=["productDisplayName"])
    df = df[df["masterCategory"].isin(["Apparel", "Footwear"])]
    df["leaf"] = df["masterCategory"] + " > " + df["subCategory"] + " > " + df["articleType"]
    have = {int(name[:-4]) for name in os.listdir(PHOTOS) if name.endswith(".jpg")}
    df = df[df["id"].isin(have)]
    top = df["leaf"].value_counts().index[:8]
    rows = df[df["leaf"].isin(top)].sample(360, random_state=0).reset_index(drop=True)
    return pd.DataFrame({"title": rows["productDisplayName"], "brand": rows["productDisplayName"].str.split().str[0],
                         "image": [str(PHOTOS / f"{i}.jpg") for i in rows["id"]], "leaf": rows["leaf"]})


@pytest.fixture(scope="module")
def cache_ws(tmp_path_factory) -> Workspace:
    """A workspace whose embedding cache the models are trained with (as `workbench train` does)."""
    return Workspace(tmp_path_factory.mktemp("families") / "ws")


def _served(model: CategoryClassifier, folder, ws: Workspace, taxonomy: Taxonomy) -> Predictor:
    """Save, close this process's database connection, and load the model as the API does."""
    model.save(folder)
    ws.close()
    return Predictor.load(folder, folder.name, taxonomy, threshold=0.5)


def _api_products(frame: pd.DataFrame) -> list[dict]:
    return [{"title": t, "brand": b, "image_url": "https://shop.example/p.jpg"}
            for t, b in zip(frame["title"], frame["brand"])]


def _fit(kind: str, params: dict, products: pd.DataFrame, ws: Workspace) -> CategoryClassifier:
    leaves = sorted(products["leaf"].unique())
    X, y = products.drop(columns="leaf"), products["leaf"].to_numpy(dtype=object)
    model = model_class(kind)(leaves=leaves, **params)
    return model.fit(X.iloc[:240], y[:240], X.iloc[240:300], y[240:300])


TINY_NET = dict(hidden=32, n_buckets=2048, max_epochs=4, batch_size=32, lr=3e-2, progress=False,
                semantic_smoothing=0.0, early_stopping_patience=None)


@pytest.mark.parametrize("kind, params", [
    ("zero-shot", {}),
    ("hierarchical", {}),
    ("ensemble", {"members": {"tfidf": {}, "zero-shot": {}}, "weights": "accuracy", "drop_margin": 0.02}),
    ("fusion", {**TINY_NET, "modality_dropout": 0.5}),
    ("xgboost", {"n_estimators": 20, "progress": False}),
])
def test_a_served_family_answers_api_products_without_opening_the_database(kind, params, products, cache_ws,
                                                                           tmp_path, monkeypatch):
    if "workspace" in model_class(kind)().get_params():
        params = {**params, "workspace": str(cache_ws.path)}
    model = _fit(kind, params, products, cache_ws)
    taxonomy = Taxonomy.from_node_ids(sorted(products["leaf"].unique()), LEVELS)
    predictor = _served(model, tmp_path / kind, cache_ws, taxonomy)
    test = products.iloc[300:].reset_index(drop=True)
    turns = []
    take_turn = WorkspaceLock.acquire
    monkeypatch.setattr(WorkspaceLock, "acquire", lambda self, *a, **kw: turns.append(self) or take_turn(self, *a, **kw))
    answers = predictor.predict(_api_products(test), top_k=3)
    assert not turns, "serving a model opened the workspace database"
    assert len(answers) == len(test) and all(len(a["top_k"]) == 3 for a in answers)
    assert all(a["levels"]["masterCategory"] in ("Apparel", "Footwear") for a in answers)
    # the API sends no photo: the answer is the model's answer without one, and better than the majority
    expected = model.predict(test.drop(columns="leaf").assign(image=None))
    assert [a["category"] for a in answers] == list(expected)
    accuracy = np.mean([a["category"] for a in answers] == test["leaf"].to_numpy())
    majority = products["leaf"].iloc[:240].value_counts(normalize=True).iloc[0]
    assert accuracy > majority, (kind, accuracy, majority)
    if kind == "ensemble":
        assert set(model.models_) <= {"tfidf", "zero-shot"} and predictor.model.weights_.sum() == pytest.approx(1)


def test_the_min_risk_rule_chooses_as_the_review_loop_does(products, cache_ws, tmp_path):
    from workbench.evaluate.shelving import shelving_preview

    model = _fit("tfidf", {}, products, cache_ws)
    taxonomy = Taxonomy.from_node_ids(sorted(products["leaf"].unique()), LEVELS)
    predictor = Predictor(model, "tfidf-run", taxonomy, threshold=0.6, overrides={model.classes_[0]: 0.3})
    test = products.iloc[240:].reset_index(drop=True)
    proba = model.predict_proba(test.drop(columns="leaf"))
    for rule in ("argmax", "min-risk"):
        answers = predictor.predict(_api_products(test), top_k=2, decision=rule)
        loop = shelving_preview(list(range(len(test))), proba, classes=model.classes_, taxonomy=taxonomy,
                                threshold=0.6, overrides={model.classes_[0]: 0.3}, decision=rule).frame
        assert [a["category"] for a in answers] == loop["leaf"].tolist()
        assert [a["decision"] for a in answers] == loop["decision"].tolist()
        np.testing.assert_allclose([a["confidence"] for a in answers], loop["confidence"], rtol=1e-6)
        assert {a["decision_rule"] for a in answers} == {rule}
    # a split between two sibling shoes against one shirt: argmax takes the shirt, min-risk a shoe
    split = np.zeros((1, len(model.classes_)))
    col = {leaf: i for i, leaf in enumerate(model.classes_)}
    shoes = [c for c in model.classes_ if c.startswith("Footwear > Shoes")][:2]
    split[0, col["Apparel > Topwear > Tshirts"]], split[0, col[shoes[0]]], split[0, col[shoes[1]]] = 0.4, 0.31, 0.29
    predictor.score = lambda frame: np.repeat(split, len(frame), axis=0)
    one = _api_products(test.iloc[:1])
    assert predictor.predict(one)[0]["category"] == "Apparel > Topwear > Tshirts"
    chosen = predictor.predict(one, decision="min-risk")[0]
    assert chosen["category"] == shoes[0] and chosen["confidence"] == pytest.approx(0.31)
    assert chosen["top_k"][0]["category"] == "Apparel > Topwear > Tshirts"  # the top-k stay by probability
    with pytest.raises(Exception, match="min-risk"):
        predictor.predict(_api_products(test), decision="cheapest")


def test_a_department_run_routes_by_the_department_sent_and_falls_back_without_one(products, cache_ws, tmp_path):
    leaves = sorted(products["leaf"].unique())
    data = products.assign(department=products["leaf"].str.split(" > ").str[0].map({"Apparel": "Clothes",
                                                                                       "Footwear": "Shoes"}))
    X, y = data.drop(columns="leaf"), data["leaf"].to_numpy(dtype=object)
    model = model_class("department")(leaves=leaves, base_kind="tfidf").fit(X.iloc[:240], y[:240])
    taxonomy = Taxonomy.from_node_ids(leaves, LEVELS)
    predictor = _served(model, tmp_path / "department", cache_ws, taxonomy)
    test = data.iloc[300:].reset_index(drop=True)
    sent = [{**p, "department": d} for p, d in zip(_api_products(test), test["department"])]
    routed = [a["category"] for a in predictor.predict(sent)]
    assert routed == list(model.predict(test.drop(columns="leaf")))
    assert all(c.startswith("Footwear") == (d == "Shoes") for c, d in zip(routed, test["department"]))
    unrouted = [a["category"] for a in predictor.predict(_api_products(test))]  # no department: the global model
    assert unrouted == list(model.fallback_model_.predict(test.drop(columns=["leaf", "department"])))
