"""Taxonomy changes without losing work, on real fashion products: a rename of a subtree, a merge
of two sibling leaves, a keyword split and a retire, then the undo of each, with reviews,
threshold overrides, the review queue and a served tfidf run (an API server this test starts)."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from tests._dashboard_setup import workbench_cli
from tests._service_setup import start_api, stop
from workbench import Workspace, ingest_dataset
from workbench.catalog.relabel import load_taxonomy
from workbench.errors import WorkbenchError
from workbench.loop import taxonomy_changes as tc
from workbench.loop.taxonomy_rewrites import CATEGORY_RETIRED, TAXONOMY_SPLIT
from workbench.loop.taxonomy_split import split
from workbench.loop.taxonomy_undo import undo
from workbench.loop.reviews import submit_review
from workbench.loop.thresholds import publish_thresholds, published_thresholds
from workbench.runs.predictor import Predictor
from workbench.runs.training import train_models
from workbench.service.files import ServiceFiles
from workbench.service.keys import add_key
from workbench.service.snapshot import write_snapshot

TOPWEAR, UPPER = "Apparel > Topwear", "Apparel > Upper Wear"
POLO_TITLE = {"title": "Nike Men Blue Polo T-shirt"}
TUNIC_TITLE = {"title": "Fabindia Women Green Printed Tunic"}


@pytest.fixture(scope="module")
def site(tmp_path_factory, output_dir):
    root = tmp_path_factory.mktemp("taxonomy_changes")
    ws = Workspace(root)
    ingest_dataset(ws, "fashion", sample=1500, seed=0)
    run = train_models(ws, ["tfidf"], "grouped", seed=0)[0]
    files = ServiceFiles(root)
    keys = {role: add_key(files.keys, f"{role}-caller", role, "100000/min") for role in ("classify", "admin")}
    write_snapshot(ws)
    proc, api = start_api(root, output_dir / "taxonomy-api.log", "--import-seconds", "0", key=keys["classify"])
    try:
        yield {"ws": ws, "run": run, "api": api, "keys": keys}
    finally:
        stop(proc)


def served(site, *products):
    """The served run's answers after the workspace changed (snapshot rewritten, API reloaded)."""
    write_snapshot(site["ws"])
    status, _, _ = site["api"].post("/v1/admin/reload", {}, site["keys"]["admin"])
    assert status == 200
    status, answer, _ = site["api"].post("/v1/classify", {"products": list(products)}, site["keys"]["classify"])
    assert status == 200, answer
    return answer["predictions"]


def state(ws):
    """Everything a change must give back on undo."""
    return {
        "products": ws.df("SELECT product_id, leaf, category_path, label_source FROM products ORDER BY product_id"),
        "labels": ws.df("SELECT label_id, product_id, leaf, source, retracted FROM labels ORDER BY label_id"),
        "reviews": ws.df("SELECT review_id, predicted_leaf, final_leaf FROM reviews ORDER BY review_id"),
        "thresholds": published_thresholds(ws),
        "queue": ws.df("SELECT queue_date, product_id, reason, status FROM review_queue ORDER BY product_id"),
        "nodes": sorted(load_taxonomy(ws).nodes),
    }


def same(a, b):
    for key in a:
        if isinstance(a[key], pd.DataFrame):
            pd.testing.assert_frame_equal(a[key].reset_index(drop=True), b[key].reset_index(drop=True), obj=key)
        else:
            assert a[key] == b[key], key


def leaf_counts(ws) -> dict[str, int]:
    return dict(ws.rows("SELECT leaf, count(*) FROM products WHERE leaf IS NOT NULL GROUP BY leaf"))


def queued(ws, reason: str) -> set[str]:
    return {r[0] for r in ws.rows("SELECT product_id FROM review_queue WHERE status = 'pending' "
                                  "AND list_contains(string_split(reason, ','), ?)", [reason])}


def first(ws, leaf: str, n: int = 1) -> list[str]:
    return [r[0] for r in ws.rows("SELECT product_id FROM products WHERE leaf = ? ORDER BY product_id LIMIT ?",
                                  [leaf, n])]


