"""``tfidf``: word and character n-gram TF-IDF with a linear model that gives probabilities.

Two linear heads are available (``classifier=``):

* ``"svm"`` (default): ``LinearSVC`` (one-vs-rest, squared hinge) trained on all products; its
  decision values become probabilities through a softmax with one temperature, fitted to
  minimise the log-loss on the validation split given to ``fit`` or, without one, on
  ``calibration_cv``-fold out-of-fold decision values of the training products. (scikit-learn's
  ``CalibratedClassifierCV`` refuses leaves with fewer products than folds, which a long tail
  and a grouped split always produce; a single temperature also keeps the SVM's ranking, so
  accuracy is exactly the SVM's.)
* ``"logreg"``: multinomial ``LogisticRegression`` (lbfgs), probabilities directly.
* ``"sgd"``: hashed n-grams and a logistic-loss SGD learnt one partition of ``partition_rows``
  products at a time (:mod:`workbench.models.tfidf_stream`), for catalogs whose feature matrix
  does not fit in memory; ``epochs`` passes over the partitions.

Both use ``class_weight="balanced"`` by default for the long tail. Measured on the full fashion
catalog (articleType leaves, stratified random 70/30, leaves with at least 10 products): the
SVM reached 0.972 accuracy / 0.942 macro-F1 (C=0.5, balanced), ``CalibratedClassifierCV``'s
sigmoid calibration of the same SVM 0.973 / 0.940 at three times the training time, and the
logistic regression (C=10) 0.966 / 0.938; so the SVM is the default.

Persistence: the fitted scikit-learn pipeline is written with **skops** (``model.skops``), not
joblib. skops rebuilds objects from a declarative description and refuses any type that is not
trusted, so loading a file from someone else cannot run code; joblib (pickle) would load
faster and accept any estimator, but executes whatever the file says. On load every type the
file would build (skops' defaults trust any scikit-learn estimator) is checked against
:data:`TRUSTED_TYPES` (the vectorizers and linear heads used here), and the file is refused
with an error when anything else is in it. The price of
skops is a slower save and load for large vocabularies and a short list to maintain when
scikit-learn renames a private class.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from workbench.catalog.text import word_tokens
from workbench.errors import WorkbenchError
from workbench.models.auto import is_auto
from workbench.models.base import (CategoryClassifier, check_fields, product_texts, read_state, register,
                                   write_state)
from workbench.models.tfidf_small import SMALL_BATCH, SmallBatchTfidf

ARTIFACT = "model.skops"
RESOLVED = "resolved.json"

#: Types (besides skops' defaults) that a saved ``tfidf`` model may contain.
TRUSTED_TYPES = frozenset({
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.feature_extraction.text.HashingVectorizer",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.utils._bunch.Bunch",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "builtins.NoneType",
    "collections.defaultdict",
    "numpy.float64",
    "numpy.float32",
    "numpy.int64",
    "numpy.int32",
    "numpy.ndarray",
    "numpy.dtype",
    "scipy.sparse._csr.csr_matrix",
    "scipy.sparse._csr.csr_array",
    "scipy.sparse._dia.dia_matrix",
    "workbench.catalog.text.word_tokens",
})

CLASSIFIERS = ("svm", "logreg", "sgd")
#: The values of ``C`` tried on validation when ``C="auto"`` (around the measured default 0.5).
C_GRID = (0.25, 0.5, 1.0)
#: ``C`` without validation products to choose it on.
C_DEFAULT = 0.5
#: the class weights ``class_weight="auto"`` keeps unless balanced weights are more accurate on
#: validation by more than one standard error: none (the plain reference's). Unweighted was at
#: least as accurate on validation on every catalog measured (fashion, Flipkart, Tokopedia; full
#: and 8,000-row samples), and balanced weights cost 0.5 points on the full, skewed fashion catalog.
AUTO_WEIGHT_DEFAULT = None


def stored_types(path: Path) -> set[str]:
    """Every ``module.Class`` a skops file would build (read from its ``schema.json``)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise WorkbenchError(f"{path} is not a readable skops file ({exc}); save the model again") from exc
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node and "__module__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def read_skops(path: Path, trusted: frozenset[str] = TRUSTED_TYPES):
    """Load a skops file after checking every type it would build against ``trusted``; a file
    with anything else in it is refused with an error."""
    import skops.io as sio

    if not path.exists():
        raise WorkbenchError(f"missing {path.name} in {path.parent}; save the model again")
    refused = sorted(stored_types(path) - trusted)
    untrusted = set(sio.get_untrusted_types(file=path))
    if refused or untrusted - trusted:
        raise WorkbenchError(
            f"{path} contains types outside the allow-list "
            f"({', '.join(refused or sorted(untrusted - trusted))}); "
            "refusing to load it: retrain the model with this workbench")
    return sio.load(path, trusted=sorted(untrusted))


