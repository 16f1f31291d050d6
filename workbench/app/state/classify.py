"""State of the classify view: one product (optionally with its photo) or a CSV in, top-5
categories and the shelving decision under the published thresholds out. The model is a run's saved model (never trained here)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import param

import workbench.app.data as data
from workbench.app.upload import Upload, read_upload
from workbench.errors import WorkbenchError
from workbench.evaluate.shelving import shelving_preview
from workbench.runs.records import list_runs
from workbench.store import Workspace
from workbench.catalog.text import clean_text
from workbench.loop.thresholds import published_thresholds, threshold_run_warning
from workbench.runs.selection import ranked_runs

TOP_K = 5


class ClassifyState(param.Parameterized):
    """The model (``run_id``) and the product typed in."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    run_id = param.Selector(default=None, objects=[], label="Model (run)")
    title = param.String(default="", label="Title")
    description = param.String(default="", label="Description")
    brand = param.String(default="", label="Brand")
    photo = param.Bytes(default=None, label="Photo", doc="the product's photo, checked (type, size, pixels)")

    def __init__(self, **params):
        super().__init__(**params)
        runs = list_runs(self.workspace)
        saved = np.array([data.model_dir(r).joinpath("manifest.json").exists() for r in runs.to_dict("records")],
                         dtype=bool)
        runs = runs[saved]
        self.param.run_id.objects = runs["run_id"].tolist()[::-1]
        if self.run_id is None and len(runs):
            # the one rule's order (workbench.runs.selection), among the runs whose model is saved
            saved = set(runs["run_id"])
            self.run_id = next(r for r in ranked_runs(self.workspace, need_model=False)["run_id"] if r in saved)

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
        model = self._model()
        members = getattr(model, "models_", {"": model})
        return any("image" in tuple(getattr(m, "inputs", ())) for m in members.values())

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
            raise WorkbenchError("no run with a saved model in this workspace; train one with `workbench train`")
        run = list_runs(self.workspace).set_index("run_id").loc[self.run_id].to_dict()
        return data.load_model({**run, "run_id": self.run_id})

    def thresholds(self) -> tuple[float, dict[str, float], bool]:
        """``(global, overrides, published?)``; without published thresholds everything goes to review."""
        glob, overrides = published_thresholds(self.workspace)
        if glob is None:
            return math.inf, {}, False
        tax = data.taxonomy(self.workspace)
        return glob, {n: t for n, t in overrides.items() if n in tax}, True

    def _decide(self, products: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        model = self._model()
        proba = model.predict_proba(products)
        classes = np.asarray(model.classes_, dtype=object)
        glob, overrides, _ = self.thresholds()
        decisions = shelving_preview(np.arange(len(products)), proba, classes=classes,
                                     taxonomy=data.taxonomy(self.workspace), threshold=glob,
                                     overrides=overrides).frame
        return proba, classes, decisions

    def classify(self) -> tuple[pd.DataFrame, dict]:
        """Top-5 ``rank, category, probability`` (full paths) of the typed product, and the
        decision ``{category, confidence, threshold, decision}``."""
        title = clean_text(self.title)
        if not title:
            raise WorkbenchError("type a product title first")
        product = pd.DataFrame({"title": [title], "description": [clean_text(self.description)],
                                "brand": [clean_text(self.brand)], "image": [self.photo]})
        proba, classes, decisions = self._decide(product)
        top = np.argsort(-proba[0], kind="stable")[:TOP_K]
        table = pd.DataFrame({"rank": np.arange(1, len(top) + 1), "category": classes[top],
                              "probability": proba[0, top].astype(float)})
        row = decisions.iloc[0]
        return table, {"category": row["leaf"], "confidence": float(row["confidence"]),
                       "threshold": float(row["threshold"]), "decision": row["decision"]}

    def classify_upload(self, filename: str, content: bytes | str, *, limit_bytes: int,
                        max_rows: int, limits=None) -> tuple[pd.DataFrame, Upload]:
        """Classify every row of an uploaded CSV: its columns plus ``predicted_category,
        confidence``, one column per level, ``threshold, decision`` and the top-5 with probabilities."""
        upload = read_upload(filename, content, limit_bytes=limit_bytes, max_rows=max_rows, limits=limits)
        proba, classes, decisions = self._decide(upload.products)
        out = upload.original.copy()
        out["predicted_category"] = decisions["leaf"].to_numpy()
        out["confidence"] = decisions["confidence"].round(6).to_numpy()
        for name in data.taxonomy(self.workspace).level_names:
            out[name] = decisions[name].to_numpy()
        out["threshold"] = decisions["threshold"].to_numpy()
        out["decision"] = decisions["decision"].to_numpy()
        top = np.argsort(-proba, axis=1, kind="stable")[:, :TOP_K]
        for j in range(top.shape[1]):
            out[f"category_{j + 1}"] = classes[top[:, j]]
            out[f"probability_{j + 1}"] = np.round(proba[np.arange(len(proba)), top[:, j]], 6)
        return out, upload
