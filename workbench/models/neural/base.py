"""``NeuralClassifier``: a PyTorch module wrapped as a category classifier (skorch-style).

The subclasses (``transformer``, ``cnn-lstm``) say how texts become tensors and which module
reads them; this class owns everything else, each part a parameter that can be switched off:

* loss: focal loss (``focal_gamma``, 0 = cross-entropy; ``focal_alpha`` None, a float,
  ``"balanced"`` or one weight per leaf) plus, when ``semantic_smoothing > 0``, that weight
  times ``KL(soft targets || model)``, the soft targets spreading ``smoothing_start`` ..
  ``smoothing_end`` of each label's mass over its ``smoothing_neighbours`` nearest leaves by
  category-name embedding of ``smoothing_model`` (the curriculum; ``smoothing_end=None`` keeps it
  constant);
* the long tail: ``oversample`` (``"sqrt"``, ``"balanced"``) repeats rare leaves' training
  products before training (:mod:`workbench.models.sampling`), beside ``focal_alpha``;
* early stopping on the validation split (``early_stopping_patience``, None = off; without
  ``X_valid`` a seeded ``validation_fraction`` of the training rows is held out, unless there
  are fewer than 20; ``monitor`` is ``valid_loss`` or ``valid_acc``);
* the best epoch's weights are checkpointed and restored at the end; with ``checkpoint_dir``
  set (and ``resume=True``) a killed run continues from its last finished epoch;
* AdamW, warm-up then linear decay, mixed precision on CUDA, seeded and deterministic on CPU.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from abc import abstractmethod
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from workbench.errors import WorkbenchError
from workbench.models.auto import free_cores, is_auto
from workbench.models.base import CategoryClassifier, _jsonable, check_fields, product_texts
from workbench.models.neural.callbacks import Callback, Checkpoint, EarlyStopping, ProgressBar
from workbench.models.neural.losses import (class_weights, focal_loss, kl_to_soft_targets,
                                            semantic_smoothing_targets, smoothing_schedule)
from workbench.models.neural.trainer import Trainer, predict_logits, resolve_amp, seed_everything

WEIGHTS, HISTORY, NEIGHBOURS = "model.safetensors", "training_history.json", "neighbours.safetensors"
SEEN, RESOLVED = "seen_classes.json", "resolved_params.json"

#: Parameters that change where or how fast a run happens, not what it learns.
RUNTIME_PARAMS = frozenset({"checkpoint_dir", "resume", "device", "num_threads", "callbacks", "progress"})


class NeuralClassifier(CategoryClassifier):
    """Common parameters and training of the neural model families (see the module docstring)."""

    # hooks for subclasses -----------------------------------------------------------------
    @abstractmethod
    def _prepare(self, texts: list[str]) -> None:
        """Learn the input side from training texts (vocabulary, tokenizer)."""

    @abstractmethod
    def _encode(self, texts: list[str]) -> Any:
        """Texts in the form ``_batch`` reads rows from."""

    @abstractmethod
    def _batch(self, encoded: Any, idx: np.ndarray) -> dict[str, torch.Tensor]:
        """The module's keyword inputs for rows ``idx`` of ``encoded``."""

    @abstractmethod
    def _build_module(self, n_classes: int, pretrained: bool) -> torch.nn.Module:
        """A fresh module (``pretrained``: start from pretrained weights where there are any)."""

    @abstractmethod
    def _save_inputs(self, directory: Path) -> None:
        """Write the input side (vocabulary, tokenizer, config)."""

    @abstractmethod
    def _load_inputs(self, directory: Path) -> None:
        """Read what ``_save_inputs`` wrote."""

    def _inputs(self, X: pd.DataFrame) -> Any:
        """What a product frame gives the model: its texts (a family reading other inputs, such
        as vectors, returns an object with ``__len__`` and ``take(rows)`` instead)."""
        return product_texts(X, self.text_fields)

    def _inputs_digest(self, inputs: Any) -> Any:
        """A JSON-able stand-in for the inputs in the checkpoint fingerprint."""
        return inputs

    def _training_view(self, module: torch.nn.Module, train_enc: Any, valid_enc: Any,
                       device: torch.device):
        """``(the module the trainer steps, make_train_batch(idx), make_valid_batch(idx) or
        None)``; by default ``module`` itself on batches of the encoded texts (a family may train
        a part of it on inputs it prepares once, as the transformer does with frozen layers)."""
        return (module, lambda idx: self._batch(train_enc, idx),
                (lambda idx: self._batch(valid_enc, idx)) if valid_enc is not None else None)

    def _param_groups(self, module: torch.nn.Module) -> list[dict[str, Any]]:
        """Trainable parameters; biases and norms get no weight decay."""
        decay, no_decay = [], []
        for _, p in module.named_parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 else no_decay).append(p)
        return [g for g in ({"params": decay}, {"params": no_decay, "weight_decay": 0.0}) if g["params"]]

    def _auto_rules(self, texts: list[str], n_train: int, device: torch.device) -> dict[str, Any]:
        """``{parameter: rule}`` for the parameters this family can resolve from the data when
        they are ``"auto"`` (:mod:`workbench.models.auto`); each rule is a no-argument callable,
        called in order after ``_prepare`` (so a rule may use the tokenizer and earlier values)."""
        return {}

    def _value(self, name: str) -> Any:
        """A parameter's value in effect: the resolved one where it was ``"auto"``."""
        resolved = getattr(self, "resolved_params_", None) or {}
        return resolved.get(name, getattr(self, name))

    # training -----------------------------------------------------------------------------
    @contextmanager
    def _threads(self) -> Iterator[int]:
        """Torch's intra-op threads for the block: ``num_threads`` (``"auto"``: the free cores,
        resolved now; ``None``: torch's current setting); yields the count."""
        wanted = self.num_threads
        if wanted is None:
            yield torch.get_num_threads()
            return
        count = free_cores() if is_auto(wanted) else int(wanted)
        before = torch.get_num_threads()
        torch.set_num_threads(count)
        try:
            yield count
        finally:
            torch.set_num_threads(before)

    def _device(self) -> torch.device:
        from workbench.embeddings.embed import choose_device

        return torch.device(choose_device(self.device))

    def _fit(self, X: pd.DataFrame, y: np.ndarray, n_classes: int, valid) -> None:
        started = time.perf_counter()
        self._check_params()
        check_fields(X, self.text_fields)
        texts = self._inputs(X)
        if valid is not None and len(valid[1]):
            valid_texts, y_valid = self._inputs(valid[0]), valid[1]
        elif (self.early_stopping_patience is not None and self.validation_fraction
              and len(texts) >= 20):
            texts, y, valid_texts, y_valid = _hold_out(texts, y, self.validation_fraction,
                                                       self.random_state)
        else:
            valid_texts, y_valid = None, None
        with self._threads() as threads:
            device = self._device()
            amp = resolve_amp(self.mixed_precision, device)
            # the thread count and device actually used are always recorded with the run
            self.resolved_params_ = {"num_threads": int(threads), "device": str(device)}
            self._prepare(texts)
            # in order: a rule may read a value resolved before it (epochs from the batch size)
            for name, rule in self._auto_rules(texts, len(texts), device).items():
                if is_auto(getattr(self, name)):
                    self.resolved_params_[name] = rule()
            max_epochs = int(self._value("max_epochs"))
            train_enc = self._encode(texts)
            valid_enc = self._encode(valid_texts) if valid_texts is not None else None
            self.seen_ = np.bincount(y, minlength=n_classes) > 0
            self.neighbours_ = (_seen_neighbours(_neighbour_matrix(list(self.classes_), self.smoothing_neighbours,
                                                                   self.smoothing_model),
                                                 self.seen_)
                                if self.semantic_smoothing > 0 else None)
            seed_everything(self.random_state)
            module = self._build_module(n_classes, pretrained=True)
            trained, make_train, make_valid = self._training_view(module, train_enc, valid_enc, device)
            valid_part = (make_valid, y_valid) if make_valid is not None else None
            callbacks: list[Callback] = []
            if self.neighbours_ is not None:
                callbacks.append(_CurriculumLog(max_epochs, self.smoothing_start, self.smoothing_end))
            if self.early_stopping_patience is not None:
                callbacks.append(EarlyStopping(self.early_stopping_patience, self.monitor))
            with _checkpoint_dir(self.checkpoint_dir) as directory:
                callbacks.append(Checkpoint(directory, resume=self.resume))
                callbacks.append(ProgressBar(self.progress, label=self.kind))
                callbacks.extend(self.callbacks or [])
                trainer = Trainer(
                    trained, param_groups=self._param_groups(trained),
                    loss_fn=self._loss_fn(y, n_classes, device, max_epochs),
                    make_batch=make_train, y=y, valid=valid_part,
                    max_epochs=max_epochs, batch_size=int(self._value("batch_size")),
                    lr=float(self._value("lr")),
                    weight_decay=self.weight_decay, warmup_ratio=self.warmup_ratio,
                    max_grad_norm=self.max_grad_norm, device=device, amp_dtype=amp,
                    seed=self.random_state, monitor=self.monitor, callbacks=callbacks,
                    fingerprint=self._fingerprint(texts, y, valid_texts, y_valid), started=started)
                trainer.fit()
        self.module_ = module.eval()
        self.device_, self.amp_dtype_ = device, amp
        self.history_ = trainer.history
        self.n_epochs_ = len(trainer.history)
        self.best_epoch_ = max((h["epoch"] for h in trainer.history if h["is_best"]), default=0)
        self.resumed_from_ = trainer.resumed_from
        self.resumed_ = (None if trainer.resumed_from is None else
                         {"after_epoch": int(trainer.resumed_from),
                          "seconds_before": float(trainer.prior_seconds)})

    def _check_params(self) -> None:
        if self.focal_gamma < 0:
            raise WorkbenchError(f"focal_gamma must be >= 0, got {self.focal_gamma}; use 0 to switch focal loss off")
        if self.semantic_smoothing < 0:
            raise WorkbenchError(f"semantic_smoothing must be >= 0, got {self.semantic_smoothing}; use 0 to switch it off")
        for name in ("smoothing_start", "smoothing_end"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise WorkbenchError(f"{name} must lie in [0, 1], got {value}")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise WorkbenchError("early_stopping_patience must be >= 1, or None to switch early stopping off")

    def _loss_fn(self, y: np.ndarray, n_classes: int, device: torch.device, max_epochs: int):
        gamma, weight = float(self.focal_gamma), float(self.semantic_smoothing)
        alpha = self.focal_alpha
        if isinstance(alpha, str):
            if alpha != "balanced":
                raise WorkbenchError(f"unknown focal_alpha {alpha!r}; use None, a float, 'balanced' or one weight per leaf")
            alpha = torch.as_tensor(class_weights(y, n_classes), device=device)
        elif alpha is not None and not isinstance(alpha, (int, float)):
            alpha = torch.as_tensor(np.asarray(alpha, dtype=np.float32), device=device)
            if alpha.shape != (n_classes,):
                raise WorkbenchError(f"focal_alpha has {alpha.shape[0]} weights for {n_classes} leaves; give one per leaf")
        neighbours = (torch.as_tensor(self.neighbours_, dtype=torch.float32, device=device)
                      if self.neighbours_ is not None else None)

        def loss_fn(logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
            loss = focal_loss(logits, target, gamma, alpha)
            if neighbours is not None:
                strength = smoothing_schedule(epoch, max_epochs, self.smoothing_start, self.smoothing_end)
                soft = semantic_smoothing_targets(target, neighbours, strength)
                loss = loss + weight * kl_to_soft_targets(logits, soft)
            return loss

        return loss_fn

    def _fingerprint(self, texts, y, valid_texts, y_valid) -> str:
        params = {k: v for k, v in self.get_params(deep=False).items() if k not in RUNTIME_PARAMS}
        h = hashlib.sha256(json.dumps(_jsonable(params), sort_keys=True).encode())
        h.update(json.dumps([self.kind, list(map(str, self.classes_)), self._inputs_digest(texts),
                             None if valid_texts is None else self._inputs_digest(valid_texts)]).encode())
        h.update(np.asarray(y, dtype=np.int64).tobytes())
        if y_valid is not None:
            h.update(np.asarray(y_valid, dtype=np.int64).tobytes())
        return h.hexdigest()

    # prediction ---------------------------------------------------------------------------
    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        texts = self._inputs(X)
        if not len(texts):
            return np.zeros((0, len(self.classes_)))
        encoded = self._encode(texts)
        with self._threads():
            logits = predict_logits(self.module_, lambda idx: self._batch(encoded, idx), len(texts),
                                    self.device_, self.amp_dtype_, max(256, int(self._value("batch_size"))))
        # a leaf never seen in training keeps its column, at probability 0 (as in every family)
        logits[:, ~torch.as_tensor(self.seen_)] = float("-inf")
        return torch.softmax(logits.double(), dim=1).numpy()

    # persistence --------------------------------------------------------------------------
    def save(self, directory: str | Path, **extra: Any) -> Path:
        """Write the model (see :meth:`CategoryClassifier.save`); ``callbacks`` are not saved
        (they are code, not data), so a loaded model has ``callbacks=None``."""
        callbacks = self.callbacks
        self.callbacks = None
        try:
            return super().save(directory, **extra)
        finally:
            self.callbacks = callbacks

    def _save_artifacts(self, directory: Path) -> None:
        state = {k: v.detach().cpu().contiguous().clone() for k, v in self.module_.state_dict().items()}
        save_file(state, str(directory / WEIGHTS), metadata={"kind": self.kind})
        if getattr(self, "neighbours_", None) is not None:
            save_file({"neighbours": torch.as_tensor(self.neighbours_, dtype=torch.float32)},
                      str(directory / NEIGHBOURS))
        (directory / HISTORY).write_text(json.dumps(_jsonable(self.history_), indent=1))
        (directory / SEEN).write_text(json.dumps(np.flatnonzero(self.seen_).tolist()))
        (directory / RESOLVED).write_text(json.dumps(_jsonable(getattr(self, "resolved_params_", {}))))
        self._save_inputs(directory)

    def _load_artifacts(self, directory: Path) -> None:
        self.resolved_params_ = (json.loads((directory / RESOLVED).read_text())
                                 if (directory / RESOLVED).exists() else {})
        self._load_inputs(directory)
        module = self._build_module(len(self.classes_), pretrained=False)
        module.load_state_dict(load_file(str(directory / WEIGHTS)))
        self.device_ = self._device()
        self.amp_dtype_ = resolve_amp(self.mixed_precision, self.device_)
        self.module_ = module.to(self.device_).eval()
        self.neighbours_ = (load_file(str(directory / NEIGHBOURS))["neighbours"].numpy()
                            if (directory / NEIGHBOURS).exists() else None)
        self.history_ = json.loads((directory / HISTORY).read_text()) if (directory / HISTORY).exists() else []
        self.seen_ = np.zeros(len(self.classes_), dtype=bool)
        self.seen_[json.loads((directory / SEEN).read_text())] = True
        self.n_epochs_ = len(self.history_)


class _CurriculumLog(Callback):
    """Records each epoch's smoothing strength in the history (column ``smoothing``)."""

    name = "curriculum"

    def __init__(self, n_epochs: int, start: float, end: float | None):
        self.n_epochs, self.start, self.end = n_epochs, start, end

    def on_epoch_end(self, trainer, epoch, metrics):
        metrics["smoothing"] = smoothing_schedule(epoch, self.n_epochs, self.start, self.end)


@contextmanager
def _checkpoint_dir(path) -> Iterator[Path]:
    if path is not None:
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="workbench-ckpt-") as tmp:
        yield Path(tmp)


def _hold_out(texts, y: np.ndarray, fraction: float, seed: int):
    """Split off a seeded share of the rows as the validation set."""
    if not 0.0 < fraction < 1.0:
        raise WorkbenchError(f"validation_fraction must lie in (0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(len(texts))
    n_valid = max(1, int(round(fraction * len(texts))))
    valid, train = np.sort(order[:n_valid]), np.sort(order[n_valid:])
    return (_take(texts, train), y[train], _take(texts, valid), y[valid])


def _take(inputs, rows: np.ndarray):
    """Rows of the inputs: a list of texts, or an object with ``take``."""
    if isinstance(inputs, list):
        return [inputs[i] for i in rows]
    return inputs.take(rows)


def _seen_neighbours(matrix: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """The neighbour weights restricted to classes seen in training (rows renormalised); a leaf
    whose neighbours were all unseen keeps its own label (its row becomes one-hot on itself)."""
    matrix = np.where(seen[None, :], matrix, 0.0).astype(np.float32)
    sums = matrix.sum(axis=1, keepdims=True)
    empty = sums[:, 0] <= 0
    matrix = np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)
    matrix[empty, np.flatnonzero(empty)] = 1.0
    return matrix


def _neighbour_matrix(classes: list[str], k: int, model: str = "default") -> np.ndarray:
    """Row-stochastic ``(n, n)`` weights over each class's ``k`` semantic neighbours, in ``classes``
    order, from category-name embeddings of ``model`` (the English default or the multilingual one)."""
    from workbench.embeddings.category_neighbours import neighbour_matrix
    from workbench.catalog.taxonomy import Taxonomy

    taxonomy = Taxonomy.from_node_ids(classes)
    if sorted(taxonomy.leaves) != sorted(classes):
        raise WorkbenchError(
            "semantic smoothing needs the classes to be the leaves of one taxonomy (a label is an "
            "ancestor of another); pass leaf labels or set semantic_smoothing=0")
    matrix = np.asarray(neighbour_matrix(taxonomy, k=k, model=model), dtype=np.float32)
    order = [taxonomy.leaf_index(c) for c in classes]
    return matrix[np.ix_(order, order)]
