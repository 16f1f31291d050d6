"""``department``: one model per department (a product column such as ``gender``), combined.

Every sub-model is built with the full leaf list, so each returns a leaf-aligned matrix and
the combination is a row-wise pick: a product's row comes from its own department's model.

Products whose department was not seen in training (or is missing) are predicted by a
**fallback model trained on all training products** (``fallback="global"``, the default), or
get a **uniform distribution over the leaves seen in training** (``fallback="uniform"``).
A department whose training products all share one leaf needs no model: it predicts that
leaf with probability 1. A department with fewer than ``min_department_size`` training
products is not given a model of its own; its products go to the fallback.

Persistence: ``departments.json`` maps each department value to a sub-directory
``departments/<i>/`` holding that sub-model's own manifest and artifacts; the fallback model
lives in ``fallback/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.models.base import (CategoryClassifier, child_checkpoint_params, combined_resume, model_class,
                                   read_state, register, write_state)

INDEX = "departments.json"
FALLBACKS = ("global", "uniform")


def department_values(X: pd.DataFrame, column: str) -> np.ndarray:
    """The department of each product as a string (``""`` when missing)."""
    if column not in X:
        raise WorkbenchError(
            f"products have no department column {column!r}; pass --department with one of "
            f"{', '.join(map(str, X.columns))}")
    values = X[column]
    return np.where(values.isna(), "", values.astype(str).str.strip()).astype(object)


@register
class DepartmentModel(CategoryClassifier):
    """One ``base_kind`` model per value of ``department_column``, combined into one matrix.

    Parameters: ``base_kind`` (a registered family), ``base_params`` (its parameters, without
    ``leaves``), ``department_column``, ``leaves``, ``fallback`` (``"global"`` or ``"uniform"``),
    ``min_department_size``, ``oversample`` (over all departments before they split; ``base_params``
    may carry one per sub-model instead), ``random_state`` (passed to every sub-model),
    ``checkpoint_dir`` (a folder under which each sub-model that checkpoints keeps its own;
    ``None`` = their default).
    """

    kind = "department"

    def __init__(self, base_kind="tfidf", base_params=None, department_column="department",
                 leaves=None, fallback="global", min_department_size=20, oversample=None,
                 random_state=0, checkpoint_dir=None):
        self._store_params(locals())

    def _base(self, name: str = "all") -> CategoryClassifier:
        """A fresh sub-model; ``name`` names its checkpoint folder under ``checkpoint_dir``."""
        cls = model_class(self.base_kind)
        if cls is DepartmentModel:
            raise WorkbenchError("a department model cannot nest department models; pick a base kind")
        params = child_checkpoint_params(cls, dict(self.base_params or {}), self.checkpoint_dir, name)
        params.update(leaves=list(self.classes_), random_state=self.random_state)
        return cls(**params)

    def _fit(self, X: pd.DataFrame, y: np.ndarray, n_classes: int, valid) -> None:
        if self.fallback not in FALLBACKS:
            raise WorkbenchError(f"unknown fallback {self.fallback!r}; use one of {FALLBACKS}")
        labels = self.classes_[y]
        depts = department_values(X, self.department_column)
        valid_depts = valid_labels = None
        if valid is not None:
            Xv, yv = valid
            valid_depts, valid_labels = department_values(Xv, self.department_column), self.classes_[yv]
        self._base()  # a bad base kind fails before any training
        self.models_: dict[str, CategoryClassifier] = {}
        self.constant_: dict[str, str] = {}
        for dept in sorted(set(depts) - {""}):
            mask = depts == dept
            if mask.sum() < int(self.min_department_size):
                continue
            seen = np.unique(labels[mask])
            if len(seen) == 1:
                self.constant_[dept] = str(seen[0])
                continue
            args = [X[mask].reset_index(drop=True), labels[mask]]
            if valid is not None and (valid_depts == dept).any():
                vm = valid_depts == dept
                args += [Xv[vm].reset_index(drop=True), valid_labels[vm]]
            self.models_[dept] = self._base(f"department-{len(self.models_)}").fit(*args)
        self.seen_classes_ = np.unique(y)
        self.fallback_model_ = None
        if self.fallback == "global":
            args = [X, labels] + ([valid[0], valid_labels] if valid is not None else [])
            self.fallback_model_ = self._base("all").fit(*args)
        self.resumed_ = combined_resume({**self.models_, **({"all": self.fallback_model_}
                                                            if self.fallback_model_ is not None else {})})

    def _fallback_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self.fallback_model_ is not None:
            return self.fallback_model_.predict_proba(X)
        proba = np.zeros((len(X), len(self.classes_)))
        proba[:, self.seen_classes_] = 1.0 / len(self.seen_classes_)
        return proba

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        depts = department_values(X, self.department_column)
        proba = np.zeros((len(X), len(self.classes_)))
        index = {c: i for i, c in enumerate(self.classes_)}
        routed = np.zeros(len(X), dtype=bool)
        for dept, leaf in self.constant_.items():
            mask = depts == dept
            proba[mask, index[leaf]] = 1.0
            routed |= mask
        for dept, model in self.models_.items():
            mask = depts == dept
            if mask.any():
                proba[mask] = model.predict_proba(X[mask].reset_index(drop=True))
                routed |= mask
        if (~routed).any():
            proba[~routed] = self._fallback_proba(X[~routed].reset_index(drop=True))
        return proba

    # persistence ------------------------------------------------------------------------
    def _save_artifacts(self, directory: Path) -> None:
        subdirs = {}
        for i, (dept, model) in enumerate(sorted(self.models_.items())):
            sub = Path("departments") / str(i)
            model.save(directory / sub)
            subdirs[dept] = str(sub)
        if self.fallback_model_ is not None:
            self.fallback_model_.save(directory / "fallback")
        state = {"models": subdirs, "constant": self.constant_,
                 "seen_classes": [int(c) for c in self.seen_classes_],
                 "fallback": "fallback" if self.fallback_model_ is not None else None}
        write_state(directory, INDEX, state)

    def _load_artifacts(self, directory: Path) -> None:
        state = read_state(directory, INDEX)
        self.models_ = {d: CategoryClassifier.load(directory / sub) for d, sub in state["models"].items()}
        self.constant_ = dict(state["constant"])
        self.seen_classes_ = np.asarray(state["seen_classes"], dtype=np.int64)
        self.fallback_model_ = (CategoryClassifier.load(directory / state["fallback"])
                                if state["fallback"] else None)