def test_rename_merge_split_retire_then_undo_each(site):
    ws, run = site["ws"], site["run"]
    total = ws.scalar("SELECT count(*) FROM products")
    tunic, tshirt, flat = first(ws, f"{TOPWEAR} > Tunics")[0], first(ws, f"{TOPWEAR} > Tshirts")[0], \
        first(ws, "Footwear > Shoes > Flats")[0]
    corrected = submit_review(ws, tunic, reviewer="rita", final_leaf=f"{TOPWEAR} > Tops", confirm_test_change=True)
    kept = submit_review(ws, tshirt, reviewer="rita", final_leaf=f"{TOPWEAR} > Tshirts")
    submit_review(ws, flat, reviewer="rita", final_leaf="Footwear > Shoes > Flats")
    publish_thresholds(ws, 0.5, {f"{TOPWEAR} > Tops": 0.7, f"{TOPWEAR} > Tunics": 0.8,
                                 f"{TOPWEAR} > Tshirts": 0.6, "Footwear > Shoes > Flats": 0.9}, by="ana", run_id=run)
    assert served(site, POLO_TITLE)[0]["category"] == f"{TOPWEAR} > Tshirts"
    before = [state(ws)]

    # 1. rename a subtree: every path under it follows, reviews keep their old path
    change = tc.rename(ws, TOPWEAR, "Upper Wear", by="ana")
    assert change.version == 1 and change.counts["products"] == sum(
        n for leaf, n in leaf_counts(ws).items() if leaf.startswith(UPPER))
    assert ws.scalar("SELECT count(*) FROM products") == total
    assert not any(leaf.startswith(TOPWEAR) for leaf in leaf_counts(ws))
    review = ws.df("SELECT final_leaf FROM reviews WHERE review_id = ?", [corrected.review_id])
    assert review["final_leaf"][0] == f"{UPPER} > Tops"
    old = tc.path_history(ws, "reviews")
    assert ((old["old_value"] == f"{TOPWEAR} > Tops") & (old["new_value"] == f"{UPPER} > Tops")
            & (old["version"] == 1)).any()
    labels = tc.path_history(ws, "labels")
    assert (labels["old_value"] == f"{TOPWEAR} > Tshirts").any()
    assert published_thresholds(ws)[1][f"{UPPER} > Tops"] == 0.7
    answer = served(site, POLO_TITLE)[0]
    assert answer["category"] == f"{UPPER} > Tshirts" and answer["levels"]["subCategory"] == "Upper Wear"
    assert all(t["category"] in load_taxonomy(ws) for t in answer["top_k"])
    assert Predictor.for_run(ws, run).predict([POLO_TITLE])[0]["category"] == f"{UPPER} > Tshirts"
    before.append(state(ws))

    # 2. merge two sibling leaves: products and the stricter threshold go to the target
    counts = leaf_counts(ws)
    change = tc.merge(ws, [f"{UPPER} > Tunics"], into=f"{UPPER} > Tops", by="ana")
    assert leaf_counts(ws)[f"{UPPER} > Tops"] == counts[f"{UPPER} > Tops"] + counts[f"{UPPER} > Tunics"]
    assert f"{UPPER} > Tunics" not in load_taxonomy(ws)
    glob, overrides = published_thresholds(ws)
    assert overrides[f"{UPPER} > Tops"] == 0.8 and f"{UPPER} > Tunics" not in overrides
    assert any("stricter" in f for f in change.flags)
    assert served(site, TUNIC_TITLE)[0]["category"] == f"{UPPER} > Tops"
    before.append(state(ws))

    # 3. split a leaf by keywords: placed products move, the rest wait in the queue with the reason
    n_tshirts = leaf_counts(ws)[f"{UPPER} > Tshirts"]
    change = split(ws, f"{UPPER} > Tshirts", ["Polo", "Round Neck"], by="ana",
                      keywords={"Polo": ["polo"], "Round Neck": ["round neck"]})
    counts = leaf_counts(ws)
    placed = counts.get(f"{UPPER} > Tshirts > Polo", 0) + counts.get(f"{UPPER} > Tshirts > Round Neck", 0)
    waiting = queued(ws, TAXONOMY_SPLIT)
    assert placed > 20 and placed + len(waiting) == n_tshirts
    assert ws.scalar("SELECT count(*) FROM products") == total
    polo = ws.df("SELECT title FROM products WHERE leaf = ?", [f"{UPPER} > Tshirts > Polo"])["title"]
    assert polo.str.contains("polo", case=False).all()
    assert any("inherited" in f for f in change.flags)
    item = ws.df("SELECT predicted_leaf, detail FROM review_queue WHERE product_id = ? AND reason = ?",
                 [sorted(waiting)[0], TAXONOMY_SPLIT])
    assert item["predicted_leaf"][0] == f"{UPPER} > Tshirts" and '"version": 3' in item["detail"][0]
    label = ws.df("SELECT leaf FROM products WHERE product_id = ?", [kept.product_id])["leaf"][0]
    assert label is None or label.startswith(f"{UPPER} > Tshirts > ")
    answer = served(site, POLO_TITLE)[0]
    assert answer["category"] == f"{UPPER} > Tshirts" and answer["decision"] == "review"
    before.append(state(ws))

    # 4. retire a leaf whose parent keeps other children: its products go to the queue
    n_flats = leaf_counts(ws)["Footwear > Shoes > Flats"]
    change = tc.retire(ws, "Footwear > Shoes > Flats", by="ana")
    assert len(queued(ws, CATEGORY_RETIRED)) == n_flats and "Footwear > Shoes > Flats" not in load_taxonomy(ws)
    assert "Footwear > Shoes > Flats" not in published_thresholds(ws)[1]
    assert ws.scalar("SELECT count(*) FROM products") == total

    history = tc.taxonomy_history(ws)
    assert history["op"].tolist() == ["retire", "split", "merge", "rename"]
    assert (history["by"] == "ana").all()

    # undo each, newest first: everything as it was before that change
    for expected in reversed(before):
        undo(ws, by="ana")
        same(state(ws), expected)
    assert served(site, POLO_TITLE)[0]["category"] == f"{TOPWEAR} > Tshirts"
    assert tc.taxonomy_history(ws)["undone_by"].notna().sum() == 4


