"""Embed product photos: through the cache, in chunks, every failed photo counted by its reason.

``embed_product_images(ws)`` (``workbench embed --images``) reads each product's ``image`` (a path
relative to ``--images-dir`` or to the catalog file, an absolute path, or a URL fetched only with
``fetch=True``), hashes the bytes, encodes only photos the cache does not hold (keyed by
(image model, sha1 of the bytes), beside the text vectors under ``<workspace>/embeddings/``) and
records per product what happened in table ``product_images``; products whose photo worked also
get a row in ``product_embeddings`` under the image model, so :func:`load_product_embeddings`
and ``workbench project --images`` read image vectors exactly like text vectors.

:func:`embed_images` is the same path for photos that are not in a workspace (an upload, a CSV
of new products): values in, ``(vectors, ok, reasons)`` out. :func:`product_image_vectors` is what
the image and fusion models call: recorded products from the workspace, anything else encoded.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from workbench.embeddings.embed_cache import EmbeddingCache
from workbench.embeddings.image_encoder import (IMAGE_DIM, encode_images, image_model_id, image_model_size,
                                                load_image_encoder)
from workbench.embeddings.image_files import (FETCHED_DIR, NO_IMAGE, ImageProblem, decode_image, image_hash,
                                              read_image_bytes, resolve_image, MAX_BYTES, MAX_PIXELS)
from workbench.errors import WorkbenchError
from workbench.store import Workspace
from workbench.store.slices import delete_slice, new_key, publish, stored_key, write_in_chunks

CHUNK = 4096
OK = "ok"


@dataclass
class ImageVectors:
    """Vectors of a list of photos: ``matrix`` (zeros where there is none), ``ok``, ``reasons``
    (``None`` where the photo worked), ``hashes`` (``None`` where it could not be read)."""

    matrix: np.ndarray
    ok: np.ndarray
    reasons: list
    hashes: list
    encoded: int = 0
    from_cache: int = 0
    seconds: float = 0.0

    def problems(self) -> dict[str, int]:
        """``{reason: count}`` of the photos that did not work (products without one included)."""
        return dict(Counter(r for r in self.reasons if r is not None))


@dataclass
class ImageEmbedReport:
    """What one ``embed_product_images`` call did."""

    model: str
    device: str
    total: int                 # products in the catalog
    with_vector: int           # products that now have an image vector
    embedded: int              # distinct photos encoded now
    from_cache: int            # products whose photo was already cached
    seconds: float             # time spent encoding
    read_seconds: float        # time spent reading, hashing and decoding
    problems: dict[str, int] = field(default_factory=dict)

    @property
    def images_per_s(self) -> float:
        """Photos encoded per second while encoding (0 when nothing was encoded)."""
        return self.embedded / self.seconds if self.seconds > 0 and self.embedded else 0.0

    def as_dict(self) -> dict:
        """The report as a plain dict (with images_per_s)."""
        return {**asdict(self), "images_per_s": self.images_per_s}

    def __str__(self) -> str:
        rate = f" at {self.images_per_s:,.1f} images/s" if self.embedded else ""
        lines = [f"{self.total:,} products, image model {self.model} on {self.device}: "
                 f"{self.with_vector:,} have an image vector; encoded {self.embedded:,} new photos{rate}, "
                 f"{self.from_cache:,} from the cache"]
        for reason, n in sorted(self.problems.items(), key=lambda kv: -kv[1]):
            lines.append(f"  no image vector for {n:,}: {reason}")
        return "\n".join(lines)


def embed_images(values: Sequence, model: str = "default", *, workspace: Workspace | None = None,
                 base_dirs: Sequence[str | Path] = (), fetch: bool = False, device: str | None = None,
                 batch_size: int | None = None, progress: bool = False, max_bytes: int = MAX_BYTES,
                 max_pixels: int = MAX_PIXELS) -> ImageVectors:
    """Image vectors of photos given as paths, URLs or bytes (see the module docstring).

    With ``workspace`` the vectors come from and go to its cache; a photo whose bytes are cached is
    not decoded again. Nothing raises for a bad photo: it gets a reason and a row of zeros.
    """
    mid = image_model_id(model)
    size = image_model_size(mid)
    cache = EmbeddingCache(workspace.path, mid) if workspace is not None else None
    fetch_cache = workspace.path / FETCHED_DIR if workspace is not None else None
    n = len(values)
    matrix = np.zeros((n, IMAGE_DIM), dtype=np.float32)
    reasons: list = [None] * n
    hashes: list = [None] * n
    out = ImageVectors(matrix, np.zeros(n, dtype=bool), reasons, hashes)
    encoder = None
    from workbench.embeddings.embed import _progress_bar

    with _progress_bar(n, progress, f"embedding images ({mid})", unit="image") as bar:
        for start in range(0, n, CHUNK):
            rows = range(start, min(n, start + CHUNK))
            data = {}
            for i in rows:
                try:
                    data[i] = read_image_bytes(resolve_image(values[i], base_dirs), fetch=fetch,
                                               fetch_cache=fetch_cache, max_bytes=max_bytes)
                    hashes[i] = image_hash(data[i])
                except ImageProblem as problem:
                    reasons[i] = problem.reason
            found = list(data)
            keys = np.array([hashes[i] for i in found], dtype=object)
            cached = cache.contains(keys) if cache is not None and len(keys) else np.zeros(len(keys), bool)
            todo: dict[str, list[int]] = {}
            images = {}
            for i, hit in zip(found, cached):
                if hit:
                    continue
                if hashes[i] in todo:
                    todo[hashes[i]].append(i)
                    continue
                try:
                    images[hashes[i]] = decode_image(data[i], max_pixels=max_pixels)
                    todo[hashes[i]] = [i]
                except ImageProblem as problem:
                    reasons[i] = problem.reason
            del data
            bar.update(len(rows) - len(images))
            if images:
                encoder = encoder or load_image_encoder(device)
                t0 = time.perf_counter()
                vectors = encode_images(encoder, list(images.values()), batch_size=batch_size, size=size,
                                        progress=bar)
                out.seconds += time.perf_counter() - t0
                out.encoded += len(images)
                if cache is not None:
                    cache.add(np.array(list(images), dtype=object), vectors)
                for vector, rows_of in zip(vectors, todo.values()):
                    matrix[rows_of] = vector
                    out.ok[rows_of] = True
            hits = [i for i, hit in zip(found, cached) if hit]
            if hits:
                matrix[hits] = cache.get(np.array([hashes[i] for i in hits], dtype=object))
                out.ok[hits] = True
                out.from_cache += len(hits)
    for i in np.flatnonzero(~out.ok):
        reasons[i] = reasons[i] or NO_IMAGE
    if cache is not None:
        cache.compact()
    return out


def catalog_folders(ws: Workspace) -> dict[str, Path]:
    """``{products.source: folder of the catalog file}`` for every ingested source."""
    folders = {}
    for path in ws.df("SELECT path FROM sources")["path"]:
        if path:
            folders[Path(path).name] = Path(path).parent
    return folders


def _source_name(source: str | None) -> str:
    return str(source or "").split(" (sample ", 1)[0]


def embed_product_images(ws: Workspace, model: str = "default", *, images_dir: str | Path | None = None,
                         fetch: bool = False, device: str | None = None, batch_size: int | None = None,
                         progress: bool = True) -> ImageEmbedReport:
    """Embed every product's photo (``workbench embed --images``); see the module docstring."""
    from workbench.embeddings.encoder import choose_device

    dev = choose_device(device)
    mid = image_model_id(model)
    if images_dir is not None and not Path(images_dir).is_dir():
        raise WorkbenchError(f"--images-dir {images_dir} is not a folder; pass the folder the image paths "
                             "are relative to")
    frame = ws.df("SELECT product_id, image, source FROM products ORDER BY product_id")
    if frame.empty:
        raise WorkbenchError("the workspace has no products; run `workbench ingest` first")
    folders = catalog_folders(ws)
    vectors = ImageVectors(np.zeros((0, IMAGE_DIM), np.float32), np.zeros(0, bool), [], [])
    parts = []
    t0 = time.perf_counter()
    for source, group in frame.groupby(frame["source"].map(_source_name), sort=False):
        bases = [b for b in (images_dir, folders.get(source)) if b is not None]
        got = embed_images(group["image"].tolist(), mid, workspace=ws, base_dirs=bases, fetch=fetch,
                           device=dev, batch_size=batch_size, progress=progress)
        parts.append((group, got, bases))
        vectors.encoded += got.encoded
        vectors.from_cache += got.from_cache
        vectors.seconds += got.seconds
    read_seconds = time.perf_counter() - t0 - vectors.seconds
    rows = []
    for group, got, bases in parts:
        for pid, image, ok, reason, h in zip(group["product_id"], group["image"], got.ok, got.reasons, got.hashes):
            where = resolve_image(image, bases)
            rows.append((pid, image, None if where is None else str(where), h if ok else None,
                         OK if ok else reason))
    status = pd.DataFrame(rows, columns=["product_id", "image", "location", "image_hash", "status"])
    _store(ws, mid, status)
    problems = status.loc[status["status"] != OK, "status"].value_counts().to_dict()
    return ImageEmbedReport(model=mid, device=dev, total=len(frame), with_vector=int((status["status"] == OK).sum()),
                            embedded=vectors.encoded, from_cache=vectors.from_cache, seconds=vectors.seconds,
                            read_seconds=read_seconds, problems={str(k): int(v) for k, v in problems.items()})


