"""Why this category? Explanations of real predictions.

Spans of the terms land on the title as the seller wrote it (accents composed or not,
punctuation, full-width forms, Devanagari, Chinese, HTML and formula text that stays text);
removing the explanation's top words hurts the chosen leaf more than removing random words
(faithfulness, on real fashion products); the API's ``explain: true`` answers exactly what the
notebook call answers; the CLI prints the reasons and names a bad product id.
"""

from __future__ import annotations

import html
import json
import subprocess

import pytest

import workbench as wb
from tests._dashboard_setup import workbench_cli
from tests._service_setup import start_api, stop
from workbench.catalog.text import clean_text, word_tokens
from workbench.evaluate.explain_terms import aggregate_terms, highlight_html, term_spans
from workbench.runs.explain import EXPLANATION_KEYS, explain, explain_answers, explanation_of, stored_products
from workbench.runs.predictor import Predictor

HOSTILE = '<img src=x onerror=alert(1)> =HYPERLINK("http://evil","x") Nike Men Running Shoes'


@pytest.mark.parametrize("raw, term, kind, expected", [
    ("Nike Men's <b>Running</b> Shoes", "running", "word", ["Running"]),
    ("Café  Crème—Latte Mug", "café", "word", ["Café"]),
    ("Cafe\u0301 noir", "café", "word", ["Cafe\u0301"]),                 # decomposed accent: both code points
    ("ＮＩＫＥ Shoes", "nike", "word", ["ＮＩＫＥ"]),                     # full-width letters
    ("Men T-Shirt, cotton", "t shirt", "word", ["T-Shirt"]),             # a word bigram across punctuation
    ("Men T-Shirt", "-shi", "char", ["-Shi"]),
    ("Men T-Shirt Menswear", " men ", "char", ["Men"]),                  # a whole word, not inside "Menswear"
    ("हिंदी कुर्ता लाल", "कुर्ता", "word", ["कुर्ता"]),                       # Devanagari with its vowel signs
    ("运动鞋 Nike", "动鞋", "word", ["动鞋"]),                              # Chinese read as bigrams
    ("Socks socks SOCKS", "socks", "word", ["Socks", "socks", "SOCKS"]),
    (HOSTILE, "img", "word", []),                                        # the tag is not read by the model
    (HOSTILE, "hyperlink", "word", ["HYPERLINK"]),
])
def test_spans_land_on_the_raw_title(raw, term, kind, expected):
    spans = term_spans(raw, term, kind)
    assert [raw[s:e] for s, e in spans] == expected
    for s, e in spans:  # what the span covers is what the model read
        if kind == "word":
            assert " ".join(word_tokens(clean_text(raw[s:e]))) == term


def test_highlighted_title_stays_text():
    spans = term_spans(HOSTILE, "running", "word")
    out = highlight_html(HOSTILE, [(s, e, 0.5) for s, e in spans] + [(0, 4, -0.2)])
    assert "<img" not in out and "&lt;img" in out
    assert '<mark class="wb-why-for" title="towards the chosen category">Running</mark>' in out
    assert html.unescape(out.replace('<mark class="wb-why-for" title="towards the chosen category">', "")
                         .replace('<mark class="wb-why-against" title="towards the runner-up">', "")
                         .replace("</mark>", "")) == HOSTILE


def test_aggregated_terms_count_products():
    exps = [{"terms": {"chosen": [{"term": "socks", "kind": "word", "contribution": 0.3},
                                  {"term": "ock", "kind": "char", "contribution": 0.1}]}},
            {"terms": {"chosen": [{"term": "socks", "kind": "word", "contribution": 0.2}]}},
            {"terms": {"chosen": [{"term": "brief", "kind": "word", "contribution": 0.4}]}}]
    rows = aggregate_terms(exps, 5)
    assert [(r["term"], r["products"]) for r in rows] == [("socks", 2), ("brief", 1)]
    assert rows[0]["share"] == pytest.approx(2 / 3)


