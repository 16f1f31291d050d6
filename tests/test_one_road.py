"""Same products, same answer, every road.

500 real fashion products from a file outside the workspace are classified through the HTTP API
(a real ``workbench api`` server process), ``workbench classify``, the notebook call
(``wb.classify_file``), the Classify page's state (its CSV upload) and a ``local:2`` Dask run,
for a tfidf run and a one-epoch cnn-lstm trained on a sample, with a published global threshold
and two per-category overrides (a leaf and an internal node), under both decision rules. Every
road must give the same leaf, the same confidence (to 1e-6) and the same shelve / review
decision for every product.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from tests._dashboard_setup import held_out_products
from tests._service_setup import start_api, stop
from workbench.app.state.classify import ClassifyState
from workbench.cli.main import main
from workbench.loop.thresholds import publish_thresholds
from workbench.runs.registry import promote
from workbench.service.files import ServiceFiles
from workbench.service.keys import add_key
from workbench.service.snapshot import write_snapshot

pytestmark = pytest.mark.slow

RULES = ("argmax", "min-risk")
N = 500
GLOBAL, LEAF_OVERRIDE, NODE_OVERRIDE = 0.5, 0.3, 0.8


@pytest.fixture(scope="module")
def road(sample_workspace, tmp_path_factory, output_dir, one_torch_thread):
    from workbench.runs.training import train_models

    ws = sample_workspace("one_road_ws", 1200)
    tfidf = train_models(ws, ["tfidf"], "grouped", seed=0)[0]
    cnn = train_models(ws, ["cnn-lstm"], "grouped", sample=500, seed=0,
                       params={"cnn-lstm": {"max_epochs": 1, "progress": False}})[0]
    rows = held_out_products(ws, N, seed=11)
    arrivals = tmp_path_factory.mktemp("arrivals") / "arrivals.csv"  # not inside the workspace
    rows.to_csv(arrivals, index=False)
    assert ws.path not in arrivals.parents
    # a leaf override and one on an internal node (the parent of another common leaf)
    leaves = ws.df("SELECT leaf, count(*) AS n FROM products GROUP BY leaf ORDER BY n DESC, leaf")["leaf"]
    leaf = str(leaves.iloc[0])
    parent = next(" > ".join(str(l).split(" > ")[:-1]) for l in leaves.iloc[1:]
                  if not leaf.startswith(" > ".join(str(l).split(" > ")[:-1]) + " > "))
    overrides = {leaf: LEAF_OVERRIDE, parent: NODE_OVERRIDE}
    publish_thresholds(ws, GLOBAL, overrides, by="parity-test", run_id=tfidf)
    files = ServiceFiles(ws.path)
    key = add_key(files.keys, "parity", "classify", "100000/min")
    promote(ws, tfidf, by="parity-test", force=True, note="parity test")
    write_snapshot(ws, files)
    ws.rows("CHECKPOINT")
    proc, api = start_api(ws.path, output_dir / "one-road-api.log", key=key)
    try:
        yield {"ws": ws, "runs": {"tfidf": tfidf, "cnn-lstm": cnn}, "rows": rows, "file": arrivals,
               "overrides": overrides, "api": api, "key": key, "files": files}
    finally:
        stop(proc)


def _latest(ws, run_id: str, ids: list[str]) -> pd.DataFrame:
    """The newest classification of each product by ``run_id``: ``leaf, confidence, decision``."""
    frame = ws.df("SELECT product_id, leaf, proba AS confidence, decision, threshold FROM classifications "
                  "WHERE run_id = ? AND product_id IN (SELECT unnest(?)) QUALIFY row_number() OVER "
                  "(PARTITION BY product_id ORDER BY classified_at DESC) = 1", [run_id, ids])
    return frame.set_index("product_id").loc[ids]


def _api(road, run_id: str, rule: str) -> pd.DataFrame:
    ws, api, key = road["ws"], road["api"], road["key"]
    promote(ws, run_id, by="parity-test", force=True, note="parity test")
    write_snapshot(ws, road["files"])
    deadline = time.monotonic() + 120
    while api.get("/v1/health", key)[1].get("run_id") != run_id:  # the API reloads the snapshot
        assert time.monotonic() < deadline, "the API did not switch to the promoted run"
        time.sleep(0.3)
    rows = road["rows"]
    products = [{"title": t, "department": g} for t, g in zip(rows["productDisplayName"], rows["gender"])]
    status, answer, _ = api.post("/v1/classify", {"products": products, "decision_rule": rule}, key)
    assert status == 200, answer
    assert answer["run_id"] == run_id
    preds = answer["predictions"]
    assert all(p["decision_rule"] == rule for p in preds)
    return pd.DataFrame({"leaf": [p["category"] for p in preds], "confidence": [p["confidence"] for p in preds],
                         "decision": [p["decision"] for p in preds],
                         "threshold": [np.inf if p["threshold"] is None else p["threshold"] for p in preds]},
                        index=pd.Index(rows["id"].astype(str), name="product_id"))


def _cli(road, run_id: str, rule: str) -> pd.DataFrame:
    ws = road["ws"]
    assert main(["classify", str(road["file"]), "--dataset", "fashion", "--run", run_id, "--decision", rule,
                 "--workspace", str(ws.path)]) == 0
    return _latest(ws, run_id, road["rows"]["id"].astype(str).tolist())


def _notebook(road, run_id: str, rule: str) -> pd.DataFrame:
    ws = road["ws"]
    summary = wb.classify_file(ws, road["file"], dataset="fashion", run_id=run_id, decision=rule)
    assert summary.run_id == run_id and summary.classified == N and summary.overrides == 2
    return _latest(ws, run_id, road["rows"]["id"].astype(str).tolist())


def _page(road, run_id: str, rule: str) -> pd.DataFrame:
    state = ClassifyState(workspace=road["ws"], run_id=run_id, decision=rule)
    out, _ = state.classify_upload("arrivals.csv", road["file"].read_bytes(), limit_bytes=50 * 2**20,
                                   max_rows=10_000)
    return pd.DataFrame({"leaf": out["predicted_category"].to_numpy(), "confidence": out["confidence"].to_numpy(),
                         "decision": out["decision"].to_numpy(), "threshold": out["threshold"].to_numpy()},
                        index=pd.Index(out["id"].astype(str), name="product_id"))


def _dask(road, client, run_id: str, rule: str) -> pd.DataFrame:
    from workbench.scale.classify import ClusterClassifier

    ws = road["ws"]
    remote = ClusterClassifier(client, rows_per_part=130, progress=False)
    wb.classify_file(ws, road["file"], dataset="fashion", run_id=run_id, decision=rule, rows_for=remote)
    assert len(remote.stats) == 4 and len({s["pid"] for s in remote.stats}) == 2, remote.stats
    return _latest(ws, run_id, road["rows"]["id"].astype(str).tolist())


def test_every_road_gives_the_same_leaf_confidence_and_decision(road):
    from workbench.scale.cluster import connect

    answers: dict[tuple[str, str], dict[str, pd.DataFrame]] = {}
    for kind, run_id in road["runs"].items():
        for rule in RULES:
            answers[kind, rule] = {"api": _api(road, run_id, rule), "cli": _cli(road, run_id, rule),
                                   "notebook": _notebook(road, run_id, rule), "page": _page(road, run_id, rule)}
    with connect("local:2") as client:
        for kind, run_id in road["runs"].items():
            for rule in RULES:
                answers[kind, rule]["dask"] = _dask(road, client, run_id, rule)

    leaf, node = road["overrides"]
    for (kind, rule), by_road in answers.items():
        api = by_road["api"]
        assert len(api) == N and set(api["decision"]) <= {"shelved", "review"}, (kind, rule)
        if kind == "tfidf":  # a trained run shelves some and sends some to review
            assert set(api["decision"]) == {"shelved", "review"}, rule
        # the overrides are applied: the leaf's and the node's products carry their own thresholds
        assert (api.loc[api["leaf"] == leaf, "threshold"] == LEAF_OVERRIDE).all()
        assert (api.loc[api["leaf"].str.startswith(node + " > "), "threshold"] == NODE_OVERRIDE).all()
        others = ~(api["leaf"] == leaf) & ~api["leaf"].str.startswith(node + " > ")
        assert (api.loc[others, "threshold"] == GLOBAL).all()
        assert (api["leaf"] == leaf).any() or api["leaf"].str.startswith(node + " > ").any(), (kind, rule)
        for name, other in by_road.items():
            assert list(other.index) == list(api.index), (kind, rule, name)
            wrong = other["leaf"].to_numpy() != api["leaf"].to_numpy()
            assert not wrong.any(), (kind, rule, name, other[wrong].head(3), api[wrong].head(3))
            np.testing.assert_allclose(other["confidence"].astype(float), api["confidence"], atol=1e-6,
                                       err_msg=f"{kind} {rule} {name}")
            assert (other["decision"].to_numpy() == api["decision"].to_numpy()).all(), (kind, rule, name)
    # the two rules are really different roads through the taxonomy somewhere
    differs = [(answers[k, "argmax"]["api"]["leaf"] != answers[k, "min-risk"]["api"]["leaf"]).sum()
               for k in road["runs"]]
    assert sum(differs) > 0, differs
