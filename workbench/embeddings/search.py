"""Semantic search over a workspace: the products and categories nearest to a free-text query."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.embeddings.category_neighbours import category_text, leaf_embeddings
from workbench.embeddings.embed import embed_texts, load_product_embeddings
from workbench.catalog.relabel import load_taxonomy
from workbench.store import Workspace


def nearest_products(ws: Workspace, query: str, k: int = 10, model: str = "default") -> pd.DataFrame:
    """The ``k`` embedded products most similar to ``query`` (cosine), with title and leaf."""
    ids, matrix = load_product_embeddings(ws, model)
    q = embed_texts([query], model, workspace=ws)[0]
    scores = matrix @ q
    top = np.argsort(-scores, kind="stable")[:k]
    found = pd.DataFrame({"product_id": ids[top], "similarity": scores[top].astype(float)})
    titles = ws.df("SELECT product_id, title, leaf FROM products WHERE product_id IN (SELECT unnest(?))",
                   [found["product_id"].tolist()])
    return found.merge(titles, on="product_id", how="left")


def nearest_categories(ws: Workspace, query: str, k: int = 5, model: str = "default") -> pd.DataFrame:
    """The ``k`` taxonomy leaves whose text is most similar to ``query`` (cosine)."""
    taxonomy = load_taxonomy(ws)
    emb = leaf_embeddings(taxonomy, model, workspace=ws)
    q = embed_texts([query], model, workspace=ws)[0]
    scores = emb @ q
    top = np.argsort(-scores, kind="stable")[:k]
    leaves = np.asarray(taxonomy.leaves, dtype=object)[top]
    return pd.DataFrame({"leaf": leaves, "text": [category_text(taxonomy, leaf) for leaf in leaves],
                         "similarity": scores[top].astype(float)})