def tfidf_features(word_ngrams=(1, 2), char_ngrams=(2, 5), max_features=None, min_df=1) -> FeatureUnion:
    """The unfitted features of the ``tfidf`` family (and of ``hierarchical``): sublinear TF-IDF
    of word n-grams and of character n-grams within word boundaries."""
    common = dict(lowercase=True, sublinear_tf=True, dtype=np.float32, max_features=max_features,
                  min_df=min_df)
    return FeatureUnion([
        # words of any script; Thai, Japanese, Chinese runs as character bigrams
        ("word", TfidfVectorizer(analyzer="word", ngram_range=tuple(word_ngrams),
                                 tokenizer=word_tokens, token_pattern=None, **common)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(char_ngrams), **common)),
    ])


def standard_error(accuracy: float, n: int) -> float:
    """The standard error of an accuracy measured on ``n`` products (the one-standard-error rule:
    a candidate within it of the default is not a real difference)."""
    return float(np.sqrt(max(accuracy * (1 - accuracy), 0.0) / max(n, 1)))


def best_temperature(scores: np.ndarray, column: np.ndarray) -> float:
    """The temperature minimising the log-loss of ``softmax(scores / T)`` for the true columns."""
    def log_loss(log_t: float) -> float:
        logits = scores / np.exp(log_t)
        logits -= logits.max(axis=1, keepdims=True)
        log_z = np.log(np.exp(logits).sum(axis=1))
        return float(np.mean(log_z - logits[np.arange(len(column)), column]))

    best = minimize_scalar(log_loss, bounds=(np.log(1e-3), np.log(1e2)), method="bounded")
    return float(np.exp(best.x))


def _decision_matrix(svm: LinearSVC, matrix) -> np.ndarray:
    """Decision values with one column per class of ``svm`` (two columns for two classes)."""
    values = svm.decision_function(matrix)
    if values.ndim == 1:
        values = np.column_stack([-values, values])
    return values


