"""One road from a run to a prediction: every surface (the HTTP API, ``workbench classify`` and
its notebook call, the Classify and Review pages, the Dask worker, the benchmarks) scores
products here and nowhere else.

This module owns

* where a run's model is saved (:func:`model_dir`) and the one error when it is not
  (:func:`no_model_error`);
* loading a saved model through one cache per process (:func:`load_model`, reloaded when its
  manifest changes; a Dask worker process fills its own);
* the taxonomy of a run (:func:`run_taxonomy`: the workspace's, or one derived from the run's
  own leaf ids when it was trained on an older taxonomy), and the change map of a run trained
  before taxonomy changes (:func:`workbench.catalog.taxonomy_versions.class_map_for_run`): its
  classes answer with their current paths (a renamed, moved or merged class directly, merged
  columns summed; a class whose category was split or retired always goes to review);
* the published thresholds (:func:`published_thresholds`: one global value, per-category
  overrides, the most specific override winning);
* the model's input: one text-cleaning path (:func:`model_inputs`, the cleaning ingest applies,
  :func:`workbench.catalog.text.clean_text`);
* the decision rule of a call (``argmax`` by default, ``min-risk`` when asked), the shelve /
  review decision (compared in the probabilities' precision) and the top-k with full paths
  (:class:`Predictor`).
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.catalog.taxonomy import Taxonomy
from workbench.catalog.taxonomy_versions import ClassMap, class_map_for_run
from workbench.catalog.text import clean_text
from workbench.errors import WorkbenchError
from workbench.evaluate.decision import check_decision, decide
from workbench.evaluate.shelving import leaf_thresholds
from workbench.runs.records import list_runs, run_dir
from workbench.store import Workspace

MANIFEST = "manifest.json"
TOP_N = 5
#: the text fields every surface cleans the same way (as ingest does)
TEXT_FIELDS = ("title", "description", "brand")


# where a run's model is and the one error when it is not -------------------------------------

def model_dir(ws: Workspace, run_id: str) -> Path:
    """Folder of a run's saved model (``<artifacts>/runs/<run_id>/model``)."""
    return run_dir(ws, run_id) / "model"


def has_model(ws: Workspace, run_id: str) -> bool:
    """Whether a run's model was saved."""
    return (model_dir(ws, run_id) / MANIFEST).exists()


def runs_with_models(ws: Workspace) -> list[str]:
    """Recorded runs whose model was saved, oldest first."""
    return [r for r in list_runs(ws)["run_id"] if has_model(ws, r)]


def no_model_error(run_id: str, folder: str | Path, with_models: Sequence[str] | None = None) -> WorkbenchError:
    """The one error for a run without a saved model: the run, the folder and the fix (with the
    newest runs that have a model, when the workspace is at hand)."""
    others = "" if with_models is None else f" (runs with a model: {', '.join(list(with_models)[-3:]) or 'none'})"
    return WorkbenchError(f"run {run_id} has no saved model in {folder}; choose a run that has one{others} "
                          "or train one with `workbench train`")


def check_model(ws: Workspace, run_id: str) -> Path:
    """A run's model folder, or :func:`no_model_error`."""
    folder = model_dir(ws, run_id)
    if not (folder / MANIFEST).exists():
        raise no_model_error(run_id, folder, runs_with_models(ws))
    return folder


# the one model cache ------------------------------------------------------------------------

_MODELS: dict[tuple[str, bool], tuple[int, Any]] = {}
_LOCK = threading.Lock()


def detach_workspace(model) -> None:
    """Let a loaded model (and every model inside it: ensemble members, department models) embed
    without the workspace's cache.

    A family that embeds (xgb, zero-shot, a sentence-encoded fusion) keeps its workspace's path
    for the cache, and reaching the cache opens the workspace database. The API must never open
    it (``workbench serve`` holds it), and caching every served title would only grow the cache;
    so a served model encodes its inputs itself.
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


def load_model(folder: str | Path, *, run_id: str | None = None, detached: bool = False):
    """The model saved in ``folder``, loaded once per process and again when its manifest
    changes. ``detached``: without the workspace's embedding cache (the API, a Dask worker)."""
    folder = Path(folder)
    manifest = folder / MANIFEST
    if not manifest.exists():
        raise no_model_error(run_id or folder.parent.name, folder)
    stamp = manifest.stat().st_mtime_ns
    key = (str(folder.resolve()), bool(detached))
    with _LOCK:
        hit = _MODELS.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        from workbench.models.base import CategoryClassifier

        model = CategoryClassifier.load(folder)
        if detached:
            detach_workspace(model)
        _MODELS[key] = (stamp, model)  # the older version of the same folder is dropped
        return model


