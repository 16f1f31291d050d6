"""Seller feedback on real fashion products: answers wait apart from the catalog until a reviewer
confirms them, an older workspace's API products move apart, and sellers who mislead are flagged
(one-sided binomial test) while honest ones are not."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from workbench import Workspace
from workbench.app.state.seller import NONE_FITS, SellerState
from workbench.errors import WorkbenchError
from workbench.loop.feedback import confirm_feedback, feedback_to_confirm
from workbench.loop.labels import label_counts
from workbench.loop.misleading_sellers import (flag_sellers, held_out_probabilities, misleading_sellers,
                                              record_simulated_choices, simulate_seller_choices)
from workbench.runs.selection import default_run


@pytest.fixture(scope="module")
def seller_ws(sample_workspace):
    """2,500 real fashion products, one tfidf run trained on the grouped split's training part."""
    from workbench.runs.training import train_models

    ws = sample_workspace("seller_ws", 2500, seed=3)
    train_models(ws, ["tfidf"], "grouped", seed=0)
    return ws


def test_a_sellers_answer_waits_apart_from_the_catalog_until_confirmed(seller_ws):
    ws = seller_ws
    before = ws.scalar("SELECT count(*) FROM products")
    state = SellerState(workspace=ws, seller="sam")
    state.title = "Nike Men Black Running Shoes"
    state.param.trigger("classify")
    top = state.suggestions
    assert len(top) == 5 and top["probability"].is_monotonic_decreasing
    assert top["category"].iloc[0].startswith("Footwear > Shoes")
    state.choice = top["category"].iloc[1]  # the second suggestion
    state.param.trigger("submit")
    assert "was the first suggestion right? no" in state.message and state.message_kind == "success"
    row = ws.df("SELECT * FROM feedback WHERE channel = 'seller'").iloc[-1]
    assert row["actor"] == "sam" and not row["accepted"] and row["rank"] == 2
    assert row["category"] == top["category"].iloc[1]
    assert row["chosen_proba"] == pytest.approx(top["probability"].iloc[1], abs=1e-9)
    # apart: not a catalog product, never split or trained on
    assert ws.scalar("SELECT count(*) FROM products") == before
    assert ws.scalar("SELECT count(*) FROM feedback_products WHERE product_id = ?", [row["product_id"]]) == 1
    assert "feedback" not in label_counts(ws)
    # a seller's answer never moves the API importer's mark (API feedback logged before it still comes in)
    from workbench.loop.feedback import imported_until

    assert imported_until(ws) is None
    # none fits: stored, no category, nothing to confirm
    state.title = "Mystery object 42"
    state.param.trigger("classify")
    state.choice = NONE_FITS
    state.param.trigger("submit")
    none = ws.df("SELECT * FROM feedback WHERE channel = 'seller' AND none_fits")
    assert len(none) == 1 and none["category"].isna().all()
    pending = feedback_to_confirm(ws)
    assert row["product_id"] in set(pending["product_id"])
    assert none["product_id"].iloc[0] not in set(pending["product_id"])
    # the command line lists it with its channel, and confirms it: the product joins the catalog
    import subprocess
    import sys

    listed = subprocess.run([sys.executable, "-m", "workbench.cli.main", "feedback", "list", "--workspace",
                             str(ws.path)], capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0 and row["product_id"] in listed.stdout
    assert "seller feedback by sam" in listed.stdout
    confirmed = subprocess.run([sys.executable, "-m", "workbench.cli.main", "feedback", "confirm", row["product_id"],
                                "--reviewer", "ana", "--workspace", str(ws.path)],
                               capture_output=True, text=True, timeout=300)
    assert confirmed.returncode == 0, confirmed.stderr
    assert "the products joined the catalog" in confirmed.stdout
    joined = ws.df("SELECT title, leaf, label_source FROM products WHERE product_id = ?", [row["product_id"]])
    assert joined["label_source"].tolist() == ["human"] and joined["leaf"].iloc[0] == row["category"]
    assert ws.scalar("SELECT count(*) FROM feedback_products WHERE product_id = ?", [row["product_id"]]) == 0
    with pytest.raises(WorkbenchError, match="no unconfirmed feedback with a category for"):
        confirm_feedback(ws, [row["product_id"]], reviewer="ana")


def test_a_viewer_may_not_send_seller_answers(seller_ws):
    state = SellerState(workspace=seller_ws, seller="vic", role="viewer")
    n = seller_ws.scalar("SELECT count(*) FROM feedback")
    state.title = "Puma Women Track Pants"
    state.param.trigger("classify")
    state.choice = state.suggestions["category"].iloc[0]
    state.param.trigger("submit")
    assert state.message_kind == "danger" and "may not use the seller's page" in state.message
    assert seller_ws.scalar("SELECT count(*) FROM feedback") == n


def test_bulk_upload_changes_two_rows_and_refuses_a_bad_file(seller_ws):
    ws = seller_ws
    titles = ws.df("SELECT title_raw FROM products ORDER BY product_id LIMIT 20")["title_raw"].tolist()
    csv = "id,title\n" + "\n".join(f"sku-{i},\"{t}\"" for i, t in enumerate(titles))
    state = SellerState(workspace=ws, seller="bulk-seller")
    table = state.load_bulk("mine.csv", csv.encode(), limit_bytes=10**6, max_rows=100)
    assert len(table) == 20 and (table["choice"] == table["suggestion"]).all()
    other = next(leaf for leaf in state.leaves() if leaf != table["suggestion"].iloc[2])
    state.change(3, other)
    state.change(7, NONE_FITS)
    state.row, state.new_choice = 21, other  # the page's row box, search and button
    state.param.trigger("change_row")
    assert state.message_kind == "danger" and "row 21 is not in the table; pick a row from 1 to 20" in state.message
    with pytest.raises(WorkbenchError, match="is not a category of the taxonomy"):
        state.change(1, "Apparel > Nowhere")
    ids = state.send_bulk()
    assert len(ids) == 20 and "18 first suggestions confirmed, 2 changed" in state.message
    stored = ws.df("SELECT product_id, accepted, category, none_fits FROM feedback WHERE actor = 'bulk-seller' "
                   "ORDER BY product_id")
    assert int(stored["accepted"].sum()) == 18 and int(stored["none_fits"].sum()) == 1
    assert "seller:bulk-seller:sku-2" in set(stored["product_id"])
    assert stored.set_index("product_id").loc["seller:bulk-seller:sku-2", "category"] == other
    with pytest.raises(WorkbenchError, match="is not a CSV file"):
        state.load_bulk("photo.png", b"\x89PNG", limit_bytes=10**6, max_rows=100)


def test_an_older_workspace_moves_its_api_products_apart(sample_workspace, tmp_path):
    import shutil

    ws = sample_workspace("old_feedback_ws", 300)
    path = ws.path / "workbench.duckdb"
    ws.close()
    raw = duckdb.connect(str(path))
    raw.execute("INSERT INTO products (product_id, title, title_raw, source, ingested_at) VALUES "
                "('api:k:1', 'nike shoes', 'Nike Shoes', 'api feedback (key k)', now()::TIMESTAMP), "
                "('api:k:2', 'puma tee', 'Puma Tee', 'api feedback (key k)', now()::TIMESTAMP)")
    raw.execute("UPDATE products SET leaf = (SELECT min(leaf) FROM products), label_source = 'human' "
                "WHERE product_id = 'api:k:2'")  # confirmed by a reviewer earlier: stays in the catalog
    from workbench.store.schema import MIGRATIONS

    before = next(i for i, (_, step) in enumerate(MIGRATIONS) if step.__name__ == "_feedback_apart")
    raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(before)])  # as before it
    raw.execute("DROP TABLE feedback_products")
    raw.close()
    shutil.copy(path, tmp_path / "workbench.duckdb")  # a file this process has not migrated yet
    ws = Workspace(tmp_path)
    assert ws.df("SELECT product_id FROM feedback_products")["product_id"].tolist() == ["api:k:1"]
    assert ws.scalar("SELECT count(*) FROM products WHERE product_id = 'api:k:1'") == 0
    assert ws.scalar("SELECT count(*) FROM products WHERE product_id = 'api:k:2'") == 1


