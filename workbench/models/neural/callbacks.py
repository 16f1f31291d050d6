"""Named training callbacks (skorch-style): early stopping, checkpoint / resume, progress bar.

A callback sees the :class:`~workbench.models.neural.trainer.Trainer` at each hook and may
set ``trainer.stop = True``. ``state_dict`` / ``load_state_dict`` let a checkpoint carry a
callback's state across a resumed run.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

MONITORS = {"valid_loss": "min", "valid_acc": "max", "train_loss": "min", "train_acc": "max"}


def improved(monitor: str, score: float, best: float | None) -> bool:
    """Whether ``score`` beats ``best`` for a monitored quantity (lower loss, higher accuracy)."""
    if best is None:
        return True
    return score < best if MONITORS[monitor] == "min" else score > best


class Callback:
    """Base class: every hook does nothing; subclasses override what they need."""

    name = "callback"

    def on_train_begin(self, trainer) -> None:
        """Before the first epoch (after a resume has been applied)."""

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        """Before an epoch (``epoch`` is 0-based)."""

    def on_batch_end(self, trainer, loss: float, acc: float) -> None:
        """After each optimisation step, with the batch's loss and accuracy."""

    def on_epoch_end(self, trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """After an epoch and its validation; ``metrics`` is the epoch's history row."""

    def on_train_end(self, trainer) -> None:
        """After the last epoch (also after an early stop)."""

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state carried by a checkpoint."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs in a row."""

    name = "early_stopping"

    def __init__(self, patience: int = 3, monitor: str = "valid_loss"):
        self.patience = int(patience)
        self.monitor = monitor
        self.best: float | None = None
        self.wait = 0

    def on_epoch_end(self, trainer, epoch, metrics):
        score = metrics.get(self.monitor)
        if score is None:
            return
        if improved(self.monitor, score, self.best):
            self.best, self.wait = float(score), 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop = True
                metrics["stopped_early"] = True

    def state_dict(self):
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state):
        self.best, self.wait = state["best"], int(state["wait"])


class ProgressBar(Callback):
    """Training progress (:mod:`workbench.models.progress`): on a terminal a tqdm bar per epoch
    with the running loss and accuracy; otherwise one line per epoch on standard error with the
    epoch's losses, accuracies, learning rate and seconds. A resumed run says so first."""

    name = "progress_bar"

    def __init__(self, progress=None, label: str = "training"):
        from workbench.models.progress import progress_mode

        self.mode = progress_mode(progress)
        self.label = label
        self._bar = None
        self._t0 = 0.0

    def on_train_begin(self, trainer):
        resumed = trainer.resumed_from
        if resumed is not None and self.mode != "off":
            from workbench.models.progress import progress_line

            progress_line(self.label, "resumed", note=f"after epoch {resumed} of {trainer.max_epochs}, "
                                                      f"{trainer.prior_seconds:.1f} s trained before")

    def on_epoch_begin(self, trainer, epoch):
        self._t0 = time.perf_counter()
        if self.mode != "bar":
            return
        from tqdm.auto import tqdm

        self._bar = tqdm(total=trainer.n_batches, desc=f"{self.label} epoch {epoch + 1}/{trainer.max_epochs}",
                         unit="batch", leave=False)

    def on_batch_end(self, trainer, loss, acc):
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.3f}", refresh=False)

    def on_epoch_end(self, trainer, epoch, metrics):
        if self._bar is not None:
            shown = {k: f"{v:.4f}" for k, v in metrics.items()
                     if k in MONITORS and isinstance(v, float)}
            self._bar.set_postfix(shown)
            self._bar.close()
            self._bar = None
        elif self.mode == "lines":
            from workbench.models.progress import progress_line

            shown = {k: metrics[k] for k in ("train_loss", "train_acc", "valid_loss", "valid_acc", "lr")
                     if k in metrics}
            notes = [n for n, flag in (("best so far", metrics.get("is_best")),
                                       ("stopped early", metrics.get("stopped_early"))) if flag]
            progress_line(self.label, f"epoch {epoch + 1}/{trainer.max_epochs}", shown,
                          time.perf_counter() - self._t0, ", ".join(notes))


