"""State of the review page: one reviewer's session on a day's review queue.

The session claims one item at a time (two sessions never show the same product), shows the
product and the model's top-5, and saves decisions through :mod:`workbench.loop.reviews`, which
commits each one before the page confirms it. Filters keep items of one reason or predicted
under one category; the bulk mode claims a grid of items with the same predicted category and
accepts the ticked ones in one pass. Only the ``reviewer`` role may submit, undo or claim; the
check runs here, on the server, at every write (``authorize`` re-reads the credentials file in a
served app), whatever the browser shows. A viewer's session is shown the next item without
claiming it, so it never hides work from the reviewers.
"""

from __future__ import annotations

import json
import uuid

import pandas as pd
import param

from workbench.security.auth import PermissionDenied, require
from workbench.app.state.review_bulk import BulkGridMixin
from workbench.app.state.review_feedback import FeedbackMixin
from workbench.app.thumbnails import LARGE, image_roots, thumbnail_uri
from workbench.app.context import Preferences
from workbench.catalog.category_names import CategoryNames
from workbench.errors import WorkbenchError
from workbench.catalog.relabel import load_taxonomy
from workbench.loop.queue_manual import dashboard_sender
from workbench.loop.review_queue import (ALL_REASONS, TAXONOMY_REASONS, claim, claim_next, orphaned_claim, peek_next,
                                         queue_counts, queue_dates, release_claims)
from workbench.loop.gold import answer_gold, gold_due, pick_gold
from workbench.loop.labels import utc_now
from workbench.loop.reviews import (LabelConflict, blind_random_sample, TestPartChange, catalog_label, in_test_part, label_version,
                                   list_reviews, submit_review, undo_last)
from workbench.store import Workspace

RECENT = 10
ANY = "any reason"


