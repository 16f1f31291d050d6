"""The embedding cache: one vector per (model id, sha1 of the text), so nothing is embedded twice.

Vectors live beside the database in shards under ``<workspace>/embeddings/<model-id>/``: a
shard is ``part-<uuid>.npy`` (float32 ``(n, dim)``, loaded with ``allow_pickle=False``) plus
``part-<uuid>.keys.parquet`` (one ``text_hash``, sha1 hex, per row). This layout was chosen over
a DuckDB ``FLOAT[384]`` table and over Parquet list columns by measurement
(``benchmarks/embed_storage.py``, figures in ``benchmarks/RESULTS.md``): a million vectors load
into numpy many times faster, and a few rows can be read through a memory map.

Writes are atomic: both files are written under temporary names and renamed into place, the
keys file last; a shard exists only once its keys file does, so a failed write leaves the cache
as it was. Shards are never modified, only added; small ones are merged by
:meth:`EmbeddingCache.compact`.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.errors import WorkbenchError

EMBEDDINGS_DIR = "embeddings"
_KEYS_SUFFIX = ".keys.parquet"
_SHARD_GLOB = "part-*" + _KEYS_SUFFIX
# Shards smaller than this are merged once more than MAX_SMALL_SHARDS of them pile up.
SMALL_SHARD_ROWS = 50_000
MAX_SMALL_SHARDS = 16

_KEYS_CACHE: dict[Path, tuple[tuple[int, int], np.ndarray, np.ndarray]] = {}
_KEYS_LOCK = threading.Lock()


def text_hash(text: str) -> str:
    """The cache key of a text: its sha1, hex."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def text_hashes(texts: Iterable[str]) -> np.ndarray:
    """Cache keys of many texts, as an object array of hex strings."""
    sha1 = hashlib.sha1
    return np.array([sha1(t.encode("utf-8")).hexdigest() for t in texts], dtype=object)


def key64(hashes: np.ndarray) -> np.ndarray:
    """The first 64 bits of each sha1 hex as uint64: a fast lookup key, checked against the full hash."""
    if len(hashes) == 0:
        return np.empty(0, dtype=np.uint64)
    raw = bytes.fromhex("".join(h[:16] for h in hashes))
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64)


