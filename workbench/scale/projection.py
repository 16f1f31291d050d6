"""The map's projection of a large catalog, by partitions on a Dask cluster.

UMAP is fitted here on a seeded sample (the same rows and seed as ``workbench project``, so
the sample's coordinates are the in-process ones); every other product is placed on a worker
from its cached vector and its nearest sample products (UMAP's own initialisation of
``transform``: the membership-weighted mean of the neighbours' positions), partition by
partition, and the positions enter the ``projection`` table through this process.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from workbench.embeddings.embed_cache import EmbeddingCache
from workbench.embeddings.encoder import model_id
from workbench.embeddings.projection import fit_projection
from workbench.errors import WorkbenchError
from workbench.scale.jobs import run_partitions
from workbench.scale.partitions import export_query, new_job, part_name, remove_job
from workbench.scale.worker import place_partition
from workbench.store import Workspace
from workbench.store.slices import delete_slice, new_key, publish, stored_key, write_in_chunks

ROWS_PER_PART = 200_000


def project_on_cluster(ws: Workspace, client, model: str = "default", sample: int = 50_000, seed: int = 0,
                       n_neighbors: int = 15, rows_per_part: int = ROWS_PER_PART, shared: str | None = None,
                       progress: bool | None = None, echo=None) -> dict:
    """Fit on a sample here, place the rest on the cluster, store every position; returns
    ``{"products", "sample", "seconds", "partitions": [stats...]}``."""
    mid = model_id(model)
    if not ws.has_table("product_embeddings"):
        raise WorkbenchError("the workspace has no embeddings yet; run `workbench embed` first")
    started = time.perf_counter()
    ids = ws.df("SELECT pe.product_id, pe.text_hash FROM product_embeddings pe SEMI JOIN products p "
                "USING (product_id) WHERE pe.model = ? ORDER BY pe.product_id",
                [stored_key(ws, "product_embeddings", mid)])
    n = len(ids)
    if n < 3:
        raise WorkbenchError(f"a projection needs at least 3 embedded products, got {n}; ingest and embed more")
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n, size=sample, replace=False)) if n > sample else np.arange(n)
    cache = EmbeddingCache(ws.path, mid)
    anchors = cache.get(ids["text_hash"].to_numpy(dtype=object)[fit_rows])
    coords = fit_projection(anchors, sample=len(anchors), seed=seed, n_neighbors=n_neighbors)
    job = new_job(ws.path, "project", shared)
    try:
        np.save(job / "anchors.npy", anchors, allow_pickle=False)
        np.save(job / "coords.npy", coords, allow_pickle=False)
        rest = pd.DataFrame({"row": np.setdiff1d(np.arange(n), fit_rows, assume_unique=True)})
        rest_ids = ids.iloc[rest["row"]].reset_index(drop=True)
        parts = export_query(ws, "SELECT product_id, text_hash FROM rest_ids ORDER BY product_id", [],
                             job / "input", rows_per_part, frames={"rest_ids": rest_ids})
        del rest_ids, rest
        arguments = [(str(p), str(job / "output" / part_name(i)), str(ws.path), mid, str(job / "anchors.npy"),
                      str(job / "coords.npy"), n_neighbors) for i, p in enumerate(parts)]
        stats = [s for _, s in run_partitions(client, place_partition, arguments, name="project",
                                              progress=progress, echo=echo)]
        fitted = pd.DataFrame({"product_id": ids["product_id"].to_numpy()[fit_rows], "x": coords[:, 0],
                               "y": coords[:, 1]})
        key = new_key(mid)  # written in short transactions, shown all at once by publish
        try:
            write_in_chunks(ws, "projection", fitted.assign(model=key)[["product_id", "model", "x", "y"]])
            for i in range(len(parts)):
                with ws.transaction() as cur:
                    cur.execute("INSERT INTO projection SELECT product_id, ?, x, y FROM read_parquet(?)",
                                [key, str(job / "output" / part_name(i))])
            placed = ws.scalar("SELECT count(*) FROM projection WHERE model = ?", [key])
            if placed != n:
                raise WorkbenchError(f"the cluster placed {placed:,} of {n:,} products; nothing was stored: "
                                     "run `workbench project --cluster ...` again")
        except BaseException:
            delete_slice(ws, "projection", key)
            raise
        publish(ws, [("projection", mid, key)], on_flip=lambda cur: ws.set_meta(
            f"projection_seconds:{mid}", f"{time.perf_counter() - started:.1f}", cur))
    finally:
        remove_job(job)
    return {"products": n, "sample": len(fit_rows), "seconds": time.perf_counter() - started, "partitions": stats}