def test_refusals_say_the_cause_and_the_fix(site):
    ws = site["ws"]
    cases = [
        (lambda: tc.rename(ws, "Apparel > Nope", "X", by="ana"), "unknown category"),
        (lambda: tc.rename(ws, TOPWEAR, "A > B", by="ana"), "cannot contain"),
        (lambda: tc.rename(ws, TOPWEAR, "Bottomwear", by="ana"), "exists already"),
        (lambda: tc.rename(ws, TOPWEAR, "X", by=" "), "say who"),
        (lambda: tc.merge(ws, ["Apparel > Topwear"], into="Apparel > Bottomwear > Jeans", by="ana"), "leaves with leaves"),
        (lambda: split(ws, TOPWEAR, ["A", "B"], keywords={"A": ["a"]}, by="ana"), "has children"),
        (lambda: split(ws, f"{TOPWEAR} > Tops", ["A", "B"], by="ana"), "one rule"),
        (lambda: tc.move(ws, "Apparel", TOPWEAR, by="ana"), "own subtree"),
        (lambda: tc.taxonomy_change(ws, "explode", by="ana"), "unknown taxonomy operation"),
    ]
    version = ws.scalar("SELECT count(*) FROM taxonomy_changes")
    for call, words in cases:
        with pytest.raises(WorkbenchError, match=words):
            call()
    assert ws.scalar("SELECT count(*) FROM taxonomy_changes") == version  # nothing recorded


def test_hostile_name_is_kept_as_text_and_undone(site):
    ws = site["ws"]
    name = "<img src=x onerror=alert(1)> =HYPERLINK(\"http://x\")"
    n = leaf_counts(ws)[f"{TOPWEAR} > Shirts"]
    tc.taxonomy_change(ws, "rename", f"{TOPWEAR} > Shirts", name, by="ana")
    assert leaf_counts(ws)[f"{TOPWEAR} > {name}"] == n
    tc.taxonomy_change(ws, "undo", by="ana")
    assert leaf_counts(ws)[f"{TOPWEAR} > Shirts"] == n


