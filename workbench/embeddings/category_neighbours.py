"""Semantic neighbours of categories: leaves whose names mean nearly the same thing.

Each leaf is embedded from a short text: its name followed by the names of its nearest
ancestors (``"Tshirts, Topwear"``; a parent that repeats the name is skipped). On the fashion
taxonomy this gave the most sensible neighbours of the texts tried (the bare name, the full path
top-down or bottom-up, mixtures of name and path embeddings): ``Tshirts`` -> Shirts, Tops,
Sweatshirts, Sweaters. The full path made every leaf of a family look alike; the bare name lost
the context of ambiguous names.

Used for semantic label smoothing (:func:`neighbour_matrix`) and for error analysis (whether a
wrong prediction is at least a semantic neighbour of the truth, table ``category_neighbours``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.embeddings.embed import embed_texts
from workbench.embeddings.encoder import model_id
from workbench.errors import WorkbenchError
from workbench.store import Workspace
from workbench.store.frames import registered
from workbench.catalog.taxonomy import Taxonomy

CONTEXT_LEVELS = 1


def category_text(taxonomy: Taxonomy, node: str, context_levels: int = CONTEXT_LEVELS) -> str:
    """The text a category is embedded from: its name, then up to ``context_levels`` ancestor names."""
    names = list(reversed(taxonomy.path(node)))
    out = [names[0]]
    for name in names[1:]:
        if len(out) > context_levels:
            break
        if name.casefold() != out[-1].casefold():
            out.append(name)
    return ", ".join(out)


def leaf_embeddings(taxonomy: Taxonomy, model: str = "default", workspace: Workspace | None = None,
                    context_levels: int = CONTEXT_LEVELS, role: str = "query") -> np.ndarray:
    """Embeddings of every leaf's text, rows in ``taxonomy.leaves`` order (L2-normalised).

    ``role`` ``"query"`` compares categories with each other (neighbours, smoothing);
    ``"passage"`` is for matching product texts against them (the multilingual encoder's prefix).
    """
    texts = [category_text(taxonomy, leaf, context_levels) for leaf in taxonomy.leaves]
    return embed_texts(texts, model, workspace=workspace, role=role)


def leaf_similarity(taxonomy: Taxonomy, model: str = "default", workspace: Workspace | None = None,
                    context_levels: int = CONTEXT_LEVELS) -> np.ndarray:
    """Cosine similarity between every pair of leaves, ``(n_leaves, n_leaves)`` in leaf order."""
    emb = leaf_embeddings(taxonomy, model, workspace, context_levels).astype(np.float64)
    return emb @ emb.T


def _top_k(sim: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k most similar other leaves, best first (ties by leaf order)."""
    sim = sim.copy()
    np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1, kind="stable")
    return order[:, :k]


def _check_k(taxonomy: Taxonomy, k: int) -> int:
    if int(k) < 1:
        raise WorkbenchError(f"k must be at least 1, got {k}")
    if len(taxonomy.leaves) < 2:
        raise WorkbenchError("a taxonomy with one leaf has no neighbours; add categories first")
    return min(int(k), len(taxonomy.leaves) - 1)


def leaf_neighbours(taxonomy: Taxonomy, k: int = 5, model: str = "default",
                    workspace: Workspace | None = None) -> dict[str, list[tuple[str, float]]]:
    """Each leaf's ``k`` nearest other leaves by cosine of their embedded texts, best first."""
    k = _check_k(taxonomy, k)
    sim = leaf_similarity(taxonomy, model, workspace)
    top = _top_k(sim, k)
    leaves = taxonomy.leaves
    return {leaf: [(leaves[j], float(sim[i, j])) for j in top[i]] for i, leaf in enumerate(leaves)}


def neighbour_matrix(taxonomy: Taxonomy, k: int = 5, model: str = "default",
                     workspace: Workspace | None = None, temperature: float | None = None) -> np.ndarray:
    """Row-stochastic weights ``(n_leaves, n_leaves)``: row i spreads its mass over leaf i's k neighbours.

    Weights are proportional to the (non-negative) cosine similarity, or a softmax of
    ``similarity / temperature`` when ``temperature`` is given; the diagonal is zero. Rows and
    columns are in ``taxonomy.leaves`` order, the column order of every probability matrix.
    """
    k = _check_k(taxonomy, k)
    if temperature is not None and temperature <= 0:
        raise WorkbenchError(f"temperature must be positive, got {temperature}")
    sim = leaf_similarity(taxonomy, model, workspace)
    top = _top_k(sim, k)
    rows = np.arange(len(sim))[:, None]
    picked = sim[rows, top]
    if temperature is None:
        weights = np.clip(picked, 0.0, None)
        empty = weights.sum(axis=1) <= 0
        weights[empty] = 1.0
    else:
        z = picked / temperature
        weights = np.exp(z - z.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    out = np.zeros_like(sim)
    out[rows, top] = weights
    return out


def store_category_neighbours(ws: Workspace, taxonomy: Taxonomy, k: int = 10,
                              model: str = "default") -> pd.DataFrame:
    """Write every leaf's k semantic neighbours to table ``category_neighbours`` (replacing it).

    Columns ``leaf, neighbour, rank`` (1 = nearest), ``similarity`` (cosine); the model used is
    kept in the workspace meta key ``category_neighbours_model``. Leaf texts go through the
    workspace's embedding cache.
    """
    neighbours = leaf_neighbours(taxonomy, k, model, workspace=ws)
    frame = pd.DataFrame(
        [(leaf, nb, rank, sim) for leaf, items in neighbours.items()
         for rank, (nb, sim) in enumerate(items, start=1)],
        columns=["leaf", "neighbour", "rank", "similarity"])
    frame["rank"] = frame["rank"].astype("int32")
    with ws.transaction() as cur:
        cur.execute("DELETE FROM category_neighbours")
        with registered(cur, "_category_neighbours", frame):
            cur.execute("INSERT INTO category_neighbours SELECT leaf, neighbour, rank, similarity "
                        "FROM _category_neighbours")
        ws.set_meta("category_neighbours_model", model_id(model), cur)
    return frame


def load_category_neighbours(ws: Workspace, k: int | None = None) -> dict[str, list[tuple[str, float]]]:
    """The stored neighbours, leaf -> [(neighbour, similarity), ...] best first (at most ``k``)."""
    if not ws.has_table("category_neighbours"):
        raise WorkbenchError("the workspace has no category neighbours yet; run `workbench embed` first")
    frame = ws.df("SELECT leaf, neighbour, similarity FROM category_neighbours "
                  "WHERE rank <= ? ORDER BY leaf, rank", [int(k) if k else 2**31 - 1])
    out: dict[str, list[tuple[str, float]]] = {}
    for leaf, nb, sim in frame.itertuples(index=False):
        out.setdefault(leaf, []).append((nb, float(sim)))
    return out
