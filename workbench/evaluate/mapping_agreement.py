"""Agreement of a proposed taxonomy mapping with a reference mapping (a plain metric function)."""

from __future__ import annotations

from typing import Mapping, Sequence


def mapping_agreement(proposed: Mapping[str, Sequence[str]], reference: Mapping[str, set[str] | Sequence[str]],
                      *, k: int = 3) -> dict[str, float | int]:
    """Top-1 and top-``k`` agreement of ranked proposals with a reference.

    ``proposed``: source node -> target nodes, best first. ``reference``: source node -> the
    target nodes the reference accepts for it (several when the reference maps many of its
    categories onto one). Only sources present in both count. Returns ``top1``, ``top{k}``
    (shares of sources whose first / any of the first ``k`` proposals is accepted) and ``n``.
    """
    hits1 = hitsk = n = 0
    for source, accepted in reference.items():
        ranked = proposed.get(source)
        if ranked is None or not accepted:
            continue
        accepted = set(accepted)
        n += 1
        hits1 += bool(ranked) and ranked[0] in accepted
        hitsk += any(t in accepted for t in list(ranked)[:k])
    return {"top1": hits1 / n if n else float("nan"), f"top{k}": hitsk / n if n else float("nan"), "n": n}