class ReviewState(BulkGridMixin, FeedbackMixin):
    """The reviewer, the queue date, the item on screen and the last outcome; the bulk grid's
    part is :class:`workbench.app.state.review_bulk.BulkGridMixin`, the feedback list's
    :class:`workbench.app.state.review_feedback.FeedbackMixin`."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    reviewer = param.String(default="local", doc="name saved with each decision")
    role = param.String(default="reviewer", doc="'reviewer' may submit; 'viewer' may only look")
    authorize = param.Callable(default=None, doc="called before every write (review, undo, claim); "
                               "raises PermissionDenied when the reviewer may no longer review "
                               "(default: the fixed ``role``)")
    queue_date = param.Selector(default=None, objects=[], allow_None=True, label="Queue of")
    item = param.Dict(default=None, allow_None=True, doc="the product on screen, with its top-5")
    correction = param.String(default="", doc="the leaf picked in the search box")
    message = param.String(default="")
    message_kind = param.Selector(default="info", objects=["info", "success", "warning", "danger"])
    counts = param.Dict(default={})
    recent = param.DataFrame(default=None, allow_None=True, doc="this reviewer's latest decisions")
    reason_filter = param.Selector(default=ANY, objects=[ANY, *ALL_REASONS], label="Reason")
    category_filter = param.String(default="", doc="only items predicted under this category ('' = all)")
    preferences = param.ClassSelector(class_=Preferences, default=None, allow_None=True,
                                      doc="the session's language of category names")
    news = param.Integer(default=0, allow_refs=True, precedence=-1,
                         doc="changes after any write of any process (a page passes ``ctx.news.param.writes``): "
                             "the page follows it (:meth:`follow_workspace`)")
    pending_test_change = param.Dict(default=None, allow_None=True,
                                     doc="a decision on a test-part product that contradicts its catalog "
                                         "label, waiting for one more confirmation (``leaf``, ``catalog_leaf``)")

    def __init__(self, **params):
        super().__init__(**params)
        self.claimant = f"{self.reviewer}:{uuid.uuid4().hex[:12]}"
        self._skipped: list[str] = []
        self._leaves: list[str] | None = None
        self._names: dict[tuple, CategoryNames] = {}
        dates = queue_dates(self.workspace)
        self.param.queue_date.objects = dates
        if self.queue_date is None and dates:
            pending = [d for d in dates if queue_counts(self.workspace, d)["pending"]]
            with param.parameterized.discard_events(self):
                self.queue_date = (pending or dates)[0]
        orphan = (orphaned_claim(self.workspace, self.queue_date, self.reviewer)
                  if self.queue_date is not None and self.may_review else None)
        row = claim(self.workspace, self.queue_date, orphan, self.claimant) if orphan else None
        if row is not None:  # the item this reviewer had open before the server restarted
            self.item = self._blind(self._product(row))
            self.refresh()
        else:
            self.load_next()

    # reading ----------------------------------------------------------------------------
    def check_may_review(self) -> None:
        """Raise :class:`workbench.security.auth.PermissionDenied` unless this session may write now."""
        if self.authorize is not None:
            self.authorize()
        else:
            require(self.role, "review", self.reviewer)

    def _authorize_write(self) -> None:
        try:
            self.check_may_review()
        except PermissionDenied:
            release_claims(self.workspace, self.claimant)  # a refused session holds nothing back
            raise

    @property
    def may_review(self) -> bool:
        """Whether this session may submit reviews (and claim items) right now."""
        try:
            self.check_may_review()
        except PermissionDenied:
            return False
        return True

    def leaf_options(self) -> list[str]:
        """Every leaf of the taxonomy as its full path (the search box's options)."""
        if self._leaves is None:
            self._leaves = list(load_taxonomy(self.workspace).leaves)
        return self._leaves

    def category_names(self) -> CategoryNames:
        """Category names in the session's language (English fallback), kept per language."""
        prefs = self.preferences or Preferences()
        key = (prefs.language, tuple(prefs.languages()))
        if key not in self._names:
            self._names[key] = CategoryNames(self.workspace, prefs.language, prefs.languages())
        return self._names[key]

    def display_name(self, leaf: str | None) -> str:
        """A leaf as the reviewer reads it (its Shopify name in the chosen language, if any)."""
        names = self.category_names()
        return "" if leaf is None else (names.name(leaf) if names.active else leaf)

    def search_options(self) -> dict[str, str]:
        """The search box's options: ``{label: leaf}``, a label holding the leaf's name in the
        display language and in every search language, so typing any of them finds it."""
        names = self.category_names()
        if not names.active:
            return {leaf: leaf for leaf in self.leaf_options()}
        return names.search_options(self.leaf_options())

    def filter_options(self) -> dict[str, str]:
        """The category filter's options: ``{label: node}`` for every leaf and inner node, the
        label in the session's languages as in :meth:`search_options`."""
        leaves = self.leaf_options()
        nodes = sorted({" > ".join(leaf.split(" > ")[:i]) for leaf in leaves for i in range(1, leaf.count(" > ") + 2)})
        names = self.category_names()
        return names.search_options(nodes) if names.active else {node: node for node in nodes}

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
        if not top5:  # queued by a taxonomy split or retire: the default run's top-5 among the current leaves
            top5 = next((detail[r]["top5"] for r in TAXONOMY_REASONS
                         if isinstance(detail.get(r), dict) and detail[r].get("top5")), [])
        if not top5 and row.get("run_id"):  # sent from a dashboard: the run's recorded predictions
            ranked = self.workspace.df("SELECT leaf, proba FROM predictions WHERE run_id = ? AND product_id = ? "
                                       "ORDER BY rank LIMIT 5", [row["run_id"], pid])
            top5 = [{"leaf": leaf, "proba": float(p)} for leaf, p in zip(ranked["leaf"], ranked["proba"])]
        image = product.get("image")
        photo = thumbnail_uri(image, image_roots(self.workspace), LARGE) if isinstance(image, str) else None
        return {"product_id": pid, "queue_date": row["queue_date"], "reason": row["reason"],
                "reasons": str(row["reason"]).split(","), "rank": int(row["rank"]),
                "run_id": row["run_id"], "predicted_leaf": row["predicted_leaf"],
                "proba": None if pd.isna(row["proba"]) else float(row["proba"]), "title": product["title_raw"] or product["title"],
                "brand": product["brand"], "description": product["description"], "photo": photo,
                "top5": top5, "decision": top["decision"].iloc[0] if len(top) else None,
                "current_leaf": product["leaf"], "label_source": product["label_source"],
                "label_version": label_version(self.workspace, pid),
                "sender": dashboard_sender(row.get("detail")), "suspect": suspect,
                "in_test_part": in_test_part(self.workspace, pid),
                "catalog_leaf": catalog_label(self.workspace, pid)}

    def _blind(self, item: dict) -> dict:
        """An item of the random live-accuracy sample without the model's suggestion: live
        accuracy then measures the model, not the reviewer's trust in it. The predicted leaf stays
        on the server (the queue's filters use it); the page never renders it for a blind item."""
        if "random" not in item["reasons"] or not blind_random_sample(self.workspace):
            return item
        return {**item, "blind": True, "top5": [], "decision": None, "suspect": None}

    def _gold_item(self, gold: dict, rank: int) -> dict:
        """A gold item shown exactly as a queue item (unmarked), with the model's suggestion."""
        pid = str(gold["product_id"])
        row = {"product_id": pid, "queue_date": self.queue_date, "reason": "uncertain", "rank": rank,
               "run_id": None, "predicted_leaf": gold["suggested_leaf"], "proba": None, "detail": None}
        item = self._product(row)
        newest = self.workspace.df("SELECT top5 FROM classifications WHERE product_id = ? "
                                   "ORDER BY classified_at DESC LIMIT 1", [pid])  # where the suggestion came from
        top5 = json.loads(newest["top5"].iloc[0]) if len(newest) and newest["top5"].iloc[0] else []
        if not top5:
            ranked = self.workspace.df(
                "SELECT p.leaf, p.proba FROM predictions p JOIN runs r USING (run_id) WHERE p.product_id = ? "
                "AND coalesce(r.complete, TRUE) QUALIFY dense_rank() OVER (ORDER BY r.started_at DESC, "
                "p.run_id DESC) = 1 ORDER BY p.rank LIMIT 5", [pid])
            top5 = [{"leaf": leaf, "proba": float(p)} for leaf, p in zip(ranked["leaf"], ranked["proba"])]
        if top5 and top5[0]["leaf"] == gold["suggested_leaf"]:
            item.update(top5=top5, proba=top5[0]["proba"])
        item.update(decision="review", in_test_part=False, catalog_leaf=None, current_leaf=None, label_source=None,
                    suspect=None, _gold=True)
        return item

    def _next_gold(self, row: dict | None) -> dict | None:
        """The gold item due now for this reviewer (only while real items wait), else ``None``."""
        if row is None or not self.may_review or not gold_due(self.workspace, self.reviewer):
            return None
        gold = pick_gold(self.workspace, self.reviewer)
        return None if gold is None else self._gold_item(gold, int(row["rank"]))

    def refresh(self) -> None:
        """Re-read the queue counts and this reviewer's latest decisions."""
        self.counts = queue_counts(self.workspace, self.queue_date) if self.queue_date else {}
        recent = list_reviews(self.workspace, reviewer=self.reviewer).head(RECENT)
        self.recent = recent[["review_id", "reviewed_at", "title", "decision", "final_leaf", "reason"]] \
            .reset_index(drop=True)

    @param.depends("queue_date", "reason_filter", "category_filter", watch=True)
    def _date_changed(self) -> None:
        self._skipped = []
        self.load_next()

    def _filters(self) -> dict:
        return {"reason": None if self.reason_filter == ANY else self.reason_filter,
                "category": self.category_filter.strip() or None}

    def load_next(self) -> dict | None:
        """Claim the next pending item of the queue that passes the filters (skipping the ones
        skipped in this session); a session that may not review is shown the item without
        claiming it."""
        row = None
        if self.queue_date is not None:
            if self.may_review:
                row = claim_next(self.workspace, self.queue_date, self.claimant, skip=self._skipped,
                                 **self._filters())
            else:
                release_claims(self.workspace, self.claimant)  # e.g. downgraded since the last item
                row = peek_next(self.workspace, self.queue_date, skip=self._skipped, **self._filters())
        gold = self._next_gold(row)
        self.item = gold if gold is not None else (self._blind(self._product(row)) if row else None)
        self.correction = ""
        self.refresh()
        return self.item

    @param.depends("news", watch=True)
    def follow_workspace(self) -> None:
        """Another process wrote to the workspace: when the product on screen was labelled elsewhere
        (another reviewer, a notebook) the reviewer is told who decided what, at once; saving
        anyway goes through the label-version check (both decisions kept). Products of the bulk
        grid reviewed or claimed elsewhere leave it. The counts move."""
        self.follow_bulk()
        if self.feedback is not None:  # the feedback list is open: confirmed elsewhere leaves it
            self.load_feedback()
        item = self.item
        if item is not None and not item.get("_gold") and item.get("label_version") is not None:
            if label_version(self.workspace, item["product_id"]) != item["label_version"]:
                newest = self.workspace.rows(
                    "SELECT leaf, actor, source, created_at FROM labels WHERE product_id = ? AND NOT "
                    "coalesce(retracted, FALSE) ORDER BY label_id DESC LIMIT 1", [item["product_id"]])
                if newest and self.message_kind != "warning":
                    leaf, actor, source, at = newest[0]
                    when = f"{at:%H:%M:%S} UTC" if at is not None else "just now"
                    self.param.update(message=(
                        f"{actor} ({source}) labelled this product {self.display_name(leaf)} at {when}, while you "
                        "had it open. Next (n) moves on; saving your decision replaces theirs after one more "
                        "save (both stay in its history)."), message_kind="warning")
        if self.queue_date is not None:
            self.refresh()

    # deciding ---------------------------------------------------------------------------
    def _submit(self, leaf: str | None, confirm_test_change: bool = False):
        self._authorize_write()
        if self.item is None:
            raise WorkbenchError("nothing to review in this queue; pick another date or build a queue")
        self.pending_test_change = None
        if self.item.get("_gold"):  # answered like any item; recorded as a gold answer only
            final = leaf if leaf is not None else self.item["predicted_leaf"]
            answer_gold(self.workspace, self.reviewer, self.item["product_id"], final)
            verb = "Accepted" if final == self.item["predicted_leaf"] else "Corrected to"
            text = (f"Saved: {verb} {self.display_name(final)} for “{self.item['title']}”, by {self.reviewer} "
                    f"at {utc_now():%Y-%m-%d %H:%M:%S} UTC.")
            self.load_next()
            self.param.update(message=text, message_kind="success")
            return None
        try:
            review = submit_review(self.workspace, self.item["product_id"], reviewer=self.reviewer,
                                   final_leaf=leaf, queue_date=self.item["queue_date"],
                                   expected_version=self.item.get("label_version"),
                                   confirm_test_change=confirm_test_change)
        except TestPartChange as change:  # one more click, with the catalog label shown
            self.pending_test_change = {"leaf": leaf, "final_leaf": change.final_leaf,
                                        "catalog_leaf": change.catalog_leaf}
            self.param.update(message=str(change), message_kind="warning")
            return None
        except LabelConflict as conflict:
            # show the other decision; saving again (with the version now seen) replaces it
            self.item = {**self.item, "label_version": conflict.version, "current_leaf": conflict.current_leaf}
            self.param.update(message=str(conflict), message_kind="warning")
            return None
        verb = "Accepted" if review.decision == "accept" else "Corrected to"
        text = (f"Saved review #{review.review_id}: {verb} {self.display_name(review.final_leaf)} "
                f"for “{self.item['title']}”, "
                f"by {review.reviewer} at {review.reviewed_at:%Y-%m-%d %H:%M:%S} UTC.")
        self.load_next()
        self.param.update(message=text, message_kind="success")  # confirmed only once committed
        return review

    def accept(self):
        """Save the model's top-1 as this product's category, then show the next product (not for
        an item of the random sample, shown without the suggestion)."""
        self._authorize_write()
        if self.item is not None and self.item.get("blind"):
            raise WorkbenchError("this product is in the random sample: pick its category in the search box "
                                 "(the model's suggestion is hidden so that live accuracy measures the model)")
        return self._submit(None)

    def confirm_test_change(self):
        """Save the decision waiting in ``pending_test_change`` (the reviewer saw the catalog label
        of this test-part product and confirms the change)."""
        pending = self.pending_test_change
        if not pending:
            raise WorkbenchError("no change of a test label waits for confirmation")
        return self._submit(pending["leaf"], confirm_test_change=True)

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
        self._authorize_write()
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
            self.item = self._blind(self._product(row))
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