@pytest.fixture(scope="module")
def explained(sample_workspace, output_dir):
    """1,000 real fashion products, a tfidf run promoted and served by a real API process, the
    products embedded (the neighbours)."""
    from workbench.runs.registry import promote
    from workbench.runs.training import train_models
    from workbench.service.files import ServiceFiles
    from workbench.service.keys import add_key
    from workbench.service.snapshot import write_snapshot

    ws = sample_workspace("explain_ws", 1000)
    run = train_models(ws, ["tfidf"], "grouped", seed=0)[0]
    wb.embed_products(ws)
    files = ServiceFiles(ws.path)
    key = add_key(files.keys, "explain", "classify", "100000/min")
    promote(ws, run, by="explain-test", force=True, note="explain test")
    write_snapshot(ws, files)
    test_ids = ws.df("SELECT product_id FROM splits WHERE kind = 'grouped' AND part = 'test' "
                     "ORDER BY product_id")["product_id"].tolist()
    proc, api = start_api(ws.path, output_dir / "explain-api.log", key=key)
    try:
        yield {"ws": ws, "run": run, "api": api, "key": key, "test_ids": test_ids}
    finally:
        stop(proc)


def test_real_explanation_reads_the_raw_title(explained):
    ws = explained["ws"]
    raw = "Nike Men's Black <b>Running</b> Shoes — Édition Café"
    [exp] = explain(ws, None, [{"title": raw}], k=5)
    assert exp["category"].startswith("Footwear > Shoes")
    assert exp["terms"]["chosen"], "a tfidf prediction names the terms behind it"
    for side in ("chosen", "runner_up"):
        for t in exp["terms"][side]:
            assert t["contribution"] > 0
            for s, e in t["spans"]:
                read = (" ".join(word_tokens(clean_text(raw[s:e]))) if t["kind"] == "word"
                        else clean_text(raw[s:e]).lower())
                assert t["term"].strip() in read, (t, raw[s:e])
    words = {w["word"]: w["score"] for w in exp["words"]}
    assert list(words) == ["Nike", "Men's", "Black", "Running", "Shoes", "Édition", "Café"]
    best = max(exp["words"], key=lambda w: w["score"])
    assert best["score"] > 0 and best["word"] in {"Shoes", "Running", "Nike", "Men's"}
    assert "<b>" not in exp["html"] and "&lt;b&gt;" in exp["html"]
    levels = exp["level_probabilities"]
    assert [lvl["category"] for lvl in levels] == exp["category"].split(" > ")
    assert levels[-1]["probability"] == pytest.approx(exp["confidence"])
    assert all(a["probability"] >= b["probability"] - 1e-12 for a, b in zip(levels, levels[1:]))
    assert len(exp["neighbours"]) == 5 and all(n["title"] and n["category"] for n in exp["neighbours"])
    assert all(n["agrees"] == (n["category"] == exp["category"]) for n in exp["neighbours"])
    sims = [n["similarity"] for n in exp["neighbours"]]
    assert sims == sorted(sims, reverse=True) and 0 < sims[-1] <= sims[0] <= 1 + 1e-6


def test_min_risk_says_why_it_moved(explained):
    ws = explained["ws"]
    products = stored_products(ws, explained["test_ids"][:150])
    exps = explain(ws, None, products, 3, neighbours=0, decision="min-risk")
    moved = [e for e in exps if e["min_risk"]]
    for e in moved:
        assert e["min_risk"]["chosen_expected_distance"] <= e["min_risk"]["argmax_expected_distance"]
        assert e["min_risk"]["argmax"] != e["category"] and e["min_risk"]["argmax"] in e["min_risk"]["why"]
    assert all(e["min_risk"] is None for e in exps if e not in moved)


