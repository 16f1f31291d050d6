"""Standard taxonomies: mapping a real catalog (Tokopedia, Indonesian) onto Shopify's tree, its
review and export; category names in the reviewer's language; zero-shot runs and the cold start
of a catalog with no labels; agreement with Shopify's own Shopify-to-Google mapping."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from workbench.catalog.taxonomy import SEP

PRODUCTS = 160
# the parts of Shopify's tree an audio and music catalog maps onto (keeps the test small)
UNDER = ["Electronics > Audio", "Arts & Entertainment > Hobbies & Creative Arts > Musical Instruments"]


@pytest.fixture(scope="module")
def shopify():
    from workbench.catalog.taxonomy_sources import load_shopify

    return load_shopify()


@pytest.fixture(scope="module")
def mapped_ws(sample_workspace, shopify):
    """Tokopedia products mapped onto Shopify with the multilingual encoder (names + products)."""
    from workbench.embeddings.taxonomy_mapping import map_catalog

    ws = sample_workspace("mapped_ws", PRODUCTS, dataset="tokopedia")
    map_catalog(ws, "shopify", model="multilingual", standard=shopify, under=UNDER)
    return ws


def test_mapping_is_stored_consistent_and_sensible(mapped_ws, shopify):
    from workbench.catalog.standard_mapping import load_mapping

    frame = load_mapping(mapped_ws, "shopify")
    nodes = mapped_ws.df("SELECT node_id FROM categories")["node_id"]
    assert sorted(frame["catalog_node"]) == sorted(nodes)
    assert (frame["status"] == "proposed").all()
    assert frame["target_id"].str.startswith("gid://").all()
    target = dict(zip(frame["catalog_node"], frame["target_node"]))
    for node, tgt in target.items():
        parent = node.rsplit(SEP, 1)[0] if SEP in node else None
        if parent:  # a child maps under its parent's target
            assert tgt == target[parent] or tgt.startswith(target[parent] + SEP), (node, tgt, target[parent])
    for row in frame.itertuples():
        assert 1 <= len(row.alternatives) <= 3 and row.alternatives[0]["node"] == row.target_node
    # Tokopedia's audio lands in Shopify's audio, its drums and DJ gear among the instruments
    audio = [t for n, t in target.items() if n.startswith("Elektronik > Audio")]
    assert audio and all(t.startswith(UNDER[0]) for t in audio), audio
    music = [t for n, t in target.items() if n.startswith("Film Musik > Drum Perkusi")]
    assert music and all(t.startswith(UNDER[1]) for t in music), music


def test_mapping_review_keeps_decisions_and_exports_paths(mapped_ws, shopify, tmp_path):
    from workbench.catalog.standard_mapping import (accept_mapping, choose_mapping, load_mapping,
                                                    standard_paths)
    from workbench.cli.main import main

    frame = load_mapping(mapped_ws, "shopify")
    leaf = mapped_ws.df("SELECT node_id FROM categories WHERE is_leaf ORDER BY node_id")["node_id"].iloc[0]
    other = frame[frame["catalog_node"] != leaf]["catalog_node"].iloc[0]
    pick = "Electronics > Audio > Audio Components"
    choose_mapping(mapped_ws, "shopify", leaf, pick, shopify.source_id(pick), "ana")
    accept_mapping(mapped_ws, "shopify", other, "ana")
    out = tmp_path / "paths.csv"
    # a re-run (lexical, fast) keeps both reviewed rows and exports every product's path
    assert main(["map-taxonomy", "--to", "shopify", "--method", "lexical", "--export", str(out),
                 "--under", ";".join(UNDER),
                 "--workspace", str(mapped_ws.path)]) == 0
    again = load_mapping(mapped_ws, "shopify").set_index("catalog_node")
    assert again.loc[leaf, "target_node"] == pick and again.loc[leaf, "status"] == "edited"
    assert again.loc[other, "status"] == "accepted" and again.loc[other, "reviewer"] == "ana"
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == PRODUCTS
    assert all(r["shopify_path"] for r in rows)
    assert {r["shopify_path"] for r in rows if r["leaf"] == leaf} == {pick}
    paths = standard_paths(mapped_ws, "shopify")
    assert paths["shopify_id"].str.startswith("gid://").all()


def test_mapping_page_accepts_and_picks(mapped_ws):
    from workbench.app.context import Preferences
    from workbench.app.state.taxonomy_mapping import MappingState
    from workbench.catalog.category_names import find_categories
    from workbench.errors import WorkbenchError

    state = MappingState(workspace=mapped_ws, reviewer="ana", preferences=Preferences(language="fr"))
    assert state.kind == "shopify"
    table = state.table()
    assert len(table) == len(state.mapping()) and list(table.columns) == [
        "catalog category", "standard category", "score", "status"]
    state.node = next(n for n in table["catalog category"] if n.count(SEP) == 2)
    # the standard names are shown in French; the search finds a node by its French name
    assert state.target_name("Electronics") == "Appareils électroniques"
    found = find_categories(state.search_options(), "Écouteurs")
    assert found and all(f.startswith("Electronics") for f in found)
    state.choose(found[0])
    assert state.current()["target_node"] == found[0] and state.current()["status"] == "edited"
    viewer = MappingState(workspace=mapped_ws, reviewer="vic", role="viewer")
    with pytest.raises(WorkbenchError):
        viewer.accept()


def test_zero_shot_is_a_run_like_any_other(mapped_ws):
    """On Tokopedia with its own (Indonesian) leaves: recorded, evaluated, beats chance."""
    from workbench.runs.evaluation import evaluate_run
    from workbench.runs.records import load_predictions
    from workbench.runs.training import train_models

    ws = mapped_ws
    (run_id,) = train_models(ws, ["zero-shot"], "random", embedding_model="multilingual")
    pred = load_predictions(ws, run_id)
    assert pred.proba.shape == (len(pred.y_true), 8)
    metrics = evaluate_run(ws, run_id)
    assert metrics["accuracy"] > 0.3  # 8 balanced leaves, no label learned from
    assert ws.scalar("SELECT count(*) FROM eval_curve WHERE run_id = ?", [run_id]) > 0


def test_cold_start_review_search_and_measurement(sample_workspace, tmp_path, shopify):
    """A catalog with no labels: zero-shot into Shopify's Electronics tree, classified into the
    review queue; the review search finds a leaf by its French or Japanese name; after reviews a
    second cold start measures the zero-shot model on them."""
    from workbench import Workspace
    from workbench.app.context import Preferences
    from workbench.app.state.review import ReviewState
    from workbench.catalog.category_names import find_categories
    from workbench.catalog.ingest import IngestOptions, ingest_file
    from workbench.catalog.mapping import ColumnMapping
    from workbench.catalog.datasets import locate
    from workbench.loop.cold_start import cold_start
    from workbench.loop.review_queue import build_queue
    from workbench.loop.reviews import submit_review
    from workbench.runs.evaluation import evaluate_run

    raw = pd.read_csv(locate("tokopedia/tokopedia_16k.csv")).sample(60, random_state=3)
    path = tmp_path / "new.csv"
    raw[["nama"]].to_csv(path, index=False)
    ws = Workspace(tmp_path / "cold")
    ingest_file(ws, path, ColumnMapping(title="nama"), options=IngestOptions(labelled=False))
    first = cold_start(ws, "shopify", under="Electronics > Audio", model="multilingual")
    assert first.classified == 60 and first.evaluated_on == 0
    leaves = ws.df("SELECT node_id FROM categories WHERE is_leaf")["node_id"]
    assert len(leaves) > 20 and leaves.str.startswith("Electronics > Audio").all()
    build_queue(ws, n_random=10, n_uncertain=5, n_disagree=0)
    from workbench.loop.reviews import set_blind_random_sample

    set_blind_random_sample(ws, False)  # the review below corrects through the suggested top 5

    for lang, query in (("fr", "Écouteurs"), ("ja", "ヘッドフォン")):
        state = ReviewState(workspace=ws, reviewer="ana", preferences=Preferences(language=lang))
        found = find_categories(state.search_options(), query)
        assert found, (lang, query)
        assert all(f.startswith("Electronics > Audio") for f in found)
        assert query.casefold() in state.display_name(found[0]).casefold()
        state.close()
    state = ReviewState(workspace=ws, reviewer="ana")
    reviewed = 0
    while state.item is not None and reviewed < 12:
        state.accept() if reviewed % 2 else state.correct(state.item["top5"][1]["leaf"])
        reviewed += 1
    assert ws.scalar("SELECT count(*) FROM products WHERE label_source = 'human'") == reviewed
    second = cold_start(ws, "shopify", under="Electronics > Audio", model="multilingual")
    assert second.evaluated_on == reviewed
    metrics = evaluate_run(ws, second.run_id)
    from workbench.runs.records import load_predictions

    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert len(load_predictions(ws, second.run_id).y_true) == reviewed
    # the taxonomy stays Shopify's after a rebuild (as retraining does)
    from workbench.loop.labels import refresh_taxonomy_and_splits

    refresh_taxonomy_and_splits(ws)
    assert len(ws.df("SELECT node_id FROM categories WHERE is_leaf")) == len(leaves)
    assert ws.scalar("SELECT count(*) FROM splits WHERE kind = 'random'") == reviewed
    with pytest.raises(Exception, match="already shopify"):
        cold_start(ws, "shopify", under="Electronics > Video", model="multilingual")


def test_mapping_agreement_metric_and_loader():
    from workbench.catalog.taxonomy_sources import load_shopify_google_mapping
    from workbench.evaluate.mapping_agreement import mapping_agreement

    proposed = {"a": ["x", "y", "z"], "b": ["q", "r", "s"], "c": ["m"]}
    reference = {"a": {"x"}, "b": {"s", "t"}, "c": {"n"}, "d": {"x"}}
    assert mapping_agreement(proposed, reference) == {"top1": 1 / 3, "top3": 2 / 3, "n": 3}
    rules = load_shopify_google_mapping()
    assert len(rules) == 10258
    assert rules["gid://open-taxonomy/TaxonomyCategory/ap-1"] == "3237"  # Live Animals


def test_lexical_mapping_of_google_onto_shopify_agrees_with_shopify(shopify):
    """Google's Animals & Pet Supplies onto Shopify's: the plain TF-IDF baseline already agrees
    with Shopify's own mapping for most categories (the full trees are in benchmarks/languages.py)."""
    from collections import defaultdict

    from workbench.catalog.taxonomy_sources import load_google, load_shopify_google_mapping
    from workbench.embeddings.taxonomy_mapping import propose_mapping
    from workbench.evaluate.mapping_agreement import mapping_agreement

    from workbench.errors import WorkbenchError

    google = load_google()
    reference = defaultdict(set)
    unknown = 0
    for sid, gid in load_shopify_google_mapping().items():
        try:
            reference[google.node_of(gid)].add(shopify.node_of(sid))
        except WorkbenchError:  # a few rules name categories the shipped files do not have
            unknown += 1
    assert unknown < 100
    root = "Animals & Pet Supplies"
    src = [n for n in google.taxonomy.nodes if n == root or n.startswith(root + SEP)]
    tgt = [n for n in shopify.taxonomy.nodes if n == root or n.startswith(root + SEP)]
    frame = propose_mapping(google.taxonomy, shopify.taxonomy, method="lexical", source_nodes=src, target_nodes=tgt)
    proposed = {r.catalog_node: [a["node"] for a in r.alternatives] for r in frame.itertuples()}
    score = mapping_agreement(proposed, {k: v for k, v in reference.items() if k in set(src)})
    assert score["n"] >= 100 and score["top1"] > 0.9 and score["top3"] >= score["top1"]
    json.dumps(score)