# checkpoint --------------------------------------------------------------------------------
LAST, LAST_META, BEST = "last.safetensors", "last.json", "best.safetensors"


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trainable weights of a module (frozen ones never change, so they need no saving)."""
    return {f"model.{k}": v.detach().cpu().contiguous().clone()
            for k, v in module.named_parameters() if v.requires_grad}


def _load_tensors(module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    missing = {k for k, v in module.named_parameters() if v.requires_grad} - set(weights)
    if missing:
        raise ValueError(f"checkpoint lacks weights {sorted(missing)[:3]}")
    module.load_state_dict(weights, strict=False)


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, (f.metadata() or {})


def _write(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def _optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors, plain = {}, {}
    for pid, slots in state["state"].items():
        for slot, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{slot}"] = value.detach().cpu().contiguous().clone()
            else:
                plain.setdefault(str(pid), {})[slot] = value
    return tensors, {"param_groups": state["param_groups"], "plain": plain}


def _load_optimizer_state(optimizer, tensors, meta) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, slot = key.split(".", 2)
            state.setdefault(int(pid), {})[slot] = value
    for pid, slots in meta["plain"].items():
        state.setdefault(int(pid), {}).update(slots)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    meta = {"numpy": [name, int(pos), int(has_gauss), float(gauss)], "python": _to_json(random.getstate())}
    return tensors, meta


def _restore_rng(tensors, meta) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    name, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(_to_tuple(meta["python"]))


def _to_json(value):
    return [_to_json(v) for v in value] if isinstance(value, (tuple, list)) else value


def _to_tuple(value):
    return tuple(_to_tuple(v) for v in value) if isinstance(value, list) else value


class Checkpoint(Callback):
    """Save the best weights and, after every epoch, everything a killed run needs to resume.

    ``dir/best.safetensors`` holds the weights of the best epoch (by the trainer's monitor);
    ``dir/last.safetensors`` + ``dir/last.json`` hold the weights, optimizer, scheduler,
    gradient scaler, epoch, history, callback states, RNG states and the seconds trained so far
    (every session of the run together) after the last finished epoch. With ``resume=True`` a run whose fingerprint (parameters and data) matches an
    unfinished checkpoint continues after its last epoch; any other checkpoint is overwritten.
    At the end of training the best weights are loaded back into the module.
    """

    name = "checkpoint"

    def __init__(self, directory: str | os.PathLike, resume: bool = True):
        self.directory = Path(directory)
        self.resume = resume
        self.resumed_from: int | None = None

    # hooks ----------------------------------------------------------------------------
    def on_train_begin(self, trainer):
        self.directory.mkdir(parents=True, exist_ok=True)
        self.resumed_from = None
        if self.resume:
            state = self._compatible_state(trainer)
            if state is not None:
                self._restore(trainer, *state)
                self.resumed_from = trainer.start_epoch
                return
        for name in (LAST, LAST_META, BEST):
            (self.directory / name).unlink(missing_ok=True)

    def on_epoch_end(self, trainer, epoch, metrics):
        meta = {"fingerprint": trainer.fingerprint, "epoch": str(epoch + 1)}
        if metrics.get("is_best"):
            _write(self.directory / BEST, _tensors(trainer.module), meta)
        self._save_last(trainer, epoch + 1, finished=False)

    def on_train_end(self, trainer):
        if (self.directory / BEST).exists():
            tensors, _ = _read(self.directory / BEST)
            _load_tensors(trainer.module, tensors)
        meta_path = self.directory / LAST_META
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            meta["finished"] = True
            meta_path.write_text(json.dumps(meta))

    # internals ------------------------------------------------------------------------
    def _save_last(self, trainer, epochs_done: int, finished: bool) -> None:
        tensors = _tensors(trainer.module)
        opt_tensors, opt_meta = _optimizer_state(trainer.optimizer)
        rng_tensors, rng_meta = _rng_state()
        tensors.update(opt_tensors)
        tensors.update(rng_tensors)
        meta = {
            "fingerprint": trainer.fingerprint,
            "epochs_done": epochs_done,
            "finished": finished,
            "stopped": bool(trainer.stop),
            "seconds": trainer.elapsed_seconds(),
            "history": trainer.history,
            "best_score": trainer.best_score,
            "optimizer": opt_meta,
            "scheduler": trainer.scheduler.state_dict(),
            "scaler": trainer.scaler.state_dict(),
            "rng": rng_meta,
            "callbacks": {cb.name: cb.state_dict() for cb in trainer.callbacks},
        }
        _write(self.directory / LAST, tensors,
               {"fingerprint": trainer.fingerprint, "epoch": str(epochs_done)})
        tmp = self.directory / (LAST_META + ".tmp")
        tmp.write_text(json.dumps(_to_json_tree(meta)))
        os.replace(tmp, self.directory / LAST_META)

    def _compatible_state(self, trainer):
        meta_path, last = self.directory / LAST_META, self.directory / LAST
        if not (meta_path.exists() and last.exists()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
            tensors, file_meta = _read(last)
        except (OSError, ValueError):
            return None
        if (meta.get("finished") or meta.get("fingerprint") != trainer.fingerprint
                or file_meta.get("epoch") != str(meta.get("epochs_done"))):
            return None
        return tensors, meta

    def _restore(self, trainer, tensors, meta) -> None:
        _load_tensors(trainer.module, tensors)
        _load_optimizer_state(trainer.optimizer, tensors, meta["optimizer"])
        trainer.scheduler.load_state_dict(meta["scheduler"])
        if meta["scaler"]:
            trainer.scaler.load_state_dict(meta["scaler"])
        trainer.start_epoch = int(meta["epochs_done"])
        trainer.stop = bool(meta.get("stopped", False))
        trainer.prior_seconds = float(meta.get("seconds", 0.0))
        trainer.history = meta["history"]
        trainer.best_score = meta["best_score"]
        for cb in trainer.callbacks:
            if cb.name in meta["callbacks"]:
                cb.load_state_dict(meta["callbacks"][cb.name])
        _restore_rng(tensors, meta["rng"])


def _to_json_tree(value):
    if isinstance(value, dict):
        return {str(k): _to_json_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json_tree(v) for v in value]
    if torch.is_tensor(value):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value
