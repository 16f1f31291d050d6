"""``ensemble``: several model families trained on the same products, probabilities combined.

Soft voting, as scikit-learn's ``VotingClassifier(voting="soft")``, but over the workbench's
leaf-aligned families: every member is built over the same leaf list, so their matrices line
up column for column. Two ways to combine:

* ``"geometric"`` (default): the weighted mean of the members' log-probabilities, renormalised
  (a product of experts: a leaf one member rules out stays unlikely). Members' zero
  probabilities are floored at ``1e-6`` first, and a leaf absent from the training data keeps
  its column of zeros.
* ``"mean"``: the weighted mean of the probabilities.

``weights="accuracy"`` weighs each member by its accuracy on the validation products given to
``fit`` (the retail case study's late fusion of a text and an image model); without validation
products the members weigh the same, and ``member_accuracy_`` says so (``None``).

Families that err differently help each other most: the TF-IDF SVM, fastText's averaged
n-gram vectors and the CNN-LSTM's character n-grams through convolutions and an LSTM.

Persistence: ``ensemble.json`` lists the members; each member is saved with its own manifest
and artifacts in ``members/<i>/`` (so nothing is pickled here either).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.models.base import CategoryClassifier, model_class, read_state, register, write_state

INDEX = "ensemble.json"
COMBINE = ("geometric", "mean")
FLOOR = 1e-6
#: Parameter through which each family takes its text fields.
FIELD_PARAMS = ("fields", "text_fields")
#: Members when none are given: the three families whose vote measured best on fashion.
DEFAULT_MEMBERS = ("tfidf", "fasttext", "cnn-lstm")
#: ``weights=ACCURACY``: each member weighs its validation accuracy.
ACCURACY = "accuracy"


@register
class EnsembleClassifier(CategoryClassifier):
    """Members (``{kind: parameters}``) fitted on the same products, probabilities combined.

    Parameters: ``members`` (an ordered mapping of family kind to its parameters, without
    ``leaves``, or a list of kinds; ``None`` = :data:`DEFAULT_MEMBERS` with their defaults), ``weights`` (``{kind: weight}``; missing kinds weigh 1; ``None`` = equal),
    ``combine`` (``"geometric"`` or ``"mean"``), ``fields`` (text fields given to every member
    that has a field parameter, unless its own parameters name them; ``None`` = each member's
    default), ``leaves``, ``oversample`` (oversampling before every member fits; a member's own
    ``oversample`` works too), ``random_state`` (passed to every member).
    """

    kind = "ensemble"

    def __init__(self, members=None, weights=None, combine="geometric", fields=None, workspace=None,
                 leaves=None, oversample=None, random_state=0):
        self._store_params(locals())

    def _member_specs(self) -> dict[str, dict]:
        members = self.members if self.members is not None else dict.fromkeys(DEFAULT_MEMBERS)
        if isinstance(members, (list, tuple)):
            members = {kind: {} for kind in members}
        if not members:
            raise WorkbenchError("an ensemble needs at least one member, e.g. members={'tfidf': {}, 'fasttext': {}}")
        for kind in members:
            if kind in ("ensemble", "department"):
                raise WorkbenchError(f"an ensemble member cannot be a {kind!r} model; pick model families")
        return {kind: dict(params or {}) for kind, params in members.items()}

    def _weights(self, kinds: list[str]) -> np.ndarray:
        if isinstance(self.weights, str):
            if self.weights != ACCURACY:
                raise WorkbenchError(f"unknown weights {self.weights!r}; use {ACCURACY!r}, "
                                     "{kind: weight} or None")
            return np.full(len(kinds), 1.0 / len(kinds))
        weights = dict(self.weights or {})
        unknown = sorted(set(weights) - set(kinds))
        if unknown:
            raise WorkbenchError(f"weights name {', '.join(unknown)}, which are not members ({', '.join(kinds)})")
        w = np.array([float(weights.get(k, 1.0)) for k in kinds])
        if (w < 0).any() or w.sum() <= 0:
            raise WorkbenchError(f"ensemble weights must be >= 0 and not all 0; got {dict(zip(kinds, w))}")
        return w / w.sum()

    def _build(self, kind: str, params: dict) -> CategoryClassifier:
        cls = model_class(kind)
        known = cls().get_params()
        if self.workspace is not None and "workspace" in known and "workspace" not in params:
            params = {**params, "workspace": self.workspace}
        if self.fields is not None:
            for name in FIELD_PARAMS:
                if name in known and name not in params:
                    params = {**params, name: list(self.fields)}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise WorkbenchError(f"ensemble member {kind} has no parameter(s) {', '.join(unknown)}")
        return cls(**{**params, "leaves": list(self.classes_), "random_state": self.random_state})

    def _fit(self, X: pd.DataFrame, y: np.ndarray, n_classes: int, valid) -> None:
        if self.combine not in COMBINE:
            raise WorkbenchError(f"unknown combine {self.combine!r}; use one of {COMBINE}")
        specs = self._member_specs()
        self.weights_ = self._weights(list(specs))
        labels = self.classes_[y]
        extra = [valid[0], self.classes_[valid[1]]] if valid is not None else []
        self.models_ = {kind: self._build(kind, params).fit(X, labels, *extra)
                        for kind, params in specs.items()}
        self.seen_classes_ = np.unique(y)
        self.member_accuracy_ = None
        if self.weights == ACCURACY and valid is not None and len(valid[1]):
            acc = {kind: float(np.mean(model.predict_proba(valid[0]).argmax(axis=1) == valid[1]))
                   for kind, model in self.models_.items()}
            total = sum(acc.values())
            self.member_accuracy_ = acc
            if total > 0:
                self.weights_ = np.array([acc[k] / total for k in self.models_])

    def member_probabilities(self, X) -> dict[str, np.ndarray]:
        """Each member's probability matrix (leaf-aligned), by kind."""
        self._check_fitted()
        return {kind: model.predict_proba(X) for kind, model in self.models_.items()}

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        matrices = list(self.member_probabilities(X).values())
        if self.combine == "mean":
            proba = sum(w * m for w, m in zip(self.weights_, matrices))
        else:
            logp = sum(w * np.log(np.maximum(m, FLOOR)) for w, m in zip(self.weights_, matrices))
            proba = np.exp(logp - logp.max(axis=1, keepdims=True))
        unseen = np.ones(len(self.classes_), dtype=bool)
        unseen[self.seen_classes_] = False
        proba[:, unseen] = 0.0
        return proba

    # persistence ------------------------------------------------------------------------
    def _save_artifacts(self, directory: Path) -> None:
        subdirs = {}
        for i, (kind, model) in enumerate(self.models_.items()):
            sub = Path("members") / str(i)
            model.save(directory / sub)
            subdirs[kind] = str(sub)
        state = {"members": subdirs, "weights": [float(w) for w in self.weights_],
                 "seen_classes": [int(c) for c in self.seen_classes_],
                 "member_accuracy": getattr(self, "member_accuracy_", None)}
        write_state(directory, INDEX, state)

    def _load_artifacts(self, directory: Path) -> None:
        state = read_state(directory, INDEX)
        self.models_ = {kind: CategoryClassifier.load(directory / sub)
                        for kind, sub in state["members"].items()}
        self.weights_ = np.asarray(state["weights"], dtype=np.float64)
        self.seen_classes_ = np.asarray(state["seen_classes"], dtype=np.int64)
        self.member_accuracy_ = state.get("member_accuracy")
