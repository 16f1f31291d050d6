"""Embed products: their clean text, through the cache, streamed in chunks.

``embed_products(ws)`` renders each product's text from a template (title and brand, and the
description when asked), embeds only the texts the cache does not hold yet, in chunks of
:data:`CHUNK_SIZE` so memory stays flat for a million products, and records which text (hash)
each product was embedded from in the ``product_embeddings`` table. ``load_product_embeddings``
returns the matrix for XGBoost and the embedding map.
"""

from __future__ import annotations

import re
import string
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from workbench.embeddings.embed_cache import EmbeddingCache, text_hashes
from workbench.embeddings.e5_encoder import E5_MODEL, is_e5
from workbench.embeddings.encoder import (DEFAULT_MODEL, choose_device, choose_precision, encode, encoder_device, load_encoder,
                                          model_id, resolve_model_path, role_prefix)
from workbench.errors import WorkbenchError
from workbench.store import Workspace
from workbench.store.slices import replace_slice, stored_key

__all__ = [
    "DEFAULT_MODEL", "DEFAULT_TEMPLATE", "E5_MODEL", "EmbedReport", "cache_hashes", "choose_device", "embed_products",
    "embed_texts", "load_encoder", "load_product_embeddings", "model_id", "render_texts",
    "resolve_model_path",
]

DEFAULT_TEMPLATE = "{title} | {brand}"
DESCRIPTION_PART = " | {description}"
CHUNK_SIZE = 50_000


@dataclass
class EmbedReport:
    """What one ``embed_products`` call did."""

    model: str
    device: str
    total: int            # products in the catalog
    embedded: int         # distinct texts encoded now
    from_cache: int       # products whose text was already in the cache
    seconds: float        # time spent encoding
    template: str
    precision: str = "fp32"

    @property
    def products_per_s(self) -> float:
        """Texts encoded per second while encoding (0 when nothing was encoded)."""
        return self.embedded / self.seconds if self.seconds > 0 and self.embedded else 0.0

    def as_dict(self) -> dict:
        """The report as a plain dict (with products_per_s)."""
        return {**asdict(self), "products_per_s": self.products_per_s}

    def __str__(self) -> str:
        rate = f" at {self.products_per_s:,.0f} products/s" if self.embedded else ""
        return (f"{self.total:,} products, model {self.model} on {self.device} ({self.precision}): embedded "
                f"{self.embedded:,} new texts{rate}, {self.from_cache:,} from the cache")


def _progress_bar(total: int, enabled: bool, desc: str, unit: str = "product"):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, desc=desc, disable=not enabled,
                dynamic_ncols=True, smoothing=0.1)


def missing_rows(hashes: np.ndarray, cache: EmbeddingCache) -> np.ndarray:
    """Positions (sorted) of the first occurrence of each distinct text the cache lacks."""
    uniq_hashes, first = np.unique(hashes, return_index=True)
    return np.sort(first[~cache.contains(uniq_hashes)]) if len(uniq_hashes) else first


def encode_missing_here(texts: Sequence[str], hashes: np.ndarray, *, model, device, batch_size,
                        cache: EmbeddingCache, progress: bool, precision: str = "auto",
                        role: str = "query") -> tuple[np.ndarray, float]:
    """Encode the distinct texts whose hash is not cached, chunk by chunk, into the cache.

    Returns (the hashes encoded now, seconds spent encoding).
    """
    todo = missing_rows(hashes, cache)
    if len(todo) == 0:
        return hashes[:0], 0.0
    encoder = load_encoder(model, device, precision)
    seconds = 0.0
    with _progress_bar(len(todo), progress, f"embedding ({model_id(model)})") as bar:
        for start in range(0, len(todo), CHUNK_SIZE):
            idx = todo[start: start + CHUNK_SIZE]
            t0 = time.perf_counter()
            vectors = encode(encoder, [texts[i] for i in idx], batch_size=batch_size, progress=bar, role=role)
            seconds += time.perf_counter() - t0
            cache.add(hashes[idx], vectors)
            del vectors
    cache.compact()
    return hashes[todo], seconds


