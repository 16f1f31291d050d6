"""Scores to probabilities: the tempered softmax the linear heads and the zero-shot model share."""

from __future__ import annotations

import numpy as np


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise softmax of ``scores / temperature`` (each row's maximum subtracted first, so
    large scores do not overflow)."""
    logits = scores / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)
