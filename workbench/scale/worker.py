"""What runs on a Dask worker: tasks that read a Parquet partition from the shared folder,
load the saved model or encoder once per worker process (from files: safetensors / JSON /
skops, never a model pickled through the scheduler), and write their result partition
atomically. A task that is retried (its worker died) writes the same file again, so nothing is
counted twice.
"""

from __future__ import annotations

import json
import os
import resource
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.scale.partitions import atomic_parquet

_CACHE: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def _cached(key: tuple, build):
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = build()
        return _CACHE[key]


def worker_encoder(model: str, device: str, precision: str):
    """The sentence encoder, loaded once per worker process."""
    from workbench.embeddings.encoder import load_encoder

    return _cached(("encoder", model, device, precision), lambda: load_encoder(model, device, precision))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: ``VmHWM`` on Linux (counted from the worker's
    own start; ``ru_maxrss`` survives ``exec`` and would report the parent's peak), else
    ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _stats(partition: str, rows: int, started: float) -> dict[str, Any]:
    return {"partition": partition, "rows": rows, "seconds": time.perf_counter() - started,
            "pid": os.getpid(), "peak_rss_mb": peak_rss_mb()}


def classify_partition(model_dir: str, in_path: str, out_path: str, rules_path: str) -> dict[str, Any]:
    """Predict one partition of products and write its ``classifications`` rows, through the
    one predictor (:class:`workbench.runs.predictor.Predictor`; its cache loads the model once
    per worker process)."""
    from workbench.catalog.taxonomy import Taxonomy
    from workbench.runs.predictor import Predictor

    started = time.perf_counter()
    rules = json.loads(Path(rules_path).read_text())
    taxonomy = Taxonomy.from_node_ids(rules["leaves"], rules["level_names"])
    predictor = Predictor.load(model_dir, rules["run_id"], taxonomy, float(rules["threshold"]), rules["overrides"],
                               detached=False, class_map=rules.get("class_map"))
    frame = pd.read_parquet(in_path)
    rows = predictor.rows(frame["product_id"].astype(str).tolist(), predictor.score(frame),
                          now=pd.Timestamp(rules["now"]).to_pydatetime(), batch=pd.Timestamp(rules["batch"]).date(),
                          decision=rules.get("decision", "argmax"))
    atomic_parquet(rows, Path(out_path))
    return _stats(Path(in_path).name, len(rows), started)


def embed_partition(in_path: str, out_path: str, model: str, device: str, precision: str,
                    batch_size: int | None) -> dict[str, Any]:
    """Encode one partition of ``(text_hash, text)`` rows; writes the vectors (``.npy``) beside
    their hashes (Parquet)."""
    from workbench.embeddings.encoder import encode

    started = time.perf_counter()
    frame = pd.read_parquet(in_path)
    vectors = encode(worker_encoder(model, device, precision), frame["text"].tolist(), batch_size=batch_size)
    out = Path(out_path)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.npy")
    np.save(tmp, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
    os.replace(tmp, out.with_suffix(".npy"))
    atomic_parquet(frame[["text_hash"]], out)
    return _stats(Path(in_path).name, len(frame), started)


def place_partition(in_path: str, out_path: str, workspace_path: str, model_id: str, anchors_path: str,
                    coords_path: str, k: int) -> dict[str, Any]:
    """Place one partition of ``(product_id, text_hash)`` rows on the map from the fitted anchors,
    reading the products' vectors from the workspace's embedding cache (read-only)."""
    from workbench.embeddings.embed_cache import EmbeddingCache
    from workbench.embeddings.projection import place_by_neighbours

    started = time.perf_counter()
    anchors = _cached(("anchors", anchors_path), lambda: np.load(anchors_path, allow_pickle=False))
    coords = _cached(("coords", coords_path), lambda: np.load(coords_path, allow_pickle=False))
    frame = pd.read_parquet(in_path)
    vectors = EmbeddingCache(workspace_path, model_id).get(frame["text_hash"].to_numpy(dtype=object))
    placed = place_by_neighbours(vectors, anchors, coords, k=k)
    atomic_parquet(pd.DataFrame({"product_id": frame["product_id"], "x": placed[:, 0], "y": placed[:, 1]}),
                   Path(out_path))
    return _stats(Path(in_path).name, len(frame), started)