def test_removing_the_top_words_hurts_more_than_random_words(explained):
    from workbench.runs.explain import explainer_for_run
    from workbench.runs.explain_faithfulness import faithfulness

    ws = explained["ws"]
    found = faithfulness(explainer_for_run(ws, explained["run"], neighbours=False),
                         stored_products(ws, explained["test_ids"][:200]))
    assert len(found) >= 50
    assert found["faithful"].mean() >= 0.8, found.describe()


def test_api_explains_as_the_notebook_call(explained):
    ws, api, key = explained["ws"], explained["api"], explained["key"]
    products = [{"title": HOSTILE}, {"title": "Puma Women Socks – pack of 3", "brand": "Puma"},
                {"title": "Lakmé Absolute Lip Gloss, ROSE"}]
    notebook = explain(ws, explained["run"], products, 5)  # builds the neighbour index the API reads
    status, answer, _ = api.post("/v1/classify", {"products": products, "explain": True}, key)
    assert status == 200, answer
    for nb, served in zip(notebook, answer["predictions"]):
        assert served["category"] == nb["category"]
        got, want = served["explanation"], json.loads(json.dumps(explanation_of(nb)))
        assert set(got) == set(EXPLANATION_KEYS)
        sims = [(g.pop("similarity"), w.pop("similarity")) for g, w in zip(got["neighbours"], want["neighbours"])]
        assert all(abs(a - b) < 1e-4 for a, b in sims)
        assert got == want
    status, plain, _ = api.post("/v1/classify", {"title": "Nike Men Running Shoes"}, key)
    assert status == 200 and "explanation" not in plain["predictions"][0]
    # with and without the explanation, the answer itself is the same, key for key
    status, explained_one, _ = api.post("/v1/classify", {"title": "Nike Men Running Shoes", "explain": True}, key)
    assert status == 200
    mine, theirs = explained_one["predictions"][0], plain["predictions"][0]
    assert set(mine) == set(theirs) | {"explanation"}
    for field in ("category", "confidence", "decision", "threshold", "decision_rule", "levels", "top_k"):
        assert mine[field] == theirs[field], field


def test_the_api_explanation_scores_each_product_once(explained):
    ws, run = explained["ws"], explained["run"]
    predictor = Predictor.for_run(ws, run)
    calls = []
    score = predictor.score
    predictor.score = lambda frame: calls.append(len(frame)) or score(frame)
    answers, cleaned = explain_answers(predictor, ws.path, [{"title": "Puma Women Socks"}, {"title": HOSTILE}])
    assert calls == [2]
    assert [a["category"] for a in answers] == [a["category"] for a in predictor.predict(
        [{"title": "Puma Women Socks"}, {"title": HOSTILE}])]
    assert cleaned[1]["title"] and "explanation" in answers[1]


