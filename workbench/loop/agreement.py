"""Agreement between reviewers on nominal labels: Cohen's kappa for a pair, Krippendorff's alpha
for any number of reviewers with missing decisions (pure functions; see
:mod:`workbench.loop.reviewer_quality` for the workspace side).
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import permutations
from typing import Hashable, Sequence


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa of two reviewers' labels of the same items (``nan`` with no items; 1.0 when
    both always agree on a single label, where kappa is otherwise undefined)."""
    if len(a) != len(b):
        raise ValueError(f"two reviewers' labels must be aligned: {len(a)} and {len(b)} items")
    n = len(a)
    if n == 0:
        return math.nan
    observed = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in ca) / (n * n)
    if expected == 1:
        return 1.0 if observed == 1 else math.nan
    return (observed - expected) / (1 - expected)


def krippendorff_alpha(units: Sequence[Sequence[Hashable | None]]) -> float:
    """Krippendorff's alpha (nominal) of ``units``: one list of labels per item, one entry per
    reviewer, ``None`` where that reviewer did not decide. Items with fewer than two decisions
    do not count; ``nan`` when nothing is pairable, 1.0 when every decision is the same label."""
    coincidence: Counter = Counter()
    for unit in units:
        values = [v for v in unit if v is not None]
        m = len(values)
        if m < 2:
            continue
        for x, y in permutations(values, 2):
            coincidence[(x, y)] += 1 / (m - 1)
    total = sum(coincidence.values())
    if total == 0:
        return math.nan
    marginal: Counter = Counter()
    for (x, _), w in coincidence.items():
        marginal[x] += w
    disagree = sum(w for (x, y), w in coincidence.items() if x != y)
    chance = total * total - sum(v * v for v in marginal.values())
    if chance == 0:
        return 1.0
    return 1 - (total - 1) * disagree / chance
