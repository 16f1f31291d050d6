"""The training loop shared by the neural models.

AdamW with a linear warm-up then linear decay of the learning rate, mixed precision
(``torch.autocast`` in fp16 or bf16, a ``GradScaler`` for fp16) on CUDA only, seeded batch
order, validation after every epoch and callbacks for everything else (early stopping,
checkpoint / resume, progress). On CPU a run is a pure function of its seed.
"""

from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from workbench.errors import WorkbenchError
from workbench.models.neural.callbacks import Callback, Checkpoint, MONITORS, improved
from workbench.models.neural.eager import eager_optimizer, eager_step

AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def warmup_linear_decay(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Learning-rate multiplier: rises linearly over ``warmup_steps``, then falls linearly to 0."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return factor


def resolve_amp(mixed_precision: str | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: ``None`` off the GPU or when switched off; ``"auto"`` is bf16 where
    the GPU supports it, else fp16."""
    if device.type != "cuda" or mixed_precision in (None, "off", "none", False):
        return None
    if mixed_precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    try:
        return AMP_DTYPES[mixed_precision]
    except KeyError:
        raise WorkbenchError(
            f"unknown mixed_precision {mixed_precision!r}; use 'auto', 'fp16', 'bf16' or None") from None


class Trainer:
    """Train ``module`` on batches made by ``make_batch(row_indices) -> dict of tensors``.

    ``loss_fn(logits, y, epoch)`` is the training loss; validation reports plain
    cross-entropy and accuracy. ``monitor`` names the history column that decides the best
    epoch (``valid_loss`` / ``valid_acc``; ``train_loss`` when there is no validation set).
    ``started`` is the ``time.perf_counter()`` at which the caller's fit began (default: now);
    :meth:`elapsed_seconds` counts from it, plus the seconds of the sessions before a resume.
    """

    def __init__(self, module: torch.nn.Module, *, param_groups: Sequence[dict[str, Any]],
                 loss_fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor],
                 make_batch: Callable[[np.ndarray], dict[str, torch.Tensor]], y: np.ndarray,
                 valid: tuple[Callable[[np.ndarray], dict[str, torch.Tensor]], np.ndarray] | None,
                 max_epochs: int, batch_size: int, lr: float, weight_decay: float,
                 warmup_ratio: float, max_grad_norm: float | None, device: torch.device,
                 amp_dtype: torch.dtype | None, seed: int, fingerprint: str,
                 monitor: str = "valid_loss", callbacks: Sequence[Callback] = (),
                 started: float | None = None):
        if max_epochs < 1 or batch_size < 1:
            raise WorkbenchError(
                f"max_epochs and batch_size must be >= 1 (got {max_epochs}, {batch_size})")
        if monitor not in MONITORS:
            raise WorkbenchError(f"unknown monitor {monitor!r}; use one of {', '.join(MONITORS)}")
        self.module = module
        self.loss_fn, self.make_batch = loss_fn, make_batch
        self.y = torch.as_tensor(np.asarray(y, dtype=np.int64))
        self.valid = valid
        self.max_epochs, self.batch_size = int(max_epochs), int(batch_size)
        self.max_grad_norm = max_grad_norm
        self.device, self.amp_dtype, self.seed = device, amp_dtype, int(seed)
        self.fingerprint = fingerprint
        self.monitor = monitor if valid is not None else monitor.replace("valid_", "train_")
        self.callbacks = list(callbacks)
        self.n_batches = math.ceil(len(self.y) / self.batch_size)
        total = self.max_epochs * self.n_batches
        module.to(device)
        # the fused kernel is ~10x faster than the per-tensor loop on CPU (large embedding tables)
        self.optimizer = eager_optimizer(torch.optim.AdamW, param_groups, lr=lr, weight_decay=weight_decay,
                                         fused=device.type in ("cpu", "cuda"))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_linear_decay(total, int(round(warmup_ratio * total))))
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=device.type == "cuda" and amp_dtype == torch.float16)
        self.history: list[dict[str, Any]] = []
        self.best_score: float | None = None
        self.start_epoch = 0
        self.stop = False
        self.started = time.perf_counter() if started is None else float(started)
        self.prior_seconds = 0.0

    def elapsed_seconds(self) -> float:
        """Seconds trained so far: this session since ``started``, plus the sessions before a resume."""
        return self.prior_seconds + time.perf_counter() - self.started

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    @property
    def resumed_from(self) -> int | None:
        """The epoch a resumed run continued after (``None`` for a fresh run)."""
        for cb in self.callbacks:
            if isinstance(cb, Checkpoint):
                return cb.resumed_from
        return None

    def fit(self) -> "Trainer":
        """Run the epochs (from a checkpoint's epoch when resuming); returns ``self``."""
        self._call("on_train_begin")
        # a run resumed after its early stop has nothing left to train
        for epoch in range(self.start_epoch, self.max_epochs if not self.stop else self.start_epoch):
            self._call("on_epoch_begin", epoch)
            metrics = {"epoch": epoch + 1, **self._train_epoch(epoch)}
            if self.valid is not None:
                metrics.update(self.evaluate(*self.valid))
            metrics["lr"] = float(self.scheduler.get_last_lr()[0])
            score = metrics[self.monitor]
            metrics["is_best"] = bool(improved(self.monitor, score, self.best_score))
            if metrics["is_best"]:
                self.best_score = float(score)
            self.history.append(metrics)
            self._call("on_epoch_end", epoch, metrics)
            if self.stop:
                break
        self._call("on_train_end")
        return self

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        self.module.train()
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.y))
        total_loss, correct, seen = 0.0, 0, 0
        for b in range(self.n_batches):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            batch = self._to_device(self.make_batch(idx))
            yb = self.y[idx].to(self.device)
            with self._autocast():
                logits = self.module(**batch)
            loss = self.loss_fn(logits.float(), yb, epoch)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.max_grad_norm:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(
                    [p for g in self.optimizer.param_groups for p in g["params"]], self.max_grad_norm)
            if self.scaler.is_enabled():
                self.scaler.step(self.optimizer)
            else:
                eager_step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            batch_correct = int((logits.detach().argmax(dim=1) == yb).sum())
            loss_value = float(loss.detach())
            total_loss += loss_value * len(idx)
            correct += batch_correct
            seen += len(idx)
            self._call("on_batch_end", loss_value, batch_correct / len(idx))
        return {"train_loss": total_loss / seen, "train_acc": correct / seen}

    def predict_logits(self, make_batch: Callable[[np.ndarray], dict[str, torch.Tensor]], n: int,
                       batch_size: int | None = None) -> torch.Tensor:
        """Logits ``(n, n_classes)`` in eval mode, in row order, on the CPU."""
        return predict_logits(self.module, make_batch, n, self.device, self.amp_dtype,
                              batch_size or max(self.batch_size, 256))

    def evaluate(self, make_batch, y: np.ndarray) -> dict[str, float]:
        """Validation cross-entropy and accuracy."""
        logits = self.predict_logits(make_batch, len(y))
        target = torch.as_tensor(np.asarray(y, dtype=np.int64))
        return {"valid_loss": float(F.cross_entropy(logits, target)),
                "valid_acc": float((logits.argmax(dim=1) == target).float().mean())}


def predict_logits(module: torch.nn.Module, make_batch, n: int, device: torch.device,
                   amp_dtype: torch.dtype | None, batch_size: int = 256) -> torch.Tensor:
    """Run ``module`` in eval mode over rows ``0..n-1`` and return float32 CPU logits."""
    was_training = module.training
    module.eval()
    out = []
    ctx = torch.autocast(device_type="cuda", dtype=amp_dtype) if amp_dtype is not None else nullcontext()
    with torch.inference_mode(), ctx:
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(n, start + batch_size))
            batch = {k: v.to(device, non_blocking=True) for k, v in make_batch(idx).items()}
            out.append(module(**batch).float().cpu())
    module.train(was_training)
    return torch.cat(out) if out else torch.empty(0)
