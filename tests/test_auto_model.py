"""The ``auto`` kind (tfidf plus a sentence-embedding head, each kept only when validation says
so), the language guess that picks its encoder, and the paired bootstrap, on real products."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.catalog.language import MULTILINGUAL_ENCODER, guess_language
from workbench.evaluate.bootstrap import bootstrap_interval, needs_intervals, paired_bootstrap
from workbench.models.base import CategoryClassifier
from workbench.models.head_mixing import stratified_rows
from workbench.models.stacked import AutoClassifier
from workbench.paths import PROJECT_ROOT

DATA = PROJECT_ROOT.parent / "shared" / "datasets"


def titles(relpath: str, column: str, n: int = 2000) -> pd.Series:
    """The first ``n`` titles of a real catalog file."""
    return pd.read_csv(DATA / relpath, on_bad_lines="skip", nrows=n)[column].dropna()


@pytest.fixture(scope="module")
def parts(fashion_ws):
    """The grouped split of 2,000 real fashion products: train, valid, test frames and leaves."""
    from workbench.catalog.relabel import load_taxonomy
    from workbench.runs.training import load_training_frame

    frame = load_training_frame(fashion_ws, "grouped", ("catalog", "human"))
    split = {p: frame[frame["part"] == p].reset_index(drop=True) for p in ("train", "valid", "test")}
    return split, list(load_taxonomy(fashion_ws).leaves)


def test_english_and_indonesian_catalogs_get_their_encoders():
    for relpath, column in (("fashion/styles.csv", "productDisplayName"), ("flipkart/flipkart_20k.csv", "product_name")):
        guess = guess_language(titles(relpath, column))
        assert guess.english and guess.encoder == "default", (relpath, str(guess))
    toko = guess_language(titles("tokopedia/tokopedia_16k.csv", "nama"))
    assert not toko.english and toko.encoder == MULTILINGUAL_ENCODER
    assert "not English" in str(toko) and MULTILINGUAL_ENCODER in str(toko)
    viet = guess_language(["Áo thun nam cổ tròn tay ngắn cotton", "Điện thoại Samsung Galaxy chính hãng"])
    assert viet.encoder == MULTILINGUAL_ENCODER and viet.non_ascii_letters > 0.05


def test_auto_without_a_head_is_tfidf_over_the_fields_validation_prefers(parts, tmp_path):
    split, leaves = parts
    train, valid, test = split["train"], split["valid"], split["test"]
    model = AutoClassifier(leaves=leaves, embedding_model=None, image_model=None)
    model.fit(train, train["leaf"], valid, valid["leaf"])
    resolved = model.resolved_params()
    assert resolved["fields"] == ["title", "brand"]  # fashion has no descriptions: one candidate
    assert resolved["head"] == "none" and model.head_ is None
    proba = model.predict_proba(test)
    assert proba.shape == (len(test), len(leaves))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # tfidf alone, or tfidf with its rare leaves through their parent where validation chose that
    if model.backoff_ is None:
        assert resolved["rare_leaves"].startswith("no back-off")
        np.testing.assert_allclose(proba, model.tfidf_.predict_proba(test))
    else:
        assert resolved["rare_leaves"].startswith("backed off")
        np.testing.assert_allclose(proba, model._text_proba(test))
    assert resolved["C"] in (0.25, 0.5, 1.0) and model.tfidf_.C_ == resolved["C"]
    unseen = ~np.isin(np.arange(len(leaves)), model.seen_classes_)
    assert (proba[:, unseen] == 0).all()
    again = CategoryClassifier.load(model.save(tmp_path / "auto"))
    np.testing.assert_allclose(again.predict_proba(test), proba)


def test_head_weight_is_chosen_on_validation_and_the_probe_decides_first(parts, tmp_path, fashion_ws):
    split, leaves = parts
    train = split["train"].iloc[:500].reset_index(drop=True)
    valid, test = split["valid"].iloc[:200].reset_index(drop=True), split["test"].iloc[:100].reset_index(drop=True)
    model = AutoClassifier(leaves=leaves, probe_size=150, head_C=1.0, image_model=None,
                           workspace=str(fashion_ws.path))
    model.fit(train, train["leaf"], valid, valid["leaf"])
    r = model.resolved_params()
    assert r["language"] == "English" and r["encoder"] == "default" and r["device"] in ("cpu", "cuda")
    # the probe ran first (500 > 150 training products) and scored weight 0 = tfidf alone
    assert set(r["probe_valid_accuracy"]) == {"0.0", "0.2", "0.35", "0.5"}
    yv = np.searchsorted(model.classes_, valid["leaf"].to_numpy(dtype=object))
    # weight 0 = the text part alone: tfidf, with rare leaves through their parent where validation chose that
    tfidf_valid = float(np.mean(model._text_proba(valid).argmax(axis=1) == yv))
    assert r["probe_valid_accuracy"]["0.0"] == round(tfidf_valid, 4)
    if "head_valid_accuracy" in r:  # the full head was fitted: its weight is the validation's best
        scores = r["head_valid_accuracy"]
        assert r["head_weight"] == float(max(scores, key=lambda w: (scores[w], -float(w))))
        assert (model.head_ is None) == (r["head_weight"] == 0.0)
    else:
        assert r["head"].startswith("dropped: a probe head") and model.head_ is None
    proba = model.predict_proba(test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    again = CategoryClassifier.load(model.save(tmp_path / "auto-head"))
    np.testing.assert_allclose(again.predict_proba(test), proba, atol=1e-6)


def test_stratified_rows_keep_every_label_once_before_any_twice():
    y = np.array([0] * 50 + [1] * 5 + [2] * 1)
    rows = stratified_rows(y, 3, seed=1)
    assert sorted(y[rows].tolist()) == [0, 1, 2]
    assert len(set(stratified_rows(y, 30).tolist())) == 30


def test_paired_bootstrap_says_a_beats_b_only_when_the_interval_does():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 400).astype(str)
    a = y.copy()
    b = y.copy()
    wrong = rng.choice(400, 80, replace=False)
    b[wrong] = np.where(b[wrong] == "0", "1", "0")
    clear = paired_bootstrap(y, a, b)
    assert clear.a_beats_b and clear.verdict == "A beats B" and clear.difference == pytest.approx(0.2)
    assert paired_bootstrap(y, b, a).verdict == "B beats A"
    assert paired_bootstrap(y, a, b, metric="macro_f1").a_beats_b
    # one product of ten apart: no clear difference on so few products
    small_y = y[:10]
    small_b = small_y.copy()
    small_b[0] = "x"
    close = paired_bootstrap(small_y, small_y, small_b)
    assert close.difference == pytest.approx(0.1) and close.verdict == "no clear difference"
    assert "no clear difference" in str(close)
    same = paired_bootstrap(y, a, a)
    assert same.difference == 0 and same.low == same.high == 0 and not same.a_beats_b
    with pytest.raises(ValueError, match="same, non-zero length"):
        paired_bootstrap(y, a, b[:-1])


def test_bootstrap_interval_surrounds_the_figure_and_narrows_with_more_products():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 2000).astype(str)
    pred = np.where(rng.random(2000) < 0.8, y, "0")
    wide = bootstrap_interval(y[:100], pred[:100])["accuracy"]
    narrow = bootstrap_interval(y, pred)["accuracy"]
    assert narrow.low <= narrow.value <= narrow.high and wide.low <= wide.value <= wide.high
    assert (narrow.high - narrow.low) < (wide.high - wide.low)
    assert needs_intervals(y[:100]) and not needs_intervals(y)


def test_compare_shows_intervals_verdicts_and_setup_on_a_small_test_part(fashion_ws, capsys):
    from workbench.cli.main import main
    from workbench.runs.records import load_predictions
    from workbench.runs.training import compare_runs, train_models

    full, weak = (train_models(fashion_ws, ["tfidf"], "grouped")
                  + train_models(fashion_ws, ["tfidf"], "grouped", sample=120))
    [xgb] = train_models(fashion_ws, ["xgboost"], "grouped", sample=200,
                         params={"xgboost": {"n_estimators": 2, "max_depth": 2, "n_jobs": 1}})
    table = compare_runs(fashion_ws, [full, weak, xgb]).set_index("run_id")
    # about 300 test products over about 100 leaves: far fewer than 50 per leaf
    assert table.loc[full, "vs best"] == "most accurate"
    p_full, p_weak = (load_predictions(fashion_ws, r, "test") for r in (full, weak))
    verdict = paired_bootstrap(p_full.y_true, p_weak.classes[p_weak.proba.argmax(axis=1)],
                               p_full.classes[p_full.proba.argmax(axis=1)], n_boot=500)
    assert table.loc[weak, "vs best"].startswith("clearly below" if verdict.b_beats_a else "not clearly below")
    low, high = (float(v) for v in table.loc[full, "acc 95%"].strip("[]").split(", "))
    assert low <= table.loc[full, "accuracy"] <= high
    assert "n_jobs=1" in table.loc[xgb, "setup"] and "device=cpu" in table.loc[xgb, "setup"]
    assert main(["compare", full, weak, "--workspace", str(fashion_ws.path)]) == 0
    out = capsys.readouterr().out
    assert "acc 95%" in out.splitlines()[0] and "most accurate" in out


def test_train_picks_the_multilingual_encoder_for_titles_that_are_not_english():
    from workbench.runs.training import encoder_for_titles, with_embedding_model

    said = []
    encoder = encoder_for_titles(titles("tokopedia/tokopedia_16k.csv", "nama"), echo=said.append)
    assert encoder == MULTILINGUAL_ENCODER and said and said[0].startswith("titles look not English")
    assert encoder_for_titles(titles("fashion/styles.csv", "productDisplayName"), echo=said.append) is None
    assert len(said) == 1  # English titles: nothing to say, each family keeps its default
    # what train_models then hands each kind that embeds (a kind's own parameter still wins)
    assert with_embedding_model("xgboost", None, encoder)["embedding_model"] == MULTILINGUAL_ENCODER
    assert with_embedding_model("auto", None, encoder)["embedding_model"] == MULTILINGUAL_ENCODER
    assert with_embedding_model("xgboost", {"embedding_model": "default"}, encoder)["embedding_model"] == "default"