def run_model(ws: Workspace, run_id: str, *, detached: bool = False):
    """A run's saved model through the one cache (:func:`no_model_error` when there is none)."""
    return load_model(check_model(ws, run_id), run_id=run_id, detached=detached)


# the run's taxonomy and the published thresholds ---------------------------------------------

def run_taxonomy(taxonomy: Taxonomy, classes: Sequence[str]) -> Taxonomy:
    """The workspace's taxonomy, or one derived from a run's own leaf ids when the run was
    trained on an older taxonomy (its leaf ids carry their paths)."""
    if set(classes) <= set(taxonomy.leaves) or all(c in taxonomy for c in classes):
        return taxonomy
    return Taxonomy.from_node_ids(classes, taxonomy.level_names)


def published_thresholds(ws: Workspace) -> tuple[float | None, dict[str, float]]:
    """The current ``(global threshold or None, {node: threshold})``; ``(None, {})`` when none
    is published (everything then goes to review)."""
    if not ws.has_table("thresholds"):
        return None, {}
    rows = ws.df("SELECT scope, node, threshold FROM thresholds")
    glob = rows.loc[rows["scope"] == "global", "threshold"]
    cats = rows[rows["scope"] == "category"]
    return (float(glob.iloc[0]) if len(glob) else None,
            {str(n): float(t) for n, t in zip(cats["node"], cats["threshold"])})


# the one text-cleaning path -----------------------------------------------------------------

def _clean(values) -> list[str]:
    """:func:`workbench.catalog.text.clean_text` of each value (what ``clean_series`` gives at
    ingest), once per distinct value."""
    done: dict = {}
    out = []
    for value in values:
        try:
            hit = done.get(value)
        except TypeError:  # an unhashable value: cleaned as its text
            hit = None
        if hit is None:
            hit = clean_text(value)
            try:
                done[value] = hit
            except TypeError:
                pass
        out.append(hit)
    return out


def _price(value) -> float:
    try:
        price = float(value)
    except (TypeError, ValueError):
        return math.nan
    return price if math.isfinite(price) else math.nan


