"""Embedding on a Dask cluster: the texts the cache lacks go out as Parquet partitions, each
worker loads the encoder once and writes the vectors of its partitions, and this process adds
them to the workspace's embedding cache (its single writer)."""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import pandas as pd

from workbench.embeddings.embed import missing_rows
from workbench.embeddings.embed_cache import EmbeddingCache
from workbench.embeddings.encoder import choose_device, choose_precision, resolve_model_path
from workbench.scale.jobs import ClusterJob
from workbench.scale.partitions import atomic_parquet, new_job, part_name, remove_job
from workbench.scale.worker import embed_partition

ROWS_PER_PART = 20_000


class ClusterEncoder(ClusterJob):
    """An ``encode_missing`` for :func:`workbench.embeddings.embed.embed_products` that encodes
    on a cluster (settings and ``stats``: :class:`workbench.scale.jobs.ClusterJob`), each worker
    on its ``worker_device``."""

    def __init__(self, client, *, rows_per_part: int = ROWS_PER_PART, shared: str | None = None,
                 progress: bool | None = None, echo=None, worker_device: str = "cpu"):
        super().__init__(client, rows_per_part=rows_per_part, shared=shared, progress=progress, echo=echo)
        self.worker_device = worker_device

    def __call__(self, texts: Sequence[str], hashes: np.ndarray, *, model, device, batch_size,
                 cache: EmbeddingCache, progress: bool, precision: str = "auto") -> tuple[np.ndarray, float]:
        todo = missing_rows(hashes, cache)
        if len(todo) == 0:
            return hashes[:0], 0.0
        # workers encode on their own device; the precision is fixed here so every worker agrees
        device = choose_device(self.worker_device)
        precision = choose_precision(device, precision)
        resolve_model_path(model)  # fail here, not on every worker
        job = new_job(cache.workspace_path, "embed", self.shared)
        started = time.perf_counter()
        try:
            arguments = []
            for i, start in enumerate(range(0, len(todo), self.rows_per_part)):
                idx = todo[start: start + self.rows_per_part]
                part = atomic_parquet(pd.DataFrame({"text_hash": hashes[idx], "text": [texts[j] for j in idx]}),
                                      job / "input" / part_name(i))
                arguments.append((str(part), str(job / "output" / part_name(i)), str(model), device, precision,
                                  batch_size))
            for index in self.partitions(embed_partition, arguments, "embed"):
                out = job / "output" / part_name(index)
                cache.add(pd.read_parquet(out)["text_hash"].to_numpy(dtype=object),
                          np.load(out.with_suffix(".npy"), allow_pickle=False))
        finally:
            remove_job(job)
        cache.compact()
        return hashes[todo], time.perf_counter() - started

