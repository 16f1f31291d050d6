"""``xgboost``: gradient-boosted trees on sentence embeddings, plus optional brand and price.

Features: the product's sentence embedding (:func:`workbench.embeddings.embed.embed_texts`, cached in the
workspace by text hash), a one-hot of the ``brand_top_n`` most frequent training brands
(``use_brand``) and ``log1p(price)`` (``use_price``; missing prices stay missing, which XGBoost
handles natively). Trees run on ``device="cuda"`` when a GPU is present.

XGBoost needs contiguous class ids, so the leaves seen in training are renumbered ``0..k-1``;
their probabilities are scattered back into the full leaf matrix, where unseen leaves keep a
column of zeros. Persistence: the booster as XGBoost JSON (``model.json``) and the feature
encoders and class map as plain JSON (``features.json``); nothing is pickled.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from tqdm.auto import tqdm

from workbench.errors import WorkbenchError
from workbench.models.artifact_check import check_magic
from workbench.models.auto import free_cores, is_auto, usable_cores
from workbench.models.base import (CategoryClassifier, as_products, check_fields, product_texts,
                                   read_state, register, write_state)
from workbench.models.progress import progress_line, progress_mode
from workbench.store import Workspace

BOOSTER = "model.json"
ENCODERS = "features.json"


def default_device() -> str:
    """``"cuda"`` when PyTorch sees a GPU, else ``"cpu"``."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def _brand_key(values: pd.Series) -> np.ndarray:
    return values.fillna("").astype(str).str.strip().str.lower().to_numpy(dtype=object)


def class_sample_weights(y: np.ndarray, mode: str | None) -> np.ndarray | None:
    """Per-product weights for the long tail: ``"balanced"`` (n / (k * count)), ``"sqrt"``
    (the square root of that) or ``None`` (no weights)."""
    if mode is None:
        return None
    counts = np.bincount(y)
    k = int((counts > 0).sum())
    w = len(y) / (k * counts[y].astype(np.float64))
    if mode == "balanced":
        return w
    if mode == "sqrt":
        return np.sqrt(w)
    raise WorkbenchError(f"unknown class_weight {mode!r}; use 'balanced', 'sqrt' or None")


class TqdmRounds(xgb.callback.TrainingCallback):
    """An XGBoost training callback showing each boosting round (:mod:`workbench.models.progress`):
    a tqdm bar on a terminal, one line per round with the latest validation loss in a log."""

    def __init__(self, total: int, enabled: bool | str | None = None, label: str = "xgboost"):
        super().__init__()
        self.total = total
        self.mode = progress_mode(enabled)
        self.label = label
        self.bar = None

    def before_training(self, model):
        self._t0 = time.perf_counter()
        if self.mode == "bar":
            self.bar = tqdm(total=self.total, desc=f"{self.label} rounds", unit="round")
        return model

    def after_iteration(self, model, epoch, evals_log):
        latest = {f"{data}-{name}": values[-1] for data, metrics in evals_log.items()
                  for name, values in metrics.items()}
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in latest.items()}, refresh=False)
        elif self.mode == "lines":
            now = time.perf_counter()
            progress_line(self.label, f"round {epoch + 1}/{self.total}", latest, now - self._t0)
            self._t0 = now
        return False

    def after_training(self, model):
        if self.bar is not None:
            self.bar.close()
        return model


