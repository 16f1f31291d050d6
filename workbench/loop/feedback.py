"""Feedback on predictions, kept apart from the catalog until a reviewer confirms it.

Two channels answer back: a caller of the HTTP API (``/v1/feedback``: the prediction was right, or
the category finally chosen) and a seller on the seller's page (the top five, the category they
picked, or "none fits"). :func:`import_feedback` (API feedback, run by the process holding the
database, see :mod:`workbench.service.sync`) and :func:`record_seller_feedback` turn each into:

* a row of ``feedback`` (who, when, the channel, accepted, the category chosen, the predicted one,
  the run, the model's probability of the chosen category);
* the product itself, when new, in ``feedback_products``, **not** in the catalog's ``products``:
  it is never embedded, projected, split, trained on or part of any evaluation's truth;
* when the right category is known, a label with provenance ``feedback`` in the label history
  (never a product's current label, see :mod:`workbench.loop.labels`).

:func:`confirm_feedback` is the reviewer's step: the product joins ``products`` and the feedback
category becomes a human label (a review), which retraining may use.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Sequence

import numpy as np
import pandas as pd

from workbench.catalog.text import clean_text, normalise_title
from workbench.errors import WorkbenchError
from workbench.loop.labels import utc_now
from workbench.store import Workspace
from workbench.store.frames import insert_frame, registered
from workbench.store.schema import FEEDBACK_PRODUCT_COLUMNS

CHANNELS = ("api", "seller")


def api_product_id(key_name: str, product_ref: str | None, prediction_id: str) -> str:
    """The workspace id of a product seen by the API: the caller's own id under its key, else the
    prediction's id."""
    if product_ref:
        return f"api:{key_name}:{product_ref}"
    return f"api:{prediction_id}"


def import_feedback(ws: Workspace, feedback: pd.DataFrame, predictions: pd.DataFrame) -> int:
    """Store feedback not stored yet, with its products and ``feedback`` labels, in one
    transaction; ``predictions`` are the logged predictions the feedback names. Returns how
    many feedback rows were new."""
    if feedback.empty:
        return 0
    known = set(ws.df("SELECT feedback_id FROM feedback WHERE feedback_id IN (SELECT unnest(?))",
                      [feedback["feedback_id"].astype(str).tolist()])["feedback_id"])
    new = feedback[~feedback["feedback_id"].isin(known)].drop_duplicates("feedback_id")
    inputs = predictions.drop_duplicates("prediction_id").set_index("prediction_id")
    new = new[new["prediction_id"].isin(inputs.index)]
    if new.empty:
        return 0
    pred = inputs.loc[new["prediction_id"]].reset_index()
    product_ids = [api_product_id(k, r if isinstance(r, str) else None, p)
                   for k, r, p in zip(pred["key_name"], pred["product_ref"], pred["prediction_id"])]
    now = utc_now()
    products = pd.DataFrame({
        "product_id": product_ids, "title": pred["title"].map(clean_text), "title_raw": pred["title_raw"],
        "description": pred["description"].map(clean_text), "description_raw": pred["description"],
        "brand": pred["brand"].map(clean_text), "price": pred["price"].astype(float),
        "title_key": pred["title"].map(normalise_title), "image": pred["image_url"], "extra": pred["attributes"],
        "source": "api feedback (key " + pred["key_name"].astype(str) + ")",
        "received_at": pd.to_datetime(new["time"]).to_numpy()}).drop_duplicates("product_id")
    rows = pd.DataFrame({
        "feedback_id": new["feedback_id"].to_numpy(), "prediction_id": new["prediction_id"].to_numpy(),
        "product_id": product_ids, "received_at": pd.to_datetime(new["time"]).to_numpy(),
        "key_name": new["key_name"].to_numpy(), "actor": new["by"].to_numpy(),
        "accepted": new["accepted"].astype(bool).to_numpy(), "category": new["category"].to_numpy(),
        "predicted": new["predicted"].to_numpy(), "run_id": new["run_id"].to_numpy(),
        "rank": new["rank"].to_numpy(), "imported_at": now, "channel": "api",
        "chosen_proba": [chosen_probability(t, c) for t, c in zip(pred["top_k"], new["category"])],
        "none_fits": False})
    return write_feedback(ws, products, rows)