def test_a_misleading_seller_among_twenty_is_flagged_and_the_honest_ones_are_not(seller_ws):
    ws = seller_ws
    proba, truth, classes = held_out_probabilities(ws, default_run(ws))
    assert len(proba) > 500
    sim = simulate_seller_choices(proba, truth, classes, n_sellers=20, n_products=100, misleading=1,
                                  mislead_share=0.10, seed=1)
    # through the real store: each simulated seller's answers as seller feedback
    assert record_simulated_choices(ws, sim, default_run(ws)) == len(sim)
    verdicts, listed = misleading_sellers(ws)
    sim_verdicts = verdicts[verdicts["seller"].str.startswith("sim-")]
    assert len(sim_verdicts) == 20
    flagged = set(sim_verdicts.loc[sim_verdicts["flagged"], "seller"])
    assert flagged == {"sim-seller-00"}, sim_verdicts.head()
    liar = sim[sim["seller"] == "seller-00"]
    assert (listed["seller"] == "sim-seller-00").all()
    assert len(listed) == int((liar["chosen_proba"] < 0.01).sum()) >= 5  # every low choice listed for a reviewer
    assert (listed["chosen_proba"] < 0.01).all()
    honest = sim_verdicts[sim_verdicts["seller"] != "sim-seller-00"]
    assert honest["p_value"].min() > 0.01
    print(f"honest low-probability share {honest['low_share'].mean():.1%}; misleading seller "
          f"{sim_verdicts.iloc[0]['low_share']:.1%} (p = {sim_verdicts.iloc[0]['p_value']:.1e})")


