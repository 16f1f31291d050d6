"""Splits (determinism, stratification, grouping), path handling and rare-leaf merges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.catalog.catalog_taxonomy import build_catalog_taxonomy, cut_depth, merge_rare, parse_paths, strip_name_nodes
from workbench.catalog.splits import grouped_split, leakage, split_frame, stratified_split


def test_splits_of_the_real_sample_are_deterministic_and_grouped(fashion_ws):
    frame = fashion_ws.df("SELECT product_id, leaf, title_key FROM products ORDER BY product_id")
    a = grouped_split(frame["product_id"], frame["leaf"], frame["title_key"], seed=0)
    b = grouped_split(frame["product_id"][::-1], frame["leaf"][::-1], frame["title_key"][::-1], seed=0)
    assert (a == b[::-1]).all()  # independent of row order
    assert leakage(a, frame["title_key"]) == 0.0
    for _, parts in pd.Series(a).groupby(frame["title_key"].to_numpy()):
        assert parts.nunique() == 1
    c = grouped_split(frame["product_id"], frame["leaf"], frame["title_key"], seed=1)
    assert (a != c).any()
    stored = fashion_ws.df("SELECT product_id, part FROM splits WHERE kind='grouped' ORDER BY product_id")
    assert (stored["part"].to_numpy() == a).all()


def test_stratified_split_keeps_each_leaf_in_proportion():
    ids = [f"p{i}" for i in range(2000)]
    leaves = ["A"] * 1000 + ["B"] * 900 + ["C"] * 100
    parts = stratified_split(ids, leaves, seed=3)
    frame = pd.DataFrame({"leaf": leaves, "part": parts})
    shares = frame.groupby("leaf")["part"].value_counts(normalize=True).unstack()
    assert np.allclose(shares["train"], 0.70, atol=0.011)
    assert np.allclose(shares["test"], 0.15, atol=0.011)
    assert (stratified_split(ids, leaves, seed=3) == parts).all()
    assert stratified_split(["x"], ["Z"])[0] == "train"  # a singleton leaf is trained on


def test_random_split_leaks_on_the_real_sample(fashion_ws):
    frame = fashion_ws.df("SELECT s.part, p.title_key FROM splits s JOIN products p USING (product_id) "
                          "WHERE s.kind = 'random'")
    assert leakage(frame["part"], frame["title_key"]) > 0.05


def test_split_frame_filters_label_sources(fashion_ws):
    everything = split_frame(fashion_ws, "grouped")
    assert set(everything["part"]) == {"train", "valid", "test"}
    assert split_frame(fashion_ws, "grouped", label_sources=["catalog"]).shape == everything.shape
    with pytest.raises(Exception, match="no labelled products"):
        split_frame(fashion_ws, "grouped", label_sources=["human"])


def test_parse_strip_and_cut_flipkart_paths():
    raw = pd.Series(['["Clothing >> Women\'s Clothing >> Shorts >> Alisha Solid Women\'s Cycling Shorts"]',
                     "Furniture >> Sofa Beds >> FabHomeDecor Fabric Double Sofa Bed (Finish Colo...",
                     "Vishudh Printed Women's Straight Kurta"])
    titles = ["Alisha Solid Women's Cycling Shorts", "FabHomeDecor Fabric Double Sofa Bed",
              "Vishudh Printed Women's Straight Kurta"]
    paths = strip_name_nodes(parse_paths(raw, ">>"), titles)
    assert paths == [("Clothing", "Women's Clothing", "Shorts"), ("Furniture", "Sofa Beds"), ()]
    assert cut_depth(paths, 2)[0] == ("Clothing", "Women's Clothing")


def test_rare_leaves_merge_into_parent_or_other_bucket():
    paths = [("A", "B", "x")] * 5 + [("A", "B", "y")] * 3 + [("A", "C", "z")] * 4 + [("A", "C", "w")] + \
            [("D", "E", "f")] + [("D", "E", "g")] + [("Q",)]
    merged, merges = merge_rare(paths, 3, "parent")
    assert merged.count(("A", "B", "y")) == 3                     # frequent enough: kept
    assert merged.count(("A", "C", "Other C")) == 0               # a pool of 1 < 3 moves up ...
    assert ("A", "Other A") not in merged and merges["A > C > w"] == "Other"  # ... and up again
    assert merged.count(("D", "E")) == 0 and merged.count(("Other",)) == 4  # D's family is rare, D itself too
    assert merges["Q"] == "Other"
    assert min(merged.count(p) for p in set(merged)) >= 3  # no leaf under min_count
    # a pool big enough stays with its family
    three = paths + [("A", "C", "v")] * 2  # w (1) and v (2) pool into 3
    assert merge_rare(three, 3, "parent")[0][-1] == ("A", "C", "Other C")
    two_rare = [("A", "B", "x")] * 5 + [("A", "B", "y")] * 2 + [("A", "B", "v")] * 2
    assert merge_rare(two_rare, 3, "parent")[0][-1] == ("A", "B", "Other B")
    only_rare = two_rare[5:]
    assert merge_rare(only_rare, 3, "parent")[0][0] == ("A", "B")          # the family collapses
    assert merge_rare(only_rare, 3, "other")[0][0] == ("A", "B", "Other B")  # depth is kept
    built = build_catalog_taxonomy(paths, min_count=3)
    assert set(built.counts) == set(built.taxonomy.leaves)
    assert sum(built.counts.values()) == len(paths)
