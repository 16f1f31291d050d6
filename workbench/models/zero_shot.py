"""``zero-shot``: classify by the similarity of a product's text to each category's name.

No product label is needed: every leaf is embedded from its path, leaf first (``"Activewear,
Clothing, Apparel & Accessories"``), as an E5 *passage*; a product's text is embedded as a
*query*; the probabilities are a softmax of the cosine similarities over a temperature. With
the multilingual encoder (``embedding_model="multilingual-e5-small"``) a title in Indonesian
finds a category named in English, which is how a catalog with no labels at all starts
(``workbench cold-start``). It is a run like any other: probabilities aligned to the leaf list,
so evaluation, the accuracy-coverage curve and thresholds work once a sample is reviewed.

Training labels are not learned from; when ``fit`` gets a labelled validation split the
temperature is fitted on it (minimum log-loss), else ``temperature`` (or 0.03) is used.
Persistence: the leaf vectors as ``.npy`` (loaded without pickle) and the state as JSON.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from workbench.catalog.taxonomy import Taxonomy
from workbench.errors import WorkbenchError
from workbench.models.base import CategoryClassifier, product_texts, read_state, register, write_state
from workbench.models.softmax import softmax
from workbench.store import Workspace

VECTORS, STATE = "leaf_vectors.npy", "zero_shot.json"
DEFAULT_TEMPERATURE = 0.03


def leaf_texts(leaves) -> list[str]:
    """The text each leaf is embedded from: its path, leaf first."""
    taxonomy = Taxonomy.from_node_ids(leaves)
    return [", ".join(reversed(taxonomy.path(leaf))) for leaf in leaves]


@register
class ZeroShotClassifier(CategoryClassifier):
    """Text-to-category-name similarity (see the module docstring).

    Parameters: ``leaves`` (required: the categories to choose from), ``fields`` (product
    fields embedded), ``embedding_model``, ``workspace`` (path whose embedding cache is used),
    ``temperature`` (``None``: fitted on the validation split when there is one, else 0.03),
    ``random_state`` (unused; every model has it).
    """

    kind = "zero-shot"

    def __init__(self, leaves=None, fields=("title", "brand"), embedding_model="default",
                 workspace=None, temperature=None, random_state=0):
        self._store_params(locals())

    def _embed(self, texts: list[str], role: str) -> np.ndarray:
        from workbench.embeddings.embed import embed_texts

        cache = Workspace(self.workspace) if self.workspace else None
        return embed_texts(texts, self.embedding_model, workspace=cache, role=role).astype(np.float32)

    def _fit(self, X: pd.DataFrame, y: np.ndarray, n_classes: int, valid) -> None:
        if self.leaves is None:
            raise WorkbenchError("zero-shot needs leaves= (the categories to choose from), "
                                 "e.g. the taxonomy's leaf list")
        self.leaf_vectors_ = self._embed(leaf_texts(list(self.classes_)), "passage")
        self.temperature_ = float(self.temperature or DEFAULT_TEMPERATURE)
        if self.temperature is None and valid is not None and len(valid[1]) >= 2:
            scores = self._scores(valid[0])
            rows = np.arange(len(valid[1]))

            def log_loss(log_t: float) -> float:
                p = softmax(scores, float(np.exp(log_t)))
                return float(-np.mean(np.log(np.clip(p[rows, valid[1]], 1e-12, None))))

            best = minimize_scalar(log_loss, bounds=(np.log(1e-3), np.log(1.0)), method="bounded")
            self.temperature_ = float(np.exp(best.x))

    def _scores(self, X: pd.DataFrame) -> np.ndarray:
        texts = product_texts(X, self.fields)
        return self._embed(texts, "query").astype(np.float64) @ self.leaf_vectors_.T.astype(np.float64)

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if len(X) == 0:
            return np.zeros((0, len(self.classes_)))
        return softmax(self._scores(X), self.temperature_)

    def _save_artifacts(self, directory: Path) -> None:
        np.save(directory / VECTORS, np.asarray(self.leaf_vectors_, dtype=np.float32), allow_pickle=False)
        write_state(directory, STATE, {"temperature": self.temperature_})

    def _load_artifacts(self, directory: Path) -> None:
        path = directory / VECTORS
        if not path.exists():
            raise WorkbenchError(f"missing {VECTORS} in {directory}; save the zero-shot model again")
        self.leaf_vectors_ = np.load(path, allow_pickle=False)
        self.temperature_ = float(read_state(directory, STATE)["temperature"])
