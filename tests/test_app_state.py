"""Dashboard state classes, data loaders, plots and serving, without a browser, on a workspace of
1,500 real fashion products with two evaluated tfidf runs (``evaluated_ws``, copied here)."""

from __future__ import annotations

import time
import urllib.request

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from tests._dashboard_setup import add_projection, copy_workspace, free_port, held_out_products
from workbench import Workspace
from workbench.app import (AppContext, AppSettings, ClassifyState, ComparisonState, ConfusionState,
                           MapState, SeverityState, ThresholdState, build_app, discover_pages)
import workbench.app.data as data
from workbench.app.operating_point import SortedPredictions
from workbench.security.upload import read_upload
from workbench.errors import WorkbenchError
from workbench.evaluate import coverage_at, leaf_thresholds
from workbench.runs.evaluation_tables import stored_metrics
from workbench.models.base import CategoryClassifier
from workbench.catalog.relabel import load_taxonomy
from workbench.runs.predictor import model_dir
from workbench.runs.records import list_runs, load_predictions
from workbench.catalog.taxonomy import SEP
from workbench.catalog.text import clean_series
from workbench.loop.thresholds import publish_thresholds, published_thresholds

OUR_PAGES = {"comparison", "thresholds", "confusion", "severity", "embedding", "classify", "taxonomy"}


@pytest.fixture(scope="module")
def ws(evaluated_ws, tmp_path_factory) -> Workspace:
    """A private copy (tests here publish thresholds) with a stored projection; its runs' folders
    are copied too, since a workspace's saved models are found in its own folder."""
    copy = Workspace(copy_workspace(evaluated_ws, tmp_path_factory.mktemp("app_state_ws"), artifacts=True))
    add_projection(copy)
    return copy


@pytest.fixture(scope="module")
def runs(ws) -> pd.DataFrame:
    return list_runs(ws)


@pytest.fixture(scope="module")
def best_run(ws, runs) -> str:
    acc = {r: stored_metrics(ws, r)["accuracy"] for r in runs["run_id"]}
    return max(acc, key=acc.get)


# the fast threshold arithmetic ------------------------------------------------------------

def test_sorted_predictions_match_coverage_at_for_global_thresholds_and_overrides(ws, best_run):
    preds = load_predictions(ws, best_run)
    tax = load_taxonomy(ws)
    from workbench.app.top1 import sorted_predictions

    sp = sorted_predictions(ws, best_run)
    conf = preds.proba.max(axis=1)
    # thresholds on and around real confidences (ties, float32 boundaries) and plain numbers
    candidates = [0.0, 0.25, 0.5, 0.9, 1.0, 1.2, float(conf[0]), float(np.median(conf)),
                  float(np.nextafter(np.float64(conf[3]), 2.0)), float(np.nextafter(np.float64(conf[3]), -1.0))]
    for t in candidates:
        expected = coverage_at(preds.y_true, preds.proba, classes=preds.classes, threshold=t)
        point = sp.at_threshold(t)
        assert point.n_shelved == expected["n_covered"], t
        assert point.coverage == pytest.approx(expected["coverage"], abs=0), t
        assert point.accuracy == expected["accuracy"], t
        assert point.n_review == len(preds.y_true) - expected["n_covered"]
    internal = [n for n in tax.internal_nodes() if len(tax.leaves_under(n)) > 1]
    overrides = {internal[0]: 0.99, tax.leaves_under(internal[0])[0]: 0.1, tax.leaves[-1]: 0.0}
    expected = coverage_at(preds.y_true, preds.proba, classes=preds.classes, threshold=0.6,
                           overrides=overrides, taxonomy=tax)
    assert sp.at_threshold(0.6, overrides, tax).n_shelved == expected["n_covered"]
    assert sp.at_threshold(0.6, overrides, tax).accuracy == expected["accuracy"]
    # the per-class thresholds follow the evaluation module's "most specific wins" rule
    np.testing.assert_array_equal(sp.class_thresholds(0.6, overrides, tax),
                                  leaf_thresholds(0.6, overrides, classes=preds.classes, taxonomy=tax))


