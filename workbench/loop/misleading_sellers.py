"""Sellers who mislead: who keeps choosing categories the model finds very unlikely.

A seller (on the seller's page) or an API caller (a key and the ``by`` it names) who chooses, far
more often than everyone else, a category the model gave a very low probability may be
miscategorising on purpose (case study 002's fraud detection). The test, per seller: of their
``n`` choices, ``k`` had a model probability below ``low`` (1% by default); under the null
hypothesis they make such choices at the pooled rate of every *other* seller
(``p0 = (K - k + 0.5) / (N - n + 1)``, the half count keeping ``p0`` above zero), and a one-sided
binomial test (``scipy.stats.binomtest(k, n, p0, alternative="greater")``) with ``p < 0.01`` and at
least ``min_choices`` choices flags them. A flag only lists their choices for a reviewer to
check; nothing is penalised automatically.

For API feedback whose category was outside the logged top-k, the probability known is the k-th
one (an upper bound), so such a choice counts as low only when even that bound is below ``low``.
"""

from __future__ import annotations

import pandas as pd
from scipy.stats import binomtest

from workbench.store import Workspace

#: a choice the model gave less than this probability is a low-probability choice
LOW_PROBA = 0.01
#: the significance level of the one-sided binomial test
ALPHA = 0.01
#: fewer choices than this are never judged
MIN_CHOICES = 20


def seller_choices(ws: Workspace) -> pd.DataFrame:
    """Every feedback that chose a category with the model's probability of it, one row per
    product and seller (the latest), with ``seller`` (the seller's name; for API feedback
    ``by (key NAME)``), the product's title and the model's first suggestion."""
    return ws.df(
        "SELECT CASE WHEN f.channel = 'seller' THEN f.actor ELSE f.actor || ' (key ' || coalesce(f.key_name, '?') "
        "|| ')' END AS seller, f.channel, f.product_id, coalesce(fp.title_raw, p.title_raw, fp.title, p.title) AS title, "
        "f.category AS chosen, f.chosen_proba, f.predicted AS first_suggestion, f.received_at, f.run_id "
        "FROM feedback f LEFT JOIN feedback_products fp USING (product_id) LEFT JOIN products p USING (product_id) "
        "WHERE f.category IS NOT NULL AND f.chosen_proba IS NOT NULL "
        "QUALIFY row_number() OVER (PARTITION BY f.product_id, f.channel, f.actor, f.key_name "
        "ORDER BY f.received_at DESC, f.feedback_id DESC) = 1 ORDER BY seller, f.received_at")


def flag_sellers(choices: pd.DataFrame, *, low: float = LOW_PROBA, alpha: float = ALPHA,
                 min_choices: int = MIN_CHOICES) -> pd.DataFrame:
    """One row per seller of ``choices`` (``seller, chosen_proba``): ``choices, low_choices,
    low_share, others_rate, p_value, flagged``, the most suspect first."""
    columns = ["seller", "choices", "low_choices", "low_share", "others_rate", "p_value", "flagged"]
    if choices.empty:
        return pd.DataFrame(columns=columns)
    is_low = choices["chosen_proba"].astype(float) < low
    per = (choices.assign(low=is_low).groupby("seller", sort=True)
           .agg(choices=("low", "size"), low_choices=("low", "sum")).reset_index())
    total_n, total_k = int(per["choices"].sum()), int(per["low_choices"].sum())
    rows = []
    for seller, n, k in zip(per["seller"], per["choices"].astype(int), per["low_choices"].astype(int)):
        others_rate = (total_k - k + 0.5) / (total_n - n + 1)
        p_value = float(binomtest(k, n, min(others_rate, 1.0), alternative="greater").pvalue)
        rows.append({"seller": seller, "choices": n, "low_choices": k, "low_share": k / n,
                     "others_rate": others_rate, "p_value": p_value,
                     "flagged": bool(n >= min_choices and p_value < alpha)})
    return pd.DataFrame(rows, columns=columns).sort_values(["flagged", "p_value"], ascending=[False, True],
                                                           ignore_index=True)