def chosen_probability(top_k, category) -> float | None:
    """The model's probability of ``category`` from a logged top-k (``[[category, p], ...]`` as
    JSON); outside the top-k, the k-th probability (an upper bound); ``None`` without a category."""
    if category is None or (isinstance(category, float) and np.isnan(category)):
        return None
    try:
        ranked = json.loads(top_k) if isinstance(top_k, str) else list(top_k or [])
    except ValueError:
        return None
    probs = {str(c): float(p) for c, p in ranked}
    if str(category) in probs:
        return probs[str(category)]
    return min(probs.values()) if probs else None


def write_feedback(ws: Workspace, products: pd.DataFrame, rows: pd.DataFrame) -> int:
    """Store feedback ``rows`` with their new ``products`` (in ``feedback_products``, never the
    catalog's ``products``) and their ``feedback`` labels, in one transaction; rows whose
    ``feedback_id`` is stored already (another process imported the same log a moment before)
    are left out. Returns how many rows were stored."""
    with ws.transaction() as cur:
        stored = {r[0] for r in cur.execute(
            "SELECT feedback_id FROM feedback WHERE feedback_id IN (SELECT unnest(?))",
            [rows["feedback_id"].astype(str).tolist()]).fetchall()}
        rows = rows[~rows["feedback_id"].astype(str).isin(stored)]
        if rows.empty:
            return 0
        products = products[products["product_id"].isin(rows["product_id"])]
        labelled = rows.dropna(subset=["category"])
        labels = pd.DataFrame({
            "product_id": labelled["product_id"], "leaf": labelled["category"], "actor": labelled["actor"],
            "created_at": labelled["received_at"], "run_id": labelled["run_id"],
            "reason": ["feedback " + f + (": accepted" if a else f": chose it over {p}")
                       for f, a, p in zip(labelled["feedback_id"], labelled["accepted"], labelled["predicted"])]})
        with registered(cur, "_fb_products", products):
            cur.execute("INSERT INTO feedback_products BY NAME SELECT * FROM _fb_products "
                        "WHERE product_id NOT IN (SELECT product_id FROM feedback_products) "
                        "AND product_id NOT IN (SELECT product_id FROM products)")
        insert_frame(cur, "feedback", rows, name="_fb_rows")
        if len(labels):
            with registered(cur, "_fb_labels", labels):
                cur.execute("INSERT INTO labels (product_id, leaf, source, actor, created_at, reason, run_id) "
                            "SELECT product_id, leaf, 'feedback', actor, created_at, reason, run_id FROM _fb_labels")
    return len(rows)


def imported_until(ws: Workspace) -> datetime | None:
    """The newest API feedback time stored (imports re-read the log from a little before it;
    sellers' answers, stored as they come, never move it forward)."""
    value = ws.scalar("SELECT max(received_at) FROM feedback WHERE coalesce(channel, 'api') = 'api'")
    return None if value is None else pd.Timestamp(value).to_pydatetime()


def record_seller_feedback(ws: Workspace, items: pd.DataFrame, *, seller: str, run_id: str) -> list[str]:
    """Store a seller's answers from the seller's page, one per row of ``items`` (``title``, and
    optionally ``description, brand, image, product_ref``; ``predicted``: the model's first
    suggestion; ``category``: the leaf the seller chose, missing when none fits; ``chosen_proba``:
    the model's probability of it; ``rank``: its place in the top five). Kept as feedback with the
    seller's name, apart from the catalog, never trained on until a reviewer confirms it. Returns
    the feedback ids."""
    seller = str(seller or "").strip()
    if not seller:
        raise WorkbenchError("seller feedback needs the seller's name; log in first")
    if items.empty:
        return []
    items = items.reset_index(drop=True)
    now = utc_now()
    column = lambda name: items[name] if name in items else pd.Series([None] * len(items))  # noqa: E731
    ids = [str(uuid.uuid4()) for _ in range(len(items))]
    refs = column("product_ref")
    product_ids = [f"seller:{seller}:{r}" if isinstance(r, str) and r.strip() else f"seller:{f}"
                   for r, f in zip(refs, ids)]
    title = items["title"].fillna("").astype(str)
    description = column("description").where(column("description").notna(), None)
    brand = column("brand").where(column("brand").notna(), None)
    category = column("category").where(column("category").notna(), None)
    products = pd.DataFrame({
        "product_id": product_ids, "title": title.map(clean_text), "title_raw": title,
        "description": description.map(lambda t: clean_text(t) if isinstance(t, str) else None),
        "description_raw": description, "brand": brand.map(lambda t: clean_text(t) if isinstance(t, str) else None),
        "price": None, "title_key": title.map(normalise_title), "image": column("image"), "extra": None,
        "source": f"seller feedback ({seller})", "received_at": now}).drop_duplicates("product_id", keep="last")
    rank = column("rank")
    rows = pd.DataFrame({
        "feedback_id": ids, "prediction_id": ids, "product_id": product_ids, "received_at": now,
        "key_name": None, "actor": seller, "accepted": (category == items["predicted"]).fillna(False).astype(bool),
        "category": category, "predicted": items["predicted"], "run_id": run_id,
        "rank": pd.array([None if pd.isna(r) else int(r) for r in rank], dtype="Int32"), "imported_at": now,
        "channel": "seller", "chosen_proba": pd.to_numeric(column("chosen_proba"), errors="coerce"),
        "none_fits": category.isna().to_numpy()})
    write_feedback(ws, products, rows)
    return ids