def test_cli_explains_a_title_and_names_a_missing_product(explained):
    ws = explained["ws"]
    ws.close()  # the command line opens the workspace itself
    out = subprocess.run([*workbench_cli(), "explain", "Nike Men's Running Shoes", "--workspace", str(ws.path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "towards the chosen category:" in out.stdout and "'running'" in out.stdout.lower()
    assert "like '" in out.stdout
    bad = subprocess.run([*workbench_cli(), "explain", "--product", "no-such-id", "--workspace", str(ws.path)],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == ("workbench explain: error: no product 'no-such-id' in the "
                                                   "workspace; pass the id of a stored product (as `workbench "
                                                   "label-issues` or `workbench queue show` list them), or "
                                                   "explain a title: workbench explain 'TITLE'")
    pid = explained["test_ids"][0]
    js = subprocess.run([*workbench_cli(), "explain", "--product", pid, "--json", "--neighbours", "0",
                         "--workspace", str(ws.path)], capture_output=True, text=True, timeout=300)
    assert js.returncode == 0, js.stderr
    [exp] = json.loads(js.stdout)
    assert exp["product_id"] == pid and exp["neighbours"] is None and exp["terms"]["chosen"]


def test_hierarchical_explains_at_the_node_where_the_two_leaves_part(explained):
    from workbench.runs.training import train_models

    ws = explained["ws"]
    run = train_models(ws, ["hierarchical"], "grouped", seed=0)[0]
    raw = "Nike Men's Black Running Shoes"
    [exp] = explain(ws, run, [{"title": raw}], 3, neighbours=0)
    chosen, runner = exp["category"].split(" > "), exp["runner_up"]["category"].split(" > ")
    shared = [a for a, b in zip(chosen, runner) if a == b]
    assert exp["terms"]["at"] == (shared[-1] if shared else "top level")
    assert exp["terms"]["chosen"] and all(t["contribution"] > 0 for t in exp["terms"]["chosen"])
    assert all(raw[s:e] for t in exp["terms"]["chosen"] for s, e in t["spans"])


def test_misleading_terms_of_the_largest_confusion_cell(explained):
    from collections import Counter

    import numpy as np

    from workbench.catalog.text import clean_text
    from workbench.runs.explain import misleading_terms
    from workbench.runs.records import load_predictions

    ws, run = explained["ws"], explained["run"]
    preds = load_predictions(ws, run, "test")
    predicted = preds.classes[np.argmax(preds.proba, axis=1)]
    cells = Counter((t, p) for t, p in zip(preds.y_true, predicted) if t != p)
    (true_leaf, wrong_leaf), n = cells.most_common(1)[0]
    found = misleading_terms(ws, run, true_leaf, wrong_leaf, k=5)
    assert found["products"] == n and found["terms"]
    ids = [str(i) for i, t, p in zip(preds.product_ids, preds.y_true, predicted) if t == true_leaf and p == wrong_leaf]
    titles = " ".join(clean_text(p["title_raw"] or p["title"]).lower() + " " + clean_text(p["brand"] or "").lower()
                      for p in stored_products(ws, ids))
    top = found["terms"][0]
    assert 1 <= top["products"] <= n and top["share"] == pytest.approx(top["products"] / n)
    assert all(t["term"].split()[0] in titles for t in found["terms"] if t["kind"] == "word")


def test_grid_and_misleading_reasons_stay_text():
    from workbench.app.why import misleading_html, short_why_html

    exp = {"terms": {"chosen": [{"term": HOSTILE, "kind": "word", "contribution": 0.5}]},
           "neighbours": [{"product_id": "1", "title": HOSTILE, "category": "A > <script>x</script>",
                           "similarity": 0.9, "agrees": False},
                          {"product_id": "2", "title": "t", "category": "A > <script>x</script>",
                           "similarity": 0.8, "agrees": False},
                          {"product_id": "3", "title": "t", "category": "A > Shoes", "similarity": 0.7, "agrees": True}]}
    shown = short_why_html(exp)
    assert "<img" not in shown and "<script>" not in shown and "&lt;script&gt;x&lt;/script&gt;</span> ×2" in shown
    assert "Shoes</span> ×1" in shown and "(1 of 3 agree)" in shown and "wb-why-differs" in shown
    found = {"products": 4, "terms": [{"term": "<b>socks</b>", "kind": "word", "products": 3, "share": 0.75}],
             "pairs": [{"true": "Innerwear > Briefs", "predicted": "Innerwear > Socks", "products": 4}]}
    text = misleading_html(found, 9)
    assert "<b>socks" not in text and "&lt;b&gt;socks&lt;/b&gt;" in text and "75%" in text
    assert "the first 4 of 9" in text and "in titles of Briefs sends them to Socks" in text


def test_drill_down_explains_the_row_opened_and_what_misleads(explained):
    """On real fashion predictions: a category's drill-down table explains the row opened and
    lists the terms behind its wrong predictions, the same as ``misleading_terms``."""
    from collections import Counter

    import numpy as np

    from workbench.app import drill
    from workbench.app.context import AppContext
    from workbench.app.product_table import ProductTable
    from workbench.runs.explain import misleading_terms
    from workbench.runs.records import load_predictions

    ws, run = explained["ws"], explained["run"]
    preds = load_predictions(ws, run, "test")
    predicted = preds.classes[np.argmax(preds.proba, axis=1)]
    wrong_by_true = Counter(t for t, p in zip(preds.y_true, predicted) if t != p)
    leaf, n_wrong = wrong_by_true.most_common(1)[0]
    table = ProductTable(AppContext(ws))
    frame = table.show(drill.of_leaf(ws, run, "test", leaf))
    assert not table.misleads.disabled
    assert len(table.wrong_ids()) == n_wrong
    shown = table.show_misleading()
    want = misleading_terms(ws, run, leaf, k=10)
    assert want["products"] == n_wrong and want["terms"]
    assert f"data-products='{n_wrong}'" in shown
    assert all(html.escape(t["term"], quote=True) in shown for t in want["terms"])
    row = frame.iloc[0]
    why = table._why_row(row).object
    title = ws.scalar("SELECT coalesce(title_raw, title) FROM products WHERE product_id = ?", [row["product_id"]])
    assert "Words for it:" in why and html.escape(title.split()[0]) in why
    has_photo = ws.scalar("SELECT image IS NOT NULL FROM products WHERE product_id = ?", [row["product_id"]])
    assert ("wb-why-own-photo" in why) == bool(has_photo), "the opened row shows the product's own photo"
    if has_photo:
        assert 'src="data:image/jpeg;base64,' in why and "max-width:224px" in why
    table.show(None)
    assert table.misleads.disabled and table.misleading.object == ""


def test_fusion_says_how_much_of_the_decision_is_the_photo(sample_workspace):
    """A fused text + photo run on real fashion products with their photos: each explanation
    gives the chosen leaf's probability with and without the photo, the same as the model
    scored without it, and the photo's and title's shares; a product without a photo has none."""
    import numpy as np

    from workbench.app.why import explanation_html
    from workbench.embeddings.image_embed import embed_product_images
    from workbench.runs.explain import explainer_for_run
    from workbench.runs.training import train_models

    ws = sample_workspace("explain_photo", 300)
    embed_product_images(ws, progress=False)
    tiny = dict(hidden=32, n_buckets=2048, max_epochs=3, batch_size=32, semantic_smoothing=0.0,
                early_stopping_patience=None, progress=False, modality_dropout=0.5)
    run = train_models(ws, ["fusion"], "grouped", params={"fusion": tiny})[0]
    ids = ws.df("SELECT product_id FROM splits JOIN products USING (product_id) WHERE kind = 'grouped' "
                "AND part = 'test' AND image IS NOT NULL ORDER BY product_id LIMIT 30")["product_id"].tolist()
    products = stored_products(ws, ids)
    products.append({"title": "Nike Men Running Shoes"})  # no photo
    wb.embed_products(ws)  # the text neighbours, beside the photo neighbours
    exps = explain(ws, run, products, 3)
    explainer = explainer_for_run(ws, run, neighbours=False)
    frame = explainer.predictor.frame(products)
    without = explainer.predictor.score(frame.assign(image=None))
    classes = list(explainer.predictor.classes)
    for exp, row in zip(exps[:-1], without):
        photo = exp["photo"]
        chosen = classes.index(exp["category"])
        assert photo["with_photo"] == pytest.approx(exp["confidence"])
        assert photo["without_photo"] == pytest.approx(row[chosen], abs=1e-6)
        assert photo["text_alone"] == classes[int(np.argmax(row))]
        assert 0 <= photo["photo_share"] <= 1 and photo["photo_share"] + photo["text_share"] == pytest.approx(1)
        if photo["with_photo"] > photo["without_photo"]:
            assert photo["photo_share"] == pytest.approx(1 - photo["without_photo"] / photo["with_photo"])
    assert any(e["photo"]["photo_share"] > 0 for e in exps[:-1]), "the photo is used"
    assert exps[-1]["photo"] is None
    shown = explanation_html(exps[0])
    assert f"Photo {exps[0]['photo']['photo_share']:.0%} · title" in shown
    # the photo's nearest labelled products, from the stored photo vectors (the product itself left out)
    for exp in exps[:-1]:
        near = exp["photo"]["neighbours"]
        assert len(near) == 5 and all(n["product_id"] != exp["product_id"] for n in near)
        assert all(n["agrees"] == (n["category"] == exp["category"]) for n in near)
        assert [n["similarity"] for n in near] == sorted((n["similarity"] for n in near), reverse=True)
    assert "Products whose photos look like this were labelled" in explanation_html(exps[0])
    text_near = {n["product_id"] for n in exps[0]["neighbours"] or []}
    assert text_near != {n["product_id"] for n in exps[0]["photo"]["neighbours"]}  # two different embeddings


def test_the_neighbour_index_follows_new_embeddings_and_labels(sample_workspace, monkeypatch):
    """Relabelled or re-embedded products rebuild a small index at the next explanation; a large
    stale one is refused with one line naming the fix (the rest of the explanation stands), and an
    index of another encoder's vectors says so instead of failing."""
    import numpy as np

    from workbench.embeddings.neighbour_index import NeighbourIndex
    from workbench.runs import explain_index as explain_module
    from workbench.runs.explain import Explainer
    from workbench.runs.explain_index import STALE_INDEX, build_neighbour_index, neighbour_index
    from workbench.runs.predictor import Predictor
    from workbench.runs.training import train_models

    ws = sample_workspace("explain_stale", 300, seed=3)
    run = train_models(ws, ["tfidf"], "grouped", seed=0)[0]
    wb.embed_products(ws)
    pid = ws.scalar("SELECT product_id FROM products WHERE leaf IS NOT NULL ORDER BY product_id LIMIT 1")
    title = ws.scalar("SELECT title FROM products WHERE product_id = ?", [pid])
    [first] = explain(ws, run, [{"title": title}], 3)
    nearest = first["neighbours"][0]
    assert nearest["product_id"] == pid and nearest["similarity"] > 0.99
    built = neighbour_index(ws).source

    # a reviewer relabels the nearest product: the next explanation names its new label
    other = ws.scalar("SELECT leaf FROM products WHERE leaf <> ? AND leaf IS NOT NULL LIMIT 1", [nearest["category"]])
    with ws.transaction() as cur:
        cur.execute("UPDATE products SET leaf = ? WHERE product_id = ?", [other, pid])
    [again] = explain(ws, run, [{"title": title}], 3)
    assert again["neighbours"][0]["product_id"] == pid and again["neighbours"][0]["category"] == other
    assert neighbour_index(ws).source != built

    # the product is re-embedded with a new title: its old vector is gone from the index
    new_title = "Handmade Ceramic Coffee Mug Blue Glaze"
    with ws.transaction() as cur:
        cur.execute("UPDATE products SET title = ?, title_raw = ? WHERE product_id = ?", [new_title, new_title, pid])
    wb.embed_products(ws)
    [moved] = explain(ws, run, [{"title": title}], 3)
    assert all(n["product_id"] != pid or n["title"] == new_title for n in moved["neighbours"])
    assert moved["neighbours"][0]["similarity"] < nearest["similarity"]

    # a large index is not rebuilt inside a request: explained without neighbours, and why
    monkeypatch.setattr(explain_module, "REBUILD_BELOW", 1)
    with ws.transaction() as cur:
        cur.execute("UPDATE products SET leaf = ? WHERE product_id = ?", [nearest["category"], pid])
    [refused] = explain(ws, run, [{"title": title}], 3)
    assert refused["neighbours"] is None and refused["neighbours_note"] == STALE_INDEX
    assert refused["terms"]["chosen"] and refused["category"] == first["category"]
    from workbench.app.why import explanation_html
    assert "No products like it: the neighbour index is out of date" in explanation_html(refused)
    build_neighbour_index(ws)  # `workbench explain --build-index`
    [rebuilt] = explain(ws, run, [{"title": title}], 3)
    assert rebuilt["neighbours_note"] is None and rebuilt["neighbours"]

    # an index of another encoder's vectors (the API reads it from files): said, not a crash
    foreign = NeighbourIndex.build(np.random.default_rng(0).normal(size=(20, 16)),
                                   ws.df("SELECT product_id, title, leaf FROM products LIMIT 20"), model="other")
    [exp] = Explainer(Predictor.for_run(ws, run), foreign).explain([{"title": title}], 3)
    assert exp["neighbours"] is None and "holds 16-number vectors of other, the query has 384" in exp["neighbours_note"]
    assert exp["neighbours_note"].endswith("rebuild it with `workbench explain --build-index`")


def test_direct_features_are_the_vectorizers_numbers(explained):
    """The explanation reads the TF-IDF values from the vectorizers' fitted state; they are
    scikit-learn's own, column for column, on real titles (and on hostile and empty text)."""
    import numpy as np

    from workbench.evaluate.explain_terms import _present_features_sklearn, present_features
    from workbench.models.base import product_texts
    from workbench.runs.predictor import Predictor

    ws = explained["ws"]
    predictor = Predictor.for_run(ws, explained["run"])
    union = predictor.model.pipeline_.named_steps["tfidf"]
    products = stored_products(ws, explained["test_ids"][:60])
    texts = product_texts(predictor.frame(products), predictor.model.fields) + [HOSTILE, "", "ß Ǆ 운동화"]
    for text in texts:
        cols, values, names = present_features(union, text)
        want_cols, want_values, want_names = _present_features_sklearn(union, text)
        assert cols.tolist() == want_cols.tolist() and names == want_names, text
        np.testing.assert_allclose(values, want_values, rtol=1e-6, atol=1e-9)  # the vectorizer's float32


def test_what_misleads_another_catalog(sample_workspace):
    """Flipkart (another catalog, depth 3, rare leaves merged): the drill-down of the category
    with the most wrong predictions names terms that are in those products' titles."""
    from collections import Counter

    import numpy as np

    from workbench.app import drill
    from workbench.app.context import AppContext
    from workbench.app.product_table import ProductTable
    from workbench.catalog.text import clean_text
    from workbench.runs.records import load_predictions
    from workbench.runs.training import train_models

    ws = sample_workspace("explain_flipkart", 1500, dataset="flipkart", min_count=5)
    run = train_models(ws, ["tfidf"], "grouped", seed=0)[0]
    preds = load_predictions(ws, run, "test")
    predicted = preds.classes[np.argmax(preds.proba, axis=1)]
    leaf, n_wrong = Counter(t for t, p in zip(preds.y_true, predicted) if t != p).most_common(1)[0]
    table = ProductTable(AppContext(ws))
    table.show(drill.of_leaf(ws, run, "test", leaf))
    shown = table.show_misleading()
    assert f"data-products='{n_wrong}'" in shown and "<table class='wb-misleading-terms'>" in shown
    wrong = table.wrong_ids()
    titles = " ".join(clean_text(f"{p['title_raw'] or p['title']} {p['brand'] or ''}").lower()
                      for p in stored_products(ws, wrong))
    from workbench.runs.explain import misleading_terms_of
    found = misleading_terms_of(ws, run, wrong, 10)
    assert found["products"] == n_wrong and sum(p["products"] for p in found["pairs"]) == n_wrong
    assert all(p["true"] == leaf and p["predicted"] != leaf for p in found["pairs"])
    assert all(t["term"].split()[0] in titles for t in found["terms"] if t["kind"] == "word")
