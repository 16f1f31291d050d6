"""The review page's bulk grid, on the server: pending items with the same predicted category,
claimed together and accepted in one pass (:class:`BulkGridMixin`, part of
:class:`workbench.app.state.review.ReviewState`).

The grid follows the workspace: products reviewed or claimed elsewhere leave it, and the page
says so without hiding the outcome of the reviewer's own last accept.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import param

from workbench.app.thumbnails import SMALL, image_roots, thumbnail_uri
from workbench.errors import WorkbenchError
from workbench.loop.gold import answer_gold, gold_due_among, pick_gold
from workbench.loop.queue_manual import claim_many, pending_by_category
from workbench.loop.reviews import TestPartChange, submit_review

#: items shown at once in the bulk grid
BULK_SIZE = 24


class BulkGridMixin(param.Parameterized):
    """The bulk grid of a review session: its category, its items, following the workspace and
    accepting the ticked items. Mixed into ``ReviewState``, whose queue date, filters, claimant,
    rights check and message it uses."""

    bulk_category = param.String(default="", doc="the predicted leaf of the bulk grid")
    bulk = param.List(default=[], doc="the bulk grid: items with the same predicted leaf")

    #: the message of this session's last accept in the grid (kept when products leave the grid)
    _bulk_outcome = ""

    def bulk_options(self) -> dict[str, str]:
        """``{"leaf (n pending)": leaf}`` of the predicted leaves with pending items that pass the
        filters, most first (the leaf as the session reads it)."""
        if self.queue_date is None:
            return {}
        frame = pending_by_category(self.workspace, self.queue_date, claimant=self.claimant, **self._filters())
        counts = frame["predicted_leaf"].value_counts(sort=False)
        return {f"{self.display_name(leaf)} ({counts[leaf]} pending)": leaf
                for leaf in dict.fromkeys(frame["predicted_leaf"])}

    def load_bulk(self, leaf: str | None = None) -> list[dict]:
        """Claim up to :data:`BULK_SIZE` pending items predicted as ``leaf`` (default: the leaf with
        the most) that pass the filters, for the grid; each with ``product_id, title, proba, run_id, thumb``."""
        if self.queue_date is None:
            self.bulk = []
            return self.bulk
        frame = pending_by_category(self.workspace, self.queue_date, claimant=self.claimant, **self._filters())
        if not leaf and self.bulk_category not in set(frame["predicted_leaf"]):
            self.bulk_category = ""  # filtered out, or nothing of it left
        leaf = leaf or self.bulk_category or (frame["predicted_leaf"].iloc[0] if len(frame) else "")
        rows = frame[frame["predicted_leaf"] == leaf].head(BULK_SIZE)
        ids = rows["product_id"].tolist()
        if self.may_review and ids:  # viewers look without holding items
            held = set(claim_many(self.workspace, self.queue_date, ids, self.claimant))
            rows = rows[rows["product_id"].isin(held)]
        images = {}
        if ids:
            paths = self.workspace.df("SELECT product_id, image FROM products WHERE product_id IN (SELECT unnest(?))",
                                      [ids])
            images = dict(zip(paths["product_id"], paths["image"]))
        roots = image_roots(self.workspace)
        self.bulk_category = leaf
        items = [{"product_id": str(r.product_id), "title": str(r.title or ""), "proba": float(r.proba),
                  "run_id": None if pd.isna(r.run_id) else str(r.run_id),
                  "thumb": thumbnail_uri(images.get(r.product_id), roots, SMALL)} for r in rows.itertuples()]
        self.bulk = self._with_gold(items, leaf, roots)
        return self.bulk

    def _with_gold(self, items: list[dict], leaf: str, roots) -> list[dict]:
        """The grid with the gold items due among its items mixed in, unmarked as on the one-item
        page: gold items whose model suggestion is the grid's category, shown with the newest
        run's confidence (one without it would stand out, and is left out)."""
        if not items or not self.may_review:
            return items
        out, tried = list(items), [item["product_id"] for item in items]
        for _ in range(gold_due_among(self.workspace, self.reviewer, len(items))):
            gold = pick_gold(self.workspace, self.reviewer, leaf=leaf, exclude=tried)
            if gold is None:
                break
            item = self._gold_item(gold, 0)
            tried.append(item["product_id"])
            if item.get("proba") is None:
                continue
            title, image = self.workspace.rows("SELECT title, image FROM products WHERE product_id = ?",
                                               [item["product_id"]])[0]  # as the grid's other cards
            card = {"product_id": item["product_id"], "title": str(title or ""), "proba": item["proba"],
                    "run_id": out[0].get("run_id"),  # explained by the grid's run, as its neighbours
                    "thumb": thumbnail_uri(image, roots, SMALL), "_gold": True}
            digest = hashlib.sha256(f"{self.reviewer}\x1f{item['product_id']}".encode()).digest()
            out.insert(int.from_bytes(digest[:4], "big") % (len(out) + 1), card)
        return out

    def gone_from_grid(self) -> dict[str, str]:
        """``{product id: why}`` of the grid's products that someone else took meanwhile: reviewed
        (by whom), or claimed by another reviewer (this session's claim had lapsed), or no longer
        in the queue. One short read."""
        if not self.bulk or self.queue_date is None:
            return {}
        ids = [item["product_id"] for item in self.bulk if not item.get("_gold")]  # gold: never queued
        if not ids:
            return {}
        rows = self.workspace.rows(
            "SELECT q.product_id, q.status, q.claimed_by, (SELECT r.reviewer FROM reviews r WHERE r.product_id = "
            "q.product_id AND NOT coalesce(r.undone, FALSE) ORDER BY r.reviewed_at DESC LIMIT 1) "
            "FROM review_queue q WHERE q.queue_date = ? AND q.product_id IN (SELECT unnest(?))",
            [self.queue_date, ids])
        found = {str(pid): (status, claimed_by, reviewer) for pid, status, claimed_by, reviewer in rows}
        gone = {}
        for pid in ids:
            if pid not in found:
                gone[pid] = "left the queue"
                continue
            status, claimed_by, reviewer = found[pid]
            if status != "pending":
                gone[pid] = f"reviewed by {reviewer}" if reviewer else "reviewed elsewhere"
            elif claimed_by and claimed_by != self.claimant and self.may_review:
                gone[pid] = f"claimed by {str(claimed_by).split(':', 1)[0]}"
        return gone

    def follow_bulk(self) -> dict[str, str]:
        """Drop the grid's products that someone else reviewed or claimed meanwhile and say so
        (the ticks of the others stay); returns ``{product id: why}`` of those dropped."""
        gone = self.gone_from_grid()
        if gone:
            titles = {item["product_id"]: item["title"] for item in self.bulk}
            self.bulk = [item for item in self.bulk if item["product_id"] not in gone]
            said = "; ".join(f"“{titles[pid]}” {why}" for pid, why in list(gone.items())[:3])
            more = f" and {len(gone) - 3} more" if len(gone) > 3 else ""
            left = f"{len(gone)} product{'s' if len(gone) != 1 else ''} left the grid, taken elsewhere: {said}{more}."
            if self._bulk_outcome and self.message.startswith(self._bulk_outcome):
                # the outcome of the reviewer's own last accept stays on the page; the news follows it
                self.message = f"{self._bulk_outcome} Since then, {left}"
            elif self.message_kind not in ("warning", "danger"):
                self.param.update(message=left[0].upper() + left[1:], message_kind="info")
        return gone

    def accept_many(self, product_ids) -> int:
        """Accept the model's category for each of ``product_ids`` of the grid (each review
        committed on its own); returns how many were saved, then reloads the grid. Products
        someone else reviewed or claimed meanwhile are not saved (nothing is overwritten unseen)."""
        self._authorize_write()
        wanted = [str(p) for p in product_ids]
        shown = {item["product_id"] for item in self.bulk}
        if not wanted:
            raise WorkbenchError("tick the products whose predicted category is right first")
        unknown = [p for p in wanted if p not in shown]
        if unknown:
            raise WorkbenchError(f"product {unknown[0]!r} is not in the grid; reload the grid")
        taken = self.gone_from_grid()
        skipped = [p for p in wanted if p in taken]
        wanted = [p for p in wanted if p not in taken]
        held = []  # test-part products whose catalog label differs: one by one, with the extra click
        gold = {item["product_id"] for item in self.bulk if item.get("_gold")}
        for pid in wanted:
            if pid in gold:  # answered like the others; recorded as a gold answer only
                answer_gold(self.workspace, self.reviewer, pid, self.bulk_category)
                continue
            try:
                submit_review(self.workspace, pid, reviewer=self.reviewer, queue_date=self.queue_date)
            except TestPartChange:
                held.append(pid)
        if self.item is not None and self.item["product_id"] in set(wanted) - set(held):
            # the one-at-a-time view's (hidden) item was decided here: not "labelled elsewhere" at the
            # next look at the workspace; that view takes the next item when it shows again
            self.item = None
        leaf = self.bulk_category
        self.load_bulk(leaf if leaf in self.bulk_options().values() else None)
        self.refresh()
        saved = len(wanted) - len(held)
        text = f"Accepted {saved} products as {self.display_name(leaf)}, by {self.reviewer}."
        if held:
            text += (f" Not saved: {len(held)} in the test part whose catalog label differs (your decision "
                     "changes how every model is scored); review them one by one to confirm.")
        if skipped:
            text += (f" Not saved: {len(skipped)} taken elsewhere meanwhile ("
                     + "; ".join(taken[p] for p in skipped[:3]) + "); their decisions stand.")
        self._bulk_outcome = text
        self.param.update(message=text, message_kind="warning" if held or skipped else "success")
        return saved

