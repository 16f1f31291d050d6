"""API feedback imported into the label history: once per feedback id, even when two processes
(the API's sync and a `workbench promote` or `cycle` call) import the same log at the same moment."""

from __future__ import annotations

import json

import pandas as pd

from workbench.loop.feedback import import_feedback, write_feedback


def _logged(ws):
    """Two feedback rows and their predictions, as the API's logs hold them."""
    leaves = ws.df("SELECT DISTINCT leaf FROM products ORDER BY leaf LIMIT 2")["leaf"].tolist()
    predictions = pd.DataFrame({
        "prediction_id": ["p-1", "p-2"], "key_name": ["shop", "shop"], "product_ref": ["sku-1", None],
        "title": ["Nike Men Running Shoes", "<img src=x onerror=alert(1)> Socks"],
        "title_raw": ["Nike Men Running Shoes", "<img src=x onerror=alert(1)> Socks"],
        "description": [None, None], "brand": ["Nike", None], "price": [99.0, None], "image_url": [None, None],
        "attributes": [None, None],
        "top_k": [json.dumps([[leaves[0], 0.7], [leaves[1], 0.2]]), json.dumps([[leaves[1], 0.6]])]})
    feedback = pd.DataFrame({
        "feedback_id": ["f-1", "f-2"], "prediction_id": ["p-1", "p-2"],
        "time": pd.to_datetime(["2026-12-07 01:00", "2026-12-07 01:01"], utc=True),
        "key_name": ["shop", "shop"], "by": ["shop", "shop"], "accepted": [True, False],
        "category": [leaves[0], leaves[0]], "predicted": [leaves[0], leaves[1]], "run_id": ["r", "r"],
        "rank": [1, 2]})
    return feedback, predictions


def test_feedback_imported_twice_at_once_is_stored_once(sample_workspace):
    ws = sample_workspace("feedback_import", 60)
    feedback, predictions = _logged(ws)
    assert import_feedback(ws, feedback, predictions) == 2
    labels = ws.scalar("SELECT count(*) FROM labels WHERE source = 'feedback'")
    assert labels == 2
    # the second process looked before the first one wrote, and now writes the same rows
    stored = ws.df("SELECT * FROM feedback ORDER BY feedback_id")
    products = ws.df("SELECT * FROM feedback_products")
    assert write_feedback(ws, products, stored) == 0
    assert import_feedback(ws, feedback, predictions) == 0
    assert ws.scalar("SELECT count(*) FROM feedback") == 2
    assert ws.scalar("SELECT count(*) FROM labels WHERE source = 'feedback'") == labels
    # one new row among known ones: only it is stored, with its label
    more = pd.concat([feedback, feedback.iloc[:1].assign(feedback_id="f-3", accepted=False)], ignore_index=True)
    assert import_feedback(ws, more, predictions) == 1
    assert ws.scalar("SELECT count(*) FROM labels WHERE source = 'feedback'") == labels + 1
