"""Big jobs on a Dask cluster: a LocalCluster of two worker processes on 127.0.0.1, started
here and stopped after, on real catalog samples.

Distributed classification and embedding give what the in-process path gives; XGBoost trained
through ``xgboost.dask`` and the streaming ``tfidf`` head keep the model contract; a worker
killed in the middle of a batch classification costs no product and doubles none.
"""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from workbench.models.base import CategoryClassifier

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes (and their nannies) on 127.0.0.1."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def trained(sample_workspace):
    """800 real fashion products, one tfidf run, and 300 of the products as 'new arrivals'."""
    from workbench.runs.training import train_models

    ws = sample_workspace("scale_ws", 800)
    run_id = train_models(ws, ["tfidf"], "grouped", seed=0)[0]
    ids = ws.df("SELECT product_id FROM products ORDER BY product_id LIMIT 300")["product_id"].tolist()
    return ws, run_id, ids


def _rules(ws, run_id):
    from workbench.loop.labels import utc_now

    now = utc_now()
    from workbench.runs.predictor import Predictor

    return dict(predictor=Predictor.for_run(ws, run_id, threshold=0.6, overrides={}), now=now, batch=now.date())


def test_distributed_classification_matches_in_process(cluster, trained):
    from workbench.loop.shelving import local_rows
    from workbench.scale.classify import ClusterClassifier

    ws, run_id, ids = trained
    rules = _rules(ws, run_id)
    here = local_rows(ws, ids, **rules)
    remote = ClusterClassifier(cluster, rows_per_part=70)
    there = remote(ws, ids, **rules)
    assert len(remote.stats) == 5 and sum(s["rows"] for s in remote.stats) == 300
    assert len({s["pid"] for s in remote.stats}) == 2, "both workers took partitions"
    assert there["product_id"].tolist() == here["product_id"].tolist() == ids
    assert there["leaf"].tolist() == here["leaf"].tolist()
    assert there["decision"].tolist() == here["decision"].tolist()
    np.testing.assert_allclose(there["proba"], here["proba"], atol=1e-6)
    for a, b in zip(there["top5"], here["top5"]):
        a, b = json.loads(a), json.loads(b)
        assert [x["leaf"] for x in a] == [x["leaf"] for x in b]
        np.testing.assert_allclose([x["proba"] for x in a], [x["proba"] for x in b], atol=1e-6)
    assert not list((ws.path / "scale").glob("classify-*")), "the job folder is removed"


def test_a_killed_worker_loses_no_product_and_doubles_none(cluster, trained):
    from workbench.loop.shelving import classify_products
    from workbench.scale.classify import ClusterClassifier

    ws, run_id, ids = trained
    pids = cluster.run(os.getpid)
    killed = []

    def kill_one_worker(line: str) -> None:
        if not killed:  # after the first finished partition, while the others run
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    before = ws.scalar("SELECT count(*) FROM classifications") if ws.has_table("classifications") else 0
    remote = ClusterClassifier(cluster, rows_per_part=10, progress=False, echo=kill_one_worker)
    rows = classify_products(ws, ids, run_id=run_id, threshold=0.6, rows_for=remote)
    assert killed
    assert len(rows) == 300 and rows["product_id"].is_unique
    stored = ws.df("SELECT product_id, count(*) AS n FROM classifications WHERE classified_at = ? "
                   "GROUP BY product_id", [rows["classified_at"].iloc[0]])
    assert len(stored) == 300 and set(stored["n"]) == {1}
    assert ws.scalar("SELECT count(*) FROM classifications") == before + 300
    cluster.wait_for_workers(2, timeout=60)


