"""The one interface every model family implements (scikit-learn's estimator contract).

* ``__init__`` stores parameters only; learned state ends in ``_``.
* ``fit(X, y)`` takes products (a DataFrame with ``title``, ``description``, ``brand``,
  ``price`` columns, or a list of titles) and leaf labels, and returns ``self``.
* ``predict_proba(X)`` has one column per leaf of ``leaves`` (the taxonomy's leaf list), in
  that order; a leaf absent from the training data keeps its column, of zeros.
* ``predict(X)`` returns leaf labels (never indices).
* ``save(dir)`` / ``load(dir)`` write ``manifest.json`` plus native artifacts; nothing is pickled.
"""

from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError

from workbench.errors import WorkbenchError
from workbench.models.sampling import check_oversample, oversample_counts

MANIFEST = "manifest.json"
TEXT_COLUMNS = ("title", "description", "brand")

#: Where each family lives; a family's module is imported only when its kind is asked for, so
#: importing this module (or a light family) never loads torch, xgboost or fasttext.
FAMILY_MODULES: dict[str, str] = {
    "tfidf": "workbench.models.tfidf",
    "xgboost": "workbench.models.xgb",
    "transformer": "workbench.models.neural.transformer",
    "cnn-lstm": "workbench.models.neural.cnn_lstm",
    "fasttext": "workbench.models.fasttext_model",
    "fusion": "workbench.models.neural.fusion",
    "image": "workbench.models.neural.fusion",
    "ensemble": "workbench.models.ensemble",
    "department": "workbench.models.departments",
    "zero-shot": "workbench.models.zero_shot",
    "hierarchical": "workbench.models.hierarchical",
    "auto": "workbench.models.stacked",
}

_REGISTRY: dict[str, type["CategoryClassifier"]] = {}


def register(cls: type["CategoryClassifier"]) -> type["CategoryClassifier"]:
    """Class decorator: make a model family loadable and trainable by its ``kind``."""
    _REGISTRY[cls.kind] = cls
    return cls


def model_kinds() -> list[str]:
    """Every model kind that :func:`model_class` knows."""
    return sorted(set(FAMILY_MODULES) | set(_REGISTRY))


def model_class(kind: str) -> type["CategoryClassifier"]:
    """The class of a model family by kind (``tfidf``, ``xgboost``, ``transformer``, ``cnn-lstm``,
    ``fasttext``, ``fusion``, ``image``, ``ensemble``, ``department``); imports the family's
    module on first use."""
    if kind not in _REGISTRY and kind in FAMILY_MODULES:
        import_module(FAMILY_MODULES[kind])
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise WorkbenchError(
            f"unknown model kind {kind!r}; choose one of {', '.join(model_kinds())}") from None


def as_products(X: Any) -> pd.DataFrame:
    """Products as a DataFrame with at least the text columns (a list of strings = titles)."""
    if isinstance(X, pd.DataFrame):
        frame = X
    elif isinstance(X, pd.Series):
        frame = pd.DataFrame({"title": X.to_numpy()})
    else:
        frame = pd.DataFrame({"title": list(X)})
    if "title" not in frame:
        raise WorkbenchError(
            f"products need a 'title' column; got columns {list(frame.columns)}")
    frame = frame.copy()
    for col in TEXT_COLUMNS:
        if col not in frame:
            frame[col] = ""
        frame[col] = frame[col].fillna("").astype(str)
    if "price" not in frame:
        frame["price"] = np.nan
    return frame.reset_index(drop=True)


def attribute_values(frame: pd.DataFrame, field: str) -> pd.Series:
    """One product field as text: a column of ``frame``, else a key of its ``extra`` attributes
    (a JSON object per product, as ingest stores the catalog's unmapped columns); missing = ""."""
    if field in frame:
        return frame[field].fillna("").astype(str).str.strip()
    if "extra" not in frame:
        return pd.Series([""] * len(frame), index=frame.index)

    def value(extra: Any) -> str:
        if isinstance(extra, str):
            try:
                extra = json.loads(extra)
            except ValueError:
                return ""
        got = extra.get(field) if isinstance(extra, dict) else None
        return "" if got is None else str(got).strip()

    return frame["extra"].map(value)


def _few_values(frame: pd.DataFrame, field: str) -> list[str]:
    """:func:`attribute_values` of a column of a small frame, as a list (missing = "")."""
    return ["" if v is None or (not isinstance(v, (str, list, dict, tuple, np.ndarray)) and pd.isna(v)) else str(v).strip()
            for v in frame[field].tolist()]