def model_inputs(products: Sequence[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """The model's input from raw products (API bodies, typed or uploaded rows): ``title``,
    ``description``, ``brand`` cleaned as ingest cleans them; ``price`` a float (NaN when not a
    number); ``department`` (exact name, as stored; none: a department run's fallback model);
    ``extra`` (``attributes`` as JSON, or a given ``extra``); other columns (``image``, a catalog
    attribute) are kept. Plain lists, so one product costs microseconds, not a pandas pass."""
    if isinstance(products, pd.DataFrame):
        n = len(products)
        columns = {str(c): products[c].tolist() for c in products.columns}
    else:
        products = list(products)
        n = len(products)
        columns = {k: [p.get(k) for p in products] for k in dict.fromkeys(k for p in products for k in p)}
    none = [None] * n
    out: dict[str, list] = {field: _clean(columns.get(field, none)) for field in TEXT_FIELDS}
    out["price"] = [_price(v) for v in columns.get("price", none)]
    out["department"] = [None if d is None or (isinstance(d, float) and math.isnan(d)) else (str(d).strip() or None)
                         for d in columns.get("department", none)]
    if "extra" in columns:
        out["extra"] = columns["extra"]
    else:
        out["extra"] = [json.dumps(a) if isinstance(a, dict) and a else None
                        for a in columns.get("attributes", none)]
    for name, values in columns.items():
        if name not in out and name != "attributes":
            out[name] = values
    return pd.DataFrame(out, index=range(n))


def cleaned_text(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The cleaned ``title``, ``description`` and ``brand`` of each row of a :func:`model_inputs`
    frame: what the API logs beside each answer."""
    return frame[list(TEXT_FIELDS)].to_dict("records")


# decisions ----------------------------------------------------------------------------------

@dataclass
class Decisions:
    """The decision of each row: chosen column ``index``, ``leaf``, ``confidence`` (the chosen
    leaf's probability), ``threshold`` (inf: none published) and ``shelved``."""

    rule: str
    index: np.ndarray
    leaf: np.ndarray
    confidence: np.ndarray
    threshold: np.ndarray
    shelved: np.ndarray

    @property
    def decision(self) -> np.ndarray:
        """``"shelved"`` / ``"review"`` per row."""
        return np.where(self.shelved, "shelved", "review").astype(object)


class Predictor:
    """A run's model with its taxonomy and thresholds: products in, decisions out."""

    def __init__(self, model, run_id: str, taxonomy: Taxonomy, threshold: float | None = None,
                 overrides: Mapping[str, float] | None = None, class_map: ClassMap | None = None):
        self.model = model
        self.run_id = str(run_id)
        self.class_map = class_map
        model_classes = [str(c) for c in model.classes_]
        self._collapse = None
        review: set[str] = set()
        if class_map is not None:
            mapping = class_map.mapping
            current = [mapping.get(c, c) for c in model_classes]
            unique = list(dict.fromkeys(current))
            if unique != model_classes:
                column = {c: i for i, c in enumerate(unique)}
                collapse = np.zeros((len(model_classes), len(unique)))
                collapse[np.arange(len(current)), [column[c] for c in current]] = 1.0
                self._collapse = collapse
            model_classes = unique
            review = set(class_map.review)
        self.classes = np.asarray(model_classes, dtype=object)
        self.taxonomy = run_taxonomy(taxonomy, list(self.classes))
        self.level_names = list(self.taxonomy.level_names)
        self.threshold = None if threshold is None or not math.isfinite(float(threshold)) else float(threshold)
        self.overrides = {str(k): float(v) for k, v in (overrides or {}).items() if k in self.taxonomy}
        self.leaf_threshold = leaf_thresholds(math.inf if self.threshold is None else self.threshold,
                                              self.overrides, classes=self.classes, taxonomy=self.taxonomy)
        for i, c in enumerate(self.classes):  # split or retired since the run: a person decides
            if c in review:
                self.leaf_threshold[i] = math.inf
        self.paths = [list(self.taxonomy.path(c)) for c in self.classes]
        self.levels = [dict(zip(self.level_names, path)) for path in self.paths]

    @classmethod
    def load(cls, folder: str | Path, run_id: str, taxonomy: Taxonomy, threshold: float | None = None,
             overrides: Mapping[str, float] | None = None, *, detached: bool = True,
             class_map: ClassMap | Mapping | None = None) -> "Predictor":
        """A predictor over the model saved in ``folder`` (the API and the Dask worker, which
        never open the workspace: detached from its embedding cache); ``class_map`` (or its JSON
        form, as the serving snapshot carries it) reads an older run's classes in the current
        taxonomy."""
        if class_map is not None and not isinstance(class_map, ClassMap):
            class_map = ClassMap.from_json(class_map)
        return cls(load_model(folder, run_id=run_id, detached=detached), run_id, taxonomy, threshold, overrides,
                   class_map)

    @classmethod
    def for_run(cls, ws: Workspace, run_id: str, *, threshold: float | None = None,
                overrides: Mapping[str, float] | None = None) -> "Predictor":
        """The predictor of a workspace's run (callers without one name
        :func:`workbench.runs.selection.default_run`) with the published thresholds, or
        ``threshold`` and ``overrides`` when given (a given threshold without overrides applies
        alone)."""
        from workbench.catalog.relabel import load_taxonomy

        model = run_model(ws, run_id)
        if threshold is None:
            published, published_overrides = published_thresholds(ws)
            threshold = published
            overrides = published_overrides if overrides is None else overrides
            if published is None:
                overrides = {}
        return cls(model, run_id, load_taxonomy(ws), threshold, overrides,
                   class_map_for_run(ws, run_id, [str(c) for c in model.classes_]))

    # inputs and scores ------------------------------------------------------------------------
    frame = staticmethod(model_inputs)

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """The probability matrix of model inputs (rows of :func:`model_inputs`)."""
        if len(frame) == 0:
            return np.zeros((0, len(self.classes)))
        proba = self.model.predict_proba(frame)
        return proba if self._collapse is None else np.asarray(proba) @ self._collapse

    def decide(self, proba: np.ndarray, decision: str = "argmax") -> Decisions:
        """Each row's leaf under the decision rule (``argmax`` or ``min-risk``), its confidence
        and the shelve / review decision under the thresholds, compared in the probabilities'
        precision."""
        check_decision(decision)
        proba = np.asarray(proba)
        best = decide(proba, classes=self.classes, taxonomy=self.taxonomy, decision=decision) \
            if len(proba) else np.zeros(0, dtype=np.int32)
        confidence = proba[np.arange(len(best)), best]
        threshold = self.leaf_threshold[best]
        shelved = confidence >= threshold.astype(confidence.dtype)
        return Decisions(decision, best, self.classes[best], confidence.astype(float), threshold, shelved)

    @staticmethod
    def top(proba: np.ndarray, k: int = TOP_N) -> tuple[np.ndarray, np.ndarray]:
        """``(column index, probability)`` of each row's ``k`` most probable leaves, best first
        (ties: the earlier column first)."""
        proba = np.asarray(proba)
        k = max(1, min(int(k), proba.shape[1]))
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        return order, np.take_along_axis(proba, order, axis=1)

    def level_columns(self, index: np.ndarray) -> dict[str, list]:
        """``{level name: the chosen leaf's ancestor at that level}`` for chosen columns."""
        return {name: [self.levels[int(b)].get(name) for b in index] for name in self.level_names}

    # the surfaces' answers --------------------------------------------------------------------
    def predict(self, products: Sequence[Mapping[str, Any]], top_k: int = 5,
                frame: pd.DataFrame | None = None, decision: str = "argmax") -> list[dict[str, Any]]:
        """One answer per product (the API's): ``category``, ``confidence``, ``decision``
        (``shelved`` or ``review``), ``threshold`` (``None`` when none is published),
        ``decision_rule``, ``levels`` and ``top_k`` (the most probable leaves with full paths)."""
        check_decision(decision)
        frame = self.frame(products) if frame is None else frame
        if frame.empty:
            return []
        proba = self.score(frame)
        decided = self.decide(proba, decision)
        top, top_p = self.top(proba, top_k)
        out = []
        for i in range(len(frame)):
            b = int(decided.index[i])
            thr = float(decided.threshold[i])
            out.append({
                "category": self.classes[b], "confidence": float(decided.confidence[i]),
                "decision": "shelved" if decided.shelved[i] else "review",
                "threshold": thr if math.isfinite(thr) else None, "decision_rule": decision,
                "levels": self.levels[b],
                "top_k": [{"category": self.classes[j], "path": self.paths[j], "probability": float(p)}
                          for j, p in zip(top[i].tolist(), top_p[i].tolist())],
            })
        return out

    def rows(self, ids: Sequence[str], proba: np.ndarray, *, now: datetime, batch: date,
             decision: str = "argmax") -> pd.DataFrame:
        """The ``classifications`` rows of scored products: leaf, confidence, margin, top 5 and
        the decision (a pure function: a Dask worker computes its partition's rows exactly as
        this process would)."""
        decided = self.decide(proba, decision)
        proba = np.asarray(proba)
        if len(proba):
            ordered = np.sort(proba, axis=1)
            margin = ordered[:, -1] - (ordered[:, -2] if proba.shape[1] > 1 else 0.0)
            top, top_p = self.top(proba, TOP_N)
            top5 = [json.dumps([{"leaf": str(self.classes[j]), "proba": float(p)} for j, p in zip(t, tp)])
                    for t, tp in zip(top.tolist(), top_p.tolist())]
        else:
            margin, top5 = np.zeros(0), []
        return pd.DataFrame({
            "product_id": [str(i) for i in ids], "run_id": self.run_id, "leaf": decided.leaf.astype(str),
            "proba": decided.confidence, "margin": np.asarray(margin, dtype=float), "top5": top5,
            "decision": decided.decision, "threshold": decided.threshold.astype(float),
            "classified_at": now, "batch_date": batch})

    def top1(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(leaf, confidence)`` arrays of model inputs under ``argmax`` (the shadow run's answer)."""
        if frame.empty:
            return np.array([], dtype=object), np.array([], dtype=float)
        decided = self.decide(self.score(frame))
        return decided.leaf, decided.confidence
