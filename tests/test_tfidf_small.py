"""The tfidf family's small-batch path (what the HTTP API uses for one product) gives the numbers
scikit-learn's fitted pipeline gives, on real titles of two catalogs and on hostile text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.models.base import CategoryClassifier, model_class, product_texts
from workbench.models.tfidf import _decision_matrix
from workbench.models.tfidf_small import SMALL_BATCH



@pytest.fixture(scope="module")
def products(fashion_ws, flipkart_ws) -> pd.DataFrame:
    """2,000 real fashion and 2,000 real Flipkart products (titles, brands, leaves)."""
    return pd.concat([ws.df("SELECT title, brand, leaf FROM products ORDER BY product_id")
                      for ws in (fashion_ws, flipkart_ws)], ignore_index=True).sample(frac=1.0, random_state=0)


def fitted(X, y, **params):
    model = model_class("tfidf")(leaves=sorted(set(y)), **params)
    return model.fit(X, y)


def sklearn_decision(model, X):
    texts = product_texts(X, model.fields)
    return _decision_matrix(model.pipeline_.named_steps["clf"], model.pipeline_.named_steps["tfidf"].transform(texts))


def test_small_batches_match_scikit_learn_on_real_titles(products, tmp_path):
    X = products[["title", "brand"]].reset_index(drop=True)
    y = products["leaf"].to_numpy(dtype=object)
    model = fitted(X.iloc[:3500], y[:3500])
    test = X.iloc[3500:].reset_index(drop=True)
    hostile = pd.DataFrame({"title": ['<img src=x onerror=alert(1)>', '=HYPERLINK("http://x")', "", "   ",
                                      "ÄÖÜ ß naïve café", "Ｆｕｌｌｗｉｄｔｈ ＳＨＯＥＳ", "a" * 5000], "brand": ""})
    for frame in (test, hostile):
        small = model._small_batch()
        assert small is not None
        reference = sklearn_decision(model, frame)
        np.testing.assert_allclose(small.decision(product_texts(frame, model.fields)), reference, atol=1e-5)
        # one product at a time (the API's call) and a large batch (scikit-learn's path) agree
        one = np.vstack([model.predict_proba(frame.iloc[[i]]) for i in range(len(frame))])
        np.testing.assert_allclose(one, model.predict_proba(frame), atol=1e-6)
    assert len(test) > SMALL_BATCH
    # a saved and loaded model rebuilds the path from its own pipeline
    model.save(tmp_path / "m")
    loaded = CategoryClassifier.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(test.iloc[:5]), model.predict_proba(test.iloc[:5]), atol=1e-9)


def test_a_refit_does_not_reuse_the_earlier_fits_features(products):
    X = products[["title"]].reset_index(drop=True)
    y = products["leaf"].to_numpy(dtype=object)
    model = model_class("tfidf")(leaves=sorted(set(y))).fit(X.iloc[:400], y[:400])
    model.predict_proba(X.iloc[:3])
    model.fit(X.iloc[400:1100], y[400:1100])
    np.testing.assert_allclose(model._small_batch().decision(product_texts(X.iloc[1100:1110], model.fields)),
                               sklearn_decision(model, X.iloc[1100:1110]), atol=1e-5)


def test_two_leaves_give_two_columns(products):
    top = products["leaf"].value_counts().index[:2]
    rows = products[products["leaf"].isin(top)].reset_index(drop=True)
    assert len(rows) > 260
    X = rows[["title"]]
    model = fitted(X.iloc[:250], rows["leaf"].to_numpy(dtype=object)[:250])
    np.testing.assert_allclose(model._small_batch().decision(product_texts(X.iloc[250:], model.fields)),
                               sklearn_decision(model, X.iloc[250:]), atol=1e-5)
