"""The 2-D UMAP projection of real fashion products, stored per product for the embedding map."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.store.slices import stored_key
from workbench import Workspace
from workbench.embeddings.embed import embed_products
from workbench.errors import WorkbenchError
from workbench.embeddings.projection import load_projection, project

pytestmark = pytest.mark.slow
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ws(sample_workspace) -> Workspace:
    """200 real fashion products (another seed than test_embed's), embedded."""
    ws = sample_workspace("projection_ws", 200, seed=1)
    embed_products(ws, progress=False)
    return ws


def test_projection_has_one_row_per_product(ws):
    frame = project(ws)
    ids = ws.df("SELECT product_id FROM products ORDER BY product_id")["product_id"].tolist()
    assert sorted(frame["product_id"]) == ids
    assert np.isfinite(frame[["x", "y"]].to_numpy()).all()
    assert ws.scalar("SELECT count(*) FROM projection") == 200
    assert ws.scalar("SELECT count(DISTINCT product_id) FROM projection") == 200
    stored = load_projection(ws)
    assert len(stored) == 200 and stored["leaf"].notna().all()


def test_fitted_on_a_sample_the_rest_are_transformed_and_categories_cluster(ws):
    frame = project(ws, sample=120, seed=0)
    assert len(frame) == 200 and np.isfinite(frame[["x", "y"]].to_numpy()).all()
    assert ws.scalar("SELECT count(*) FROM projection") == 200  # replaced, not appended
    stored = load_projection(ws)
    xy = stored[["x", "y"]].to_numpy()
    leaf = stored["leaf"].to_numpy()
    d = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    np.fill_diagonal(d, np.inf)
    nearest_same = np.mean(leaf[d.argmin(axis=1)] == leaf)
    shares = np.unique(leaf, return_counts=True)[1] / len(leaf)
    chance = float((shares ** 2).sum())
    assert nearest_same > max(3 * chance, chance + 0.2), (nearest_same, chance)


def test_projection_is_reproducible_with_a_seed(ws):
    a = project(ws, seed=3)
    b = project(ws, seed=3)
    np.testing.assert_allclose(a[["x", "y"]].to_numpy(), b[["x", "y"]].to_numpy())


def test_projection_needs_embeddings(tmp_path):
    empty = Workspace(tmp_path / "empty")
    with pytest.raises(WorkbenchError, match="workbench embed"):
        project(empty)


def test_cli_project(ws, capsys):
    from workbench.cli.main import main

    assert main(["project", "--workspace", str(ws.path), "--sample", "150", "--no-progress"]) == 0
    assert "projected 200 products" in capsys.readouterr().out
    assert ws.scalar("SELECT count(*) FROM projection WHERE model = ?",
                     [stored_key(ws, "projection", "all-MiniLM-L6-v2")]) == 200
    assert main(["project", "--workspace", str(ws.path), "--sample", "1"]) == 2
    assert "--sample must be at least 3" in capsys.readouterr().err
