"""The ``hierarchical`` family (path-consistent probabilities, compared with flat ``tfidf``) and
``oversample`` (sqrt / balanced) on real fashion products. The shared model contract (clone,
save / load, unseen leaves, seeds) runs for ``hierarchical`` in test_model_contract.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.catalog.taxonomy import Taxonomy
from workbench.errors import WorkbenchError
from workbench.evaluate import accuracy, macro_f1
from workbench.evaluate.severity import error_severity
from workbench.models.base import CategoryClassifier, model_class
from workbench.models.sampling import oversample_counts, oversample_targets
from workbench.paths import PROJECT_ROOT

STYLES = PROJECT_ROOT.parent / "shared" / "datasets" / "fashion" / "styles.csv"


@pytest.fixture(scope="module")
def fashion():
    """2,000 real fashion products (seeded; every leaf of the catalog is a column): 1,300 to
    train, 300 to validate, 400 to test."""
    df = pd.read_csv(STYLES, on_bad_lines="skip").dropna(subset=["productDisplayName"])
    df["leaf"] = df["masterCategory"] + " > " + df["subCategory"] + " > " + df["articleType"]
    leaves = sorted(df["leaf"].unique())
    rows = df.sample(2000, random_state=1).reset_index(drop=True)
    X = pd.DataFrame({"title": rows["productDisplayName"].astype(str)})
    y = rows["leaf"].to_numpy(dtype=object)
    parts = {"train": slice(0, 1300), "valid": slice(1300, 1600), "test": slice(1600, 2000)}
    return {"leaves": leaves, "taxonomy": Taxonomy.from_node_ids(leaves),
            **{k: (X.iloc[v].reset_index(drop=True), y[v]) for k, v in parts.items()}}


@pytest.fixture(scope="module")
def hierarchical(fashion):
    X, y = fashion["train"]
    return model_class("hierarchical")(leaves=fashion["leaves"]).fit(X, y, *fashion["valid"])


def test_probabilities_are_path_consistent(hierarchical, fashion):
    X, _ = fashion["test"]
    taxonomy = fashion["taxonomy"]
    nodes = hierarchical.node_proba(X)
    proba = hierarchical.predict_proba(X)
    np.testing.assert_allclose(nodes[fashion["leaves"]].to_numpy(), proba, atol=1e-9)
    top = sum(nodes[r] for r in taxonomy.roots)
    np.testing.assert_allclose(top, 1.0, atol=1e-9)
    for node in taxonomy.internal_nodes():
        children = sum(nodes[c] for c in taxonomy.children(node))
        np.testing.assert_allclose(nodes[node], children, atol=1e-9, err_msg=node)
        below = proba[:, [fashion["leaves"].index(leaf) for leaf in taxonomy.leaves_under(node)]].sum(axis=1)
        np.testing.assert_allclose(nodes[node], below, atol=1e-9, err_msg=node)
    # a node's mass is the product of the conditionals above it: a leaf is never likelier than its parent
    for leaf in fashion["leaves"][:40]:
        assert (nodes[leaf] <= nodes[taxonomy.parent(leaf)] + 1e-12).all()


def test_hierarchical_is_compared_with_flat_tfidf_on_accuracy_macro_f1_and_severity(hierarchical, fashion):
    X, y = fashion["train"]
    Xt, yt = fashion["test"]
    flat = model_class("tfidf")(leaves=fashion["leaves"]).fit(X, y, *fashion["valid"])
    figures = {}
    for name, model in (("tfidf", flat), ("hierarchical", hierarchical)):
        proba = model.predict_proba(Xt)
        sev = error_severity(yt, proba, classes=fashion["leaves"], taxonomy=fashion["taxonomy"])
        figures[name] = (accuracy(yt, proba, classes=fashion["leaves"]),
                         macro_f1(yt, proba, classes=fashion["leaves"]), sev["mean_error_distance"])
    assert figures["hierarchical"][0] > 0.85 and figures["hierarchical"][0] > figures["tfidf"][0] - 0.03
    assert figures["hierarchical"][1] > 0.5
    assert figures["hierarchical"][2] <= 6  # errors stay within the 2 x depth bound, most near


def test_hierarchical_logreg_heads_and_refusals(fashion):
    X, y = fashion["train"]
    model = model_class("hierarchical")(leaves=fashion["leaves"], classifier="logreg", C=5.0, max_iter=200)
    model.fit(X.iloc[:300], y[:300])
    assert not model.temperatures_  # logistic heads give probabilities themselves
    proba = model.predict_proba(fashion["test"][0])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    with pytest.raises(WorkbenchError, match="unknown hierarchical classifier"):
        model_class("hierarchical")(leaves=fashion["leaves"], classifier="tree").fit(X, y)
    bad = fashion["leaves"] + ["Footwear > Shoes"]  # an inner node passed as a leaf
    with pytest.raises(WorkbenchError, match="has children"):
        model_class("hierarchical")(leaves=bad).fit(X, y)


def test_hierarchical_without_validation_calibrates_out_of_fold(fashion, tmp_path):
    X, y = fashion["train"]
    model = model_class("hierarchical")(leaves=fashion["leaves"]).fit(X.iloc[:400], y[:400])
    assert model.temperatures_ and all(0.001 <= t <= 100 for t in model.temperatures_.values())
    model.save(tmp_path / "h")
    loaded = CategoryClassifier.load(tmp_path / "h")
    np.testing.assert_allclose(loaded.predict_proba(fashion["test"][0]), model.predict_proba(fashion["test"][0]),
                               atol=1e-9)


# oversampling ---------------------------------------------------------------------------------
def test_oversample_counts_follow_the_strategy(fashion):
    _, y = fashion["train"]
    codes = pd.factorize(y)[0]
    per_class = np.bincount(codes)
    for strategy in ("sqrt", "balanced"):
        counts = oversample_counts(codes, strategy, random_state=0)
        assert (counts >= 1).all()
        grown = np.bincount(codes, weights=counts).astype(int)
        np.testing.assert_array_equal(grown, oversample_targets(per_class, strategy))
        for c in range(len(per_class)):  # copies spread evenly over a leaf's products
            assert np.ptp(counts[codes == c]) <= 1
        np.testing.assert_array_equal(counts, oversample_counts(codes, strategy, random_state=0))
    np.testing.assert_array_equal(oversample_targets(per_class, "balanced"), np.full_like(per_class, per_class.max()))
    sqrt = oversample_targets(per_class, "sqrt")
    assert sqrt[per_class.argmax()] == per_class.max()
    assert (sqrt[per_class < per_class.max()] > per_class[per_class < per_class.max()]).any()
    with pytest.raises(WorkbenchError, match="unknown oversample"):
        model_class("fasttext")(leaves=fashion["leaves"], oversample="triple").fit(*fashion["train"])


@pytest.mark.parametrize("kind", ["fasttext", "tfidf"])
def test_oversampling_predicts_rare_leaves_more_often(kind, fashion):
    """fastText repeats rare leaves' lines, tfidf weighs them: either way the rare half of the
    leaves is predicted more often (their recall on the full catalog: benchmarks/RESULTS.md)."""
    X, y = fashion["train"]
    Xt, yt = fashion["test"]
    counts = pd.Series(y).value_counts()
    rare = set(counts[counts <= counts.median()].index)
    params = dict(epoch=10, dim=16) if kind == "fasttext" else dict(class_weight=None)
    plain = model_class(kind)(leaves=fashion["leaves"], **params).fit(X, y)
    over = model_class(kind)(leaves=fashion["leaves"], oversample="balanced", **params).fit(X, y)
    predicted = {name: m.predict(Xt) for name, m in (("plain", plain), ("over", over))}
    rare_predicted = {k: int(np.isin(v, list(rare)).sum()) for k, v in predicted.items()}
    assert rare_predicted["over"] > rare_predicted["plain"], rare_predicted
    assert over.get_params()["oversample"] == "balanced"


# a catalog these were not built on: Flipkart, deep and uneven (leaves at levels 2 and 3) ------
@pytest.mark.slow
def test_hierarchical_min_risk_and_label_issues_on_flipkart(flipkart_ws):
    from workbench.catalog.relabel import load_taxonomy
    from workbench.evaluate.decision import min_risk_leaves
    from workbench.loop.label_issues import find_label_issues
    from workbench.loop.shelving import products_frame
    from workbench.runs.predictor import run_model as load_run_model
    from workbench.runs.evaluation import evaluate_run
    from workbench.runs.records import load_predictions
    from workbench.runs.training import train_models

    ws = flipkart_ws
    taxonomy = load_taxonomy(ws)
    depths = {taxonomy.level(leaf) for leaf in taxonomy.leaves}
    assert len(depths) > 1  # an uneven tree
    flat, tree = train_models(ws, ["tfidf", "hierarchical"], "grouped")
    accuracy = {r: evaluate_run(ws, r)["accuracy"] for r in (flat, tree)}
    assert accuracy[tree] > 0.6 and accuracy[tree] > accuracy[flat] - 0.06, accuracy
    # path-consistent on the uneven tree too
    model = load_run_model(ws, tree)
    preds = load_predictions(ws, tree, "test")
    nodes = model.node_proba(products_frame(ws, preds.product_ids[:100]))
    for node in taxonomy.internal_nodes():
        np.testing.assert_allclose(nodes[node], sum(nodes[c] for c in taxonomy.children(node)), atol=1e-9)
    # min-risk never farther in expectation than the argmax, leaves of uneven depth included
    for run_id in (flat, tree):
        p = load_predictions(ws, run_id, "test")
        D = np.array([[taxonomy.distance(a, b) for b in p.classes] for a in p.classes], dtype=float)
        risk = np.asarray(p.proba, dtype=float) @ D.T
        pick = min_risk_leaves(p.proba, classes=p.classes, taxonomy=taxonomy)
        rows = np.arange(len(pick))
        assert (risk[rows, pick] <= risk[rows, p.proba.argmax(axis=1)] + 1e-9).all()
        m = evaluate_run(ws, run_id, decision="min-risk")
        assert m["family_level"] == 2 and m["decision"] == "min-risk"
    # label issues from a plain run's valid and test predictions (no k-fold here), with a note
    scan = find_label_issues(ws, run_id=flat)
    assert scan.n_products == len(load_predictions(ws, flat, "valid").y_true) + len(preds.y_true)
    assert any("not a k-fold run" in n for n in scan.notes)
    assert (scan.issues["suggested_leaf"] != scan.issues["given_leaf"]).all()
