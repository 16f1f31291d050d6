"""Rare leaves predicted through their ancestor (``auto``'s back-off) and the regularisation chosen
on validation, on real fashion products."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.models.base import CategoryClassifier, product_texts
from workbench.models.rare_leaves import (Backoff, ancestor, candidate_min_counts, choose_backoff, fit_backoff,
                                          groups_for)
from workbench.models.tfidf import C_DEFAULT, C_GRID, TfidfClassifier, standard_error


@pytest.fixture(scope="module")
def parts(fashion_ws):
    """The grouped split of 2,000 real fashion products (about 100 leaves, many with a handful)."""
    from workbench.catalog.relabel import load_taxonomy
    from workbench.runs.training import load_training_frame

    frame = load_training_frame(fashion_ws, "grouped", ("catalog", "human"))
    split = {p: frame[frame["part"] == p].reset_index(drop=True) for p in ("train", "valid", "test")}
    return split, list(load_taxonomy(fashion_ws).leaves)


@pytest.fixture(scope="module")
def flat(parts):
    """tfidf with ``C="auto"`` fitted on the training part (validation given)."""
    split, leaves = parts
    train, valid = split["train"], split["valid"]
    return TfidfClassifier(leaves=leaves, C="auto").fit(train, train["leaf"], valid, valid["leaf"])


def codes(classes, labels) -> np.ndarray:
    return np.searchsorted(np.asarray(classes, dtype=object), np.asarray(labels, dtype=object))


def test_rare_leaves_share_a_group_only_with_their_rare_siblings(parts):
    split, leaves = parts
    counts = np.bincount(codes(leaves, split["train"]["leaf"]), minlength=len(leaves))
    m = 5
    group_of, pools = groups_for(leaves, counts, m, depth=1)
    assert pools >= 1
    sizes = np.bincount(group_of)
    for g in np.flatnonzero(sizes >= 2):
        members = [leaves[i] for i in np.flatnonzero(group_of == g)]
        assert len({ancestor(leaf, 1) for leaf in members}) == 1, members  # one parent per group
        assert all(0 < counts[leaves.index(leaf)] < m for leaf in members)  # only rare, seen leaves
    frequent = np.flatnonzero(counts >= m)
    assert (sizes[group_of[frequent]] == 1).all()  # a frequent leaf is its own group
    assert (sizes[group_of[counts == 0]] == 1).all()  # so is a leaf without training products
    # the grandparent pools at least as widely as the parent
    assert groups_for(leaves, counts, m, depth=2)[0].max() <= group_of.max()
    assert ancestor("Apparel > Topwear > Tshirts", 1) == "Apparel > Topwear"
    assert ancestor("Apparel > Topwear > Tshirts", 2) == "Apparel" and ancestor("Apparel", 1) == ""


def test_candidate_min_counts_come_from_the_leaf_sizes():
    counts = np.array([0, 1, 1, 2, 3, 4, 6, 9, 40, 300])
    seen = counts[counts > 0]
    expected = sorted({int(np.ceil(np.quantile(seen, q))) for q in (0.1, 0.25, 0.5)} - {0, 1})
    assert candidate_min_counts(counts) == expected
    # a catalog whose leaves are all large (tokopedia: thousands each) has no rare leaves to try
    assert candidate_min_counts(np.array([1800, 2100, 1500, 2400])) == []


def test_backoff_keeps_every_leaf_and_shares_a_groups_mass_by_the_flat_model(parts, flat):
    split, leaves = parts
    train, valid, test = split["train"], split["valid"], split["test"]
    features = flat.pipeline_.named_steps["tfidf"]
    y = codes(leaves, train["leaf"])
    counts = np.bincount(y, minlength=len(leaves))
    group_of, _ = groups_for(leaves, counts, 5, depth=1)
    model = fit_backoff(features.transform(product_texts(train)), y, group_of, C=0.5, class_weight="balanced",
                        max_iter=2000, random_state=0, valid_matrix=features.transform(product_texts(valid)),
                        valid_y=codes(leaves, valid["leaf"]))
    matrix, p_flat = features.transform(product_texts(test)), flat.predict_proba(test)
    proba = model.proba(matrix, p_flat)
    assert proba.shape == (len(test), len(leaves))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert (proba[:, counts == 0] == 0).all()
    pooled = np.flatnonzero(np.bincount(group_of)[group_of] >= 2)
    g = group_of[pooled[0]]
    members = np.flatnonzero(group_of == g)
    # within a group the leaves keep the flat model's proportions
    ratio = proba[:, members] / np.maximum(proba[:, members].sum(axis=1, keepdims=True), 1e-300)
    flat_ratio = p_flat[:, members] / p_flat[:, members].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ratio, flat_ratio, atol=1e-9)
    assert isinstance(model, Backoff) and model.temperature > 0


def test_the_back_off_is_chosen_on_validation_and_recorded(parts, flat):
    split, leaves = parts
    train, valid = split["train"], split["valid"]
    features = flat.pipeline_.named_steps["tfidf"]
    y, yv = codes(leaves, train["leaf"]), codes(leaves, valid["leaf"])
    keep = np.isin(yv, np.unique(y))
    chosen, record = choose_backoff(features.transform(product_texts(train)), y, np.asarray(leaves, dtype=object),
                                    features.transform(product_texts(valid))[keep], yv[keep],
                                    flat.predict_proba(valid[keep]), C=float(flat.C_), depth_of_tree=3)
    acc, f1 = record["rare_valid_accuracy"], record["rare_valid_macro_f1"]
    tried = [k for k in acc if k != "none"]
    counts = np.bincount(y, minlength=len(leaves))
    assert tried and {int(k.split(",")[0].split("=")[1]) for k in tried} <= set(candidate_min_counts(counts))
    assert any(k.endswith("depth=2") for k in tried)  # fashion is three levels deep
    best = max(tried, key=lambda k: acc[k] + f1[k])
    margin = acc[best] + f1[best] - acc["none"] - f1["none"]
    se = standard_error(acc["none"], int(keep.sum()))
    if chosen is None:
        assert margin <= se + 1e-3 and record["rare_leaves"].startswith("no back-off")
    else:
        assert margin > se - 1e-3 and f"min_count={record['rare_min_count']},depth={record['rare_depth']}" == best
        assert record["rare_leaves"].startswith("backed off to the")


def test_C_is_chosen_on_validation_recorded_and_kept_on_load(parts, flat, tmp_path):
    split, leaves = parts
    r = flat.resolved_params()
    assert r["C"] in C_GRID and flat.C_ == r["C"] and flat.pipeline_.named_steps["clf"].C == r["C"]
    acc = {float(k): v for k, v in r["C_valid_accuracy"].items()}
    assert set(acc) == set(C_GRID)
    n_valid = int(np.isin(split["valid"]["leaf"], split["train"]["leaf"]).sum())
    if r["C"] != C_DEFAULT:  # another value only when clearly better than the default
        assert acc[r["C"]] - acc[C_DEFAULT] > standard_error(acc[r["C"]], n_valid) - 1e-4
    again = CategoryClassifier.load(flat.save(tmp_path / "tfidf-auto-c"))
    assert again.resolved_params() == r
    test = split["test"]
    np.testing.assert_allclose(again.predict_proba(test), flat.predict_proba(test))
    # without validation products there is nothing to choose on: the default, said so
    train = split["train"].iloc[:400]
    alone = TfidfClassifier(leaves=leaves, C="auto").fit(train, train["leaf"])
    assert alone.resolved_params()["C"] == C_DEFAULT and "no validation" in alone.resolved_params()["C_choice"]


def test_an_auto_run_records_C_and_the_rare_leaf_choice(fashion_ws):
    from workbench.runs.records import get_run
    from workbench.runs.run_setup import run_setup
    from workbench.runs.training import train_models

    [run_id] = train_models(fashion_ws, ["auto"], "grouped", params={"auto": {"embedding_model": None, "image_model": None}})
    params = get_run(fashion_ws, run_id)["params"]
    resolved = params["resolved"]
    assert params["C"] == "auto" and params["rare_leaves"] == "auto"
    assert resolved["C"] in C_GRID and "C_valid_accuracy" in resolved
    # class weights are chosen with C: every (C, weights) pair was scored on validation
    assert params["class_weight"] == "auto" and resolved["class_weight"] in ("balanced", "none")
    assert set(resolved["C_valid_accuracy"]) == {f"{c}/{w}" for c in C_GRID for w in ("balanced", "none")}
    assert "rare_valid_accuracy" in resolved and "none" in resolved["rare_valid_accuracy"]
    assert resolved["rare_leaves"].startswith(("backed off", "no back-off"))
    setup = run_setup(params)
    assert f"C={resolved['C']}" in setup and "rare_leaves=" in setup
    assert "valid_accuracy" not in setup and "valid_macro_f1" not in setup  # score tables stay out of the line


def test_a_catalog_of_large_leaves_is_left_flat_and_says_why():
    """Tokopedia's eight leaves hold thousands of products each: nothing is rare, nothing is fitted."""
    import pandas as pd
    from scipy.sparse import csr_matrix

    from workbench.paths import PROJECT_ROOT

    frame = pd.read_csv(PROJECT_ROOT.parent / "shared" / "datasets" / "tokopedia" / "tokopedia_16k.csv")
    classes = np.array(sorted(frame["leaf"].unique()), dtype=object)
    y = np.searchsorted(classes, frame["leaf"].to_numpy(dtype=object))
    matrix = csr_matrix((len(y), 3))
    chosen, record = choose_backoff(matrix, y, classes, matrix[:10], y[:10], np.full((10, len(classes)), 1 / len(classes)),
                                    C=0.5)
    assert chosen is None and record["rare_leaves"].startswith("no back-off: no leaf is rare (the smallest has")
    assert list(record["rare_valid_accuracy"]) == ["none"]