def test_sorted_predictions_reject_bad_input():
    with pytest.raises(WorkbenchError):
        SortedPredictions.from_arrays(["a"], np.array([0]), np.array([1.7], dtype=np.float32), np.array([True]))
    sp = SortedPredictions.from_arrays(["a", "b"], np.array([0, 1, 1]), np.array([0.5, 0.9, 0.2], np.float32),
                                       np.array([True, False, True]))
    assert sp.at(np.array([0.5, 0.5])).n_shelved == 2
    assert sp.at(np.array([0.5, 0.5])).n_correct == 1
    with pytest.raises(WorkbenchError):
        sp.at(np.array([0.5]))
    with pytest.raises(WorkbenchError):
        sp.at(np.array([-0.1, 0.5]))


# threshold explorer ----------------------------------------------------------------------

def test_threshold_state_moves_with_the_slider_like_the_evaluation(ws, best_run):
    state = ThresholdState(workspace=ws)
    assert state.run_id == best_run  # the most accurate evaluated run is shown first
    preds = load_predictions(ws, best_run)
    metrics = stored_metrics(ws, best_run)
    # the evaluation's own operating point for 95% accuracy
    t95 = metrics["threshold_at"]["0.95"]
    state.threshold = t95
    assert state.summary["coverage"] == pytest.approx(metrics["coverage_at"]["0.95"], abs=1e-12)
    assert state.summary["accuracy"] == pytest.approx(metrics["accuracy_at"]["0.95"], abs=1e-12)
    for t in (0.3, 0.75, 0.999):
        state.threshold = t
        expected = coverage_at(preds.y_true, preds.proba, classes=preds.classes, threshold=t)
        assert state.summary["shelved"] == expected["n_covered"]
        assert state.summary["review"] == len(preds.y_true) - expected["n_covered"]
        assert state.summary["coverage"] == expected["coverage"]
        assert state.summary["accuracy"] == expected["accuracy"]


def test_threshold_overrides_are_vectorised_and_reported_per_category(ws, best_run):
    tax = load_taxonomy(ws)
    preds = load_predictions(ws, best_run)
    state = ThresholdState(workspace=ws, run_id=best_run)
    state.threshold = 0.2
    before = state.summary["shelved"]
    top = tax.roots[0]
    state.add_override(top, 1.0)  # never shelve anything predicted under the first department
    expected = coverage_at(preds.y_true, preds.proba, classes=preds.classes, threshold=0.2,
                           overrides={top: 1.0}, taxonomy=tax)
    assert state.summary["shelved"] == expected["n_covered"] < before
    frame = state.overrides_frame()
    row = frame.set_index("category").loc[top]
    predicted_under = np.isin(preds.classes[preds.proba.argmax(axis=1)], tax.leaves_under(top))
    assert row["predicted"] == predicted_under.sum()
    assert row["shelved"] == int(((preds.proba.max(axis=1) >= 1.0) & predicted_under).sum())
    with pytest.raises(WorkbenchError):
        state.add_override("No Such > Category", 0.5)
    with pytest.raises(WorkbenchError):
        state.add_override(top, -1)
    state.remove_override(top)
    assert state.summary["shelved"] == before
    n = state.suggest_overrides(0.95)
    stored = data.eval_table(ws, "eval_category_thresholds", "test", [best_run])
    assert n == ((stored["by"] == "leaf") & (stored["source"] == "category") & (stored["target"] == 0.95)).sum()


def test_threshold_plot_marks_the_operating_point_and_moves_it(ws):
    state = ThresholdState(workspace=ws)
    state.threshold = 0.5
    fig = hv.render(state.plot())

    def marked():
        found = [r.data_source.data for r in fig.renderers if hasattr(r, "data_source")
                 and "coverage" in r.data_source.data and len(r.data_source.data["coverage"]) == 1]
        assert found, "no operating point drawn"
        return found[0]

    assert marked()["coverage"][0] == pytest.approx(state.summary["coverage"])
    assert marked()["accuracy"][0] == pytest.approx(state.summary["accuracy"])
    state.threshold = 0.9  # the same figure follows the slider
    assert marked()["coverage"][0] == pytest.approx(state.summary["coverage"])
    assert marked()["threshold"][0] == pytest.approx(0.9)
    spans = [r for r in fig.center if type(r).__name__ == "Span"]
    assert sorted(s.location for s in spans) == sorted([state.summary["coverage"], state.summary["accuracy"]])


