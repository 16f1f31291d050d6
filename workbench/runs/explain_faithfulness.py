"""Is an explanation faithful? Removing the words it names must hurt the chosen leaf more than
removing random words.

For each product (titles of at least ``min_words`` words), the three words of the raw title with
the strongest push towards the chosen leaf (``words`` of :meth:`Explainer.explain`: the summed
weight x value of every word and character n-gram read in that word) are removed, and the chosen
leaf's probability is compared with the mean over ``draws`` removals of three random words of
the same title. The product counts as explained faithfully when the explanation's removal
lowers the probability more.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.runs.explain import Explainer


def _without(raw: str, words: list[dict], drop: set[int]) -> str:
    """The raw title without the words at positions ``drop`` (the rest as written)."""
    out, pos = [], 0
    for i in sorted(drop):
        out += [raw[pos: words[i]["start"]], " "]
        pos = words[i]["end"]
    return "".join(out + [raw[pos:]])


def faithfulness(explainer: Explainer, products: Sequence[Mapping[str, Any]], *, top: int = 3, draws: int = 5,
                 min_words: int = 5, seed: int = 0) -> pd.DataFrame:
    """One row per product with at least ``min_words`` words: ``product_id``, ``proba`` (the
    chosen leaf's), ``proba_top`` (without the explanation's ``top`` words), ``proba_random``
    (mean of ``draws`` removals of ``top`` random words) and ``faithful``."""
    rng = np.random.default_rng(seed)
    exps = explainer.explain(list(products), k=top, neighbours=0)
    rows, variants = [], []
    for product, exp in zip(products, exps):
        words = exp.get("words") or []
        if exp.get("terms") is None or len(words) < max(min_words, top + 1):
            continue
        order = sorted(range(len(words)), key=lambda i: -words[i]["score"])[:top]
        texts = [_without(exp["title"], words, set(order))]
        texts += [_without(exp["title"], words, set(rng.choice(len(words), top, replace=False).tolist()))
                  for _ in range(draws)]
        rows.append((exp.get("product_id"), exp["category"], exp["confidence"]))
        variants.extend({**dict(product), "title": t, "title_raw": t} for t in texts)
    if not rows:
        return pd.DataFrame(columns=["product_id", "proba", "proba_top", "proba_random", "faithful"])
    p = explainer.predictor
    proba = p.score(p.frame(variants)).reshape(len(rows), draws + 1, -1)
    col = {c: j for j, c in enumerate(p.classes)}
    chosen = np.array([col[r[1]] for r in rows])
    at = proba[np.arange(len(rows)), :, chosen]  # (n, draws + 1)
    out = pd.DataFrame({"product_id": [r[0] for r in rows], "proba": [r[2] for r in rows],
                        "proba_top": at[:, 0], "proba_random": at[:, 1:].mean(axis=1)})
    out["faithful"] = out["proba_top"] < out["proba_random"]
    return out