def test_distributed_embedding_matches_in_process(cluster, sample_workspace):
    from workbench.embeddings.embed import embed_products, load_product_embeddings
    from workbench.scale.embed import ClusterEncoder

    here = sample_workspace("scale_embed_here", 240, seed=3)
    there = sample_workspace("scale_embed_there", 240, seed=3)
    embed_products(here, progress=False)
    encoder = ClusterEncoder(cluster, rows_per_part=50, progress=False)
    report = embed_products(there, progress=False, encode_missing=encoder)
    assert report.embedded == here.scalar("SELECT count(DISTINCT text_hash) FROM product_embeddings")
    assert sum(s["rows"] for s in encoder.stats) == report.embedded and len(encoder.stats) >= 4
    ids_a, a = load_product_embeddings(here)
    ids_b, b = load_product_embeddings(there)
    assert list(ids_a) == list(ids_b)
    cosine = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.min() >= 0.9999
    again = embed_products(there, progress=False, encode_missing=encoder)
    assert again.embedded == 0, "the cache written through the cluster is used"


def test_projection_by_partitions(cluster, sample_workspace):
    from workbench.embeddings.embed import embed_products
    from workbench.embeddings.projection import load_projection, project
    from workbench.scale.projection import project_on_cluster

    from sklearn.neighbors import KNeighborsClassifier

    ws = sample_workspace("scale_project", 400, seed=5)
    embed_products(ws, progress=False)
    here = project(ws, sample=150, seed=0).set_index("product_id")
    leaves = ws.df("SELECT product_id, leaf FROM products").set_index("product_id")["leaf"]
    family = leaves.str.split(" > ").str[:2].str.join(" > ")

    def placed_agreement(coords, fitted):
        """How often a placed product's 3 nearest fitted products on the map share its family."""
        knn = KNeighborsClassifier(3).fit(coords.loc[fitted, ["x", "y"]], family[coords.index[fitted]])
        return (knn.predict(coords.loc[~fitted, ["x", "y"]]) == family[coords.index[~fitted]]).mean()

    done = project_on_cluster(ws, cluster, sample=150, seed=0, rows_per_part=60)
    assert done["products"] == 400 and done["sample"] == 150 and len(done["partitions"]) == 5
    there = load_projection(ws).set_index("product_id")
    assert len(there) == 400 and np.isfinite(there[["x", "y"]]).all().all()
    # the fitted sample lands exactly where the in-process projection puts it
    common = here.join(there, rsuffix="_c")
    exact = np.isclose(common["x"], common["x_c"]) & np.isclose(common["y"], common["y_c"])
    assert exact.sum() == 150
    # placed products sit among their own kind about as well as UMAP's transform puts them
    fitted = there.index.isin(common.index[exact])
    by_cluster = placed_agreement(there, fitted)
    by_umap = placed_agreement(here.loc[there.index], fitted)
    assert by_cluster > max(by_umap - 0.1, 0.3), (by_cluster, by_umap)
    _draws_the_map_from_a_dask_dataframe(ws, there)


def _draws_the_map_from_a_dask_dataframe(ws, projection):
    import holoviews as hv

    from workbench.scale.map import export_map, map_dataframe, map_element, map_image

    folder = export_map(ws, ws.path / "map", level=2)
    frame = map_dataframe(folder)
    assert type(frame).__module__.startswith("dask") and len(frame) == len(projection)
    families = set(projection["leaf"].str.split(" > ").str[:2].str.join(" > "))
    assert set(frame["category"].cat.categories) == families
    image = map_image(frame, width=200, height=150)
    assert image.shape == (150, 200) and int((image.data != 0).sum()) > 100
    hv.extension("bokeh")
    plot = hv.renderer("bokeh").get_plot(map_element(frame, width=300, height=200))
    assert plot.state.width == 300


def _contract(model: CategoryClassifier, X, y, Xt, leaves, tmp_path):
    twin = clone(model)
    assert twin.get_params() == model.get_params() and not hasattr(twin, "classes_")
    assert model.fit(X, y) is model
    proba = model.predict_proba(Xt)
    assert proba.shape == (len(Xt), len(leaves))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    unseen = [i for i, leaf in enumerate(leaves) if leaf not in set(y)]
    assert unseen and np.all(proba[:, unseen] == 0.0)
    model.save(tmp_path / "model")
    loaded = CategoryClassifier.load(tmp_path / "model")
    np.testing.assert_allclose(loaded.predict_proba(Xt), proba, atol=1e-6)
    np.testing.assert_allclose(clone(model).fit(X, y).predict_proba(Xt), proba, atol=1e-6)
    return proba