def test_two_sessions_keep_their_own_thresholds_and_publish_is_shared(ws):
    a, b = ThresholdState(workspace=ws), ThresholdState(workspace=ws)
    start = b.threshold
    a.threshold = 0.123
    a.add_override(load_taxonomy(ws).leaves[0], 0.7)
    assert b.threshold == start and b.overrides == {}
    version = a.publish(by="alice")
    glob, overrides = published_thresholds(ws)
    assert glob == pytest.approx(0.123) and overrides == {load_taxonomy(ws).leaves[0]: 0.7}
    assert a.published["threshold"] == pytest.approx(0.123)
    # a new session starts from the published thresholds
    c = ThresholdState(workspace=ws)
    assert c.threshold == pytest.approx(0.123) and c.overrides == a.overrides
    assert publish_thresholds(ws, 0.5, by="bob") == version + 1


# model comparison ------------------------------------------------------------------------

def test_comparison_table_and_figures_cover_every_evaluated_run(ws, runs):
    state = ComparisonState(workspace=ws)
    table = state.metrics_table()
    assert sorted(table["run_id"]) == sorted(runs["run_id"])
    for run_id in runs["run_id"]:
        preds = load_predictions(ws, run_id)
        acc = float(np.mean(preds.classes[preds.proba.argmax(axis=1)] == preds.y_true))
        assert table.set_index("run_id").loc[run_id, "accuracy"] == pytest.approx(acc)
    assert table["accuracy"].is_monotonic_decreasing
    fig = hv.render(state.curves_plot())
    assert len([r for r in fig.renderers if type(r.glyph).__name__ == "Line"]) == len(runs)
    levels = state.level_frame()
    assert set(levels["level_name"]) == set(load_taxonomy(ws).level_names)
    state.runs = [runs["run_id"].iloc[0]]
    assert set(state.curves_frame()["run_id"]) == {runs["run_id"].iloc[0]}
    hv.render(state.level_plot())
    hv.render(state.calibration_plot())
    # the run trained on 400 products says so, in its row and above the table
    sampled = runs.loc[runs["sample"].notna(), "run_id"].tolist()
    by_run = table.set_index("run_id")
    assert len(sampled) == 1 and by_run.loc[sampled[0], "training sample"] == "sample of 400"
    assert by_run.loc[sampled[0], "notes"].startswith("trained on a sample of 400 products")
    whole = [r for r in runs["run_id"] if r not in sampled]
    assert all(by_run.loc[r, "training sample"] == "all" and "sample" not in by_run.loc[r, "notes"] for r in whole)
    notice = state.sample_notice()
    assert notice.startswith("Trained on a sample of the training part") and "(400 products)" in notice


def test_grouped_bars_pair_colours_with_their_runs(ws):
    fig = hv.render(SeverityState(workspace=ws).plot())
    source = fig.renderers[0].data_source.data
    assert list(source["color"]) == list(source["run"])
    fig = hv.render(ComparisonState(workspace=ws).level_plot())
    source = fig.renderers[0].data_source.data
    assert list(source["color"]) == list(source["run"])


# sibling confusion -----------------------------------------------------------------------

def test_confusion_state_shows_the_children_of_any_parent(ws):
    tax = load_taxonomy(ws)
    state = ConfusionState(workspace=ws)
    preds = load_predictions(ws, state.run_id)
    predicted = preds.classes[preds.proba.argmax(axis=1)]
    parent = max(tax.internal_nodes(), key=lambda n: len(tax.children(n)) if tax.level(n) == 1 else 0)
    state.parent = parent
    children = state.children()
    assert list(children["child"]) == tax.children(parent)
    under = np.array([t.startswith(parent + SEP) for t in preds.y_true])
    assert children["products"].sum() == under.sum()
    m = state.matrix()
    assert m.to_numpy().sum() == under.sum()
    # the first confused pair is the largest off-diagonal cell, its examples really are that pair
    pairs = state.confused_pairs()
    off = m.drop(columns="(outside)").to_numpy().copy()
    np.fill_diagonal(off, 0)
    if off.max() > 0:
        assert pairs["n"].iloc[0] == off.max()
        true_child, pred_child = pairs["true"].iloc[0], pairs["predicted"].iloc[0]
        ex = state.examples(true_child, pred_child)
        assert len(ex) == min(3, pairs["n"].iloc[0])
        assert all(t.startswith(true_child + SEP) or t == true_child for t in ex["true_leaf"])
        assert all(p.startswith(pred_child + SEP) or p == pred_child for p in ex["predicted_leaf"])
        assert ex["title"].str.len().gt(0).all()
    state.parent = "(top level)"
    assert list(state.children()["child"]) == tax.roots
    assert state.children()["products"].sum() == len(predicted)
    # nothing lies outside the whole tree: no empty "(outside)" column, and a title that fits
    assert state.include_outside and "(outside)" not in state.matrix().columns
    plot = hv.render(state.heatmap())
    assert plot.title.text == "Confusion among top-level categories"


