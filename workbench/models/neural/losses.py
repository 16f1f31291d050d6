"""Losses of the neural models: focal loss, semantic label smoothing (soft targets over each
leaf's semantic neighbours, learned through a KL term) and the curriculum that sharpens them.

All functions take logits ``(batch, n_classes)`` and integer targets ``(batch,)``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from workbench.errors import WorkbenchError


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 0.0,
               alpha: float | Sequence[float] | torch.Tensor | None = None) -> torch.Tensor:
    """Mean focal loss ``-alpha_y * (1 - p_y) ** gamma * log p_y`` (Lin et al. 2017).

    ``gamma = 0`` and ``alpha = None`` is exactly cross-entropy; ``gamma > 0`` down-weights
    examples the model already gets right with confidence. ``alpha`` is ``None`` (no weight),
    a float (one weight for every class) or one weight per class (see :func:`class_weights`).
    """
    if gamma < 0:
        raise WorkbenchError(f"focal gamma must be >= 0, got {gamma}; use 0 for plain cross-entropy")
    log_p = F.log_softmax(logits.float(), dim=-1).gather(1, target.view(-1, 1)).squeeze(1)
    loss = -log_p
    if gamma > 0:
        loss = loss * (1.0 - log_p.exp()).clamp(min=0.0) ** gamma
    if alpha is not None:
        if isinstance(alpha, (int, float)):
            loss = loss * float(alpha)
        else:
            weights = torch.as_tensor(alpha, dtype=loss.dtype, device=loss.device)
            loss = loss * weights[target]
    return loss.mean()


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """"Balanced" per-class weights ``n / (n_seen_classes * count)``; 1 for classes absent from ``y``."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes).astype(np.float64)
    seen = counts > 0
    weights = np.ones(n_classes, dtype=np.float64)
    weights[seen] = counts.sum() / (seen.sum() * counts[seen])
    return weights.astype(np.float32)


def semantic_smoothing_targets(y: torch.Tensor, neighbour_matrix: torch.Tensor,
                               strength: float) -> torch.Tensor:
    """Soft targets ``(1 - strength) * onehot(y) + strength * neighbour_matrix[y]``.

    ``neighbour_matrix`` is row-stochastic ``(n_classes, n_classes)``: row ``i`` spreads weight
    over leaf ``i``'s semantic neighbours. ``strength = 0`` gives the one-hot targets back.
    """
    if not 0.0 <= strength <= 1.0:
        raise WorkbenchError(f"smoothing strength must lie in [0, 1], got {strength}")
    n_classes = neighbour_matrix.shape[0]
    onehot = F.one_hot(y, n_classes).to(neighbour_matrix.dtype)
    return (1.0 - strength) * onehot + strength * neighbour_matrix[y]


def kl_to_soft_targets(logits: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """``KL(soft || softmax(logits))`` averaged over the batch (0 where the model matches ``soft``)."""
    log_q = F.log_softmax(logits.float(), dim=-1)
    return F.kl_div(log_q, soft.to(log_q.dtype), reduction="batchmean")


def smoothing_schedule(epoch: int, n_epochs: int, start: float, end: float | None) -> float:
    """Smoothing strength at ``epoch`` (0-based): linear from ``start`` at the first epoch to
    ``end`` at the last; ``end = None`` switches the curriculum off (``start`` throughout)."""
    if end is None or n_epochs <= 1:
        return float(start)
    t = min(max(epoch, 0), n_epochs - 1) / (n_epochs - 1)
    return float(start + (end - start) * t)
