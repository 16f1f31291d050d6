"""An inverted-file index over stored product embeddings: the nearest labelled products of a
query without scanning every vector.

The vectors (L2-normalised) are grouped by their nearest of ``n_lists`` centroids (spherical
k-means on a sample); a query reads only the ``n_probe`` lists whose centroids are nearest to it
and ranks their vectors by cosine. Below :data:`EXACT_BELOW` vectors there is one list (an exact
search). The index is written as plain ``.npy`` arrays and a Parquet table of the products'
ids, titles and leaves (read with ``allow_pickle=False``: nothing in it can run code), so the
API reads it without opening the workspace database.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError

EXACT_BELOW = 20_000
MANIFEST = "index.json"
_ARRAYS = ("centroids", "vectors", "offsets")


def _normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norm = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norm > 0, norm, 1.0)


def _assign(vectors: np.ndarray, centroids: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    out = np.empty(len(vectors), dtype=np.int32)
    for lo in range(0, len(vectors), chunk):
        out[lo:lo + chunk] = np.argmax(vectors[lo:lo + chunk] @ centroids.T, axis=1)
    return out


def spherical_kmeans(vectors: np.ndarray, n_lists: int, *, iterations: int = 8, seed: int = 0) -> np.ndarray:
    """``n_lists`` unit centroids of unit vectors (k-means on cosine; an empty list keeps a
    random vector)."""
    rng = np.random.default_rng(seed)
    centroids = vectors[rng.choice(len(vectors), n_lists, replace=False)].copy()
    for _ in range(iterations):
        labels = _assign(vectors, centroids)
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, vectors)
        empty = np.bincount(labels, minlength=n_lists) == 0
        sums[empty] = vectors[rng.choice(len(vectors), int(empty.sum()))] if empty.any() else sums[empty]
        centroids = _normalise(sums)
    return centroids


class NeighbourIndex:
    """Labelled products' embeddings grouped by centroid; :meth:`search` returns the nearest."""

    def __init__(self, centroids: np.ndarray, vectors: np.ndarray, offsets: np.ndarray, products: pd.DataFrame,
                 *, model: str = "", build_seconds: float = 0.0, source: str = ""):
        self.centroids = centroids
        self.vectors = vectors
        self.offsets = offsets
        self.products = products.reset_index(drop=True)
        self.model = model
        self.build_seconds = float(build_seconds)
        #: a fingerprint of what the index was built from (its embeddings and labels), to tell when it is stale
        self.source = str(source or "")
        self._ids = self.products["product_id"].astype(str).to_numpy(dtype=object)

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        """The length of the indexed vectors (a query must have the same)."""
        return int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0

    @classmethod
    def build(cls, vectors: np.ndarray, products: pd.DataFrame, *, n_lists: int | None = None,
              sample: int = 65_536, seed: int = 0, model: str = "", source: str = "") -> "NeighbourIndex":
        """An index of ``vectors`` (row i: ``products`` row i, with ``product_id``, ``title``,
        ``leaf`` and optionally ``image``). ``n_lists``: default 1 below :data:`EXACT_BELOW`
        vectors, else ``sqrt(n)`` (at most 4,096)."""
        t0 = time.perf_counter()
        vectors = _normalise(vectors)
        n = len(vectors)
        if n != len(products):
            raise WorkbenchError(f"{n} vectors but {len(products)} products; pass one product row per vector")
        if n_lists is None:
            n_lists = 1 if n < EXACT_BELOW else int(min(4096, np.sqrt(n)))
        n_lists = max(1, min(int(n_lists), n or 1))
        if n_lists == 1 or n == 0:
            centroids = _normalise(vectors.mean(axis=0, keepdims=True)) if n else np.zeros((1, 0), np.float32)
            labels = np.zeros(n, dtype=np.int32)
        else:
            rng = np.random.default_rng(seed)
            pick = rng.choice(n, min(n, max(sample, 32 * n_lists)), replace=False)
            centroids = spherical_kmeans(vectors[pick], n_lists, seed=seed)
            labels = _assign(vectors, centroids)
        order = np.argsort(labels, kind="stable")
        offsets = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=len(centroids)))]).astype(np.int64)
        return cls(centroids.astype(np.float32), vectors[order], offsets,
                   products.iloc[order].reset_index(drop=True), model=model,
                   build_seconds=time.perf_counter() - t0, source=source)

    def search(self, queries: np.ndarray, k: int = 5, *, n_probe: int = 16,
               exclude: Sequence[str | None] | None = None) -> list[list[tuple[int, float]]]:
        """For each query, ``[(row in products, cosine), ...]`` of its ``k`` nearest indexed
        products, best first, reading the ``n_probe`` nearest lists; ``exclude[i]``: a product
        id left out of query i's answer (the product itself)."""
        queries = _normalise(np.atleast_2d(queries))
        if len(self.vectors) and queries.shape[1] != self.dim:
            raise WorkbenchError(f"the neighbour index holds {self.dim}-number vectors of {self.model or 'another model'}, "
                                 f"the query has {queries.shape[1]}: the embeddings changed; rebuild it with "
                                 "`workbench explain --build-index`")
        out = []
        if len(self.vectors) == 0:
            return [[] for _ in queries]
        probe = min(int(n_probe), len(self.centroids))
        near = np.argsort(-(queries @ self.centroids.T), axis=1)[:, :probe]
        for i, q in enumerate(queries):
            # contiguous lists: views, no copy of the vectors read
            lists = [(int(self.offsets[c]), int(self.offsets[c + 1])) for c in sorted(near[i])]
            rows = np.concatenate([np.arange(a, b) for a, b in lists])
            sims = np.concatenate([np.asarray(self.vectors[a:b], dtype=np.float32) @ q for a, b in lists])
            take = min(len(rows), k + 1)
            best = np.argpartition(-sims, take - 1)[:take] if take < len(rows) else np.arange(len(rows))
            best = best[np.argsort(-sims[best], kind="stable")]
            skip = None if exclude is None else exclude[i]
            found = [(int(rows[b]), float(sims[b])) for b in best if skip is None or self._ids[rows[b]] != str(skip)]
            out.append(found[:k])
        return out

    # files ----------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the index to ``folder`` (``.npy`` arrays, ``products.parquet``, ``index.json``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(folder / f"{name}.npy", getattr(self, name), allow_pickle=False)
        self.products.to_parquet(folder / "products.parquet", index=False)
        (folder / MANIFEST).write_text(json.dumps({
            "model": self.model, "n": len(self), "n_lists": len(self.centroids),
            "build_seconds": self.build_seconds, "built_at": time.time(), "source": self.source}), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "NeighbourIndex":
        """An index written by :meth:`save` (no pickles are read)."""
        folder = Path(folder)
        if not (folder / MANIFEST).exists():
            raise WorkbenchError(f"no neighbour index in {folder}; build it with `workbench explain --build-index`")
        meta = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False, mmap_mode="r") for name in _ARRAYS}
        return cls(np.asarray(arrays["centroids"]), arrays["vectors"], np.asarray(arrays["offsets"]),
                   pd.read_parquet(folder / "products.parquet"), model=meta.get("model", ""),
                   build_seconds=meta.get("build_seconds", 0.0), source=meta.get("source", ""))
