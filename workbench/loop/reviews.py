"""Reviews: a person accepts the model's category for a product or corrects it.

Each review is committed in its own transaction the moment it is submitted (so a crash loses
nothing a reviewer saw confirmed), writes a human label with its provenance
(:mod:`workbench.loop.labels`) and marks the queue item done. Writes are serialised inside the
process by :meth:`Workspace.transaction`, so concurrent sessions of a served app all land.
A reviewer can undo their last decision: the review is marked ``undone`` (never deleted), its
label retracted, and the item goes back to the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.loop.labels import retract_review_label, set_human_label, utc_now
from workbench.catalog.relabel import load_taxonomy
from workbench.loop.shelving import to_date
from workbench.store import Workspace


@dataclass
class Review:
    """One saved review."""

    review_id: int
    product_id: str
    queue_date: date | None
    reason: str | None
    decision: str
    predicted_leaf: str | None
    final_leaf: str
    reviewer: str
    reviewed_at: datetime
    undone: bool = False


def _leaves(ws: Workspace) -> set[str]:
    return set(load_taxonomy(ws).leaves)


class LabelConflict(WorkbenchError):
    """Someone else labelled the product after this reviewer opened it: the decision was kept in
    the label history (not applied) and the other decision is named."""

    def __init__(self, message: str, *, product_id: str, current_leaf: str | None, by: str | None,
                 version: int):
        super().__init__(message)
        self.product_id = product_id
        self.current_leaf = current_leaf
        self.by = by
        self.version = version


#: what the queue and the page say about a product whose label is part of the evaluation truth
TEST_PART_NOTICE = "this product is in the test part: your decision changes how every model is scored"


BLIND_KEY = "blind_random_sample"


def blind_random_sample(ws: Workspace) -> bool:
    """Whether items of the random live-accuracy sample are reviewed blind (the model's
    suggestion hidden on the review page); on unless switched off."""
    return (ws.meta(BLIND_KEY) or "1") != "0"


def set_blind_random_sample(ws: Workspace, on: bool) -> bool:
    """Switch blind review of the random sample on or off (off: live accuracy then also measures
    how much reviewers trust the model's suggestion)."""
    ws.set_meta(BLIND_KEY, "1" if on else "0")
    return bool(on)


class TestPartChange(WorkbenchError):
    """A decision contradicts the catalog label of a test-part product: nothing was saved; the
    reviewer confirms it (``confirm_test_change=True``) after seeing the catalog label."""

    __test__ = False  # not a pytest class

    def __init__(self, message: str, *, product_id: str, catalog_leaf: str, final_leaf: str):
        super().__init__(message)
        self.product_id = product_id
        self.catalog_leaf = catalog_leaf
        self.final_leaf = final_leaf


def _fetch(ws_or_cur, sql: str, params: list):
    if isinstance(ws_or_cur, Workspace):
        return ws_or_cur.rows(sql, params)
    return ws_or_cur.execute(sql, params).fetchall()


def in_test_part(ws_or_cur, product_id: str) -> bool:
    """Whether the product is in the test part of a split (its label is evaluation truth)."""
    return bool(_fetch(ws_or_cur, "SELECT 1 FROM splits WHERE product_id = ? AND part = 'test' LIMIT 1",
                       [str(product_id)]))


def catalog_label(ws_or_cur, product_id: str) -> str | None:
    """The leaf the catalog gave the product (its current label when still the catalog's, else the
    newest catalog label of its history), or ``None``."""
    rows = _fetch(ws_or_cur, "SELECT leaf, label_source FROM products WHERE product_id = ?", [str(product_id)])
    if rows and rows[0][1] == "catalog" and rows[0][0] is not None:
        return str(rows[0][0])
    rows = _fetch(ws_or_cur, "SELECT leaf FROM labels WHERE product_id = ? AND source = 'catalog' "
                  "AND NOT coalesce(retracted, FALSE) ORDER BY label_id DESC LIMIT 1", [str(product_id)])
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


def label_version(ws_or_cur, product_id: str) -> int:
    """The version of a product's label: the id of its newest standing label (0 when it has none;
    an undo, which retracts one, changes it too). A page reads it with the product and hands it
    back with the decision (see ``submit_review``)."""
    sql = "SELECT coalesce(max(label_id), 0) FROM labels WHERE product_id = ? AND NOT coalesce(retracted, FALSE)"
    if isinstance(ws_or_cur, Workspace):
        return int(ws_or_cur.scalar(sql, [str(product_id)]))
    return int(ws_or_cur.execute(sql, [str(product_id)]).fetchone()[0])


def _conflict(cur, product_id: str, expected: int, final: str | None, reviewer: str, now) -> LabelConflict:
    """Keep the refused decision in the history (retracted, with why) and describe the other one."""
    newest = cur.execute(
        "SELECT label_id, leaf, actor, source, created_at FROM labels WHERE product_id = ? "
        "AND NOT coalesce(retracted, FALSE) ORDER BY label_id DESC LIMIT 1", [product_id]).fetchone()
    current = cur.execute("SELECT leaf FROM products WHERE product_id = ?", [product_id]).fetchone()
    label_id, leaf, actor, source, at = newest or (None, None, "someone", "undo", None)
    cur.execute("INSERT INTO labels (product_id, leaf, source, actor, created_at, reason, retracted) "
                "VALUES (?, ?, 'human', ?, ?, ?, TRUE)",
                [product_id, final, reviewer, now,
                 f"not applied: conflicts with label {label_id} by {actor} (opened at version {expected})"])
    when = f"{at:%H:%M:%S} UTC" if at is not None else "just now"
    return LabelConflict(
        f"{actor} ({source}) labelled this product {current[0] if current else leaf} at {when}, after you "
        f"opened it; your decision ({final}) was kept in its history but not applied. Save again to "
        "replace theirs, or move on.",
        product_id=product_id, current_leaf=current[0] if current else leaf, by=actor,
        version=label_version(cur, product_id))


def submit_review(ws: Workspace, product_id: str, *, reviewer: str, final_leaf: str | None = None,
                  queue_date: str | date | None = None, expected_version: int | None = None,
                  confirm_test_change: bool = False) -> Review:
    """Save a decision on a product: ``final_leaf=None`` accepts the predicted leaf, any other
    leaf of the taxonomy corrects it. Committed before returning.

    ``expected_version`` is the :func:`label_version` the reviewer saw: when someone labelled the
    product since, nothing is overwritten unseen: the decision is kept in the label history as
    not applied and :class:`LabelConflict` names the other decision (saving again with the new
    version replaces it).

    A decision that contradicts the catalog label of a product in the test part (its label is
    evaluation truth) raises :class:`TestPartChange` naming the catalog label, and nothing is
    saved, unless ``confirm_test_change`` says the reviewer saw it and confirmed."""
    reviewer = str(reviewer or "").strip()
    if not reviewer:
        raise WorkbenchError("a review needs the reviewer's name; log in or pass reviewer=")
    product_id = str(product_id)
    day = to_date(queue_date)
    with ws.transaction() as cur:
        sql = ("SELECT queue_date, reason, predicted_leaf, run_id FROM review_queue WHERE product_id = ?"
               + (" AND queue_date = ?" if day is not None else "") + " ORDER BY queue_date DESC LIMIT 1")
        item = cur.execute(sql, [product_id] + ([day] if day is not None else [])).fetchone()
        if item is None:
            if day is not None:
                raise WorkbenchError(f"product {product_id!r} is not in the review queue of {day}")
            # a review outside the queue: compare with the newest classification, if any
            pred = cur.execute("SELECT leaf, run_id FROM classifications WHERE product_id = ? "
                               "ORDER BY classified_at DESC LIMIT 1", [product_id]).fetchone()
            item = (None, None, pred[0] if pred else None, pred[1] if pred else None)
        queue_day, reason, predicted, run_id = item
        final = final_leaf if final_leaf is not None else predicted
        if final is None:
            raise WorkbenchError(f"product {product_id!r} has no prediction to accept; pick its category")
        if final not in _leaves(ws):
            raise WorkbenchError(f"{final!r} is not a leaf category of the taxonomy; pick one from the search box")
        decision = "accept" if final == predicted else "correct"
        if not confirm_test_change and in_test_part(cur, product_id):
            given = catalog_label(cur, product_id)
            if given is not None and given != final:
                raise TestPartChange(
                    f"{TEST_PART_NOTICE[0].upper() + TEST_PART_NOTICE[1:]}. Its catalog label is {given}; "
                    f"you chose {final}. Nothing was saved: confirm to change the test label.",
                    product_id=product_id, catalog_leaf=given, final_leaf=final)
        now = utc_now()
        if expected_version is not None and label_version(cur, product_id) != int(expected_version):
            conflict = _conflict(cur, product_id, int(expected_version), final, reviewer, now)
        else:
            conflict = None
            review_id = cur.execute(
                "INSERT INTO reviews (product_id, queue_date, reason, decision, predicted_leaf, final_leaf, "
                "reviewer, reviewed_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING review_id",
                [product_id, queue_day, reason, decision, predicted, final, reviewer, now, run_id]).fetchone()[0]
            set_human_label(cur, product_id, final, actor=reviewer, at=now, review_id=review_id,
                            reason=f"review {review_id}: {decision}" + (f" ({reason})" if reason else ""))
            if queue_day is not None:
                cur.execute("UPDATE review_queue SET status = 'done', claimed_by = NULL, claimed_at = NULL "
                            "WHERE queue_date = ? AND product_id = ?", [queue_day, product_id])
    if conflict is not None:  # committed: the refused decision stays in the label history
        raise conflict
    return Review(int(review_id), product_id, to_date(queue_day), reason, decision, predicted, final,
                  reviewer, now)


def undo_last(ws: Workspace, reviewer: str) -> Review | None:
    """Undo the reviewer's newest review that is not undone yet; returns it (``None`` if none).

    Its label is retracted (the product's previous label is current again) and its queue item
    is pending again, unless another review of it still stands.
    """
    with ws.transaction() as cur:
        row = cur.execute(
            "SELECT review_id, product_id, queue_date, reason, decision, predicted_leaf, final_leaf, "
            "reviewer, reviewed_at FROM reviews WHERE reviewer = ? AND NOT undone "
            "ORDER BY reviewed_at DESC, review_id DESC LIMIT 1", [str(reviewer)]).fetchone()
        if row is None:
            return None
        review_id, product_id, queue_day = row[0], row[1], row[2]
        cur.execute("UPDATE reviews SET undone = TRUE, undone_at = ? WHERE review_id = ?",
                    [utc_now(), review_id])
        retract_review_label(cur, review_id)
        if queue_day is not None:
            standing = cur.execute("SELECT count(*) FROM reviews WHERE product_id = ? AND queue_date = ? "
                                   "AND NOT undone", [product_id, queue_day]).fetchone()[0]
            if not standing:
                cur.execute("UPDATE review_queue SET status = 'pending' WHERE queue_date = ? AND product_id = ?",
                            [queue_day, product_id])
    return Review(int(review_id), str(product_id), to_date(queue_day), row[3], row[4], row[5], row[6],
                  row[7], row[8], undone=True)


def list_reviews(ws: Workspace, *, reviewer: str | None = None, include_undone: bool = False,
                 queue_date: str | date | None = None) -> pd.DataFrame:
    """Saved reviews, newest first, with product titles."""
    sql = ("SELECT r.*, p.title FROM reviews r LEFT JOIN products p USING (product_id) WHERE true")
    params: list = []
    if not include_undone:
        sql += " AND NOT r.undone"
    if reviewer is not None:
        sql += " AND r.reviewer = ?"
        params.append(str(reviewer))
    if queue_date is not None:
        sql += " AND r.queue_date = ?"
        params.append(to_date(queue_date))
    return ws.df(sql + " ORDER BY r.reviewed_at DESC, r.review_id DESC", params)