# error severity --------------------------------------------------------------------------

def test_severity_state_distribution_and_worst_errors(ws, runs):
    tax = load_taxonomy(ws)
    state = SeverityState(workspace=ws)
    dist = state.distribution()
    for run, part in dist.groupby("run"):
        assert part["share"].sum() == pytest.approx(1.0)
    state.errors_only = True
    assert (state.distribution()["distance"] > 0).all()
    worst = state.worst_errors()
    assert len(worst) > 0
    assert worst["distance"].is_monotonic_decreasing
    for true, pred, dist in zip(worst["true path"], worst["predicted path"], worst["distance"]):
        assert dist == tax.distance(true, pred) > 0
    titles = ws.df("SELECT product_id, title FROM products").set_index("product_id")["title"]
    assert (worst["title"].to_numpy() == titles.loc[worst["product_id"]].to_numpy()).all()


# embedding map ---------------------------------------------------------------------------

def test_map_state_colours_by_category_or_outcome(ws):
    tax = load_taxonomy(ws)
    state = MapState(workspace=ws)
    assert state.has_projection
    state.level = 2
    frame = state.frame()
    assert len(frame) == ws.scalar("SELECT count(*) FROM products")
    labelled = frame[frame["category"] != "(unlabelled)"]
    assert (labelled["colour"] == labelled["category"].map(lambda n: tax.ancestor_at(n, 2) or n)).all()
    points = state.base()
    assert isinstance(points, hv.Points) and len(points) == len(frame)
    shown = state.plot()  # the map and the product under the mouse, which the pointer stream updates
    assert isinstance(shown, hv.DynamicMap) and isinstance(shown[()], hv.Overlay)
    assert len(shown[()].values()) == 2
    state.color_by = "right / wrong"
    preds = load_predictions(ws, state.run_id)
    right = int((preds.classes[preds.proba.argmax(axis=1)] == preds.y_true).sum())
    counts = state.frame()["colour"].value_counts()
    assert counts.get("right", 0) == right
    assert counts.get("wrong", 0) == len(preds.y_true) - right
    state.rasterize_above = 100  # above the limit: datashader
    shaded = state.base()
    assert isinstance(shaded, hv.Overlay | hv.DynamicMap)
    glyphs = {type(r.glyph).__name__ for r in hv.render(shaded).renderers}
    assert "ImageRGBA" in glyphs


def test_embedding_map_rasterises_a_million_points():
    from workbench.plots import embedding_map

    rng = np.random.default_rng(0)
    n = 1_000_000
    frame = pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n),
                          "colour": rng.choice(["a", "b", "c"], n), "title": "t", "category": "c"})
    fig = hv.render(embedding_map(frame, "colour"))
    image = [r for r in fig.renderers if type(r.glyph).__name__ == "ImageRGBA"]
    assert image and image[0].data_source.data["image"][0].size < n  # one value per pixel, not per point


def test_embedding_map_with_more_categories_than_the_palette_renders():
    """The full fashion catalog has 47 families, beyond the 20-colour palette: the map still
    renders in Bokeh, one distinct hex colour per family."""
    from workbench.plots import embedding_map

    rng = np.random.default_rng(0)
    names = [f"family {i}" for i in range(47)]
    frame = pd.DataFrame({"x": rng.normal(size=2000), "y": rng.normal(size=2000),
                          "family": rng.choice(names, 2000), "title": "t", "category": "c"})
    fig = hv.render(embedding_map(frame, "family"))
    [mapper] = [r.glyph.fill_color["transform"] for r in fig.renderers if hasattr(r.glyph, "fill_color")]
    assert len(set(mapper.palette)) == 47 and all(str(c).startswith("#") for c in mapper.palette)