def test_the_flag_needs_enough_choices_and_says_nothing_without_feedback():
    empty = flag_sellers(pd.DataFrame(columns=["seller", "chosen_proba"]))
    assert empty.empty
    few = pd.DataFrame({"seller": ["a"] * 5 + ["b"] * 200, "chosen_proba": [0.001] * 5 + [0.9] * 200})
    verdicts = flag_sellers(few).set_index("seller")
    assert not verdicts.loc["a", "flagged"] and verdicts.loc["a", "p_value"] < 0.01  # 5 < 20 choices
    many = pd.DataFrame({"seller": ["a"] * 30 + ["b"] * 200,
                         "chosen_proba": np.r_[[0.001] * 10, [0.9] * 20, [0.9] * 200]})
    assert flag_sellers(many).set_index("seller").loc["a", "flagged"]


def test_the_photo_dropper_of_the_seller_and_classify_pages_checks_and_says(seller_ws):
    """One widget on both pages (``widgets.photo_dropper``): a real photo is checked and shown as
    each page shows it; a file that is no image is refused in one line naming it; clearing it
    drops the photo."""
    from pathlib import Path

    from workbench.app.pages import classify, seller
    from workbench.app.state import ClassifyState

    photo = next(Path("/work/shared/datasets/fashion/images_small").glob("*.jpg"))
    for page, state in ((seller, SellerState(workspace=seller_ws, seller="sam")),
                        (classify, ClassifyState(workspace=seller_ws))):
        column = page._photo(state, 10 * 2**20)
        dropper, box = column.objects[1], column.objects[2]
        dropper.value = {photo.name: photo.read_bytes()}
        assert state.photo == photo.read_bytes() and box.objects
        said = " ".join(str(getattr(o, "object", "")) for o in box.objects).replace("\\", "")  # markdown escapes
        assert (f"Photo {photo.name} checked and attached." in said if page is seller else
                "reads text only" in said and box.objects[0].__class__.__name__ == "Image")
        dropper.value = {"notes <b>.jpg": b"hello, not an image"}
        assert state.photo is None and len(box.objects) == 1 and box.objects[0].alert_type == "danger"
        assert box.objects[0].object.startswith("notes")
        dropper.value = {}
        assert state.photo is None and box.objects == []
