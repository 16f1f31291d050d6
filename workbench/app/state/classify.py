"""State of the classify view: one product (optionally with its photo) or a CSV in, top-5
categories and the shelving decision under the published thresholds and the chosen decision
rule out, through the one predictor (:class:`workbench.runs.predictor.Predictor`, as the API and
``workbench classify``). The model is a run's saved model (never trained here)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import param

import workbench.app.data as data
from workbench.security.upload import Upload, read_upload
from workbench.errors import WorkbenchError
from workbench.evaluate.decision import DECISIONS
from workbench.loop.thresholds import threshold_run_warning
from workbench.runs.predictor import Predictor, published_thresholds, run_model, runs_with_models
from workbench.runs.selection import default_run
from workbench.store import Workspace

TOP_K = 5


class ClassifyState(param.Parameterized):
    """The model (``run_id``) and the product typed in."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    run_id = param.Selector(default=None, objects=[], label="Model (run)")
    decision = param.Selector(default="argmax", objects=list(DECISIONS), label="Decision rule",
                              doc="argmax: the most probable leaf; min-risk: the smallest expected tree distance")
    title = param.String(default="", label="Title")
    description = param.String(default="", label="Description")
    brand = param.String(default="", label="Brand")
    photo = param.Bytes(default=None, label="Photo", doc="the product's photo, checked (type, size, pixels)")
    news = param.Integer(default=0, allow_refs=True, precedence=-1,
                         doc="changes when runs complete elsewhere (a page passes ``ctx.news.param.runs``): "
                             "a new run with a model joins the choice of models")

    def __init__(self, **params):
        super().__init__(**params)
        saved = runs_with_models(self.workspace)
        self.param.run_id.objects = saved[::-1]
        if self.run_id is None and saved:
            self.run_id = default_run(self.workspace)  # the one rule (workbench.runs.selection)

    @param.depends("news", watch=True)
    def follow_runs(self) -> None:
        """List the runs with a saved model again; the chosen one stays chosen."""
        saved = runs_with_models(self.workspace)[::-1]
        if saved and list(self.param.run_id.objects) != saved:
            self.param.run_id.objects = saved

    def threshold_warning(self) -> str | None:
        """A note when the published thresholds were tuned on another run than the chosen model."""
        return threshold_run_warning(self.workspace, self.run_id)

    @property
    def has_model(self) -> bool:
        """Whether any run has a saved model."""
        return self.run_id is not None

    @property
    def multimodal(self) -> bool:
        """Whether the chosen run's model reads photos (``fusion``, ``image``, an ensemble with one)."""
        if self.run_id is None:
            return False
        from workbench.runs.explain_photo import reads_photos

        return reads_photos(self._model())

    def set_photo(self, content: bytes | None, *, limit_bytes: int) -> None:
        """Check an uploaded photo (type, size, pixel count) and keep it; a bad one raises
        :class:`WorkbenchError` with the reason and the fix, and the previous photo is dropped."""
        from workbench.embeddings.image_files import check_image_upload

        self.photo = None
        if content:
            check_image_upload(bytes(content), max_bytes=limit_bytes)
            self.photo = bytes(content)

    def _model(self):
        if self.run_id is None:
            default_run(self.workspace)  # raises the one "no run with a saved model" error
        return run_model(self.workspace, self.run_id)

    def predictor(self) -> Predictor:
        """The chosen run's predictor under the published thresholds (the model from the one cache)."""
        glob, overrides, _ = self.thresholds()
        from workbench.catalog.taxonomy_versions import class_map_for_run

        model = self._model()
        return Predictor(model, self.run_id, data.taxonomy(self.workspace), None if math.isinf(glob) else glob,
                         overrides, class_map_for_run(self.workspace, self.run_id, [str(c) for c in model.classes_]))

    def thresholds(self) -> tuple[float, dict[str, float], bool]:
        """``(global, overrides, published?)``; without published thresholds everything goes to review."""
        glob, overrides = published_thresholds(self.workspace)
        if glob is None:
            return math.inf, {}, False
        tax = data.taxonomy(self.workspace)
        return glob, {n: t for n, t in overrides.items() if n in tax}, True

    def decide(self, products) -> tuple[Predictor, np.ndarray, pd.DataFrame]:
        """``(predictor, proba, decisions)`` of raw products (dicts or a frame, cleaned here as
        everywhere): one row per product with ``leaf, confidence, threshold, decision`` and one
        column per level, under the chosen decision rule."""
        predictor = self.predictor()
        frame = predictor.frame(products)
        proba = predictor.score(frame)
        decided = predictor.decide(proba, self.decision)
        decisions = pd.DataFrame({"leaf": decided.leaf, "confidence": decided.confidence,
                                  "threshold": decided.threshold, "decision": decided.decision,
                                  **predictor.level_columns(decided.index)})
        return predictor, proba, decisions

    def classify(self) -> tuple[pd.DataFrame, dict]:
        """Top-5 ``rank, category, probability`` (full paths) of the typed product, and the
        decision ``{category, confidence, threshold, decision}``."""
        product = {"title": self.title, "description": self.description, "brand": self.brand, "image": self.photo}
        if not Predictor.frame([product])["title"].iloc[0]:
            raise WorkbenchError("type a product title first")
        predictor, proba, decisions = self.decide([product])
        top, top_p = predictor.top(proba, TOP_K)
        table = pd.DataFrame({"rank": np.arange(1, top.shape[1] + 1), "category": predictor.classes[top[0]],
                              "probability": top_p[0].astype(float)})
        row = decisions.iloc[0]
        return table, {"category": row["leaf"], "confidence": float(row["confidence"]),
                       "threshold": float(row["threshold"]), "decision": row["decision"]}

    def classify_upload(self, filename: str, content: bytes | str, *, limit_bytes: int,
                        max_rows: int, limits=None) -> tuple[pd.DataFrame, Upload]:
        """Classify every row of an uploaded CSV: its columns plus ``predicted_category,
        confidence``, one column per level, ``threshold, decision`` and the top-5 with probabilities."""
        upload = read_upload(filename, content, limit_bytes=limit_bytes, max_rows=max_rows, limits=limits)
        predictor, proba, decisions = self.decide(upload.products)
        out = upload.original.copy()
        out["predicted_category"] = decisions["leaf"].to_numpy()
        out["confidence"] = decisions["confidence"].round(6).to_numpy()
        for name in data.taxonomy(self.workspace).level_names:
            out[name] = decisions[name].to_numpy()
        out["threshold"] = decisions["threshold"].to_numpy()
        out["decision"] = decisions["decision"].to_numpy()
        top, top_p = predictor.top(proba, TOP_K)
        for j in range(top.shape[1]):
            out[f"category_{j + 1}"] = predictor.classes[top[:, j]]
            out[f"probability_{j + 1}"] = np.round(top_p[:, j], 6)
        return out, upload