def _fashion(ws):
    from workbench import load_taxonomy, split_frame

    frame = split_frame(ws, "grouped")
    top = frame["leaf"].value_counts().index[:8]  # the other leaves stay unseen in training
    frame = frame[frame["leaf"].isin(top)]
    train, test = frame[frame["part"] == "train"], frame[frame["part"] == "test"]
    return (train.reset_index(drop=True), train["leaf"].to_numpy(dtype=object),
            test.reset_index(drop=True), test["leaf"].to_numpy(dtype=object), load_taxonomy(ws).leaves)


def test_xgboost_dask_keeps_the_model_contract(cluster, trained, tmp_path):
    from workbench.models.xgb import XGBoostClassifier

    ws, _, _ = trained
    X, y, Xt, yt, leaves = _fashion(ws)
    model = XGBoostClassifier(leaves=leaves, workspace=str(ws.path), n_estimators=15, max_depth=3,
                              early_stopping_rounds=None, progress=False, cluster=cluster.scheduler.address)
    proba = _contract(model, X, y, Xt, leaves, tmp_path)
    assert float(np.mean(np.asarray(leaves, dtype=object)[proba.argmax(1)] == yt)) > 0.6


def test_streaming_tfidf_head_keeps_the_contract_and_learns(trained, tmp_path):
    from workbench.models.tfidf import TfidfClassifier

    ws, _, _ = trained
    X, y, Xt, yt, leaves = _fashion(ws)
    model = TfidfClassifier(leaves=leaves, classifier="sgd", partition_rows=100, epochs=3)
    proba = _contract(model, X, y, Xt, leaves, tmp_path)
    accuracy = float(np.mean(np.asarray(leaves, dtype=object)[proba.argmax(1)] == yt))
    majority = pd.Series(y).value_counts(normalize=True).iloc[0]
    assert accuracy > majority + 0.3, (accuracy, majority)


def test_the_command_line_runs_on_the_cluster(cluster, trained, tmp_path, capsys):
    from workbench.cli.main import main

    ws, run_id, ids = trained
    new = ws.df("SELECT title AS productDisplayName FROM products ORDER BY product_id LIMIT 40")
    new.insert(0, "id", [f"new-{i}" for i in range(len(new))])
    path = tmp_path / "arrivals.csv"
    new.to_csv(path, index=False)
    assert main(["classify", str(path), "--map", "id=id,title=productDisplayName", "--run", run_id,
                 "--workspace", str(ws.path), "--cluster", cluster.scheduler.address]) == 0
    out = capsys.readouterr()
    assert "2 workers" in out.err and "40 products" in out.out
    assert ws.scalar("SELECT count(*) FROM classifications WHERE starts_with(product_id, 'new-')") == 40
    assert main(["train", "--models", "xgboost", "--param", "xgboost.n_estimators=5",
                 "--workspace", str(ws.path), "--cluster", cluster.scheduler.address]) == 0
    from workbench.runs.records import list_runs

    last = list_runs(ws).iloc[-1]
    assert last["model"] == "xgboost" and last["params"]["cluster"] == cluster.scheduler.address


def test_a_bad_address_says_what_to_do():
    from workbench.errors import WorkbenchError
    from workbench.scale.cluster import cluster_address, connect

    with pytest.raises(WorkbenchError, match="neither local:N nor a scheduler address"):
        with connect("my-laptop"):
            pass
    with pytest.raises(WorkbenchError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        with connect("tcp://127.0.0.1:9", timeout=2):  # nothing listens there: no need to wait the default 20 s
            pass
    os.environ["WORKBENCH_CLUSTER"] = "local:2"
    try:
        assert cluster_address(None) == "local:2" and cluster_address("tcp://h:8786") == "tcp://h:8786"
    finally:
        del os.environ["WORKBENCH_CLUSTER"]