def misleading_sellers(ws: Workspace, *, low: float = LOW_PROBA, alpha: float = ALPHA,
                       min_choices: int = MIN_CHOICES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(verdicts, flagged choices)``: :func:`flag_sellers` over the workspace's feedback, and the
    low-probability choices of the flagged sellers (for a reviewer to check)."""
    choices = seller_choices(ws)
    verdicts = flag_sellers(choices, low=low, alpha=alpha, min_choices=min_choices)
    flagged = set(verdicts.loc[verdicts["flagged"], "seller"]) if len(verdicts) else set()
    listed = choices[choices["seller"].isin(flagged) & (choices["chosen_proba"] < low)]
    return verdicts, listed.sort_values(["seller", "chosen_proba"], ignore_index=True)


def simulate_seller_choices(proba, true_index, classes, *, n_sellers: int = 20, n_products: int = 100,
                            misleading: int = 1, mislead_share: float = 0.10, lowest: int = 5,
                            seed: int = 0) -> pd.DataFrame:
    """Simulated sellers on real products: each of ``n_sellers`` gets ``n_products`` products
    (rows of the probability matrix ``proba``, drawn without replacement) and chooses the true
    category (``true_index``); the first ``misleading`` sellers instead choose, for
    ``mislead_share`` of their products, one of the ``lowest`` least probable categories. Returns
    ``seller, row, chosen, chosen_proba, first_suggestion, misleading`` (for :func:`flag_sellers`
    and :func:`workbench.loop.feedback.record_seller_feedback`)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    proba = np.asarray(proba)
    classes = np.asarray(classes, dtype=object)
    frames = []
    for s in range(n_sellers):
        rows = rng.choice(len(proba), size=n_products, replace=len(proba) < n_products)
        chosen = np.asarray(true_index)[rows].copy()
        bad = s < misleading
        if bad:
            lie = rng.random(n_products) < mislead_share
            worst = np.argsort(proba[rows], axis=1)[:, :lowest]
            pick = worst[np.arange(n_products), rng.integers(0, lowest, n_products)]
            chosen = np.where(lie, pick, chosen)
        frames.append(pd.DataFrame({
            "seller": f"seller-{s:02d}", "row": rows, "chosen": classes[chosen],
            "chosen_proba": proba[rows, chosen], "first_suggestion": classes[proba[rows].argmax(axis=1)],
            "misleading": bad}))
    return pd.concat(frames, ignore_index=True)


def held_out_probabilities(ws: Workspace, run_id: str, split: str = "grouped"):
    """``(proba, true index, classes)``: the run's probabilities (through the one road,
    :class:`workbench.runs.predictor.Predictor`) for the products it never trained on (the
    validation and test parts of ``split``) whose catalog category is one of its classes, the
    index of that category in ``classes``, and the classes: the input of
    :func:`simulate_seller_choices`."""
    from workbench.runs.predictor import Predictor

    frame = ws.df("SELECT p.title, p.description, p.brand, p.leaf FROM products p JOIN splits s USING (product_id) "
                  "WHERE s.kind = ? AND s.part IN ('valid', 'test') ORDER BY p.product_id", [split])
    predictor = Predictor.for_run(ws, run_id)
    proba = predictor.score(predictor.frame(frame[["title", "description", "brand"]]))
    index = {c: i for i, c in enumerate(predictor.classes)}
    known = frame["leaf"].isin(index).to_numpy()
    return proba[known], frame["leaf"][known].map(index).to_numpy(), predictor.classes


def record_simulated_choices(ws: Workspace, sim: pd.DataFrame, run_id: str, *, prefix: str = "sim-",
                             title=None) -> int:
    """Store the answers of :func:`simulate_seller_choices` as seller feedback through the real
    store (:func:`workbench.loop.feedback.record_seller_feedback`), one call per simulated seller,
    named ``prefix`` + its name; ``title(seller, row)`` gives a product's title (default
    ``product ROW``). Returns how many answers were stored."""
    from workbench.loop.feedback import record_seller_feedback

    title = title or (lambda _seller, row: f"product {row}")
    stored = 0
    for seller, rows in sim.groupby("seller"):
        items = pd.DataFrame({"title": [title(seller, r) for r in rows["row"]], "predicted": rows["first_suggestion"],
                              "category": rows["chosen"], "chosen_proba": rows["chosen_proba"]})
        stored += len(record_seller_feedback(ws, items, seller=f"{prefix}{seller}", run_id=run_id))
    return stored
