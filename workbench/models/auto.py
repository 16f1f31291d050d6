"""Defaults that fit the catalog in hand (the ``"auto"`` value of a family's parameters).

A parameter set to ``"auto"`` is resolved when ``fit`` starts, from the training products and
the machine, and the resolved value is kept (``resolved_params_``) and recorded with the run:

* **threads** (:func:`free_cores`): the cores not already busy, from the 1-minute load
  average; on a shared 2-core machine under load that is 1, which is also what ran fastest
  there (a CNN-LSTM epoch took 6.6 times longer with 2 torch threads at a load of 20).
* **sequence length** (:func:`length_quantile`): the 95th percentile of the training texts'
  lengths in the model's own tokens, within bounds, so that short fashion titles and long
  marketplace titles each get what they need and an outlier does not widen every batch.
* **epochs** (:func:`epochs_for`): enough passes for a minimum number of optimizer steps, so a
  small catalog is not left undertrained, within bounds that keep the time per product
  within a small factor of a large catalog's (early stopping still ends a run sooner).
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np

AUTO = "auto"


def is_auto(value: Any) -> bool:
    """Whether a parameter value asks to be resolved from the data."""
    return isinstance(value, str) and value == AUTO


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def free_cores(cap: int | None = None) -> int:
    """Cores not busy right now: usable cores minus the 1-minute load average, at least 1
    (and at most ``cap``)."""
    cores = usable_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    free = max(1, int(math.floor(cores - load + 0.5)))
    return min(free, cap) if cap else free


def length_quantile(lengths: Sequence[int], *, q: float = 0.95, lower: int, upper: int) -> int:
    """The ``q`` quantile of the texts' ``lengths`` (in the model's tokens), rounded up and
    clipped to ``[lower, upper]``."""
    if len(lengths) == 0:
        return lower
    return int(np.clip(math.ceil(np.quantile(np.asarray(lengths, dtype=np.float64), q)), lower, upper))


def seeded_sample(texts: Sequence[str], n: int = 20_000, seed: int = 0) -> list[str]:
    """At most ``n`` of ``texts``, a seeded sample when there are more (to measure lengths
    cheaply on a big catalog)."""
    if len(texts) <= n:
        return list(texts)
    pick = np.sort(np.random.default_rng(seed).choice(len(texts), size=n, replace=False))
    return [texts[i] for i in pick]


def epochs_for(n_train: int, batch_size: int, *, min_steps: int, lower: int, upper: int) -> int:
    """Epochs that give at least ``min_steps`` optimizer steps, clipped to ``[lower, upper]``."""
    steps_per_epoch = max(1, math.ceil(max(1, n_train) / max(1, int(batch_size))))
    return int(np.clip(math.ceil(min_steps / steps_per_epoch), lower, upper))


