"""Tests of workbench.catalog.taxonomy on a hand-built tree (expected values worked out by hand)."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from workbench.errors import WorkbenchError
from workbench.catalog.taxonomy import Taxonomy, node_id, split_node_id

PATHS = [
    ("Apparel", "Topwear", "Tshirts"),
    ("Apparel", "Topwear", "Shirts"),
    ("Apparel", "Bottomwear", "Jeans"),
    ("Footwear", "Shoes", "Sneakers"),
    ("Footwear", "Sandals"),                 # a leaf one level up
    ("Kids", "Topwear", "Tshirts"),          # same names under another top level
]
TEE = "Apparel > Topwear > Tshirts"
SHIRT = "Apparel > Topwear > Shirts"
JEANS = "Apparel > Bottomwear > Jeans"
SNEAKERS = "Footwear > Shoes > Sneakers"
SANDALS = "Footwear > Sandals"
KIDS_TEE = "Kids > Topwear > Tshirts"


@pytest.fixture
def tax():
    return Taxonomy(PATHS, ["Category", "Family", "Type"])


def test_shape(tax):
    assert len(tax) == 13
    assert tax.depth == 3
    assert tax.roots == ["Apparel", "Footwear", "Kids"]
    assert tax.level_names == ["Category", "Family", "Type"]
    assert Taxonomy(PATHS).level_names == ["level_1", "level_2", "level_3"]
    assert tax.name(KIDS_TEE) == tax.name(TEE) == "Tshirts" and KIDS_TEE != TEE
    assert tax.level(SANDALS) == 2 and tax.level("Kids") == 1
    assert tax.path(SNEAKERS) == ("Footwear", "Shoes", "Sneakers")
    assert split_node_id(node_id(("A", "B"))) == ("A", "B") and split_node_id("") == ()


def test_leaves_sorted_and_independent_of_input_order(tax):
    expected = [JEANS, SHIRT, TEE, SANDALS, SNEAKERS, KIDS_TEE]
    assert tax.leaves == expected
    shuffled = PATHS[:]
    random.Random(0).shuffle(shuffled)
    other = Taxonomy(shuffled)
    assert other.leaves == expected
    assert other.children("Apparel") == tax.children("Apparel")
    assert [tax.leaf_index(leaf) for leaf in expected] == list(range(6))
    with pytest.raises(WorkbenchError, match="not a leaf"):
        tax.leaf_index("Apparel")


def test_parent_children_siblings(tax):
    assert tax.parent(TEE) == "Apparel > Topwear"
    assert tax.parent("Apparel") is None
    assert tax.children("Apparel") == ["Apparel > Bottomwear", "Apparel > Topwear"]
    assert tax.children(None) == ["Apparel", "Footwear", "Kids"]
    assert tax.children(TEE) == []
    assert tax.siblings(TEE) == [SHIRT]
    assert tax.siblings("Apparel") == ["Footwear", "Kids"]
    assert tax.siblings(KIDS_TEE) == []
    assert tax.is_leaf(SANDALS) and not tax.is_leaf("Footwear")


def test_ancestors(tax):
    assert tax.ancestors(TEE) == ["Apparel", "Apparel > Topwear", TEE]
    assert tax.ancestors(TEE, include_self=False) == ["Apparel", "Apparel > Topwear"]
    assert tax.ancestors("Kids", include_self=False) == []
    assert tax.ancestor_at(TEE, 1) == "Apparel"
    assert tax.ancestor_at(TEE, 2) == "Apparel > Topwear"
    assert tax.ancestor_at(TEE, 3) == TEE
    assert tax.ancestor_at(SANDALS, 3) is None
    assert tax.ancestor_at(TEE, 0) is None


def test_lca_and_distance(tax):
    assert tax.lca(TEE, TEE) == TEE
    assert tax.lca(TEE, SHIRT) == "Apparel > Topwear"
    assert tax.lca(TEE, JEANS) == "Apparel"
    assert tax.lca(TEE, "Apparel") == "Apparel"
    assert tax.lca(TEE, KIDS_TEE) is None            # only the root is shared
    assert tax.distance(TEE, TEE) == 0
    assert tax.distance(TEE, SHIRT) == 2             # siblings
    assert tax.distance(TEE, JEANS) == 4
    assert tax.distance(TEE, KIDS_TEE) == 6 == 2 * tax.depth == tax.max_distance()
    assert tax.distance(SANDALS, SNEAKERS) == 3
    assert tax.distance(TEE, "Apparel") == 2
    assert tax.distance(SHIRT, TEE) == tax.distance(TEE, SHIRT)


def test_subtrees_and_levels(tax):
    assert tax.leaves_under("Apparel") == [JEANS, SHIRT, TEE]
    assert tax.leaves_under("Footwear") == [SANDALS, SNEAKERS]
    assert tax.leaves_under(TEE) == [TEE]
    assert tax.nodes_at_level(2) == ["Apparel > Bottomwear", "Apparel > Topwear", SANDALS,
                                     "Footwear > Shoes", "Kids > Topwear"]
    assert tax.internal_nodes() == ["Apparel", "Footwear", "Kids", "Apparel > Bottomwear",
                                    "Apparel > Topwear", "Footwear > Shoes", "Kids > Topwear"]
    assert tax.nodes[:3] == ["Apparel", "Footwear", "Kids"]


def test_to_frame_sums_counts_and_round_trips(tax):
    counts = {TEE: 5, SHIRT: 2, JEANS: 1, SANDALS: 4}
    frame = tax.to_frame(counts)
    assert len(frame) == 13
    n = frame.set_index("node_id")["n_products"]
    assert n["Apparel"] == 8 and n["Apparel > Topwear"] == 7 and n["Apparel > Bottomwear"] == 1
    assert n["Footwear"] == 4 and n["Footwear > Shoes"] == 0 and n["Kids"] == 0
    assert n[TEE] == 5
    row = frame.set_index("node_id").loc[SANDALS]
    assert row["parent_id"] == "Footwear" and row["level"] == 2 and row["level_name"] == "Family"
    assert bool(row["is_leaf"]) is True
    assert frame["parent_id"].isna().sum() == 3

    back = Taxonomy.from_frame(frame.sample(frac=1.0, random_state=0))
    assert back.nodes == tax.nodes
    assert back.leaves == tax.leaves
    assert back.level_names == tax.level_names
    assert all(back.parent(x) == tax.parent(x) for x in tax.nodes)
    pd.testing.assert_frame_equal(
        back.to_frame(counts).sort_values("node_id").reset_index(drop=True),
        frame.sort_values("node_id").reset_index(drop=True))


def test_constructors(tax):
    same = Taxonomy.from_node_ids([TEE, SHIRT, JEANS, SNEAKERS, SANDALS, KIDS_TEE])
    assert same.nodes == tax.nodes
    renamed = tax.with_level_names(["A", "B", "C"])
    assert renamed.level_names == ["A", "B", "C"] and renamed.nodes == tax.nodes
    assert Taxonomy([(" Apparel ", "Topwear ")]).nodes == ["Apparel", "Apparel > Topwear"]


def test_unknown_node_and_bad_input(tax):
    for call in (lambda: tax.parent("Nope"), lambda: tax.children("Apparel > Nope"),
                 lambda: tax.ancestors("Nope"), lambda: tax.lca(TEE, "Nope"),
                 lambda: tax.distance("Nope", TEE), lambda: tax.leaves_under("Apparel > Top"),
                 lambda: tax.ancestor_at("Nope", 1), lambda: tax.to_frame({"Nope": 1})):
        with pytest.raises(WorkbenchError, match="unknown category"):
            call()
    assert "Nope" not in tax and TEE in tax
    with pytest.raises(WorkbenchError, match="empty category name"):
        Taxonomy([("Apparel", "", "Tshirts")])
    with pytest.raises(WorkbenchError, match="at least one"):
        Taxonomy([])
    with pytest.raises(WorkbenchError, match="separator"):
        Taxonomy([("Apparel", "Tops > Tees")])
