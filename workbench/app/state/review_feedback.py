"""The review page's "Feedback to confirm": categories that API clients and sellers gave for
products no reviewer has labelled (:func:`workbench.loop.feedback.feedback_to_confirm`). A
reviewer ticks the ones that are right and confirms them: each becomes a human label with its
provenance (:func:`workbench.loop.feedback.confirm_feedback`), which retraining may use.
Feedback is never trained on before a reviewer confirms it. Part of
:class:`workbench.app.state.review.ReviewState` (:class:`FeedbackMixin`)."""

from __future__ import annotations

import pandas as pd
import param

from workbench.errors import WorkbenchError
from workbench.loop.feedback import confirm_feedback, feedback_to_confirm

#: the columns the page shows, in order, with their headings
FEEDBACK_COLUMNS = {"product_id": "product", "title": "title", "category": "category given",
                    "predicted": "model said", "channel": "from", "who": "who", "received_at": "when"}


def empty_feedback_frame() -> pd.DataFrame:
    """The page's feedback table with no row (its columns as text)."""
    return pd.DataFrame({heading: pd.Series([], dtype=object) for heading in FEEDBACK_COLUMNS.values()})


def feedback_frame(ws) -> pd.DataFrame:
    """Feedback waiting for a reviewer, as the page shows it (who: the seller or the API key)."""
    raw = feedback_to_confirm(ws)
    if raw.empty:
        return empty_feedback_frame()
    raw = raw.assign(who=raw["actor"].fillna(raw["key_name"]).fillna(""),
                     channel=raw["channel"].fillna("api"),
                     received_at=pd.to_datetime(raw["received_at"]).dt.strftime("%Y-%m-%d %H:%M"))
    return raw[list(FEEDBACK_COLUMNS)].rename(columns=FEEDBACK_COLUMNS).fillna("").reset_index(drop=True)


class FeedbackMixin(param.Parameterized):
    """Feedback to confirm, for a review session: listed, followed and confirmed. Mixed into
    ``ReviewState``, whose rights check, reviewer and message it uses."""

    feedback = param.DataFrame(default=None, allow_None=True, doc="feedback waiting for a reviewer (page's columns)")

    def load_feedback(self) -> pd.DataFrame:
        """Read the feedback waiting for confirmation (newest first) into ``feedback``."""
        self.feedback = feedback_frame(self.workspace)
        return self.feedback

    def confirm_ticked_feedback(self, product_ids) -> int:
        """Confirm the feedback category of each of ``product_ids`` as this reviewer's label;
        returns how many, says so on the page and reloads the list."""
        self._authorize_write()
        ids = [str(p) for p in product_ids]
        if not ids:
            raise WorkbenchError("tick the feedback whose category is right first")
        n = confirm_feedback(self.workspace, ids, reviewer=self.reviewer)
        self.load_feedback()
        self.refresh()
        self.message, self.message_kind = (f"Confirmed {n} feedback categories as labels, by {self.reviewer}; "
                                           "retraining may now use them."), "success"
        return n