@register
class TfidfClassifier(CategoryClassifier):
    """TF-IDF of word and character n-grams of the chosen text fields, then a linear model.

    Parameters: ``leaves`` (the taxonomy's leaf list: the columns of ``predict_proba``),
    ``fields`` (product columns joined into one text), ``word_ngrams`` / ``char_ngrams``
    (n-gram ranges of :func:`~workbench.catalog.text.word_tokens` words, which read scripts
    without spaces as character bigrams, and of characters within word boundaries), ``max_features`` (per vectorizer,
    ``None`` = all), ``min_df``, ``classifier`` (``"svm"`` or ``"logreg"``), ``C`` (a number, or
    ``"auto"``: each value of :data:`C_GRID` is fitted on the same features and the one with the
    best validation accuracy, then macro-F1, is kept, unless it is within one standard error of
    :data:`C_DEFAULT`'s accuracy; recorded as ``resolved_params()["C"]``),
    ``class_weight`` (``"balanced"``, ``None``, or ``"auto"``: chosen on validation with ``C``, as
    above), ``calibration_cv`` (folds of the out-of-fold
    decision values the SVM's softmax temperature is fitted on when ``fit`` gets no validation
    split), ``max_iter``, ``partition_rows``, ``epochs`` and ``alpha`` (the ``sgd`` head's partition
    size, passes and L2 penalty), ``oversample`` (``None``, ``"sqrt"``, ``"balanced"``: rare leaves'
    products weigh more, see :mod:`workbench.models.sampling`), ``random_state``.
    """

    kind = "tfidf"
    oversample_by_weight = True

    def __init__(self, leaves=None, fields=("title", "brand"), word_ngrams=(1, 2),
                 char_ngrams=(2, 5), max_features=None, min_df=1, classifier="svm", C=0.5,
                 class_weight="balanced", calibration_cv=3, max_iter=2000, partition_rows=50_000,
                 epochs=5, alpha=1e-4, oversample=None, random_state=0):
        self._store_params(locals())

    # building ---------------------------------------------------------------------------
    def _vectorizer(self) -> FeatureUnion:
        return tfidf_features(self.word_ngrams, self.char_ngrams, self.max_features, self.min_df)

    def _fit(self, X: pd.DataFrame, y: np.ndarray, n_classes: int, valid, sample_weight=None) -> None:
        if self.classifier not in CLASSIFIERS:
            raise WorkbenchError(f"unknown tfidf classifier {self.classifier!r}; use one of {CLASSIFIERS}")
        check_fields(X, self.fields)
        texts = product_texts(X, self.fields)
        self.seen_classes_ = np.unique(y)
        self.temperature_ = 1.0
        if len(self.seen_classes_) < 2:
            # one class only: nothing to separate, every product gets that class
            self.pipeline_ = None
            return
        if self.classifier == "sgd":
            self.pipeline_ = self._fit_sgd(texts, y)
            return
        features = self._vectorizer().fit(texts)
        matrix = features.transform(texts)
        seen_valid = None if valid is None else np.isin(valid[1], self.seen_classes_)
        Xv = yv = None
        if seen_valid is not None and seen_valid.sum() >= 2:
            Xv = features.transform(product_texts(valid[0], self.fields))[seen_valid]
            yv = valid[1][seen_valid]
        self.C_ = self._resolve_C(matrix, y, sample_weight, Xv, yv)
        head = self._head(self.C_)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            head.fit(matrix, y, sample_weight=sample_weight)
        if self.classifier == "svm":
            if Xv is not None:
                # the validation split calibrates: one SVM fit instead of calibration_cv + 1
                self.temperature_ = self._best_temperature(_decision_matrix(head, Xv), yv)
            else:
                self.temperature_ = self._fit_temperature(matrix, y, sample_weight)
        self.pipeline_ = Pipeline([("tfidf", features), ("clf", head)])

    def _class_weight(self):
        """The class weights in use: as given, or what ``class_weight="auto"`` resolved to."""
        return getattr(self, "class_weight_", "balanced") if is_auto(self.class_weight) else self.class_weight

    def _head(self, C: float):
        if self.classifier == "logreg":
            return LogisticRegression(C=C, class_weight=self._class_weight(),
                                      max_iter=self.max_iter, random_state=self.random_state)
        return self._svm(C)

    def _resolve_C(self, matrix, y: np.ndarray, sample_weight, Xv, yv) -> float:
        """``C`` (and ``class_weight``) as given, or, for each one set to ``"auto"``, the value of
        :data:`C_GRID` (and of ``"balanced"`` / ``None``) whose head, fitted on the training
        features, has the best validation accuracy (ties: macro-F1, then the default), unless
        it is within one standard error of the default's (``C`` 0.5; with ``class_weight="auto"``
        no class weights, :data:`AUTO_WEIGHT_DEFAULT`); the scores go into ``resolved_params_``."""
        auto_c, auto_w = is_auto(self.C), is_auto(self.class_weight)
        if not (auto_c or auto_w):
            return float(self.C)
        c_default = C_DEFAULT if auto_c else float(self.C)
        if Xv is None:
            self.class_weight_ = AUTO_WEIGHT_DEFAULT
            self.resolved_params_ = {**({"C": c_default} if auto_c else {}),
                                     **({"class_weight": AUTO_WEIGHT_DEFAULT or "none"} if auto_w else {}),
                                     "C_choice": "no validation products: the default"}
            return c_default
        grid = [(float(c), w) for w in (("balanced", None) if auto_w else (self.class_weight,))
                for c in (C_GRID if auto_c else (c_default,))]
        default = (c_default, AUTO_WEIGHT_DEFAULT if auto_w else self.class_weight)
        scores = {}
        for C, weight in grid:
            self.class_weight_ = weight
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=ConvergenceWarning)
                pred = self._head(C).fit(matrix, y, sample_weight=sample_weight).predict(Xv)
            scores[(C, weight)] = (float(np.mean(pred == yv)), float(f1_score(yv, pred, average="macro")))
        best = max(scores, key=lambda k: (*scores[k], k == default, -abs(np.log(k[0] / c_default))))
        if scores[best][0] - scores[default][0] <= standard_error(scores[best][0], len(yv)):
            best = default  # within one standard error of the default: not a real difference
        self.class_weight_ = best[1]
        name = (lambda k: f"{k[0]}" if not auto_w else f"{k[0]}/{k[1] or 'none'}")
        self.resolved_params_ = {**({"C": best[0]} if auto_c else {}),
                                 **({"class_weight": best[1] or "none"} if auto_w else {}),
                                 "C_valid_accuracy": {name(k): round(a, 4) for k, (a, _) in scores.items()},
                                 "C_valid_macro_f1": {name(k): round(f, 4) for k, (_, f) in scores.items()}}
        return best[0]

    def _fit_sgd(self, texts: list[str], y: np.ndarray) -> Pipeline:
        from workbench.models.tfidf_stream import (balanced_weights, fit_streaming, hashing_vectorizer,
                                                   partitions, sgd_head)

        vectorizer = hashing_vectorizer(self.word_ngrams, self.char_ngrams)
        weights = balanced_weights(y, self.seen_classes_) if self.class_weight == "balanced" else None
        head = sgd_head(self.alpha, weights, self.random_state)
        for epoch in range(int(self.epochs)):
            batches = (([texts[i] for i in idx], y[idx])
                       for idx in partitions(len(y), int(self.partition_rows), epoch, self.random_state))
            fit_streaming(head, vectorizer, batches, self.seen_classes_)
        return Pipeline([("tfidf", vectorizer), ("clf", head)])

    def _svm(self, C: float | None = None) -> LinearSVC:
        C = getattr(self, "C_", C_DEFAULT) if C is None else C
        return LinearSVC(C=C, class_weight=self._class_weight(), max_iter=self.max_iter,
                         random_state=self.random_state)

    def _fit_temperature(self, matrix, y: np.ndarray, sample_weight=None) -> float:
        """The softmax temperature of the SVM's decision values that minimises the log-loss of
        out-of-fold predictions (classes missing from a fold's training part score lowest)."""
        seen = self.seen_classes_
        folds = max(2, min(int(self.calibration_cv), int(np.bincount(y)[seen].max())))
        scores = np.zeros((len(y), len(seen)))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        with warnings.catch_warnings():
            # a leaf with fewer products than folds is missing from some training parts
            warnings.filterwarnings("ignore", category=UserWarning)
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            for train, test in splitter.split(np.zeros(len(y)), y):
                svm = self._svm().fit(matrix[train], y[train],
                                      sample_weight=None if sample_weight is None else sample_weight[train])
                cols = np.searchsorted(seen, svm.classes_)
                values = _decision_matrix(svm, matrix[test])
                fold = np.full((len(test), len(seen)), np.nan)
                fold[:, cols] = values
                floor = np.nanmin(fold, axis=1, keepdims=True) - 1.0
                scores[test] = np.where(np.isnan(fold), floor, fold)
        return self._best_temperature(scores, y)

    def _best_temperature(self, scores: np.ndarray, y: np.ndarray) -> float:
        """The temperature minimising the log-loss of ``softmax(scores / T)`` (columns: seen classes)."""
        return best_temperature(scores, np.searchsorted(self.seen_classes_, y))

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        n = len(X)
        proba = np.zeros((n, len(self.classes_)), dtype=np.float64)
        if self.pipeline_ is None:
            proba[:, self.seen_classes_[0]] = 1.0
            return proba
        texts = product_texts(X, self.fields)
        seen = np.asarray(self.pipeline_.classes_, dtype=np.int64)
        if self.classifier in ("logreg", "sgd"):
            proba[:, seen] = self.pipeline_.predict_proba(texts)
            return proba
        head = self.pipeline_.named_steps["clf"]
        small = self._small_batch() if n <= SMALL_BATCH else None
        if small is not None:
            logits = small.decision(texts)
        else:
            logits = _decision_matrix(head, self.pipeline_.named_steps["tfidf"].transform(texts))
        logits = logits / self.temperature_
        logits -= logits.max(axis=1, keepdims=True)
        local = np.exp(logits)
        proba[:, seen] = local / local.sum(axis=1, keepdims=True)
        return proba

    def _small_batch(self):
        """The fitted SVM pipeline as :class:`~workbench.models.tfidf_small.SmallBatchTfidf` (built on
        first use; ``None`` where that path does not compute the same numbers)."""
        cached = getattr(self, "small_batch_", None)
        if cached is None or cached[0] is not self.pipeline_:  # built for this fit (or load), not an earlier one
            union, head = self.pipeline_.named_steps["tfidf"], self.pipeline_.named_steps["clf"]
            cached = (self.pipeline_, SmallBatchTfidf(union, head) if SmallBatchTfidf.supports(union, head) else None)
            self.small_batch_ = cached
        return cached[1]

    # persistence ------------------------------------------------------------------------
    def _save_artifacts(self, directory: Path) -> None:
        import skops.io as sio

        sio.dump({"seen_classes": self.seen_classes_, "temperature": float(self.temperature_),
                  "pipeline": self.pipeline_}, directory / ARTIFACT)
        if self.resolved_params():
            write_state(directory, RESOLVED, self.resolved_params())

    def _load_artifacts(self, directory: Path) -> None:
        state = read_skops(directory / ARTIFACT)
        self.seen_classes_ = np.asarray(state["seen_classes"], dtype=np.int64)
        self.temperature_ = float(state["temperature"])
        self.pipeline_ = state["pipeline"]
        self.resolved_params_ = read_state(directory, RESOLVED) if (directory / RESOLVED).exists() else {}