def cache_hashes(texts: Sequence[str], model: str = "default", role: str = "query") -> np.ndarray:
    """The cache keys of texts for a model and role: the sha1 of the text as the model reads it
    (with the multilingual encoder's ``"query: "`` / ``"passage: "`` prefix)."""
    prefix = role_prefix(model, role)
    return text_hashes([prefix + t for t in texts] if prefix else texts)


def embed_texts(texts: Sequence[str], model: str = "default", *, device: str | None = None,
                batch_size: int | None = None, workspace: Workspace | None = None,
                progress: bool = False, precision: str = "auto", role: str = "query") -> np.ndarray:
    """Embed texts: float32 ``(n, dim)``, L2-normalised, in input order.

    With ``workspace``, vectors come from and go to its cache, keyed by (model id, sha1 of the
    text); identical texts are encoded once either way. ``precision`` ``"auto"`` is fp16 on
    CUDA, bf16 on CPUs with native bf16, else fp32 (``"fp32"`` forces full precision).
    ``role``: ``"query"`` (products, queries, category neighbours) or ``"passage"`` (category
    names a product is matched against); only the multilingual encoder tells them apart.
    """
    texts = [t if isinstance(t, str) else ("" if t is None else str(t)) for t in texts]
    hashes = cache_hashes(texts, model, role)
    cache = EmbeddingCache(workspace.path, model_id(model)) if workspace is not None else None
    if cache is None:
        uniq, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        encoder = load_encoder(model, device, precision)
        with _progress_bar(len(first), progress, f"embedding ({model_id(model)})") as bar:
            vectors = encode(encoder, [texts[i] for i in first], batch_size=batch_size, progress=bar,
                             role=role)
        return vectors[inverse.reshape(-1)]
    encode_missing_here(texts, hashes, model=model, device=device, batch_size=batch_size,
                        cache=cache, progress=progress, precision=precision, role=role)
    return cache.get(hashes)


# products --------------------------------------------------------------------------------
def _template_fields(template: str) -> list[str]:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise WorkbenchError(f"bad text template {template!r}: {exc}; use fields like '{{title}} | {{brand}}'") from None
    bad = [f for f in fields if not f.isidentifier()]
    if not fields or bad:
        raise WorkbenchError(
            f"text template {template!r} needs plain product columns in braces, e.g. '{{title}} | {{brand}}'")
    return list(dict.fromkeys(fields))


_EMPTY_SEPARATORS = re.compile(r"^[\s|,;:/-]+|[\s|,;:/-]+$")
_REPEATED_SEPARATORS = re.compile(r"(\s*\|\s*){2,}")
_SPACES = re.compile(r"\s+")


def render_texts(frame: pd.DataFrame, template: str = DEFAULT_TEMPLATE) -> list[str]:
    """One text per product row from a template; empty fields and the separators around them drop out."""
    fields = _template_fields(template)
    missing = [f for f in fields if f not in frame.columns]
    if missing:
        raise WorkbenchError(
            f"text template uses {', '.join(missing)} but products have no such column; "
            f"use some of: {', '.join(map(str, frame.columns))}")
    columns = [frame[f].fillna("").astype(str).str.strip().tolist() for f in fields]
    out = []
    fmt = template.format
    for values in zip(*columns):
        text = fmt(**dict(zip(fields, values)))
        text = _REPEATED_SEPARATORS.sub(" | ", text)
        text = _EMPTY_SEPARATORS.sub("", text)
        out.append(_SPACES.sub(" ", text))
    return out


def _product_frame(ws: Workspace, fields: list[str]) -> pd.DataFrame:
    columns = set(ws.df("SELECT column_name FROM information_schema.columns WHERE table_name = 'products'")
                  ["column_name"])
    missing = [f for f in fields if f not in columns]
    if missing:
        raise WorkbenchError(
            f"text template uses {', '.join(missing)} but the products table has no such column; "
            f"use some of: {', '.join(sorted(columns))}")
    cols = ", ".join('"' + f.replace('"', '""') + '"' for f in fields)
    return ws.df(f"SELECT product_id, {cols} FROM products ORDER BY product_id")