# classify ---------------------------------------------------------------------------------

def test_classify_state_top5_and_shelving_decision(ws, best_run, runs):
    tax = load_taxonomy(ws)
    state = ClassifyState(workspace=ws)
    assert state.run_id == best_run
    product = held_out_products(ws, 1, seed=3).iloc[0]
    state.title = product["productDisplayName"]
    publish_thresholds(ws, 0.5, by="test")
    top, decision = state.classify()
    assert len(top) == 5 and list(top["rank"]) == [1, 2, 3, 4, 5]
    assert top["probability"].is_monotonic_decreasing and top["probability"].sum() <= 1 + 1e-9
    assert all(c in tax.leaves and SEP in c for c in top["category"])
    model = CategoryClassifier.load(model_dir(ws, best_run))
    clean = clean_series(pd.Series([product["productDisplayName"]]))
    assert top["category"].iloc[0] == model.predict(pd.DataFrame({"title": clean}))[0]
    assert decision["decision"] == ("shelved" if decision["confidence"] >= 0.5 else "review")
    publish_thresholds(ws, 1.01, by="test")  # above every probability: review
    assert state.classify()[1]["decision"] == "review"
    state.title = "   "
    with pytest.raises(WorkbenchError, match="title"):
        state.classify()


def test_csv_upload_is_classified_row_by_row(ws):
    state = ClassifyState(workspace=ws)
    rows = held_out_products(ws, 40, seed=5)
    content = rows[["id", "productDisplayName", "gender"]].to_csv(index=False).encode()
    out, upload = state.classify_upload("new.csv", content, limit_bytes=10**6, max_rows=1000)
    assert len(out) == 40 and list(out["id"]) == list(rows["id"])
    model = state._model()
    expected = model.predict(pd.DataFrame({"title": clean_series(rows["productDisplayName"])}))
    assert list(out["predicted_category"]) == list(expected)
    assert set(out["decision"]) <= {"shelved", "review"}
    for name in load_taxonomy(ws).level_names:
        assert name in out
    assert (out["probability_1"] >= out["probability_2"]).all()


@pytest.mark.parametrize("name,content,limit,rows,message", [
    ("big.csv", b"title\n" + b"a product title\n" * 200, 1000, 10, "above the upload limit"),
    ("photo.png", b"\x89PNG\r\n\x1a\n", 10**6, 10, "not a CSV"),
    ("latin1.csv", "title\nCaf\u00e9 cr\u00e8me\n".encode("latin-1"), 10**6, 10, "not valid UTF-8"),
    ("notitle.csv", b"sku,price\n1,2\n", 10**6, 10, "no title column"),
    ("many.csv", b"Title\n" + b"shirt\n" * 11, 10**6, 10, "above the limit of 10"),
    ("empty.csv", b"", 10**6, 10, "empty"),
])
def test_bad_uploads_say_what_is_wrong(name, content, limit, rows, message):
    with pytest.raises(WorkbenchError, match=message):
        read_upload(name, content, limit_bytes=limit, max_rows=rows)


def test_upload_finds_the_title_column_case_insensitively():
    up = read_upload("x.csv", "id,ProductDisplayName,BRAND\n1,<b>Nike</b> Men Shoe,Nike\n", limit_bytes=10**6,
                     max_rows=10)
    assert up.products["title"].tolist() == ["Nike Men Shoe"]
    assert up.products["brand"].tolist() == ["Nike"]


# pages, template, serving -----------------------------------------------------------------

def test_every_page_builds_for_a_session(ws):
    pages = discover_pages()
    slugs = [p.__name__.rsplit(".", 1)[-1] for p in pages]
    assert OUR_PAGES <= set(slugs)
    assert [p.ORDER for p in pages] == sorted(p.ORDER for p in pages)
    import panel as pn

    template = build_app(AppContext(ws, AppSettings()))
    nav = template.navigator
    for slug in OUR_PAGES:
        page = nav.page(slug)
        assert not (isinstance(page, pn.pane.Alert) and page.alert_type == "danger"), (slug, page.object)
        page.get_root()  # renders to Bokeh models server-side


