"""A 2-D UMAP of the product embeddings, stored per product for the embedding map.

For a large catalog UMAP is fitted on a random sample (seeded) and every other product is placed
with ``transform``, in chunks; a catalog no larger than the sample is fitted whole.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from workbench.embeddings.embed import load_product_embeddings
from workbench.embeddings.encoder import model_id
from workbench.embeddings.umap_loader import import_umap
from workbench.errors import WorkbenchError
from workbench.store import Workspace
from workbench.store.slices import replace_slice, stored_key

TRANSFORM_CHUNK = 50_000


def fit_projection(matrix: np.ndarray, *, sample: int = 50_000, seed: int = 0, n_neighbors: int = 15,
                   min_dist: float = 0.1, progress: bool = False) -> np.ndarray:
    """2-D coordinates ``(n, 2)`` of the rows of ``matrix``: UMAP (cosine) fitted on at most ``sample`` rows."""
    umap = import_umap()

    n = len(matrix)
    if n < 3:
        raise WorkbenchError(f"a projection needs at least 3 embedded products, got {n}; ingest and embed more")
    if sample < 3:
        raise WorkbenchError(f"sample must be at least 3, got {sample}")
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n, size=sample, replace=False)) if n > sample else np.arange(n)
    neighbours = max(2, min(int(n_neighbors), len(fit_rows) - 1))
    reducer = umap.UMAP(n_components=2, n_neighbors=neighbours, min_dist=min_dist, metric="cosine",
                        random_state=seed, init="spectral" if len(fit_rows) > 10 else "random",
                        verbose=False)
    coords = np.empty((n, 2), dtype=np.float64)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        coords[fit_rows] = reducer.fit_transform(matrix[fit_rows])
        rest = np.setdiff1d(np.arange(n), fit_rows, assume_unique=True)
        if len(rest):
            from tqdm.auto import tqdm

            with tqdm(total=len(rest), unit="product", unit_scale=True, desc="projecting",
                      disable=not progress) as bar:
                for start in range(0, len(rest), TRANSFORM_CHUNK):
                    idx = rest[start: start + TRANSFORM_CHUNK]
                    coords[idx] = reducer.transform(matrix[idx])
                    bar.update(len(idx))
    return coords


def project(ws: Workspace, model: str = "default", sample: int = 50_000, seed: int = 0,
            n_neighbors: int = 15, progress: bool = False) -> pd.DataFrame:
    """Project every embedded product to 2-D and store it in table ``projection`` (replacing this model's rows).

    Returns the stored rows: ``product_id, model, x, y``.
    """
    mid = model_id(model)
    ids, matrix = load_product_embeddings(ws, model)
    t0 = time.perf_counter()
    coords = fit_projection(matrix, sample=sample, seed=seed, n_neighbors=n_neighbors, progress=progress)
    frame = pd.DataFrame({"product_id": ids, "model": mid, "x": coords[:, 0], "y": coords[:, 1]})
    replace_slice(ws, "projection", mid, frame, on_flip=lambda cur: ws.set_meta(
        f"projection_seconds:{mid}", f"{time.perf_counter() - t0:.1f}", cur))
    return frame


def load_projection(ws: Workspace, model: str = "default") -> pd.DataFrame:
    """The stored projection of a model joined with title and category: ``product_id, x, y, title, leaf``."""
    if not ws.has_table("projection"):
        raise WorkbenchError("the workspace has no projection yet; run `workbench project` first")
    frame = ws.df("SELECT pr.product_id, pr.x, pr.y, p.title, p.leaf FROM projection pr "
                  "JOIN products p USING (product_id) WHERE pr.model = ? ORDER BY pr.product_id",
                  [stored_key(ws, "projection", model_id(model))])
    if frame.empty:
        raise WorkbenchError(f"no projection stored for model {model_id(model)}; run `workbench project` first")
    return frame


def map_frame(ws: Workspace, model: str = "default", level: int = 2) -> pd.DataFrame:
    """The stored 2-D projection joined with title, leaf (``category``) and its ancestor at
    ``level`` (``family``), ready for :func:`workbench.plots.embedding.embedding_map`."""
    frame = load_projection(ws, model).rename(columns={"leaf": "category"})
    frame["family"] = frame["category"].map(
        lambda leaf: " > ".join(leaf.split(" > ")[:level]) if isinstance(leaf, str) else None)
    return frame


def neighbour_weights(similarity: np.ndarray, n_iter: int = 32) -> np.ndarray:
    """UMAP's fuzzy membership weights of each row's neighbours (cosine similarities, best
    first): ``exp(-(d - rho) / sigma)`` with ``d = 1 - similarity``, ``rho`` the nearest
    distance and ``sigma`` chosen so the weights of a row sum to ``log2(k)``."""
    distance = np.maximum(1.0 - similarity, 0.0)
    rho = distance[:, :1]
    gap = distance - rho
    target = np.log2(max(distance.shape[1], 2))
    lo = np.zeros((len(distance), 1))
    hi = np.full((len(distance), 1), np.inf)
    sigma = np.ones((len(distance), 1))
    for _ in range(n_iter):  # a vectorised binary search per row
        total = np.exp(-gap / sigma).sum(axis=1, keepdims=True)
        too_big = total > target
        hi = np.where(too_big, sigma, hi)
        lo = np.where(too_big, lo, sigma)
        sigma = np.where(np.isinf(hi), sigma * 2, (lo + hi) / 2)
    return np.exp(-gap / np.maximum(sigma, 1e-12))


def place_by_neighbours(vectors: np.ndarray, anchors: np.ndarray, anchor_coords: np.ndarray, *,
                        k: int = 15, chunk: int = 4096) -> np.ndarray:
    """2-D positions of ``vectors`` (L2-normalised rows) from the fitted ``anchors``: the
    membership-weighted mean of the coordinates of their ``k`` nearest anchors by cosine, as
    UMAP initialises ``transform``. Each row depends only on itself and the anchors, so
    partitions placed on different workers agree with one placed here."""
    k = max(1, min(int(k), len(anchors)))
    out = np.empty((len(vectors), 2), dtype=np.float64)
    anchors = np.asarray(anchors, dtype=np.float32)
    for start in range(0, len(vectors), chunk):
        block = np.asarray(vectors[start: start + chunk], dtype=np.float32)
        sims = block @ anchors.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < len(anchors) else np.tile(
            np.arange(len(anchors)), (len(block), 1))
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        top, top_sims = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_sims, order, axis=1)
        weights = neighbour_weights(top_sims.astype(np.float64))
        weights /= weights.sum(axis=1, keepdims=True)
        out[start: start + len(block)] = np.einsum("nk,nkd->nd", weights, anchor_coords[top])
    return out