def _store(ws: Workspace, mid: str, status: pd.DataFrame) -> None:
    """Replace the model's rows in ``product_images`` and ``product_embeddings``: written in short
    transactions under new keys, then both switched in one (readers see both old or both new)."""
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    images_key, embeddings_key = new_key(mid), new_key(mid)
    images = pd.DataFrame({"product_id": status["product_id"], "model": images_key, "image": status["image"],
                           "location": status["location"], "image_hash": status["image_hash"],
                           "status": status["status"], "checked_at": now})
    ok = status[status["status"] == OK]
    embedded = pd.DataFrame({"product_id": ok["product_id"], "model": embeddings_key, "text_hash": ok["image_hash"],
                             "template": "image", "embedded_at": now})
    try:
        write_in_chunks(ws, "product_images", images)
        write_in_chunks(ws, "product_embeddings", embedded)
    except BaseException:
        delete_slice(ws, "product_images", images_key)
        delete_slice(ws, "product_embeddings", embeddings_key)
        raise
    publish(ws, [("product_images", mid, images_key), ("product_embeddings", mid, embeddings_key)])


def image_status(ws: Workspace, model: str = "default") -> pd.DataFrame:
    """Per product: ``product_id, image, location, image_hash, status`` of the last ``embed --images``."""
    if not ws.has_table("product_images"):
        return pd.DataFrame(columns=["product_id", "image", "location", "image_hash", "status"])
    return ws.df("SELECT product_id, image, location, image_hash, status FROM product_images WHERE model = ? "
                 "ORDER BY product_id", [stored_key(ws, "product_images", image_model_id(model))])