def test_viewer_cannot_publish(ws):
    ctx = AppContext(ws, AppSettings(roles={"ann": "reviewer"}), user_override="bob")
    assert ctx.role == "viewer" and not ctx.can_publish
    assert AppContext(ws, AppSettings(roles={"ann": "reviewer"}), user_override="ann").can_publish
    assert AppContext(ws).can_publish  # no login: the local user


def test_pages_explain_an_empty_workspace(fashion_ws):
    import panel as pn

    template = build_app(AppContext(fashion_ws))
    for slug in OUR_PAGES - {"taxonomy"}:  # the Taxonomy page needs no run: it shows the tree
        page = template.navigator.page(slug)
        # a sentence and the commands that fill the page, never raw Markdown
        assert isinstance(page, pn.pane.HTML) and "wb-empty-state" in page.object, slug
        assert "<code>workbench " in page.object and "`" not in page.object and "**" not in page.object, slug


def test_serve_app_answers_with_local_resources_only(ws):
    from workbench.app.serve import serve_app

    port = free_port()
    server = serve_app(ws.path, port=port, threaded=True)
    try:
        html = ""
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as resp:
                    html = resp.read().decode()
                break
            except OSError:
                time.sleep(0.3)
        assert "Product categorization workbench" in html
        assert "cdn.bokeh.org" not in html and "cdn.holoviz.org" not in html and "https://" not in html.split("<body")[0]
    finally:
        server.stop()


def test_the_warm_up_renders_its_pages_until_a_visitor_arrives(ws):
    """HoloViews cannot render in two threads at once (a clean-clone run rendered a visitor's page
    beside the warm-up at server start, and every later page of that server failed); once a
    session starts, the off-screen warm-up renders nothing more."""
    import threading

    from workbench.app.template import RENDERING, page_slug, visible_pages, visitor_arrives, warm_pages

    ctx = AppContext(ws, AppSettings(), user_override="warm-up")
    visited = threading.Event()
    warm = [page_slug(m) for m in visible_pages(ctx) if getattr(m, "WARM", False)]
    assert len(warm) >= 5 and warm_pages(ctx, visited) == warm
    visitor_arrives(visited)
    assert visited.is_set() and not RENDERING.locked()
    assert warm_pages(ctx, visited) == []


def test_serve_refuses_a_missing_workspace(tmp_path):
    from workbench.cli.main import main

    assert main(["serve", "--workspace", str(tmp_path / "nothing"), "--port", "5999"]) == 2


def test_settings_reject_nonsense():
    with pytest.raises(WorkbenchError):
        AppSettings(upload_limit_mb=0)
    with pytest.raises(WorkbenchError):
        AppSettings(part="train")
    assert AppSettings(upload_limit_mb=1).upload_limit_bytes == 1024 * 1024


def test_taxonomy_state_changes_for_an_admin_and_refuses_a_viewer(ws):
    from workbench.app.state.taxonomy import TaxonomyState
    from workbench.catalog.taxonomy_versions import current_version
    from workbench.errors import WorkbenchError

    before = current_version(ws)
    viewer = TaxonomyState(workspace=ws, actor="bob", role="viewer")
    viewer.node, viewer.argument = "Apparel > Topwear", "Upper Wear"
    with pytest.raises(WorkbenchError, match="bob \\(viewer\\) may not change the taxonomy"):
        viewer.apply()
    admin = TaxonomyState(workspace=ws, actor="ana", role="admin")
    admin.op = "add"
    assert admin.param.argument.label == "(not used)"
    admin.node = "Apparel > Capes"
    admin.apply()
    assert current_version(ws) == before + 1 and "Apparel > Capes" in set(admin.tree()["category"])
    assert admin.history()["op"].iloc[0] == "add" and "taxonomy version" in admin.message
    notes = ComparisonState(workspace=ws).metrics_table()["notes"]  # runs trained before are marked
    assert notes.str.contains(f"trained on taxonomy version {before} \\(now {before + 1}\\)").all()
    admin.undo()
    assert not ComparisonState(workspace=ws).metrics_table()["notes"].str.contains("taxonomy version").any()
    assert "Apparel > Capes" not in set(admin.tree()["category"])