def embed_products(ws: Workspace, model: str = "default", template: str = DEFAULT_TEMPLATE,
                   include_description: bool = False, device: str | None = None,
                   batch_size: int | None = None, progress: bool = True,
                   precision: str = "auto", encode_missing=None) -> EmbedReport:
    """Embed every product's clean text; only texts not in the cache are encoded.

    ``model``: ``"default"`` (all-MiniLM-L6-v2), ``"multilingual-e5-small"`` (alias
    ``"multilingual"``; products are embedded as E5 queries) or a sentence-transformers
    name or folder. The text is ``template`` (product columns in braces), plus ``" | {description}"`` when
    ``include_description``. Records each product's text hash in ``product_embeddings``.
    ``encode_missing`` encodes the texts the cache lacks into it (same signature as
    :func:`encode_missing_here`, the default; :mod:`workbench.scale` passes one that uses a cluster).
    """
    if include_description and "{description}" not in template:
        template = template + DESCRIPTION_PART
    fields = _template_fields(template)
    dev = encoder_device(model, device)
    prec = "q4" if is_e5(model) else choose_precision(dev, precision)
    mid = model_id(model)
    resolve_model_path(model)  # fail fast, before reading the catalog
    frame = _product_frame(ws, fields)
    if frame.empty:
        raise WorkbenchError("the workspace has no products; run `workbench ingest` first")
    product_ids = frame["product_id"].to_numpy(dtype=object)
    texts = render_texts(frame, template)
    hashes = cache_hashes(texts, model, "query")
    del frame
    cache = EmbeddingCache(ws.path, mid)
    encoded, seconds = (encode_missing or encode_missing_here)(
        texts, hashes, model=model, device=dev, batch_size=batch_size, cache=cache, progress=progress,
        precision=precision)
    del texts
    _store_mapping(ws, mid, product_ids, hashes, template)
    n_fresh = int(pd.Index(hashes).isin(encoded).sum()) if len(encoded) else 0
    return EmbedReport(model=mid, device=dev, total=len(product_ids), embedded=len(encoded),
                       from_cache=len(product_ids) - n_fresh, seconds=seconds, template=template,
                       precision=prec)


def _store_mapping(ws: Workspace, mid: str, product_ids: np.ndarray, hashes: np.ndarray,
                   template: str) -> None:
    """Replace the model's product -> text hash rows, in short transactions (all at once for readers)."""
    mapping = pd.DataFrame({"product_id": product_ids, "model": mid, "text_hash": hashes, "template": template,
                            "embedded_at": pd.Timestamp.now(tz="UTC").tz_localize(None)})
    replace_slice(ws, "product_embeddings", mid, mapping)


def load_product_embeddings(ws: Workspace, model: str = "default",
                            product_ids: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(product_ids, matrix)``: every embedded product (sorted by id), or the ones asked for, in that order.

    The matrix is float32 ``(n, dim)``, L2-normalised, row i belonging to ``product_ids[i]``.
    """
    mid = model_id(model)
    if not ws.has_table("product_embeddings"):
        raise WorkbenchError("the workspace has no embeddings yet; run `workbench embed` first")
    # key64: the first 64 bits of the sha1 (the cache's lookup key), computed by DuckDB
    mapping = ws.df(
        "SELECT pe.product_id, pe.text_hash, ('0x' || substr(pe.text_hash, 1, 16))::UBIGINT AS key64 "
        "FROM product_embeddings pe SEMI JOIN products p USING (product_id) "
        "WHERE pe.model = ? ORDER BY pe.product_id", [stored_key(ws, "product_embeddings", mid)])
    if mapping.empty:
        raise WorkbenchError(
            f"no products are embedded with model {mid}; run `workbench embed --model {mid}` first")
    if product_ids is not None:
        wanted = pd.Index(np.asarray(list(product_ids), dtype=object).astype(str))
        pos = pd.Index(mapping["product_id"]).get_indexer(wanted)
        if (pos < 0).any():
            missing = wanted[pos < 0]
            raise WorkbenchError(
                f"{len(missing)} products have no {mid} embedding (e.g. {missing[0]!r}); "
                "run `workbench embed` after ingesting them")
        mapping = mapping.iloc[pos]
    ids = mapping["product_id"].to_numpy(dtype=object)
    matrix = EmbeddingCache(ws.path, mid).get(mapping["text_hash"].to_numpy(dtype=object),
                                              keys=mapping["key64"].to_numpy(dtype=np.uint64))
    return ids, matrix