def product_image_vectors(products: pd.DataFrame, model: str = "default", *, workspace: str | Path | None = None,
                          images_dir: str | Path | None = None, device: str | None = None,
                          progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(matrix, has_image)`` for the rows of a product frame, as the models read them.

    A row whose ``product_id`` was embedded in the workspace with the same ``image`` value takes its
    recorded vector (no file is read); every other row's ``image`` (path, bytes) is encoded through
    the cache. Rows without a usable photo have a row of zeros and ``has_image`` False.
    """
    n = len(products)
    matrix = np.zeros((n, IMAGE_DIM), dtype=np.float32)
    has = np.zeros(n, dtype=bool)
    if n == 0 or "image" not in products:
        return matrix, has
    ws = Workspace(workspace) if workspace else None
    values = products["image"].tolist()
    todo = np.arange(n)
    if ws is not None and "product_id" in products:
        status = image_status(ws, model)
        if len(status):
            known = status.set_index("product_id")
            pos = known.index.get_indexer(products["product_id"].astype(str))
            recorded = known["image"].astype(str).to_numpy(dtype=object)
            same = np.array([p >= 0 and recorded[p] == str(v) for p, v in zip(pos, values)], dtype=bool)
            okay = same & (known["status"].to_numpy()[np.maximum(pos, 0)] == OK)
            rows = np.flatnonzero(okay)
            if len(rows):
                cache = EmbeddingCache(ws.path, image_model_id(model))
                matrix[rows] = cache.get(known["image_hash"].to_numpy(dtype=object)[pos[rows]])
                has[rows] = True
            todo = np.flatnonzero(~same)
    if len(todo):
        got = embed_images([values[i] for i in todo], model, workspace=ws,
                           base_dirs=[images_dir] if images_dir else (), device=device, progress=progress)
        matrix[todo] = got.matrix
        has[todo] = got.ok
    return matrix, has