def product_texts(X: Any, fields: Sequence[str] = ("title", "brand")) -> list[str]:
    """One text per product: the chosen fields joined, empty ones skipped. ``title``,
    ``description`` and ``brand`` enter as they are; any other field (a column, or an attribute
    in ``extra`` such as the fashion catalog's ``usage``) enters as ``"<field> <value>"`` so that
    its words do not mix with the title's."""
    # a frame that already has every text column (what predict_proba hands a family) needs no
    # second normalisation: attribute_values fills and converts each field it reads
    ready = isinstance(X, pd.DataFrame) and all(c in X for c in TEXT_COLUMNS)
    frame = X if ready else as_products(X)
    parts = []
    for f in fields:
        # a few products (one API request): plain Python, the same strings without pandas' per-call cost
        values = _few_values(frame, f) if len(frame) <= 16 and f in frame else attribute_values(frame, f)
        if f not in TEXT_COLUMNS:
            values = [f"{f} {v}" if v else "" for v in values]
        parts.append(values)
    out = []
    for values in zip(*parts):
        out.append(" | ".join(v for v in values if v))
    return out


def check_fields(X: Any, fields: Sequence[str]) -> None:
    """Refuse to train on a field that no training product has (a typo, or attributes that
    were not ingested), instead of silently learning from nothing."""
    frame = as_products(X)
    for f in fields:
        if f not in TEXT_COLUMNS and not attribute_values(frame, f).astype(bool).any():
            attrs = sorted({k for e in frame.get("extra", pd.Series(dtype=object)).dropna()
                            for k in (json.loads(e) if isinstance(e, str) else e or {})})
            raise WorkbenchError(
                f"no training product has a value for field {f!r}; choose among the columns "
                f"{', '.join(TEXT_COLUMNS)} or the catalog attributes {', '.join(attrs) or '(none)'}")


