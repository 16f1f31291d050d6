"""``auto``'s photo head (:class:`PhotoHeadMixin`, part 4 of :mod:`workbench.models.stacked`): a
logistic regression over the products' image vectors, tried only where enough training products
have a photo, probed first, its ``C`` by the one-standard-error rule and its weight chosen on
validation; products without a usable photo keep the text combination."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.models.head_mixing import accuracy_of, join_photo, normalised_rows, stratified_rows


class PhotoHeadMixin:
    """The photo head's fitting and scoring, mixed into :class:`workbench.models.stacked.AutoClassifier`
    (whose ``_fit_head``, ``_head_proba``, ``_choose_C`` and ``_text_head_proba`` it uses)."""

    def _photo_vectors(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(image vectors, has a usable photo)`` of the products' ``image`` values."""
        from workbench.embeddings.image_embed import product_image_vectors

        n = len(X)
        if "image" not in X or n == 0:
            return np.zeros((n, 0), dtype=np.float32), np.zeros(n, dtype=bool)
        return product_image_vectors(X, self.image_model_ or "default", workspace=self.workspace,
                                     images_dir=self.images_dir, device=self.device_)

    def _photo_proba(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The photo head's probabilities (zeros where a product has no photo) and which rows have one."""
        vectors, has = self._photo_vectors(X)
        proba = np.zeros((len(X), len(self.classes_)))
        if has.any():
            proba[has] = self._head_proba(self.photo_, vectors[has])
        return proba, has

    def _best_photo_weight(self, p_base, p_photo, has, y) -> tuple[float, dict]:
        """The photo weight (0 included) with the best validation accuracy; ties go to the smaller."""
        scores = {0.0: accuracy_of(p_base, y)}
        for w in self.photo_weights:
            scores[float(w)] = accuracy_of(join_photo(p_base, p_photo, has, float(w)), y)
        best = max(scores, key=lambda w: (scores[w], -w))
        return best, scores

    def _photo_head_proba(self, head: dict, vectors: np.ndarray, has: np.ndarray) -> np.ndarray:
        proba = np.zeros((len(has), len(self.classes_)))
        if has.any():
            proba[has] = self._head_proba(head, vectors[has])
        return proba

    def _fit_photo_head(self, X: pd.DataFrame, y: np.ndarray, valid, resolved: dict) -> None:
        """The photo head (module doc, part 4): tried only when enough training products have a
        photo; probe first, ``C`` by the one-standard-error rule, the full head at the weight
        validation picks, kept only when that weight is above 0."""
        from workbench.embeddings.image_encoder import image_model_id

        if self.image_model is None:
            resolved["photo"] = "none"
            return
        n_train = len(y)
        given = (X["image"].notna() & (X["image"].astype(str).str.strip() != "")).to_numpy() if "image" in X \
            else np.zeros(n_train, dtype=bool)
        share = float(given.mean()) if n_train else 0.0
        resolved["photo_share"] = round(share, 4)
        if share < float(self.photo_share):
            resolved["photo"] = (f"none: {int(given.sum()):,} of {n_train:,} training products name a photo "
                                 f"(fewer than photo_share={self.photo_share})")
            return
        self.image_model_ = image_model_id(self.image_model)
        resolved["image_model"] = self.image_model_
        resolved.setdefault("device", self.device_)  # the image encoder's
        p_base = normalised_rows(self._text_head_proba(valid[0]))
        V_valid, has_valid = self._photo_vectors(valid[0])
        if has_valid.sum() < 2:
            resolved["photo"] = "none: fewer than 2 validation products have a usable photo"
            return
        candidates = np.flatnonzero(given)
        if len(candidates) > int(self.probe_size):
            candidates = candidates[stratified_rows(y[candidates], int(self.probe_size), self.random_state)]
        V, has = self._photo_vectors(X.iloc[candidates].reset_index(drop=True))
        usable = share * float(has.mean())
        resolved["photo_usable_share"] = round(usable, 4)
        if usable < float(self.photo_share) or len(np.unique(y[candidates][has])) < 2:
            resolved["photo"] = (f"none: {has.sum():,} of {len(candidates):,} photos read on the probe are usable, "
                                 f"about {usable:.0%} of the training products (fewer than photo_share="
                                 f"{self.photo_share})")
            return
        V, y_probe = V[has], y[candidates][has]

        heads: dict[float, dict] = {}

        def score(C: float) -> float:
            head = heads[C] = self._fit_head(V, y_probe, C)
            p = self._photo_head_proba(head, V_valid, has_valid)
            weight, by_weight = self._best_photo_weight(p_base, p, has_valid, valid[1])
            return by_weight[weight]

        if isinstance(self.photo_C, str) and self.photo_C == "auto":
            self.photo_C_ = self._choose_C(score, len(valid[1]), resolved, "photo")
        else:
            self.photo_C_ = float(self.photo_C)
        full = len(np.flatnonzero(given)) > len(candidates)
        if full:
            probe = heads.get(self.photo_C_) or self._fit_head(V, y_probe, self.photo_C_)
            weight, probe_scores = self._best_photo_weight(
                p_base, self._photo_head_proba(probe, V_valid, has_valid), has_valid, valid[1])
            resolved["photo_probe_valid_accuracy"] = {str(k): round(v, 4) for k, v in probe_scores.items()}
            if weight == 0.0:
                resolved["photo"] = (f"dropped: a probe photo head on {len(y_probe):,} products did not raise "
                                     "validation accuracy at any weight")
                return
            rows = np.flatnonzero(given)
            V, has = self._photo_vectors(X.iloc[rows].reset_index(drop=True))
            V, y_full = V[has], y[rows][has]
        else:
            y_full = y_probe
        head = heads.get(self.photo_C_) if not full else None
        head = head or self._fit_head(V, y_full, self.photo_C_)
        weight, scores = self._best_photo_weight(
            p_base, self._photo_head_proba(head, V_valid, has_valid), has_valid, valid[1])
        resolved["photo_valid_accuracy"] = {str(k): round(v, 4) for k, v in scores.items()}
        resolved["photo_weight"] = weight
        resolved["photo_products"] = int(len(y_full))
        if weight > 0:
            self.photo_, self.photo_weight_ = head, weight
            resolved["photo"] = "kept"
        else:
            resolved["photo"] = "dropped: no weight raised validation accuracy"
