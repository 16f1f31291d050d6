"""State of the review page: one reviewer's session on a day's review queue.

The session claims one item at a time (two sessions never show the same product), shows the
product and the model's top-5, and saves decisions through :mod:`workbench.loop.reviews`, which
commits each one before the page confirms it. Only the ``reviewer`` role may submit or undo;
the check runs here, on the server, whatever the browser shows.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd
import param

from workbench.app.auth import require
from workbench.errors import WorkbenchError
from workbench.catalog.relabel import load_taxonomy
from workbench.loop.review_queue import claim, claim_next, queue_counts, queue_dates, release_claims
from workbench.loop.reviews import ensure_reviews, list_reviews, submit_review, undo_last
from workbench.store import Workspace

RECENT = 10


class ReviewState(param.Parameterized):
    """The reviewer, the queue date, the item on screen and the last outcome."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    reviewer = param.String(default="local", doc="name saved with each decision")
    role = param.String(default="reviewer", doc="'reviewer' may submit; 'viewer' may only look")
    queue_date = param.Selector(default=None, objects=[], allow_None=True, label="Queue of")
    item = param.Dict(default=None, allow_None=True, doc="the product on screen, with its top-5")
    correction = param.String(default="", doc="the leaf picked in the search box")
    message = param.String(default="")
    message_kind = param.Selector(default="info", objects=["info", "success", "warning", "danger"])
    counts = param.Dict(default={})
    recent = param.DataFrame(default=None, allow_None=True, doc="this reviewer's latest decisions")

    def __init__(self, **params):
        super().__init__(**params)
        ensure_reviews(self.workspace)
        self.claimant = f"{self.reviewer}:{uuid.uuid4().hex[:12]}"
        self._skipped: list[str] = []
        self._leaves: list[str] | None = None
        dates = queue_dates(self.workspace)
        self.param.queue_date.objects = dates
        if self.queue_date is None and dates:
            pending = [d for d in dates if queue_counts(self.workspace, d)["pending"]]
            with param.parameterized.discard_events(self):
                self.queue_date = (pending or dates)[0]
        self.load_next()

    # reading ----------------------------------------------------------------------------
    @property
    def may_review(self) -> bool:
        """Whether this session's role allows submitting reviews."""
        return self.role == "reviewer"

    def leaf_options(self) -> list[str]:
        """Every leaf of the taxonomy as its full path (the search box's options)."""
        if self._leaves is None:
            self._leaves = list(load_taxonomy(self.workspace).leaves)
        return self._leaves

    def _product(self, row: dict) -> dict:
        pid = str(row["product_id"])
        product = self.workspace.df(
            "SELECT title, title_raw, description, brand, image, leaf, label_source FROM products "
            "WHERE product_id = ?", [pid]).iloc[0].to_dict()
        top = self.workspace.df(
            "SELECT top5, decision, threshold FROM classifications WHERE product_id = ? AND run_id = ? "
            "ORDER BY classified_at DESC LIMIT 1", [pid, row["run_id"]])
        top5 = json.loads(top["top5"].iloc[0]) if len(top) else []
        detail = json.loads(row["detail"]) if isinstance(row.get("detail"), str) and row["detail"] else {}
        suspect = detail.get("suspect")
        if suspect and not top5:  # a catalog product: the out-of-sample top-5 of the label-issues scan
            top5 = suspect.get("top5") or []
        image = product.get("image")
        photo = image if isinstance(image, str) and Path(image).is_file() else None
        return {"product_id": pid, "queue_date": row["queue_date"], "reason": row["reason"],
                "reasons": str(row["reason"]).split(","), "rank": int(row["rank"]),
                "run_id": row["run_id"], "predicted_leaf": row["predicted_leaf"],
                "proba": float(row["proba"]), "title": product["title_raw"] or product["title"],
                "brand": product["brand"], "description": product["description"], "photo": photo,
                "top5": top5, "decision": top["decision"].iloc[0] if len(top) else None,
                "current_leaf": product["leaf"], "label_source": product["label_source"],
                "suspect": suspect}

    def refresh(self) -> None:
        """Re-read the queue counts and this reviewer's latest decisions."""
        self.counts = queue_counts(self.workspace, self.queue_date) if self.queue_date else {}
        recent = list_reviews(self.workspace, reviewer=self.reviewer).head(RECENT)
        self.recent = recent[["review_id", "reviewed_at", "title", "decision", "final_leaf", "reason"]] \
            .reset_index(drop=True)

    @param.depends("queue_date", watch=True)
    def _date_changed(self) -> None:
        self._skipped = []
        self.load_next()

    def load_next(self) -> dict | None:
        """Claim the next pending item of the queue (skipping the ones skipped in this session)."""
        row = None
        if self.queue_date is not None:
            row = claim_next(self.workspace, self.queue_date, self.claimant, skip=self._skipped)
        self.item = self._product(row) if row else None
        self.correction = ""
        self.refresh()
        return self.item

    # deciding ---------------------------------------------------------------------------
    def _submit(self, leaf: str | None):
        require(self.role, "review", self.reviewer)
        if self.item is None:
            raise WorkbenchError("nothing to review in this queue; pick another date or build a queue")
        review = submit_review(self.workspace, self.item["product_id"], reviewer=self.reviewer,
                               final_leaf=leaf, queue_date=self.item["queue_date"])
        verb = "Accepted" if review.decision == "accept" else "Corrected to"
        text = (f"Saved review #{review.review_id}: {verb} {review.final_leaf} for “{self.item['title']}”, "
                f"by {review.reviewer} at {review.reviewed_at:%Y-%m-%d %H:%M:%S} UTC.")
        self.load_next()
        self.param.update(message=text, message_kind="success")  # confirmed only once committed
        return review

    def accept(self):
        """Save the model's top-1 as this product's category, then show the next product."""
        return self._submit(None)

    def correct(self, leaf: str | None = None):
        """Save another leaf (``leaf`` or the one picked in the search box) and move on."""
        leaf = (leaf or self.correction or "").strip()
        if not leaf:
            raise WorkbenchError("pick a category in the search box first (press / to search)")
        if leaf not in set(self.leaf_options()):
            raise WorkbenchError(f"{leaf!r} is not a leaf category; pick one of the search box's suggestions")
        return self._submit(leaf)

    def undo(self):
        """Undo this reviewer's last decision and show that product again."""
        require(self.role, "review", self.reviewer)
        review = undo_last(self.workspace, self.reviewer)
        if review is None:
            self.message, self.message_kind = "Nothing to undo.", "warning"
            self.refresh()
            return None
        text = (f"Undid review #{review.review_id} ({review.decision}, {review.final_leaf}); "
                "the product is back in the queue.")
        row = None
        if review.queue_date is not None:
            if review.queue_date != self.queue_date and review.queue_date in self.param.queue_date.objects:
                with param.parameterized.discard_events(self):
                    self.queue_date = review.queue_date
            row = claim(self.workspace, review.queue_date, review.product_id, self.claimant)
        if row is not None:
            self.item = self._product(row)
            self.correction = ""
            self.refresh()
        else:
            self.load_next()
        self.param.update(message=text, message_kind="info")
        return review

    def skip(self) -> dict | None:
        """Leave the current product for later (in this session) and show the next one."""
        if self.item is not None:
            self._skipped.append(self.item["product_id"])
        self.message, self.message_kind = "", "info"
        return self.load_next()

    def close(self) -> None:
        """Give back the claimed item (the browser session ended)."""
        release_claims(self.workspace, self.claimant)

    def report_error(self, exc: Exception) -> None:
        """Show a refused or failed action on the page."""
        self.message, self.message_kind = str(exc), "danger"


def recent_frame(state: ReviewState) -> pd.DataFrame:
    """The reviewer's latest decisions as a display table."""
    frame = state.recent if state.recent is not None else pd.DataFrame()
    if frame.empty:
        text = lambda: pd.Series([], dtype=object)  # noqa: E731 - typed so the table formats text as text
        return pd.DataFrame({"review": pd.Series([], dtype="int64"), "time (UTC)": text(), "product": text(),
                             "decision": text(), "category": text()})
    return pd.DataFrame({"review": frame["review_id"].astype(int),
                         "time (UTC)": pd.to_datetime(frame["reviewed_at"]).dt.strftime("%H:%M:%S"),
                         "product": frame["title"], "decision": frame["decision"],
                         "category": frame["final_leaf"]})
