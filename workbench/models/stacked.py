"""``auto``: the default selection, chosen on the validation products of the user's own catalog.

Four parts, each kept only when validation says it earns its place:

1. **tfidf** (:mod:`workbench.models.tfidf`) over the text fields that help: title and brand
   always; the description too when enough training products have one
   (``description_share``) and a tfidf over it is more accurate on validation than one without.
   Its regularisation ``C`` is chosen on validation too (``C="auto"``: the best of
   :data:`workbench.models.tfidf.C_GRID`).
2. **rare leaves through their ancestor** (:mod:`workbench.models.rare_leaves`): leaves with
   too few training products are learnt as one group per parent (or grandparent) and the
   group's probability is shared among them by the flat tfidf; the minimum count and the depth
   are chosen on validation among candidates taken from the catalog's leaf sizes, and the
   back-off is used only when it beats the flat tfidf there. Every leaf is kept: nothing is
   pooled into "Other".
3. **a sentence-embedding head**: a multinomial logistic regression over sentence embeddings of
   title and brand, from the encoder that reads the titles' language
   (:func:`workbench.catalog.language.guess_language`: all-MiniLM-L6-v2 for English,
   multilingual-e5-small otherwise). Its log-probabilities join tfidf's in a weighted geometric
   mean; the weight is chosen on validation among ``head_weights`` (0 = the head is dropped).
   Before the full head is fitted, a *probe* head on at most ``probe_size`` training products
   checks that some weight helps on validation at all; when none does, the full head is never
   fitted (its cost is not paid) and the model is tfidf alone. Its ``C`` is chosen on the probe
   with the one-standard-error rule tfidf's ``C`` uses: the default (10) stands unless another
   value is more accurate on validation by more than one standard error.
4. **a photo head**, where products have photos: when the training products have an ``image``
   column and at least ``photo_share`` of them have a usable photo, a multinomial logistic
   regression over their image vectors (EfficientNet-Lite0,
   :func:`workbench.embeddings.image_embed.product_image_vectors`, which reuses the vectors
   ``workbench embed --images`` stored in the workspace) joins the text combination (tfidf and
   the sentence head) in the same weighted geometric mean, with its own weight chosen on
   validation among ``photo_weights`` (0 = dropped). The same probe decides first, on at most
   ``probe_size`` training products (only their photos are encoded), and the head's ``C`` is
   chosen there by the one-standard-error rule. A product without a usable photo gets the text
   combination alone: the weights are renormalised over the heads present, so a missing photo
   costs nothing.

Without validation products the model is tfidf over title and brand. Everything chosen is in
``resolved_params()`` (fields, encoder, head weight, validation accuracy of each candidate,
what was dropped and why) and so in the recorded run.

Persistence: the tfidf part in ``tfidf/`` (skops, its own allow-list), the rare-leaf group head
in ``backoff.skops`` (skops, the same allow-list), the heads' coefficients in
``head.safetensors`` and ``photo.safetensors`` and the choices in ``auto.json``; nothing is pickled.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.models.base import CategoryClassifier, product_texts, read_state, register, write_state
from workbench.models.head_mixing import (HEAD_C_DEFAULT, accuracy_of, geometric_join, join_photo, one_se_choice,
                                          stratified_rows)
from workbench.models.stacked_photo import PhotoHeadMixin

INDEX = "auto.json"
HEAD = "head.safetensors"
PHOTO = "photo.safetensors"
BACKOFF = "backoff.skops"
#: Text fields of the head's sentence embeddings.
HEAD_FIELDS = ("title", "brand")


@register
class AutoClassifier(PhotoHeadMixin, CategoryClassifier):
    """tfidf over the fields that help plus a sentence-embedding head when it helps (module doc).

    Parameters: ``leaves``, ``fields`` (``"auto"``: title and brand, plus description when
    validation prefers it; or a list of fields), ``C`` and ``class_weight`` (tfidf's; ``"auto"``:
    chosen on validation), ``rare_leaves`` (``"auto"``: the back-off of rare leaves to their ancestor,
    used when validation prefers it; ``None``: never), ``embedding_model``
    (``"auto"``: by the titles' language; a name; ``None``: no head), ``head_weights`` (the
    weights of the head tried on validation), ``head_C`` (the head's inverse regularisation;
    ``"auto"``: the best of ``head_C_grid`` for the probe head on validation),
    ``probe_size`` (training products of the probe head), ``description_share`` (share of
    training products with a description before a description candidate is tried),
    ``image_model`` (the photo head's image encoder; ``None``: no photo head), ``images_dir``
    (base of relative image paths), ``photo_share`` (share of training products with a photo
    before a photo head is tried), ``photo_weights`` (the photo head's weights tried on
    validation), ``photo_C`` (``"auto"``: chosen among ``head_C_grid`` on the probe),
    ``workspace`` (embedding cache and recorded image vectors), ``device`` (the encoders';
    ``None`` = GPU when present), ``random_state``.
    """

    kind = "auto"

    def __init__(self, leaves=None, fields="auto", C="auto", class_weight="auto", rare_leaves="auto",
                 embedding_model="auto",
                 head_weights=(0.2, 0.35, 0.5), head_C="auto", head_C_grid=(1.0, 10.0, 100.0),
                 probe_size=3000, description_share=0.3, image_model="default", images_dir=None,
                 photo_share=0.3, photo_weights=(0.1, 0.2, 0.35), photo_C="auto", workspace=None,
                 device=None, random_state=0):
        self._store_params(locals())

    @property
    def inputs(self) -> tuple[str, ...]:
        """What the fitted model reads: ``("text", "image")`` when its photo head is kept (so the
        Classify page offers a photo upload and explanations look for photo neighbours), else
        ``("text",)``."""
        return ("text", "image") if getattr(self, "photo_", None) is not None else ("text",)

    # parts --------------------------------------------------------------------------------
    def _tfidf(self, fields) -> CategoryClassifier:
        from workbench.models.tfidf import TfidfClassifier

        return TfidfClassifier(leaves=list(self.classes_), fields=tuple(fields), C=self.C,
                               class_weight=self.class_weight,
                               random_state=self.random_state)

    def _embed(self, X: pd.DataFrame) -> np.ndarray:
        from workbench.embeddings.embed import embed_texts
        from workbench.store import Workspace

        cache = Workspace(self.workspace) if self.workspace else None
        return np.asarray(embed_texts(product_texts(X, HEAD_FIELDS), model=self.encoder_,
                                      device=self.device_, workspace=cache, progress=False), dtype=np.float32)

    def _fit_head(self, E: np.ndarray, y: np.ndarray, C: float | None = None) -> dict:
        from sklearn.linear_model import LogisticRegression

        C = float(self.head_C_ if C is None else C)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore")
            lr = LogisticRegression(C=C, max_iter=300, random_state=self.random_state)
            lr.fit(E, y)
        coef, intercept = lr.coef_.astype(np.float32), lr.intercept_.astype(np.float32)
        return {"coef": coef, "intercept": intercept, "classes": lr.classes_.astype(np.int64)}

    def _head_proba(self, head: dict, E: np.ndarray) -> np.ndarray:
        scores = E @ head["coef"].T + head["intercept"]
        proba = np.zeros((len(E), len(self.classes_)))
        if scores.shape[1] == 1:  # two classes: a logistic on one score
            p1 = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            proba[:, head["classes"][0]], proba[:, head["classes"][1]] = 1 - p1, p1
            return proba
        scores = scores - scores.max(axis=1, keepdims=True)
        local = np.exp(scores)
        proba[:, head["classes"]] = local / local.sum(axis=1, keepdims=True)
        return proba

    def _text_proba(self, X: pd.DataFrame) -> np.ndarray:
        """tfidf's probabilities, with rare leaves through their ancestor when the back-off is kept."""
        p_flat = self.tfidf_.predict_proba(X)
        if getattr(self, "backoff_", None) is None:
            return p_flat
        matrix = self.tfidf_.pipeline_.named_steps["tfidf"].transform(product_texts(X, self.tfidf_.fields))
        return self.backoff_.proba(matrix, p_flat)

    def _fit_backoff(self, X: pd.DataFrame, y: np.ndarray, valid, p_flat_valid: np.ndarray) -> dict:
        """Choose (on validation) and fit the rare-leaf back-off; returns what to record."""
        from workbench.models.rare_leaves import choose_backoff

        self.backoff_ = None
        if self.rare_leaves is None:
            return {"rare_leaves": "off"}
        if self.tfidf_.pipeline_ is None or self.tfidf_.classifier != "svm":
            return {"rare_leaves": "no back-off: one class or a tfidf head other than the SVM"}
        features = self.tfidf_.pipeline_.named_steps["tfidf"]
        fields = self.tfidf_.fields
        matrix = features.transform(product_texts(X, fields))
        valid_matrix = features.transform(product_texts(valid[0], fields))
        depth = max(len(str(c).split(" > ")) for c in self.classes_)
        self.backoff_, record = choose_backoff(
            matrix, y, self.classes_, valid_matrix, valid[1], p_flat_valid, C=float(self.tfidf_.C_),
            class_weight=self.tfidf_._class_weight(), max_iter=self.tfidf_.max_iter,
            random_state=self.random_state, depth_of_tree=depth)
        return record

    def _best_weight(self, p_text: np.ndarray, p_head: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
        """The head weight (0 included) with the best validation accuracy; ties go to the smaller."""
        scores = {0.0: accuracy_of(p_text, y)}
        for w in self.head_weights:
            scores[float(w)] = accuracy_of(geometric_join(p_text, p_head, float(w)), y)
        best = max(scores, key=lambda w: (scores[w], -w))
        return best, scores

    # fitting ------------------------------------------------------------------------------
    def _candidate_fields(self, X: pd.DataFrame) -> list[tuple[str, ...]]:
        if self.fields != "auto":
            return [tuple(self.fields)]
        out = [("title", "brand")]
        share = float((X["description"].astype(str).str.strip() != "").mean()) if len(X) else 0.0
        if share >= float(self.description_share):
            out.append(("title", "brand", "description"))
        return out

    def _fit(self, X: pd.DataFrame, y: np.ndarray, n_classes: int, valid) -> None:
        from workbench.catalog.language import guess_language
        from workbench.embeddings.encoder import choose_device

        labels = self.classes_[y]
        resolved: dict = {}
        self.seen_classes_ = np.unique(y)
        has_valid = valid is not None and len(valid[1]) >= 2
        extra = [valid[0], self.classes_[valid[1]]] if has_valid else []
        # 1. tfidf over the fields validation prefers
        candidates = self._candidate_fields(X)
        if not has_valid:
            candidates = candidates[:1]
        fitted, scores = {}, {}
        for fields in candidates:
            model = self._tfidf(fields).fit(X, labels, *extra)
            fitted[fields] = model
            if has_valid:
                scores[fields] = accuracy_of(model.predict_proba(valid[0]), valid[1])
        best = candidates[0] if not has_valid else max(candidates, key=lambda f: (scores[f], -len(f)))
        self.tfidf_ = fitted[best]
        resolved["fields"] = list(best)
        if len(candidates) > 1:
            resolved["fields_valid_accuracy"] = {"+".join(f): round(scores[f], 4) for f in candidates}
        resolved.update(self.tfidf_.resolved_params())  # C and its validation scores
        self.backoff_ = None
        if has_valid and len(self.seen_classes_) >= 2:
            resolved.update(self._fit_backoff(X, y, valid, self.tfidf_.predict_proba(valid[0])))
        # 2. the sentence-embedding head, when validation says it helps
        self.head_, self.head_weight_ = None, 0.0
        self.encoder_ = None
        self.device_ = choose_device(self.device)
        if self.embedding_model is None or not has_valid or len(self.seen_classes_) < 2:
            resolved["head"] = "none" if self.embedding_model is None else "no validation products"
        else:
            if self.embedding_model == "auto":
                guess = guess_language(X["title"])
                self.encoder_ = guess.encoder
                resolved["language"] = guess.language
            else:
                self.encoder_ = str(self.embedding_model)
            resolved.update(encoder=self.encoder_, device=self.device_)
            self._fit_sentence_head(X, y, valid, resolved)
            self._probe_heads = {}
        # 3. the photo head, where products have photos and validation says it helps
        self.photo_, self.photo_weight_, self.image_model_ = None, 0.0, None
        if has_valid and len(self.seen_classes_) >= 2:
            self._fit_photo_head(X, y, valid, resolved)
        else:
            resolved["photo"] = "none" if self.image_model is None else "no validation products"
        self.resolved_params_ = resolved

    def _fit_sentence_head(self, X: pd.DataFrame, y: np.ndarray, valid, resolved: dict) -> None:
        """The sentence-embedding head: probe first, then the full head at the weight validation picks."""
        p_text = self._text_proba(valid[0])
        E_valid = self._embed(valid[0])
        n_train = len(y)
        self._probe_heads = {}
        self.head_C_ = self._resolve_head_C(X, y, valid, p_text, E_valid, resolved)
        if n_train > int(self.probe_size):
            rows = stratified_rows(y, int(self.probe_size), self.random_state)
            probe = self._probe_heads.get(float(self.head_C_))  # fitted on the same rows while choosing C
            if probe is None:
                probe = self._fit_head(self._embed(X.iloc[rows].reset_index(drop=True)), y[rows])
            weight, probe_scores = self._best_weight(p_text, self._head_proba(probe, E_valid), valid[1])
            resolved["probe_valid_accuracy"] = {str(k): round(v, 4) for k, v in probe_scores.items()}
            if weight == 0.0:
                resolved["head"] = (f"dropped: a probe head on {len(rows):,} products did not raise "
                                    "validation accuracy at any weight")
                return
        head = self._fit_head(self._embed(X), y)
        weight, head_scores = self._best_weight(p_text, self._head_proba(head, E_valid), valid[1])
        resolved["head_valid_accuracy"] = {str(k): round(v, 4) for k, v in head_scores.items()}
        resolved["head_weight"] = weight
        if weight > 0:
            self.head_, self.head_weight_ = head, weight
            resolved["head"] = "kept"
        else:
            resolved["head"] = "dropped: no weight raised validation accuracy"

    def _choose_C(self, fit_score, n_valid: int, resolved: dict, name: str) -> float:
        """A head's ``C`` among ``head_C_grid`` by the one-standard-error rule against
        :data:`HEAD_C_DEFAULT` (``fit_score(C)``: the validation accuracy of the joined model at its
        best weight); the scores and the choice go into ``resolved``."""
        scores = {float(C): fit_score(float(C)) for C in self.head_C_grid}
        best = one_se_choice(scores, HEAD_C_DEFAULT, n_valid)
        resolved[f"{name}_C"] = best
        resolved[f"{name}_C_valid_accuracy"] = {str(c): round(v, 4) for c, v in scores.items()}
        if HEAD_C_DEFAULT in scores and best == HEAD_C_DEFAULT and max(scores.values()) > scores[best]:
            resolved[f"{name}_C_choice"] = (f"{HEAD_C_DEFAULT:g}: no other value beat it on validation by more "
                                            "than one standard error")
        return best

    def _resolve_head_C(self, X, y, valid, p_text, E_valid, resolved: dict) -> float:
        """The head's ``C``: as given, or (``"auto"``) the value of ``head_C_grid`` whose head on
        at most ``probe_size`` training products, joined with tfidf at its best weight, is most
        accurate on validation, unless it is within one standard error of :data:`HEAD_C_DEFAULT`'s
        accuracy (the rule tfidf's ``C`` follows)."""
        if not (isinstance(self.head_C, str) and self.head_C == "auto"):
            return float(self.head_C)
        rows = (stratified_rows(y, int(self.probe_size), self.random_state) if len(y) > int(self.probe_size)
                else np.arange(len(y)))
        E = self._embed(X.iloc[rows].reset_index(drop=True))

        def score(C: float) -> float:
            head = self._probe_heads[C] = self._fit_head(E, y[rows], C)
            weight, by_weight = self._best_weight(p_text, self._head_proba(head, E_valid), valid[1])
            return by_weight[weight]

        try:
            return self._choose_C(score, len(valid[1]), resolved, "head")
        finally:
            if len(rows) == len(y):
                self._probe_heads = {}  # no probe: the full head is fitted on every row

    # predicting ---------------------------------------------------------------------------
    def _text_head_proba(self, X: pd.DataFrame) -> np.ndarray:
        """tfidf (with the back-off) joined by the sentence head where it is kept."""
        p_text = self._text_proba(X)
        if getattr(self, "head_", None) is None:
            return p_text
        return geometric_join(p_text, self._head_proba(self.head_, self._embed(X)), self.head_weight_)

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        proba = self._text_head_proba(X)
        if getattr(self, "photo_", None) is not None:
            p_photo, has = self._photo_proba(X)
            proba = join_photo(proba, p_photo, has, self.photo_weight_)
        if self.head_ is None and getattr(self, "photo_", None) is None:
            return proba
        unseen = np.ones(len(self.classes_), dtype=bool)
        unseen[self.seen_classes_] = False
        proba[:, unseen] = 0.0
        return proba

    def member_probabilities(self, X) -> dict[str, np.ndarray]:
        """Each part's probability matrix (leaf-aligned): ``tfidf`` and, when kept, ``head`` and
        ``photo`` (rows of products without a usable photo are zeros)."""
        from workbench.models.base import as_products

        self._check_fitted()
        X = as_products(X)
        out = {"tfidf": self._text_proba(X)}
        if self.head_ is not None:
            out["head"] = self._head_proba(self.head_, self._embed(X))
        if getattr(self, "photo_", None) is not None:
            out["photo"] = self._photo_proba(X)[0]
        return out

    # persistence --------------------------------------------------------------------------
    def _save_artifacts(self, directory: Path) -> None:
        self.tfidf_.save(directory / "tfidf")
        if getattr(self, "backoff_", None) is not None:
            import skops.io as sio

            sio.dump({"svm": self.backoff_.svm, "group_of": self.backoff_.group_of,
                      "temperature": float(self.backoff_.temperature)}, directory / BACKOFF)
        state = {"head_C": float(getattr(self, "head_C_", 0.0) or 0.0), "seen_classes": [int(c) for c in self.seen_classes_], "encoder": self.encoder_,
                 "device": getattr(self, "device_", None), "head_weight": float(self.head_weight_),
                 "resolved": self.resolved_params(), "image_model": getattr(self, "image_model_", None),
                 "photo_weight": float(getattr(self, "photo_weight_", 0.0)),
                 "photo_C": float(getattr(self, "photo_C_", 0.0) or 0.0)}
        from safetensors.numpy import save_file

        for name, head in ((HEAD, self.head_), (PHOTO, getattr(self, "photo_", None))):
            if head is not None:
                save_file({k: np.ascontiguousarray(v) for k, v in head.items()}, str(directory / name))
        write_state(directory, INDEX, state)

    def _load_artifacts(self, directory: Path) -> None:
        state = read_state(directory, INDEX)
        self.tfidf_ = CategoryClassifier.load(directory / "tfidf")
        self.seen_classes_ = np.asarray(state["seen_classes"], dtype=np.int64)
        self.encoder_ = state.get("encoder")
        from workbench.embeddings.encoder import choose_device

        self.device_ = choose_device(self.device)
        self.head_weight_ = float(state.get("head_weight", 0.0))
        self.resolved_params_ = dict(state.get("resolved") or {})
        self.head_C_ = state.get("head_C")
        self.backoff_ = None
        if (directory / BACKOFF).exists():
            from workbench.models.rare_leaves import Backoff
            from workbench.models.tfidf import read_skops

            saved = read_skops(directory / BACKOFF)
            self.backoff_ = Backoff(saved["svm"], np.asarray(saved["group_of"], dtype=np.int64),
                                    float(saved["temperature"]))
        from safetensors.numpy import load_file

        self.head_ = load_file(str(directory / HEAD)) if (directory / HEAD).exists() else None
        self.photo_ = load_file(str(directory / PHOTO)) if (directory / PHOTO).exists() else None
        self.image_model_ = state.get("image_model")
        self.photo_weight_ = float(state.get("photo_weight", 0.0))
        self.photo_C_ = state.get("photo_C")