def test_cli_needs_the_admin_role(site, tmp_path):
    from workbench.security.auth import add_user, credentials_path

    ws = site["ws"]
    path = credentials_path(ws.path)
    add_user(path, "rita", "rita-secret-1", "reviewer")
    add_user(path, "ana", "ana-secret-1", "admin")
    try:
        cli = [*workbench_cli(), "taxonomy"]
        refused = subprocess.run([*cli, "add", "Apparel > Capes", "--by", "rita", "--workspace", str(ws.path)],
                                 capture_output=True, text=True)
        assert refused.returncode == 2
        assert "rita (reviewer) may not change the taxonomy" in refused.stderr
        assert "Apparel > Capes" not in load_taxonomy(ws)
        done = subprocess.run([*cli, "add", "Apparel > Capes", "--by", "ana", "--workspace", str(ws.path)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "Apparel > Capes" in load_taxonomy(ws) and load_taxonomy(ws).is_leaf("Apparel > Capes")
        history = subprocess.run([*cli, "history", "--workspace", str(ws.path)], capture_output=True, text=True)
        assert "add 'Apparel > Capes'" in history.stdout and " ana " in history.stdout
        undone = subprocess.run([*cli, "undo", "--by", "ana", "--workspace", str(ws.path)],
                                capture_output=True, text=True)
        assert undone.returncode == 0 and "undo version" in undone.stdout
        assert "Apparel > Capes" not in load_taxonomy(ws)
    finally:
        path.unlink()


def test_another_catalog_with_merged_rare_leaves(sample_workspace):
    """Flipkart (rare leaves pooled into ``Other ...``): a top-level rename and its undo."""
    ws = sample_workspace("taxonomy_flipkart", 600, dataset="flipkart", min_count=5)
    before = state(ws)
    merges = ws.df("SELECT * FROM category_merges ORDER BY original")
    top = max(load_taxonomy(ws).roots, key=lambda r: sum(n for leaf, n in leaf_counts(ws).items()
                                                        if leaf.startswith(r)))
    tc.rename(ws, top, "Renamed Top", by="ana")
    assert not any(leaf.startswith(top + " > ") for leaf in leaf_counts(ws))
    moved = ws.df("SELECT * FROM category_merges WHERE starts_with(original, ?)", [top + " > "])
    assert moved.empty
    undo(ws, by="ana")
    same(state(ws), before)
    pd.testing.assert_frame_equal(ws.df("SELECT * FROM category_merges ORDER BY original"), merges)


def test_split_by_a_runs_predictions_restricted_to_the_children(site):
    """Tunics merged into Tops, then Tops split back by the run trained before the merge."""
    ws, run = site["ws"], site["run"]
    counts = leaf_counts(ws)
    tops, tunics = counts[f"{TOPWEAR} > Tops"], counts[f"{TOPWEAR} > Tunics"]
    tc.merge(ws, [f"{TOPWEAR} > Tunics"], into=f"{TOPWEAR} > Tops", by="ana")
    change = split(ws, f"{TOPWEAR} > Tops", ["Tops", "Tunics"], run=run, min_confidence=0.6, by="ana")
    after = leaf_counts(ws)
    placed = after.get(f"{TOPWEAR} > Tops > Tops", 0) + after.get(f"{TOPWEAR} > Tops > Tunics", 0)
    waiting = queued(ws, TAXONOMY_SPLIT)
    assert placed + len(waiting) == tops + tunics and placed >= 0.8 * (tops + tunics)
    assert abs(after.get(f"{TOPWEAR} > Tops > Tunics", 0) - tunics) <= 0.3 * tunics + 2
    assert change.arguments["rule"] == f"run {run}"
    undo(ws, by="ana")
    undo(ws, by="ana")
    assert leaf_counts(ws) == counts


def test_split_by_a_run_that_does_not_know_the_children_proposes_a_retrain(site):
    """The run was trained before the split: no product is placed, every one waits in the queue
    with the retrain command in its detail, the history and the CLI print it, and the old run
    predicting the split leaf sends the product to review."""
    ws, run = site["ws"], site["run"]
    shirts = f"{TOPWEAR} > Shirts"
    n = leaf_counts(ws)[shirts]
    cli = [*workbench_cli(), "taxonomy", "split", shirts, "--children", "Capes,Ponchos", "--by-run", run,
           "--by", "ana", "--workspace", str(ws.path)]
    done = subprocess.run(cli, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"does not know 'Capes', 'Ponchos'" in done.stdout
    assert "then retrain: workbench train --models tfidf --split grouped" in done.stdout
    waiting = queued(ws, TAXONOMY_SPLIT)
    assert len(waiting) == n and not any(leaf.startswith(shirts + " > ") for leaf in leaf_counts(ws))
    detail = ws.df("SELECT detail FROM review_queue WHERE product_id = ?", [sorted(waiting)[0]])["detail"][0]
    assert "workbench train --models tfidf" in detail
    assert "retrain" in tc.taxonomy_history(ws)["flags"][0]
    # the queued items show the default run's top-5 among the current leaves, as the review page reads them
    from workbench.app.state.review import ReviewState

    row = ws.df("SELECT * FROM review_queue WHERE product_id = ? AND reason = ?",
                [sorted(waiting)[0], TAXONOMY_SPLIT]).iloc[0].to_dict()
    page = ReviewState(workspace=ws, reviewer="ana")
    top5 = page._product(row)["top5"]
    page.close()
    current = set(load_taxonomy(ws).leaves)
    assert len(top5) == 5 and all(t["leaf"] in current for t in top5) and shirts not in {t["leaf"] for t in top5}
    assert top5[0]["proba"] >= top5[-1]["proba"] > 0
    title = ws.df("SELECT title FROM products WHERE product_id = ?", [sorted(waiting)[0]])["title"][0]
    answer = Predictor.for_run(ws, run).predict([{"title": title}])[0]
    if answer["category"] == shirts:
        assert answer["decision"] == "review"
    assert Predictor.for_run(ws, run).predict([{"title": "Arrow Men White Formal Shirt"}])[0]["decision"] == "review"
    undo(ws, by="ana")
    assert leaf_counts(ws)[shirts] == n and not queued(ws, TAXONOMY_SPLIT)


def test_old_run_compared_on_the_current_taxonomy_where_the_map_allows(site):
    """A merge: the old run's figures are re-scored through the map on every test product (a
    tunic predicted as a tunic is now right as a top, so accuracy cannot fall); a split: the
    split leaf's test products cannot be mapped, are counted and left out; the page says which
    figures are re-scored."""
    from workbench.app.state.comparison import MAPPED_MARK, ComparisonState
    from workbench.runs.records import load_predictions
    from workbench.runs.training import compare_runs

    ws, run = site["ws"], site["run"]
    before = compare_runs(ws).set_index("run_id").loc[run]
    saved = load_predictions(ws, run, "test")
    tshirts = int((saved.y_true == f"{TOPWEAR} > Tshirts").sum())
    assert tshirts > 5
    tc.merge(ws, [f"{TOPWEAR} > Tunics"], into=f"{TOPWEAR} > Tops", by="ana")
    split(ws, f"{TOPWEAR} > Tshirts", ["Polo", "Round Neck"], by="ana",
          keywords={"Polo": ["polo"], "Round Neck": ["round neck"]})
    try:
        row = compare_runs(ws).set_index("run_id").loc[run]
        assert "re-scored on taxonomy version" in row["notes"] and "through the change map" in row["notes"]
        assert row["n"] == before["n"] - tshirts
        assert f"{tshirts:,} could not be mapped" in row["notes"]
        assert row["accuracy"] != before["accuracy"]
        page = ComparisonState(workspace=ws, part="test")
        table = page.metrics_table()
        shown = table[table["run_id"] == run].iloc[0]
        assert shown["run"].endswith(MAPPED_MARK) and shown["test products"] == before["n"] - tshirts
        assert shown["accuracy"] == pytest.approx(row["accuracy"]) and shown["ECE"] is None
        notice = page.taxonomy_notice()
        assert "re-scored on the current taxonomy through the change map" in notice
        assert f"{tshirts:,} could not be mapped" in notice
    finally:
        undo(ws, by="ana")
    row = compare_runs(ws).set_index("run_id").loc[run]  # the merge alone: every test product mapped
    assert row["n"] == before["n"] and "could not be mapped" not in row["notes"]
    assert row["accuracy"] >= before["accuracy"]
    undo(ws, by="ana")
    assert "through the change map" not in compare_runs(ws).set_index("run_id").loc[run]["notes"]


def test_a_pinned_standard_tree_can_be_changed_and_keeps_its_changes(tmp_path):
    """Cold start: Shopify's Audio tree pinned as the taxonomy of an unlabelled catalog. A rename,
    a merge, an add and a retire work on it, reviewed products follow, a rebuild (as retraining
    does) keeps the changed tree, and undoing everything gives Shopify's tree back."""
    from workbench.catalog.datasets import locate
    from workbench.catalog.ingest import IngestOptions, ingest_file
    from workbench.catalog.mapping import ColumnMapping
    from workbench.catalog.pinned_taxonomy import pin_standard_taxonomy
    from workbench.loop.labels import refresh_taxonomy_and_splits

    raw = pd.read_csv(locate("tokopedia/tokopedia_16k.csv")).sample(30, random_state=5)
    raw[["nama"]].to_csv(tmp_path / "new.csv", index=False)
    ws = Workspace(tmp_path / "cold")
    ingest_file(ws, tmp_path / "new.csv", ColumnMapping(title="nama"), options=IngestOptions(labelled=False))
    tree = pin_standard_taxonomy(ws, "shopify", under="Electronics > Audio")
    source = sorted(tree.nodes)
    leaves = sorted(tree.leaves)
    parent = tree.parent(leaves[0])
    siblings = sorted(n for n in tree.leaves if tree.parent(n) == parent)
    assert len(siblings) >= 2, siblings
    ids = [r[0] for r in ws.rows("SELECT product_id FROM products ORDER BY product_id LIMIT 2")]
    submit_review(ws, ids[0], reviewer="rita", final_leaf=siblings[0])
    submit_review(ws, ids[1], reviewer="rita", final_leaf=siblings[1])

    renamed = tc.rename(ws, parent, "Renamed Audio Part", by="ana")
    new_parent = renamed.path_map[parent]
    assert ws.df("SELECT leaf FROM products WHERE product_id = ?", [ids[0]])["leaf"][0].startswith(new_parent + " > ")
    tc.merge(ws, [siblings[1].replace(parent, new_parent, 1)], into=siblings[0].replace(parent, new_parent, 1),
             by="ana")
    tc.add(ws, f"{new_parent} > Capes", by="ana")
    tc.retire(ws, f"{new_parent} > Capes", by="ana")
    changed = sorted(load_taxonomy(ws).nodes)
    assert new_parent in changed and parent not in changed
    refresh_taxonomy_and_splits(ws)
    assert sorted(load_taxonomy(ws).nodes) == changed  # the rebuild keeps the changed pinned tree
    assert ws.scalar("SELECT count(*) FROM splits WHERE kind = 'random'") == 2
    for _ in range(4):
        undo(ws, by="ana")
    assert sorted(load_taxonomy(ws).nodes) == source
    assert ws.df("SELECT leaf FROM products WHERE product_id = ?", [ids[1]])["leaf"][0] == siblings[1]
    refresh_taxonomy_and_splits(ws)
    assert sorted(load_taxonomy(ws).nodes) == source


def test_comparison_refresh_reads_old_runs_predictions_once_per_taxonomy_version(site, monkeypatch):
    """The comparison page re-scores an old run on every refresh: its saved predictions are read
    once per taxonomy version, a second refresh reads none, a new change (and its undo) reads
    them again, and the figures follow the change."""
    from workbench.app.state.comparison import ComparisonState
    from workbench.runs import records

    ws, run = site["ws"], site["run"]
    reads = []
    real = records.load_predictions

    def counted(ws_, run_id, part="test", *args, **kwargs):
        reads.append((str(run_id), part))
        return real(ws_, run_id, part, *args, **kwargs)

    monkeypatch.setattr(records, "load_predictions", counted)
    tc.merge(ws, [f"{TOPWEAR} > Tunics"], into=f"{TOPWEAR} > Tops", by="ana")
    try:
        page = ComparisonState(workspace=ws, part="test")
        first, merged = page.taxonomy_notice(), page.taxonomy_scores()[run].metrics
        assert "re-scored on taxonomy version" in first and (run, "test") in reads
        n_first = len(reads)
        again = ComparisonState(workspace=ws, part="test")
        assert again.taxonomy_notice() == first
        again.metrics_table()
        assert len(reads) == n_first, "a second refresh read the saved predictions again"
        split(ws, f"{TOPWEAR} > Tshirts", ["Polo", "Round Neck"], by="ana",
              keywords={"Polo": ["polo"], "Round Neck": ["round neck"]})
        try:
            after = ComparisonState(workspace=ws, part="test").taxonomy_notice()
            assert len(reads) > n_first, "a taxonomy change must read the predictions again"
            assert "could not be mapped" in after and "could not be mapped" not in first
        finally:
            undo(ws, by="ana")
        n_undone = len(reads)
        undone = ComparisonState(workspace=ws, part="test").taxonomy_scores()[run]
        assert len(reads) > n_undone  # the undo is a new version too
        assert not undone.unmapped and undone.metrics["accuracy"] == pytest.approx(merged["accuracy"])
    finally:
        undo(ws, by="ana")
