"""Semantic neighbours of the real fashion taxonomy's leaves (real model, real names)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from workbench import Workspace
from workbench.embeddings.category_neighbours import (category_text, leaf_neighbours, load_category_neighbours,
                                           neighbour_matrix, store_category_neighbours)
from workbench.catalog.datasets import locate
from workbench.errors import WorkbenchError
from workbench.catalog.taxonomy import Taxonomy

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    """The full fashion tree: masterCategory > subCategory > articleType (about 170 leaves)."""
    styles = pd.read_csv(locate("fashion/styles.csv", download=False), on_bad_lines="skip",
                         usecols=["masterCategory", "subCategory", "articleType"]).dropna()
    paths = (styles["masterCategory"] + " > " + styles["subCategory"] + " > " + styles["articleType"]).unique()
    return Taxonomy.from_node_ids(paths, ["Product Category", "Product Family", "Product Type"])


@pytest.fixture(scope="module")
def neighbours(taxonomy):
    return leaf_neighbours(taxonomy, k=5)


def _name(node: str) -> str:
    return node.split(" > ")[-1]


def test_tshirts_neighbours_are_tops_or_shirts(neighbours):
    near = [_name(n) for n, _ in neighbours["Apparel > Topwear > Tshirts"]]
    assert {"Tops", "Shirts"} & set(near), near
    lips = [_name(n) for n, _ in neighbours["Personal Care > Lips > Lipstick"]]
    assert "Lip Gloss" in lips, lips


def test_neighbours_are_k_other_leaves_best_first(taxonomy, neighbours):
    assert set(neighbours) == set(taxonomy.leaves)
    for leaf, items in neighbours.items():
        names = [n for n, _ in items]
        sims = [s for _, s in items]
        assert len(items) == 5 and leaf not in names and len(set(names)) == 5
        assert set(names) <= set(taxonomy.leaves)
        assert sims == sorted(sims, reverse=True) and sims[0] <= 1.0 + 1e-6


def test_neighbours_stay_closer_in_the_tree_than_chance(taxonomy, neighbours):
    """Meaning agrees with the tree: neighbours share a top-level category far more often than random leaves."""
    top = {leaf: taxonomy.ancestor_at(leaf, 1) for leaf in taxonomy.leaves}
    share_nb = np.mean([top[n] == top[leaf] for leaf, items in neighbours.items() for n, _ in items])
    leaves = taxonomy.leaves
    share_all = np.mean([top[a] == top[b] for a in leaves for b in leaves if a != b])
    assert share_nb > share_all + 0.3


def test_category_text_uses_the_name_and_a_distinct_parent(taxonomy):
    assert category_text(taxonomy, "Apparel > Topwear > Tshirts") == "Tshirts, Topwear"
    assert category_text(taxonomy, "Accessories > Belts > Belts") == "Belts, Accessories"
    assert category_text(taxonomy, "Apparel > Topwear > Tshirts", context_levels=2) == "Tshirts, Topwear, Apparel"


def test_neighbour_matrix_is_row_stochastic_over_the_neighbours(taxonomy, neighbours):
    w = neighbour_matrix(taxonomy, k=5)
    n = len(taxonomy.leaves)
    assert w.shape == (n, n)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(np.diag(w) == 0) and np.all(w >= 0)
    assert np.all((w > 0).sum(axis=1) == 5)
    for i, leaf in enumerate(taxonomy.leaves):
        cols = {taxonomy.leaf_index(nb) for nb, _ in neighbours[leaf]}
        assert set(np.flatnonzero(w[i])) == cols
        # more similar neighbours get at least as much mass
        sims = [s for _, s in neighbours[leaf]]
        masses = [w[i, taxonomy.leaf_index(nb)] for nb, _ in neighbours[leaf]]
        assert masses == sorted(masses, reverse=True) or np.allclose(sims, sims[0])
    sharp = neighbour_matrix(taxonomy, k=5, temperature=0.01)
    flat = neighbour_matrix(taxonomy, k=5, temperature=10.0)
    assert sharp.max(axis=1).mean() > flat.max(axis=1).mean()
    with pytest.raises(WorkbenchError, match="k must be at least 1"):
        neighbour_matrix(taxonomy, k=0)


def test_store_and_load_category_neighbours(tmp_path, taxonomy, neighbours):
    ws = Workspace(tmp_path / "ws")
    frame = store_category_neighbours(ws, taxonomy, k=4)
    n = len(taxonomy.leaves)
    assert len(frame) == n * 4
    stored = ws.df("SELECT leaf, neighbour, rank, similarity FROM category_neighbours")
    assert len(stored) == n * 4 and sorted(stored["rank"].unique()) == [1, 2, 3, 4]
    assert ws.meta("category_neighbours_model") == "all-MiniLM-L6-v2"
    loaded = load_category_neighbours(ws)
    for leaf in taxonomy.leaves:
        assert [nb for nb, _ in loaded[leaf]] == [nb for nb, _ in neighbours[leaf][:4]]
    # storing again replaces the rows, and the leaf texts now come from the workspace cache
    store_category_neighbours(ws, taxonomy, k=2)
    assert ws.scalar("SELECT count(*) FROM category_neighbours") == n * 2
