"""The review page's "Feedback to confirm": a reviewer confirms, on the page, the categories that a
seller and an API client gave for products no reviewer has labelled; each becomes a human label
with its provenance; a viewer is refused on the server; hostile seller text stays text."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.app import AppContext, AppSettings
from workbench.app.pages import review as review_page
from workbench.errors import WorkbenchError
from workbench.loop.feedback import feedback_to_confirm, record_seller_feedback
from workbench.loop.reviews import list_reviews
from workbench.runs.training import train_models

HOSTILE = "<img src=x onerror=alert(1)> =HYPERLINK(\"http://x\") cotton shirt"


@pytest.fixture(scope="module")
def fed(sample_workspace):
    ws = sample_workspace("review_feedback", 300)
    run = train_models(ws, ["tfidf"], "grouped", seed=0)[0]
    leaves = ws.df("SELECT leaf, count(*) n FROM products GROUP BY leaf ORDER BY n DESC")["leaf"].tolist()
    items = pd.DataFrame({"title": [HOSTILE, "Nike running shoe", "Leather wallet brown"],
                          "predicted": [leaves[0], leaves[1], leaves[2]],
                          "category": [leaves[1], leaves[1], None],  # the last: none fits (nothing to confirm)
                          "product_ref": ["sku-1", "sku-2", "sku-3"]})
    record_seller_feedback(ws, items, seller="sam", run_id=run)
    return ws, leaves


def test_a_viewer_sees_the_feedback_but_cannot_confirm_it(fed):
    ws, _ = fed
    page = review_page.view(AppContext(ws, AppSettings(roles={"vic": "viewer"}), user_override="vic"))
    page.mode.value = review_page.MODES[2]
    confirm = page.feedback.objects[1]
    waiting = len(feedback_to_confirm(ws))
    assert confirm.disabled and waiting and len(page.feedback.table.value) == waiting
    page.feedback.table.selection = [0]
    confirm.param.trigger("value")  # a forged click: refused by the server, shown on the page
    assert "may not" in page.state.message and page.state.message_kind == "danger"
    assert len(feedback_to_confirm(ws)) == waiting
    page.state.close()


def test_a_reviewer_confirms_feedback_on_the_review_page(fed):
    ws, leaves = fed
    page = review_page.view(AppContext(ws, AppSettings(roles={"rita": "reviewer"}), user_override="rita"))
    state = page.state
    page.mode.value = review_page.MODES[2]
    assert page.feedback.visible and not page.bulk.visible
    shown = page.feedback.table.value
    assert sorted(shown["title"]) == sorted([HOSTILE, "Nike running shoe"]), \
        "the two answers that name a category, and only those"
    assert set(shown["from"]) == {"seller"} and set(shown["who"]) == {"sam"}
    assert shown.loc[shown["title"] == HOSTILE, "category given"].item() == leaves[1]
    with pytest.raises(WorkbenchError, match="tick the feedback"):
        state.confirm_ticked_feedback([])
    row = int(shown.index[shown["title"] == HOSTILE][0])
    page.feedback.table.selection = [row]
    confirm = page.feedback.objects[1]
    confirm.param.trigger("value")  # what a click in the browser sends
    assert "Confirmed 1 feedback categories as labels, by rita" in state.message
    assert list(page.feedback.table.value["title"]) == ["Nike running shoe"], "the confirmed one left the list"
    pid = "seller:sam:sku-1"
    label = ws.df("SELECT leaf, label_source FROM products WHERE product_id = ?", [pid])
    assert label["leaf"].item() == leaves[1] and label["label_source"].item() != "model"
    assert pid in set(list_reviews(ws, reviewer="rita")["product_id"])
    assert set(feedback_to_confirm(ws)["product_id"]) == {"seller:sam:sku-2"}
    state.close()