class CategoryClassifier(ClassifierMixin, BaseEstimator, ABC):
    """Base class: leaf alignment, ``predict``, ``save`` / ``load``. Subclasses implement
    ``_fit(X, y_index, n_classes)``, ``_predict_proba(X)`` (over ``classes_``),
    ``_save_artifacts(dir)`` and ``_load_artifacts(dir)``."""

    kind: ClassVar[str] = "base"
    #: whether ``_fit`` takes ``sample_weight`` (then oversampling weighs rows instead of copying them)
    oversample_by_weight: ClassVar[bool] = False

    # every subclass has these two parameters
    leaves: Sequence[str] | None
    random_state: int

    def _store_params(self, values: dict[str, Any]) -> None:
        """Store every ``__init__`` parameter unchanged, as scikit-learn's contract asks (no
        logic in ``__init__``); each family's ``__init__`` calls ``self._store_params(locals())``,
        and its signature stays the full, explicit list ``get_params`` and ``clone`` read."""
        for name in self._get_param_names():
            setattr(self, name, values[name])

    def fit(self, X, y, X_valid=None, y_valid=None):
        """Fit on products ``X`` with leaf labels ``y``; ``X_valid``/``y_valid`` drive early stopping.

        A family's ``oversample`` parameter (``"sqrt"``, ``"balanced"``, see
        :mod:`workbench.models.sampling`) repeats (or weighs) rare leaves' training products first."""
        y = np.asarray(y, dtype=object)
        if len(y) != len(as_products(X)):
            raise WorkbenchError(f"{len(as_products(X))} products but {len(y)} labels; pass one label per product")
        classes = list(self.leaves) if self.leaves is not None else sorted(set(y))
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted(set(y) - set(index))
        if unknown:
            raise WorkbenchError(
                f"{len(unknown)} labels are not leaves of the taxonomy (e.g. {unknown[0]!r}); "
                "map them onto leaves or rebuild the taxonomy")
        self.classes_ = np.array(classes, dtype=object)
        y_idx = np.array([index[v] for v in y], dtype=np.int64)
        valid = None
        if X_valid is not None and y_valid is not None:
            keep = np.array([v in index for v in y_valid])
            yv = np.array([index[v] for v in np.asarray(y_valid, dtype=object)[keep]], dtype=np.int64)
            valid = (as_products(X_valid)[keep].reset_index(drop=True), yv)
        X = as_products(X)
        strategy = check_oversample(getattr(self, "oversample", None))
        if strategy is None:
            self._fit(X, y_idx, len(classes), valid)
            return self
        counts = oversample_counts(y_idx, strategy, self.random_state)
        if self.oversample_by_weight:
            self._fit(X, y_idx, len(classes), valid, sample_weight=counts.astype(np.float64))
        else:
            rows = np.repeat(np.arange(len(y_idx)), counts)
            self._fit(X.iloc[rows].reset_index(drop=True), y_idx[rows], len(classes), valid)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(products, labels) first")

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities, one column per leaf in ``classes_`` order, rows summing to 1."""
        self._check_fitted()
        proba = np.asarray(self._predict_proba(as_products(X)), dtype=np.float64)
        proba = np.clip(proba, 0.0, None)
        sums = proba.sum(axis=1, keepdims=True)
        sums[sums == 0] = 1.0
        return proba / sums

    def predict(self, X) -> np.ndarray:
        """The most probable leaf label of each product."""
        proba = self.predict_proba(X)  # first, so an unfitted model raises NotFittedError
        return self.classes_[np.argmax(proba, axis=1)]

    def resolved_params(self) -> dict[str, Any]:
        """The values that ``"auto"`` parameters took in ``fit`` (:mod:`workbench.models.auto`),
        ``{}`` when none were ``"auto"``; a composite model gives them per sub-model."""
        return dict(getattr(self, "resolved_params_", None) or {})

    # persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path, **extra: Any) -> Path:
        """Write ``manifest.json`` (kind, parameters, classes, version, ``extra``) and artifacts."""
        from workbench import __version__

        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        params = {k: v for k, v in self.get_params(deep=False).items()}
        manifest = {
            "kind": self.kind,
            "params": _jsonable(params),
            "classes": [str(c) for c in self.classes_],
            "workbench_version": __version__,
            **_jsonable(extra),
        }
        self._save_artifacts(directory)
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2))
        return directory

    @staticmethod
    def load(directory: str | Path) -> "CategoryClassifier":
        """Load any saved model: the manifest says which family it is."""
        directory = Path(directory)
        path = directory / MANIFEST
        if not path.exists():
            raise WorkbenchError(f"no {MANIFEST} in {directory}; point at a directory written by model.save()")
        manifest = json.loads(path.read_text())
        cls = model_class(manifest["kind"])
        model = cls(**manifest["params"])
        model.classes_ = np.array(manifest["classes"], dtype=object)
        model.manifest_ = manifest
        model._load_artifacts(directory)
        return model

    # hooks for subclasses ---------------------------------------------------------------
    @abstractmethod
    def _fit(self, X: pd.DataFrame, y: np.ndarray, n_classes: int, valid) -> None:
        """Implemented by each family."""

    @abstractmethod
    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Implemented by each family."""

    @abstractmethod
    def _save_artifacts(self, directory: Path) -> None:
        """Implemented by each family."""

    @abstractmethod
    def _load_artifacts(self, directory: Path) -> None:
        """Implemented by each family."""


def child_checkpoint_params(cls: type["CategoryClassifier"], params: dict[str, Any],
                            checkpoint_dir: str | Path | None, name: str) -> dict[str, Any]:
    """A sub-model's parameters with its own checkpoint folder ``checkpoint_dir/name``, for a
    family that checkpoints (``checkpoint_dir`` is one of its parameters) and unless the
    parameters name one already; a model made of sub-models (ensemble, departments) passes its
    ``checkpoint_dir`` on this way, so each sub-model resumes from its own folder."""
    if checkpoint_dir is None or "checkpoint_dir" in params or "checkpoint_dir" not in cls().get_params():
        return params
    return {**params, "checkpoint_dir": str(Path(checkpoint_dir) / name)}


def combined_resume(models: dict[str, "CategoryClassifier"]) -> dict[str, Any] | None:
    """How the sub-models of a composite model resumed: ``{"seconds_before": total, "members":
    {name: their resumed_}}``, or ``None`` when none of them resumed."""
    members = {name: m.resumed_ for name, m in models.items() if getattr(m, "resumed_", None)}
    if not members:
        return None
    return {"seconds_before": float(sum(r.get("seconds_before", 0.0) for r in members.values())),
            "members": members}


def write_state(directory: Path, name: str, state: dict[str, Any]) -> None:
    """Write a model's small JSON state file ``name`` (an index of sub-models, encoders...)."""
    (Path(directory) / name).write_text(json.dumps(state, indent=2))


def read_state(directory: Path, name: str) -> dict[str, Any]:
    """Read a state file written by :func:`write_state`; a clear error when it is missing."""
    path = Path(directory) / name
    if not path.exists():
        raise WorkbenchError(f"missing {name} in {directory}; save the model again")
    return json.loads(path.read_text())


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
