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
from workbench.models.base import (CategoryClassifier, child_checkpoint_params, combined_resume, model_class,
                                   read_state, register, write_state)

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
    ``oversample`` works too), ``random_state`` (passed to every member), ``checkpoint_dir`` (a
    folder under which each member that checkpoints keeps its own, ``<dir>/<kind>``; ``None`` =
    each member's default), ``drop_margin`` (members are chosen on the validation products given to
    ``fit``: a member whose validation accuracy is more than this below the best member's is
    dropped, and then, while the vote of the rest is less accurate than its best member alone,
    the least accurate member goes too; ``None`` keeps every member), ``probe_size`` (with more
    training products than this, every member is first fitted on a leaf-stratified sample of
    this many and the same rule runs on those cheap fits: a member it drops is never fitted on
    all products, ``probed_out`` in ``resolved_params()``; ``None`` = no probe).
    """

    kind = "ensemble"

    def __init__(self, members=None, weights=None, combine="geometric", fields=None, workspace=None,
                 leaves=None, oversample=None, random_state=0, checkpoint_dir=None, drop_margin=0.02,
                 probe_size=3000):
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
        params = child_checkpoint_params(cls, params, self.checkpoint_dir, kind)
        return cls(**{**params, "leaves": list(self.classes_), "random_state": self.random_state})

    def _fit(self, X: pd.DataFrame, y: np.ndarray, n_classes: int, valid) -> None:
        if self.combine not in COMBINE:
            raise WorkbenchError(f"unknown combine {self.combine!r}; use one of {COMBINE}")
        specs = self._member_specs()
        self.weights_ = self._weights(list(specs))
        labels = self.classes_[y]
        extra = [valid[0], self.classes_[valid[1]]] if valid is not None else []
        self.probed_out_ = self._probe(specs, X, y, valid, extra)
        specs = {k: v for k, v in specs.items() if k not in self.probed_out_}
        self.weights_ = self._weights(list(specs)) if not isinstance(self.weights, dict) else \
            self._weights_subset(list(specs))
        self.models_ = {kind: self._build(kind, params).fit(X, labels, *extra)
                        for kind, params in specs.items()}
        self.resumed_ = combined_resume(self.models_)
        self.seen_classes_ = np.unique(y)
        self.member_accuracy_ = None
        self.member_valid_accuracy_, self.dropped_ = {}, []
        if valid is not None and len(valid[1]):
            matrices = {kind: model.predict_proba(valid[0]) for kind, model in self.models_.items()}
            acc = {kind: float(np.mean(m.argmax(axis=1) == valid[1])) for kind, m in matrices.items()}
            if self.weights == ACCURACY:
                self.member_accuracy_ = acc
                total = sum(acc.values())
                if total > 0:
                    self.weights_ = np.array([acc[k] / total for k in self.models_])
            if self.drop_margin is not None and len(self.models_) > 1:
                self._drop_weak_members(matrices, acc, valid[1])

    def _weights_subset(self, kinds: list[str]) -> np.ndarray:
        w = np.array([float(dict(self.weights).get(k, 1.0)) for k in kinds])
        return w / w.sum() if w.sum() > 0 else np.full(len(kinds), 1.0 / len(kinds))

    def _probe(self, specs: dict[str, dict], X: pd.DataFrame, y: np.ndarray, valid, extra) -> list[str]:
        """The members the drop rule removes when every member is fitted on a sample of
        ``probe_size`` training products (none without validation products or a probe)."""
        if (valid is None or not len(valid[1]) or self.drop_margin is None or len(specs) < 2
                or self.probe_size is None or len(y) <= int(self.probe_size)):
            return []
        from workbench.models.head_mixing import stratified_rows

        rows = stratified_rows(y, int(self.probe_size), self.random_state)
        sample, labels = X.iloc[rows].reset_index(drop=True), self.classes_[y[rows]]
        probes = {kind: self._build(kind, {k: v for k, v in params.items() if k != "checkpoint_dir"})
                  for kind, params in specs.items()}
        for model in probes.values():
            if "checkpoint_dir" in model.get_params():
                model.set_params(checkpoint_dir=None)  # a probe never resumes nor leaves checkpoints
            model.fit(sample, labels, *extra)
        matrices = {kind: m.predict_proba(valid[0]) for kind, m in probes.items()}
        acc = {kind: float(np.mean(m.argmax(axis=1) == valid[1])) for kind, m in matrices.items()}
        saved = self.models_ if hasattr(self, "models_") else None
        self.models_, weights_before = probes, self.weights_
        self._drop_weak_members(matrices, acc, valid[1])
        dropped = list(self.dropped_)
        self.probe_valid_accuracy_ = acc
        self.weights_ = weights_before
        if saved is not None:
            self.models_ = saved
        return dropped

    def _drop_weak_members(self, matrices: dict[str, np.ndarray], acc: dict[str, float],
                           y_valid: np.ndarray) -> None:
        """Drop the members that are clearly worse on validation (see ``drop_margin``)."""
        best = max(acc.values())
        kept = [k for k in self.models_ if acc[k] >= best - float(self.drop_margin)]
        weights = dict(zip(self.models_, self.weights_))
        while len(kept) > 1:
            w = np.array([weights[k] for k in kept])
            vote = self._combine([matrices[k] for k in kept], w / w.sum())
            if np.mean(vote.argmax(axis=1) == y_valid) >= max(acc[k] for k in kept):
                break
            kept.remove(min(kept, key=lambda k: (acc[k], -list(self.models_).index(k))))
        self.member_valid_accuracy_ = acc
        self.dropped_ = [k for k in self.models_ if k not in kept]
        self.models_ = {k: self.models_[k] for k in kept}
        w = np.array([weights[k] for k in kept])
        self.weights_ = w / w.sum() if w.sum() > 0 else np.full(len(kept), 1.0 / len(kept))

    def resolved_params(self) -> dict:
        """``{member kind: its resolved "auto" parameters}`` for the members that had any."""
        out = {kind: got for kind, model in getattr(self, "models_", {}).items()
               if (got := model.resolved_params())}
        if getattr(self, "member_valid_accuracy_", None):
            out["member_valid_accuracy"] = dict(self.member_valid_accuracy_)
            out["dropped"] = list(self.dropped_)
        if getattr(self, "probed_out_", None):
            out["probe_valid_accuracy"] = dict(self.probe_valid_accuracy_)
            out["probed_out"] = list(self.probed_out_)
            out["dropped"] = list(self.probed_out_) + list(out.get("dropped", []))
        return out

    def member_probabilities(self, X) -> dict[str, np.ndarray]:
        """Each member's probability matrix (leaf-aligned), by kind."""
        self._check_fitted()
        return {kind: model.predict_proba(X) for kind, model in self.models_.items()}

    def _combine(self, matrices: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
        """The members' matrices combined by ``combine`` with normalised ``weights``."""
        if self.combine == "mean":
            return sum(w * m for w, m in zip(weights, matrices))
        logp = sum(w * np.log(np.maximum(m, FLOOR)) for w, m in zip(weights, matrices))
        return np.exp(logp - logp.max(axis=1, keepdims=True))

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        proba = self._combine(list(self.member_probabilities(X).values()), self.weights_)
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
                 "member_accuracy": getattr(self, "member_accuracy_", None),
                 "member_valid_accuracy": getattr(self, "member_valid_accuracy_", {}),
                 "dropped": list(getattr(self, "dropped_", []))}
        write_state(directory, INDEX, state)

    def _load_artifacts(self, directory: Path) -> None:
        state = read_state(directory, INDEX)
        self.models_ = {kind: CategoryClassifier.load(directory / sub)
                        for kind, sub in state["members"].items()}
        self.weights_ = np.asarray(state["weights"], dtype=np.float64)
        self.seen_classes_ = np.asarray(state["seen_classes"], dtype=np.int64)
        self.member_accuracy_ = state.get("member_accuracy")
        self.member_valid_accuracy_ = dict(state.get("member_valid_accuracy", {}))
        self.dropped_ = list(state.get("dropped", []))
