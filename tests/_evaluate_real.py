"""Real predictions for the evaluation tests: a quick TF-IDF + logistic regression trained on
real fashion products (label = masterCategory > subCategory > articleType).

Not a test module (no ``test_`` prefix); the evaluation tests import it. When the lead's
``fashion_ws`` fixture exists, the workspace tests can switch to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from workbench.paths import PROJECT_ROOT
from workbench.catalog.taxonomy import Taxonomy, node_id

STYLES = PROJECT_ROOT.parent / "shared" / "datasets" / "fashion" / "styles.csv"
LEVELS = ["masterCategory", "subCategory", "articleType"]


@dataclass(frozen=True)
class RealPredictions:
    """Test-part predictions of a model trained on real products, aligned to the taxonomy."""

    taxonomy: Taxonomy
    classes: np.ndarray
    test_ids: np.ndarray
    test_titles: np.ndarray
    y_test: np.ndarray
    proba_test: np.ndarray
    valid_ids: np.ndarray
    y_valid: np.ndarray
    proba_valid: np.ndarray


def fashion_sample(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """``n`` real fashion products with ``product_id``, ``title`` and ``leaf``."""
    styles = pd.read_csv(STYLES, on_bad_lines="skip", dtype={"id": str})
    styles = styles.dropna(subset=LEVELS + ["productDisplayName"]).sample(n, random_state=seed)
    return pd.DataFrame({"product_id": styles["id"].to_numpy(),
                         "title": styles["productDisplayName"].to_numpy(),
                         "leaf": [node_id(p) for p in styles[LEVELS].itertuples(index=False)]})


@lru_cache(maxsize=1)
def real_predictions(n: int = 1500, seed: int = 0) -> RealPredictions:
    """Train on 1,000 products, predict 200 validation and the remaining test products."""
    sample = fashion_sample(n, seed)
    taxonomy = Taxonomy.from_node_ids(sorted(set(sample["leaf"])), LEVELS)
    classes = np.asarray(taxonomy.leaves, dtype=object)
    train, valid, test = sample.iloc[:1000], sample.iloc[1000:1200], sample.iloc[1200:]
    vec = TfidfVectorizer(sublinear_tf=True)
    model = LogisticRegression(C=10.0, max_iter=200)
    with threadpool_limits(1):  # BLAS threads fight over the 2 shared cores
        model.fit(vec.fit_transform(train["title"]), train["leaf"])
    cols = np.searchsorted(classes, model.classes_)

    def aligned(frame: pd.DataFrame) -> np.ndarray:
        proba = np.zeros((len(frame), len(classes)), dtype=np.float32)
        proba[:, cols] = model.predict_proba(vec.transform(frame["title"]))
        return proba

    return RealPredictions(taxonomy, classes, test["product_id"].to_numpy(dtype=object),
                           test["title"].to_numpy(dtype=object), test["leaf"].to_numpy(dtype=object),
                           aligned(test), valid["product_id"].to_numpy(dtype=object),
                           valid["leaf"].to_numpy(dtype=object), aligned(valid))
