"""The neighbour index of a workspace's labelled, embedded products, as the explanations use it:
where it lives, what it was built from, and when it is rebuilt or refused."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pandas as pd

from workbench.embeddings.neighbour_index import MANIFEST as INDEX_MANIFEST
from workbench.embeddings.neighbour_index import NeighbourIndex
from workbench.errors import WorkbenchError
from workbench.store import Workspace
from workbench.store.slices import stored_key


def index_folder(root: str | Path, model: str = "default") -> Path:
    """Where a workspace's neighbour index of an embedding model lives (``<workspace>/explain/``)."""
    from workbench.embeddings.encoder import model_id

    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id(model))
    return Path(root) / "explain" / f"neighbours-{safe}"


def index_source(ws: Workspace, model: str = "default") -> str:
    """A fingerprint of what a neighbour index is built from: the model, and each labelled,
    embedded product's id, embedded text and label (count and an order-free hash)."""
    from workbench.embeddings.encoder import model_id

    mid = model_id(model)
    if not ws.has_table("product_embeddings"):
        return f"{mid}:0:0"
    n, digest = ws.df(
        "SELECT count(*) AS n, coalesce(bit_xor(hash(pe.product_id || chr(31) || pe.text_hash || chr(31) || p.leaf)), 0) "
        "AS digest FROM product_embeddings pe JOIN products p USING (product_id) "
        "WHERE pe.model = ? AND p.leaf IS NOT NULL", [stored_key(ws, "product_embeddings", mid)]).iloc[0]
    return f"{mid}:{int(n)}:{int(digest)}"


def build_neighbour_index(ws: Workspace, model: str = "default") -> NeighbourIndex:
    """Build (and save) the index of the workspace's labelled, embedded products."""
    from workbench.embeddings.embed import load_product_embeddings
    from workbench.embeddings.encoder import model_id

    with ws.hold():
        source = index_source(ws, model)
        ids, matrix = load_product_embeddings(ws, model)
        meta = ws.df("SELECT product_id, coalesce(title_raw, title) AS title, leaf, image FROM products "
                     "WHERE leaf IS NOT NULL")
    pos = pd.Index(ids.astype(str)).get_indexer(meta["product_id"].astype(str))
    meta = meta[pos >= 0].reset_index(drop=True)
    index = NeighbourIndex.build(matrix[pos[pos >= 0]], meta, model=model_id(model), source=source)
    index.save(index_folder(ws.path, model))
    _CHECKED.pop(str(index_folder(ws.path, model)), None)
    return index


_INDEXES: dict[str, tuple[int, NeighbourIndex]] = {}
_INDEX_LOCK = threading.Lock()
#: folder -> (the workspace's change counter when last compared, whether the index was current)
_CHECKED: dict[str, tuple[str, bool]] = {}
#: an index over fewer vectors than this is rebuilt at once when its embeddings or labels changed;
#: a larger one (minutes to build) is refused with :data:`STALE_INDEX` until rebuilt
REBUILD_BELOW = 50_000
STALE_INDEX = ("the neighbour index is out of date (products were embedded again, with another encoder, or "
               "relabelled since it was built); rebuild it with `workbench explain --build-index`")


def load_neighbour_index(root: str | Path, model: str = "default") -> NeighbourIndex | None:
    """The saved index of a workspace folder (once per process, again when rebuilt), or ``None``
    when none was built (the API reads it this way: never the database)."""
    folder = index_folder(root, model)
    manifest = folder / INDEX_MANIFEST
    if not manifest.exists():
        return None
    stamp = manifest.stat().st_mtime_ns
    with _INDEX_LOCK:
        hit = _INDEXES.get(str(folder))
        if hit is None or hit[0] != stamp:
            hit = (stamp, NeighbourIndex.load(folder))
            _INDEXES[str(folder)] = hit
        return hit[1]


def index_is_current(ws: Workspace, index: NeighbourIndex, model: str = "default") -> bool:
    """Whether ``index`` was built from the workspace's present embeddings and labels (compared
    again only after a write to the workspace)."""
    key = str(index_folder(ws.path, model))
    counter = ws.change_counter()
    hit = _CHECKED.get(key)
    if hit is None or hit[0] != counter:
        hit = (counter, index.source == index_source(ws, model))
        _CHECKED[key] = hit
    return hit[1]


def neighbour_index(ws: Workspace, model: str = "default") -> NeighbourIndex | None:
    """The workspace's index, built on first use when its products are embedded and rebuilt when
    its embeddings or labels changed (below :data:`REBUILD_BELOW` vectors); ``None`` when they
    are not embedded (``workbench embed`` first). A large index that is out of date raises
    :data:`STALE_INDEX` (``workbench explain --build-index``)."""
    found = load_neighbour_index(ws.path, model)
    if found is not None:
        if index_is_current(ws, found, model):
            return found
        if len(found) >= REBUILD_BELOW:
            raise WorkbenchError(STALE_INDEX)
        build_neighbour_index(ws, model)
        return load_neighbour_index(ws.path, model)
    if not ws.has_table("product_embeddings") or not ws.scalar("SELECT count(*) FROM product_embeddings"):
        return None
    build_neighbour_index(ws, model)
    return load_neighbour_index(ws.path, model)


# linear parts of a model ---------------------------------------------------------------------