@register
class XGBoostClassifier(CategoryClassifier):
    """XGBoost (``multi:softprob``, histogram trees) on cached sentence embeddings.

    Parameters: ``leaves``, ``fields`` (text fields embedded), ``embedding_model``,
    ``workspace`` (path of the workspace whose embedding cache is used; ``None`` = no cache),
    ``use_brand``, ``brand_top_n``, ``use_price``, ``device`` (``None`` = CUDA when available),
    ``n_estimators``, ``learning_rate``, ``max_depth``, ``min_child_weight``, ``subsample``,
    ``colsample_bytree``, ``max_bin``, ``early_stopping_rounds`` (on the validation split given to
    ``fit``), ``class_weight`` (``None``, ``"sqrt"``, ``"balanced"``), ``n_jobs``, ``progress``
    (a bar per boosting round; ``None`` = only on a terminal), ``cluster`` (a Dask scheduler
    address: the boosting runs on its workers through ``xgboost.dask``; ``None`` = in this
    process), ``oversample`` (``"sqrt"`` or ``"balanced"`` repeats rare leaves' products,
    :mod:`workbench.models.sampling`), ``random_state``. Prediction always runs in this process
    on the saved booster.
    """

    kind = "xgboost"

    def __init__(self, leaves=None, fields=("title", "brand"), embedding_model="default",
                 workspace=None, use_brand=True, brand_top_n=100, use_price=True, device=None,
                 n_estimators=300, learning_rate=0.2, max_depth=6, min_child_weight=1.0,
                 subsample=1.0, colsample_bytree=0.5, max_bin=64, early_stopping_rounds=20,
                 class_weight=None, oversample=None, n_jobs="auto", progress=None, cluster=None, random_state=0):
        self._store_params(locals())

    # features ---------------------------------------------------------------------------
    def _device(self) -> str:
        return self.device or default_device()

    def _fit_encoders(self, X: pd.DataFrame) -> None:
        brands: list[str] = []
        if self.use_brand:
            counts = pd.Series(_brand_key(X["brand"])).value_counts()
            counts = counts[counts.index != ""]
            # ties broken by name so the encoder does not depend on row order
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            brands = [b for b, _ in ranked[: int(self.brand_top_n)]]
        has_price = bool(self.use_price and pd.to_numeric(X["price"], errors="coerce").notna().any())
        self.encoders_ = {"brands": brands, "price": has_price}

    def _features(self, X: pd.DataFrame) -> np.ndarray:
        from workbench.embeddings.embed import embed_texts

        X = as_products(X)
        cache = Workspace(self.workspace) if self.workspace else None
        emb = embed_texts(product_texts(X, self.fields), model=self.embedding_model,
                          device=self.device, workspace=cache,
                          progress=progress_mode(self.progress) == "bar")
        blocks = [np.asarray(emb, dtype=np.float32)]
        brands = self.encoders_["brands"]
        if brands:
            index = {b: i for i, b in enumerate(brands)}
            onehot = np.zeros((len(X), len(brands)), dtype=np.float32)
            for row, b in enumerate(_brand_key(X["brand"])):
                col = index.get(b)
                if col is not None:
                    onehot[row, col] = 1.0
            blocks.append(onehot)
        if self.encoders_["price"]:
            price = pd.to_numeric(X["price"], errors="coerce").to_numpy(dtype=np.float64)
            price = np.where(price >= 0, np.log1p(np.where(price >= 0, price, 0.0)), np.nan)
            blocks.append(price.astype(np.float32)[:, None])
        return np.hstack(blocks)

    def _threads(self) -> int:
        """XGBoost's threads: ``n_jobs``; ``"auto"``: the free cores (:func:`workbench.models.auto.free_cores`,
        resolved once per fit, the default); ``None``: every usable core. The number is resolved when
        ``fit`` starts and recorded (``resolved_params_["n_jobs"]``), so the run says what it used."""
        resolved = getattr(self, "resolved_params_", None) or {}
        if "n_jobs" in resolved:
            return int(resolved["n_jobs"])
        if is_auto(self.n_jobs):
            return free_cores()
        return int(self.n_jobs) if self.n_jobs else usable_cores()

    def _params(self, n_seen: int) -> dict:
        return {
            "objective": "multi:softprob", "num_class": n_seen, "eval_metric": "mlogloss",
            "tree_method": "hist", "device": self._device(), "eta": float(self.learning_rate),
            "max_depth": int(self.max_depth), "min_child_weight": float(self.min_child_weight),
            "subsample": float(self.subsample), "colsample_bytree": float(self.colsample_bytree),
            "max_bin": int(self.max_bin), "seed": int(self.random_state),
            "nthread": self._threads(), "verbosity": 1,
        }

    # training ---------------------------------------------------------------------------
    def _fit(self, X: pd.DataFrame, y: np.ndarray, n_classes: int, valid) -> None:
        check_fields(X, self.fields)
        self.resolved_params_ = {}
        # the thread count and device actually used, recorded with the run (not None = "all cores")
        self.resolved_params_["n_jobs"] = self._threads()
        self.resolved_params_["device"] = self._device()
        seen = np.unique(y)
        self.seen_classes_ = seen
        self._fit_encoders(X)
        self.best_iteration_ = None
        if len(seen) < 2:
            self.booster_ = None
            return
        remap = np.full(n_classes, -1, dtype=np.int64)
        remap[seen] = np.arange(len(seen))
        y_local = remap[y]
        train = (self._features(X), y_local, class_sample_weights(y_local, self.class_weight))
        valid_set, stopping = None, None
        if valid is not None and self.early_stopping_rounds:
            Xv, yv = valid
            keep = remap[yv] >= 0  # validation products of leaves unseen in training cannot score
            if keep.any():
                valid_set = (self._features(Xv[keep].reset_index(drop=True)), remap[yv[keep]], None)
                stopping = int(self.early_stopping_rounds)
        if self.cluster:
            from workbench.models.xgb_dask import train_on_cluster

            booster = train_on_cluster(self.cluster, self._params(len(seen)), train, valid_set,
                                       rounds=int(self.n_estimators), stopping=stopping)
        else:
            evals = [] if valid_set is None else [(xgb.DMatrix(valid_set[0], label=valid_set[1]), "valid")]
            booster = xgb.train(self._params(len(seen)), xgb.DMatrix(train[0], label=train[1], weight=train[2]),
                                num_boost_round=int(self.n_estimators), evals=evals,
                                early_stopping_rounds=stopping, verbose_eval=False,
                                callbacks=[TqdmRounds(int(self.n_estimators), self.progress)])
        if stopping is not None:
            self.best_iteration_ = int(booster.best_iteration)
        self.booster_ = booster

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        proba = np.zeros((len(X), len(self.classes_)), dtype=np.float64)
        if self.booster_ is None:
            proba[:, self.seen_classes_[0]] = 1.0
            return proba
        rounds = (0, self.best_iteration_ + 1) if self.best_iteration_ is not None else (0, 0)
        local = self.booster_.inplace_predict(self._features(X), iteration_range=rounds)
        proba[:, self.seen_classes_] = np.asarray(local, dtype=np.float64).reshape(len(X), -1)
        return proba

    # persistence ------------------------------------------------------------------------
    def _save_artifacts(self, directory: Path) -> None:
        state = {"seen_classes": [int(c) for c in self.seen_classes_], "encoders": self.encoders_,
                 "best_iteration": self.best_iteration_}
        write_state(directory, ENCODERS, state)
        if self.booster_ is not None:
            self.booster_.save_model(str(directory / BOOSTER))

    def _load_artifacts(self, directory: Path) -> None:
        state = read_state(directory, ENCODERS)
        self.seen_classes_ = np.asarray(state["seen_classes"], dtype=np.int64)
        self.encoders_ = state["encoders"]
        self.best_iteration_ = state["best_iteration"]
        self.booster_ = None
        if (directory / BOOSTER).exists():
            check_magic(directory / BOOSTER, (b"{",), "XGBoost JSON")  # before the C++ parser
            booster = xgb.Booster()
            booster.load_model(str(directory / BOOSTER))
            booster.set_param({"device": self._device()})
            self.booster_ = booster