def feedback_to_confirm(ws: Workspace) -> pd.DataFrame:
    """Feedback that names a category for a product no reviewer has labelled or confirmed yet
    (the newest per product, newest first), with the product's title and the channel."""
    return ws.df(
        "SELECT f.product_id, coalesce(fp.title_raw, fp.title, p.title) AS title, f.category, f.predicted, "
        "f.accepted, f.channel, f.actor, f.key_name, f.received_at, f.run_id FROM feedback f "
        "LEFT JOIN feedback_products fp USING (product_id) LEFT JOIN products p USING (product_id) "
        "WHERE f.category IS NOT NULL AND f.confirmed_at IS NULL "
        "AND (fp.product_id IS NOT NULL OR p.product_id IS NOT NULL) "
        "AND (p.product_id IS NULL OR p.label_source IS NULL OR p.label_source = 'model') "
        "QUALIFY row_number() OVER (PARTITION BY f.product_id ORDER BY f.received_at DESC) = 1 "
        "ORDER BY f.received_at DESC")


def confirm_feedback(ws: Workspace, product_ids: Sequence[str], *, reviewer: str) -> int:
    """A reviewer confirms the newest feedback category of each product: the product joins the
    catalog (``products``) and the category becomes a human label (a review, with its
    provenance), which retraining may use. Returns how many."""
    from workbench.catalog.relabel import load_taxonomy
    from workbench.loop.reviews import submit_review

    reviewer = str(reviewer or "").strip()
    if not reviewer:
        raise WorkbenchError("confirming feedback needs the reviewer's name; pass --reviewer NAME")
    ids = list(dict.fromkeys(map(str, product_ids)))
    pending = feedback_to_confirm(ws).set_index("product_id")
    missing = sorted(set(ids) - set(pending.index))
    if missing:
        raise WorkbenchError(f"no unconfirmed feedback with a category for {missing[0]!r}; "
                             "see `workbench feedback list`")
    leaves = set(load_taxonomy(ws).leaves)
    gone = [p for p in ids if pending.loc[p, "category"] not in leaves]
    if gone:
        raise WorkbenchError(f"the feedback category {pending.loc[gone[0], 'category']!r} of {gone[0]!r} is no "
                             "longer a leaf of the taxonomy; label the product on the review page instead")
    with ws.transaction() as cur:
        cur.execute(f"INSERT INTO products ({FEEDBACK_PRODUCT_COLUMNS}, ingested_at) "
                    f"SELECT {FEEDBACK_PRODUCT_COLUMNS}, received_at FROM feedback_products "
                    "WHERE product_id IN (SELECT unnest(?)) AND product_id NOT IN (SELECT product_id FROM products)",
                    [ids])
    for product_id in ids:
        submit_review(ws, product_id, reviewer=reviewer, final_leaf=str(pending.loc[product_id, "category"]))
    with ws.transaction() as cur:
        cur.execute("UPDATE feedback SET confirmed_by = ?, confirmed_at = ? WHERE confirmed_at IS NULL "
                    "AND product_id IN (SELECT unnest(?))", [reviewer, utc_now(), ids])
        cur.execute("DELETE FROM feedback_products WHERE product_id IN (SELECT unnest(?))", [ids])
    return len(ids)


def feedback_products(ws: Workspace) -> pd.DataFrame:
    """The products seen only through feedback, waiting apart from the catalog."""
    return ws.df("SELECT * FROM feedback_products ORDER BY received_at DESC")
