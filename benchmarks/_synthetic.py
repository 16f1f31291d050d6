"""Synthetic predictions for the benchmarks that need millions of them (evaluation, dashboards)."""

from __future__ import annotations

import numpy as np


def skewed_probabilities(rng: np.random.Generator, group: np.ndarray, n: int, *, skew: float,
                         group_boost: float, gamma: tuple[float, float], sharpness: float,
                         chunk: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """``n`` true leaf indices drawn from a Zipf-like distribution over ``len(group)`` leaves
    (exponent ``skew``) and float32 softmax rows that favour the true leaf (a gamma-distributed
    margin) and the leaves of its ``group`` (``group_boost``), so that errors are mostly near
    misses, as with real models. Built ``chunk`` rows at a time to bound memory."""
    k = len(group)
    weights = 1.0 / np.arange(1, k + 1) ** skew
    true = rng.choice(k, size=n, p=weights / weights.sum())
    proba = np.empty((n, k), dtype=np.float32)
    for lo in range(0, n, chunk):
        t = true[lo:lo + chunk]
        logits = rng.standard_normal((len(t), k), dtype=np.float32)
        logits += group_boost * (group[None, :] == group[t][:, None])
        logits[np.arange(len(t)), t] += rng.gamma(*gamma, size=len(t)).astype(np.float32)
        logits *= sharpness
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        proba[lo:lo + len(t)] = logits
    return true, proba