def model_folder_name(model_id: str) -> str:
    """A file-system-safe folder name for a model id (``BAAI/bge-small`` -> ``BAAI--bge-small``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "--", model_id).strip(".")
    return safe or "model"


def _vectors_path(keys_path: Path) -> Path:
    return keys_path.with_name(keys_path.name[: -len(_KEYS_SUFFIX)] + ".npy")


def _open_vectors(keys_path: Path) -> np.ndarray:
    return np.load(_vectors_path(keys_path), mmap_mode="r", allow_pickle=False)


def _is_run(idx: np.ndarray) -> bool:
    """Whether the indices are consecutive and increasing (a slice)."""
    return len(idx) > 0 and int(idx[-1]) - int(idx[0]) == len(idx) - 1 and bool(np.all(np.diff(idx) == 1))


def _read_vectors(keys_path: Path) -> np.ndarray:
    return np.load(_vectors_path(keys_path), allow_pickle=False)


def _read_vectors_into(keys_path: Path, dest: np.ndarray) -> bool:
    """Read a whole shard straight into ``dest`` (no temporary copy); False if the file does not fit."""
    fmt = np.lib.format
    with open(_vectors_path(keys_path), "rb") as fh:
        version = fmt.read_magic(fh)
        reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = reader(fh)
        if (fortran or dtype != np.dtype("<f4") or shape != dest.shape or dest.dtype != np.float32
                or not dest.flags.c_contiguous):
            return False
        view = memoryview(dest).cast("B")
        got = 0
        while got < len(view):
            n = fh.readinto(view[got:])
            if not n:
                raise WorkbenchError(f"embedding shard {_vectors_path(keys_path)} is truncated; delete it and re-embed")
            got += n
    return True


class EmbeddingCache:
    """Cached embeddings of one model in one workspace."""

    def __init__(self, workspace_path: str | os.PathLike, model_id: str):
        self.model_id = model_id
        self.workspace_path = Path(workspace_path)
        self.folder = Path(workspace_path) / EMBEDDINGS_DIR / model_folder_name(model_id)

    def __repr__(self) -> str:
        return f"EmbeddingCache({self.model_id!r}, {len(self)} vectors)"

    # reading -----------------------------------------------------------------------------
    def shards(self) -> list[Path]:
        """The shards' keys files, in name order."""
        if not self.folder.exists():
            return []
        return sorted(self.folder.glob(_SHARD_GLOB))

    def _shard_keys(self, shard: Path, fast: bool = False) -> np.ndarray:
        """The shard's text hashes (hex strings), or with ``fast`` their :func:`key64`; cached
        per process until the file changes."""
        stat = shard.stat()
        sig = (stat.st_size, stat.st_mtime_ns)
        with _KEYS_LOCK:
            hit = _KEYS_CACHE.get(shard)
        if hit is None or hit[0] != sig:
            keys = pq.read_table(shard, columns=["text_hash"]).column("text_hash").to_numpy(zero_copy_only=False)
            keys = np.asarray(keys, dtype=object)
            hit = (sig, keys, key64(keys))
            with _KEYS_LOCK:
                _KEYS_CACHE[shard] = hit
        return hit[2] if fast else hit[1]

    def _index(self) -> tuple[list[Path], np.ndarray, np.ndarray, pd.Index, np.ndarray | None]:
        """(shards, row offsets, all hashes, a unique 64-bit index, its global rows or None for identity).

        A text cached twice (two writers at once) or a 64-bit collision keeps its first row in
        the index; :meth:`_locate` checks every hit against the full sha1.
        """
        shards = self.shards()
        parts = [self._shard_keys(s) for s in shards]
        offsets = np.cumsum([0] + [len(p) for p in parts])
        hashes = np.concatenate(parts) if parts else np.empty(0, dtype=object)
        keys = (np.concatenate([self._shard_keys(s, fast=True) for s in shards]) if parts
                else np.empty(0, dtype=np.uint64))
        dup = pd.Index(keys).duplicated()
        if dup.any():
            rows = np.flatnonzero(~dup)
            return shards, offsets, hashes, pd.Index(keys[rows]), rows
        return shards, offsets, hashes, pd.Index(keys), None

    def keys(self) -> pd.Index:
        """Every cached text hash (hex)."""
        return pd.Index(self._index()[2])

    def __len__(self) -> int:
        return int(pd.Index(self._index()[2]).nunique())

    def _locate(self, hashes: np.ndarray, keys: np.ndarray | None = None
                ) -> tuple[list[Path], np.ndarray, np.ndarray]:
        """(shards, offsets, global row of each hash or -1), exact on the full sha1.

        ``keys``: the hashes' :func:`key64` when the caller already has them.
        """
        shards, offsets, cached, index, rows = self._index()
        if len(cached) == 0:
            return shards, offsets, np.full(len(hashes), -1, dtype=np.int64)
        pos = index.get_indexer(key64(hashes) if keys is None else keys).astype(np.int64)
        hit = pos >= 0
        if rows is not None:
            pos[hit] = rows[pos[hit]]
        exact = np.zeros(len(hashes), dtype=bool)
        exact[hit] = cached[pos[hit]] == hashes[hit]
        doubt = hit & ~exact
        if doubt.any():
            # a 64-bit collision (practically never): resolve these on the full hash strings
            first = ~pd.Index(cached).duplicated()
            found = pd.Index(cached[first]).get_indexer(hashes[doubt])
            pos[doubt] = np.where(found >= 0, np.flatnonzero(first)[np.maximum(found, 0)], -1)
        return shards, offsets, pos

    def contains(self, hashes: Sequence[str]) -> np.ndarray:
        """Boolean mask: which of these hashes are cached."""
        hashes = np.asarray(hashes, dtype=object)
        return self._locate(hashes)[2] >= 0

    def dim(self) -> int | None:
        """The vector length stored for this model, or ``None`` for an empty cache."""
        for shard in self.shards():
            return int(_open_vectors(shard).shape[1])
        return None

    def get(self, hashes: Sequence[str], keys: np.ndarray | None = None) -> np.ndarray:
        """Vectors for these hashes (rows in the same order); every hash must be cached.

        Only the shards that hold a requested hash are read (through a memory map when only a
        few of their rows are wanted). ``keys``: the hashes' :func:`key64`, if already known.
        """
        hashes = np.asarray(hashes, dtype=object)
        dim = self.dim()
        if dim is None:
            if len(hashes):
                raise WorkbenchError(
                    f"no embeddings cached for model {self.model_id}; run `workbench embed` first")
            return np.empty((0, 0), dtype=np.float32)
        shards, offsets, pos = self._locate(hashes, keys)
        if (pos < 0).any():
            raise WorkbenchError(
                f"{int((pos < 0).sum())} texts have no cached embedding for model {self.model_id}; "
                "run `workbench embed` to compute them")
        out = np.empty((len(hashes), dim), dtype=np.float32)
        shard_of = np.searchsorted(offsets, pos, side="right") - 1
        order = np.argsort(shard_of, kind="stable")
        bounds = np.searchsorted(shard_of[order], np.arange(len(shards) + 1))
        for k, shard in enumerate(shards):
            rows = order[bounds[k]: bounds[k + 1]]
            if len(rows) == 0:
                continue
            local = pos[rows] - offsets[k]
            n_shard = offsets[k + 1] - offsets[k]
            whole = len(rows) == n_shard and _is_run(rows) and _is_run(local) and local[0] == 0
            if whole and _read_vectors_into(shard, out[rows[0]: rows[-1] + 1]):
                continue  # the shard read straight into place
            # most of a shard: one sequential read beats page faults through a memory map
            vectors = _open_vectors(shard) if len(rows) < n_shard // 8 else _read_vectors(shard)
            out[rows] = vectors[local]
            del vectors
        return out

    # writing -----------------------------------------------------------------------------
    def add(self, hashes: Sequence[str], matrix: np.ndarray) -> Path | None:
        """Store new vectors as one shard, atomically; returns its keys file."""
        hashes = np.asarray(hashes, dtype=object)
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or len(hashes) != len(matrix):
            raise WorkbenchError(
                f"{len(hashes)} hashes but vectors of shape {matrix.shape}; pass one vector per text")
        if len(hashes) == 0:
            return None
        dim = self.dim()
        if dim is not None and matrix.shape[1] != dim:
            raise WorkbenchError(
                f"model {self.model_id} has {dim}-long vectors in the cache but {matrix.shape[1]} were given; "
                f"use another model id or delete {self.folder}")
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = f"part-{uuid.uuid4().hex}"
        keys_path = self.folder / (stem + _KEYS_SUFFIX)
        vec_path = self.folder / (stem + ".npy")
        tmp_vec = self.folder / f".{stem}.npy.tmp"
        tmp_keys = self.folder / f".{stem}.keys.tmp"
        try:
            with open(tmp_vec, "wb") as fh:
                np.save(fh, matrix, allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
            pq.write_table(pa.table({"text_hash": pa.array(hashes, pa.string())}), tmp_keys)
            os.replace(tmp_vec, vec_path)
            os.replace(tmp_keys, keys_path)  # the shard exists from here on
        except BaseException:
            if not keys_path.exists():
                vec_path.unlink(missing_ok=True)
            raise
        finally:
            tmp_vec.unlink(missing_ok=True)
            tmp_keys.unlink(missing_ok=True)
        return keys_path

    def _remove(self, shard: Path) -> None:
        shard.unlink(missing_ok=True)  # the keys file first: the shard is gone from here on
        _vectors_path(shard).unlink(missing_ok=True)
        with _KEYS_LOCK:
            _KEYS_CACHE.pop(shard, None)

    def compact(self, small_rows: int = SMALL_SHARD_ROWS, max_small: int = MAX_SMALL_SHARDS) -> int:
        """Merge small shards into one when more than ``max_small`` have piled up; returns shards merged.

        The merged shard is in place before the small ones are deleted, so a failure at any point
        leaves every vector readable. Vectors without a keys file (a write that died) are removed.
        """
        shards = self.shards()
        live = {_vectors_path(s) for s in shards}
        if self.folder.exists():
            for orphan in self.folder.glob("part-*.npy"):
                # an hour old: not a shard another process is renaming into place right now
                if orphan not in live and time.time() - orphan.stat().st_mtime > 3600:
                    orphan.unlink(missing_ok=True)
        small = [s for s in shards if len(self._shard_keys(s)) < small_rows]
        if len(small) <= max_small:
            return 0
        keys = np.concatenate([self._shard_keys(s) for s in small])
        vectors = np.concatenate([np.asarray(_open_vectors(s)) for s in small])
        _, first = np.unique(keys, return_index=True)
        first = np.sort(first)
        self.add(keys[first], vectors[first])
        for s in small:
            self._remove(s)
        return len(small)
