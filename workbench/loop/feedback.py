"""Feedback on served predictions, in the workspace's label history.

A caller of the HTTP API says whether a prediction was right, or which category was finally
chosen. :func:`import_feedback` (run by the process holding the database, see
:mod:`workbench.service.sync`) turns each into:

* a row of ``feedback`` (who, when, accepted, the category chosen, the predicted one, the run);
* the product itself, when new: ``products`` gets it unlabelled, with ``source`` naming the API
  key, so that a reviewer can see it and retraining can later use it;
* when the right category is known, a label with provenance ``feedback`` in ``labels``.

A feedback label is never a product's current label (:mod:`workbench.loop.labels`), so it is
never trained on; :func:`confirm_feedback` is the reviewer's step that makes it a human label.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

import pandas as pd

from workbench.catalog.text import clean_text, normalise_title
from workbench.errors import WorkbenchError
from workbench.loop.labels import utc_now
from workbench.store import Workspace


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
        "ingested_at": pd.to_datetime(new["time"]).to_numpy()}).drop_duplicates("product_id")
    rows = pd.DataFrame({
        "feedback_id": new["feedback_id"].to_numpy(), "prediction_id": new["prediction_id"].to_numpy(),
        "product_id": product_ids, "received_at": pd.to_datetime(new["time"]).to_numpy(),
        "key_name": new["key_name"].to_numpy(), "actor": new["by"].to_numpy(),
        "accepted": new["accepted"].astype(bool).to_numpy(), "category": new["category"].to_numpy(),
        "predicted": new["predicted"].to_numpy(), "run_id": new["run_id"].to_numpy(),
        "rank": new["rank"].to_numpy(), "imported_at": now})
    labelled = rows.dropna(subset=["category"])
    labels = pd.DataFrame({
        "product_id": labelled["product_id"], "leaf": labelled["category"], "actor": labelled["actor"],
        "created_at": labelled["received_at"], "run_id": labelled["run_id"],
        "reason": ["feedback " + f + (": accepted" if a else f": chose it over {p}")
                   for f, a, p in zip(labelled["feedback_id"], labelled["accepted"], labelled["predicted"])]})
    with ws.transaction() as cur:
        cur.register("_fb_products", products)
        cur.execute("INSERT INTO products BY NAME SELECT * FROM _fb_products "
                    "WHERE product_id NOT IN (SELECT product_id FROM products)")
        cur.unregister("_fb_products")
        cur.register("_fb_rows", rows)
        cur.execute("INSERT INTO feedback BY NAME SELECT * FROM _fb_rows")
        cur.unregister("_fb_rows")
        if len(labels):
            cur.register("_fb_labels", labels)
            cur.execute("INSERT INTO labels (product_id, leaf, source, actor, created_at, reason, run_id) "
                        "SELECT product_id, leaf, 'feedback', actor, created_at, reason, run_id FROM _fb_labels")
            cur.unregister("_fb_labels")
    return len(rows)


def imported_until(ws: Workspace) -> datetime | None:
    """The newest feedback time stored (imports re-read the log from a little before it)."""
    value = ws.scalar("SELECT max(received_at) FROM feedback")
    return None if value is None else pd.Timestamp(value).to_pydatetime()


def feedback_to_confirm(ws: Workspace) -> pd.DataFrame:
    """Feedback that names a category for a product no reviewer has labelled yet, newest first,
    with the product's title."""
    return ws.df(
        "SELECT f.product_id, p.title, f.category, f.predicted, f.accepted, f.actor, f.key_name, f.received_at, "
        "f.run_id FROM feedback f JOIN products p USING (product_id) WHERE f.category IS NOT NULL "
        "AND (p.label_source IS NULL OR p.label_source = 'model') QUALIFY row_number() OVER "
        "(PARTITION BY f.product_id ORDER BY f.received_at DESC) = 1 ORDER BY f.received_at DESC")


def confirm_feedback(ws: Workspace, product_ids: Sequence[str], *, reviewer: str) -> int:
    """A reviewer confirms the newest feedback category of each product: it becomes a human
    label (a review, with its provenance), which retraining may use. Returns how many."""
    from workbench.loop.reviews import submit_review

    pending = feedback_to_confirm(ws).set_index("product_id")
    missing = sorted(set(map(str, product_ids)) - set(pending.index))
    if missing:
        raise WorkbenchError(f"no unconfirmed feedback with a category for {missing[0]!r}; "
                             "see `workbench feedback list`")
    for product_id in product_ids:
        submit_review(ws, str(product_id), reviewer=reviewer, final_leaf=str(pending.loc[str(product_id), "category"]))
    return len(product_ids)
