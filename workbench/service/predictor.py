"""A run's model ready to answer: products (as the API receives them) in, top-k leaves with their
full paths, the confidence and the shelving decision under the published thresholds out.

Everything that does not change between requests (the path of every leaf, the threshold of
every leaf) is computed once when the predictor is built, so a request costs the model's
``predict_proba`` and little else. The same object scores in-process (the load benchmark's
baseline) and behind the HTTP API.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.catalog.taxonomy import Taxonomy
from workbench.catalog.text import clean_text
from workbench.errors import WorkbenchError
from workbench.evaluate.decision import check_decision, decide
from workbench.evaluate.shelving import leaf_thresholds

INPUT_FIELDS = ("title", "description", "brand", "price", "image_url", "department", "attributes")


def detach_workspace(model) -> None:
    """Let a loaded model (and every model inside it: ensemble members, department models) embed
    without the workspace's cache.

    A family that embeds (xgb, zero-shot, a sentence-encoded fusion) keeps its workspace's path
    for the cache, and reaching the cache opens the workspace database. The API must never open
    it (``workbench serve`` holds it, or would be refused while the API did), and caching every
    served title would only grow the cache; so a served model encodes its inputs itself.
    """
    from workbench.models.base import CategoryClassifier

    seen: set[int] = set()

    def walk(value) -> None:
        if isinstance(value, CategoryClassifier):
            if id(value) in seen:
                return
            seen.add(id(value))
            if "workspace" in value.get_params(deep=False):
                value.workspace = None
            for inner in vars(value).values():
                walk(inner)
        elif isinstance(value, dict):
            for inner in value.values():
                walk(inner)
        elif isinstance(value, (list, tuple)):
            for inner in value:
                walk(inner)

    walk(model)


def _taxonomy_for(classes: Sequence[str], taxonomy: Taxonomy) -> Taxonomy:
    if set(classes) <= set(taxonomy.leaves):
        return taxonomy
    # a run trained on an older taxonomy: its own leaf ids carry their paths
    return Taxonomy.from_node_ids(classes, taxonomy.level_names)


class Predictor:
    """``predict(products)`` for one run: a loaded model, its taxonomy and the thresholds."""

    def __init__(self, model, run_id: str, taxonomy: Taxonomy, threshold: float | None,
                 overrides: Mapping[str, float] | None = None):
        self.model = model
        self.run_id = run_id
        self.classes = np.asarray(model.classes_, dtype=object)
        self.taxonomy = _taxonomy_for(list(self.classes), taxonomy)
        self.level_names = list(self.taxonomy.level_names)
        self.threshold = None if threshold is None else float(threshold)
        known = {k: float(v) for k, v in (overrides or {}).items() if k in self.taxonomy}
        self.leaf_threshold = leaf_thresholds(math.inf if threshold is None else threshold, known,
                                              classes=self.classes, taxonomy=self.taxonomy)
        self.paths = [list(self.taxonomy.path(c)) for c in self.classes]
        self.levels = [dict(zip(self.level_names, path)) for path in self.paths]

    @classmethod
    def load(cls, model_dir: str | Path, run_id: str, taxonomy: Taxonomy, threshold: float | None,
             overrides: Mapping[str, float] | None = None) -> "Predictor":
        """A predictor over the model saved in ``model_dir``."""
        from workbench.models.base import CategoryClassifier

        folder = Path(model_dir)
        if not (folder / "manifest.json").exists():
            raise WorkbenchError(f"run {run_id} has no saved model in {folder}; promote a run that has one")
        model = CategoryClassifier.load(folder)
        detach_workspace(model)
        return cls(model, run_id, taxonomy, threshold, overrides)

    @staticmethod
    def frame(products: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """The model's input: text fields cleaned as ingest cleans them, attributes as ``extra``,
        the department a department run routes by (none: its fallback model)."""
        rows = {"title": [], "description": [], "brand": [], "price": [], "department": [], "extra": []}
        for p in products:
            rows["title"].append(clean_text(p.get("title")))
            rows["description"].append(clean_text(p.get("description")))
            rows["brand"].append(clean_text(p.get("brand")))
            price = p.get("price")
            rows["price"].append(np.nan if price is None else float(price))
            department = str(p.get("department") or "").strip()  # routed by its exact name, as stored
            rows["department"].append(department or None)
            attributes = p.get("attributes")
            rows["extra"].append(json.dumps(attributes) if attributes else None)
        return pd.DataFrame(rows)

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """The probability matrix of cleaned products (rows of :meth:`frame`)."""
        return self.model.predict_proba(frame)

    def predict(self, products: Sequence[Mapping[str, Any]], top_k: int = 5,
                frame: pd.DataFrame | None = None, decision: str = "argmax") -> list[dict[str, Any]]:
        """One answer per product: ``category``, ``confidence``, ``decision`` (``shelved`` or
        ``review``), ``threshold`` (``None`` when none is published), ``decision_rule``, ``levels``
        and ``top_k`` (the most probable leaves). ``decision``: how the category is chosen,
        ``argmax`` or ``min-risk`` (:mod:`workbench.evaluate.decision`, as ``workbench classify
        --decision`` chooses; the confidence is then the chosen leaf's probability)."""
        check_decision(decision)
        frame = self.frame(products) if frame is None else frame
        if frame.empty:
            return []
        proba = self.score(frame)
        k = max(1, min(int(top_k), proba.shape[1]))
        top = np.argpartition(-proba, k - 1, axis=1)[:, :k] if k < proba.shape[1] else \
            np.tile(np.arange(proba.shape[1]), (len(proba), 1))
        top_p = np.take_along_axis(proba, top, axis=1)
        order = np.argsort(-top_p, axis=1, kind="stable")
        top, top_p = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_p, order, axis=1)
        best, confidence = top[:, 0], top_p[:, 0]
        if decision != "argmax":
            best = decide(proba, classes=self.classes, taxonomy=self.taxonomy, decision=decision)
            confidence = proba[np.arange(len(best)), best]
        threshold = self.leaf_threshold[best]
        shelved = confidence >= threshold
        out = []
        for i in range(len(frame)):
            b = int(best[i])
            thr = float(threshold[i])
            out.append({
                "category": self.classes[b], "confidence": float(confidence[i]),
                "decision": "shelved" if shelved[i] else "review",
                "threshold": thr if math.isfinite(thr) else None, "decision_rule": decision,
                "levels": self.levels[b],
                "top_k": [{"category": self.classes[j], "path": self.paths[j], "probability": float(p)}
                          for j, p in zip(top[i].tolist(), top_p[i].tolist())],
            })
        return out

    def top1(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(leaf, confidence)`` arrays of cleaned products (the shadow run's answer)."""
        if frame.empty:
            return np.array([], dtype=object), np.array([], dtype=float)
        proba = self.score(frame)
        best = proba.argmax(axis=1)
        return self.classes[best], proba[np.arange(len(best)), best]
