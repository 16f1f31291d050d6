"""Where text and photo disagree: each product's category as its nearest neighbours see it, once
by text vectors and once by image vectors (for notebook 06 and error analysis).

For every product embedded both ways, the ``k`` most similar other products (cosine) vote for a
leaf in each space; a product whose two votes differ is one the title and the photo place in
different parts of the catalog: often a mislabelled product, a misleading title, or a photo of
something else (a model wearing the shoes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.embeddings.embed import load_product_embeddings
from workbench.embeddings.image_encoder import image_model_id
from workbench.errors import WorkbenchError
from workbench.store import Workspace

CHUNK = 2048


def neighbour_vote(matrix: np.ndarray, labels: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The majority leaf among each row's ``k`` nearest other rows (cosine on L2-normalised rows)
    and the share of them that voted for it."""
    n = len(matrix)
    k = max(1, min(int(k), n - 1))
    codes, uniques = pd.factorize(pd.Series(labels, dtype=object))
    votes = np.empty(n, dtype=np.int64)
    share = np.empty(n, dtype=np.float64)
    for start in range(0, n, CHUNK):
        sims = matrix[start: start + CHUNK] @ matrix.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf  # not its own neighbour
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        counts = np.zeros((len(rows), len(uniques)), dtype=np.int64)
        np.add.at(counts, (np.repeat(rows, k), codes[nearest].ravel()), 1)
        votes[start: start + len(rows)] = counts.argmax(axis=1)
        share[start: start + len(rows)] = counts.max(axis=1) / k
    return np.asarray(uniques, dtype=object)[votes], share


def modality_disagreement(ws: Workspace, *, text_model: str = "default", image_model: str = "default",
                          k: int = 10, sample: int | None = 20_000, seed: int = 0) -> pd.DataFrame:
    """One row per product embedded both ways (a seeded ``sample`` of them): ``product_id, title,
    leaf, text_vote, text_share, image_vote, image_share, disagree``, disagreements first."""
    image_ids, images = load_product_embeddings(ws, image_model_id(image_model))
    text_ids, texts = load_product_embeddings(ws, text_model)
    both = pd.Index(image_ids).intersection(pd.Index(text_ids))
    if len(both) < 3:
        raise WorkbenchError("fewer than 3 products have both a text and an image vector; run "
                             "`workbench embed` and `workbench embed --images` first")
    if sample is not None and len(both) > sample:
        both = pd.Index(np.sort(np.random.default_rng(seed).choice(np.asarray(both, dtype=object), sample,
                                                                    replace=False)))
    products = ws.df("SELECT product_id, title, leaf FROM products WHERE product_id IN (SELECT unnest(?))",
                     [list(both)]).set_index("product_id").loc[both]
    leaves = products["leaf"].fillna("(unlabelled)").to_numpy(dtype=object)
    text_vote, text_share = neighbour_vote(texts[pd.Index(text_ids).get_indexer(both)], leaves, k)
    image_vote, image_share = neighbour_vote(images[pd.Index(image_ids).get_indexer(both)], leaves, k)
    out = pd.DataFrame({"product_id": np.asarray(both, dtype=object), "title": products["title"].to_numpy(),
                        "leaf": leaves, "text_vote": text_vote, "text_share": text_share,
                        "image_vote": image_vote, "image_share": image_share})
    out["disagree"] = out["text_vote"] != out["image_vote"]
    return out.sort_values(["disagree", "image_share"], ascending=[False, False], kind="mergesort").reset_index(drop=True)
