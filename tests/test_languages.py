"""Catalogs in any language: cleaning and tokenizers of every script (on Shopify's real category
names in Thai, Japanese, Korean, Chinese, Vietnamese, Czech...), the multilingual encoder, and the
Tokopedia catalog (Indonesian) through ingest, training and evaluation."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest

from workbench.catalog.text import clean_text, segment_spaceless, word_tokens
from workbench.paths import taxonomy_home

SCRIPTS = ("th", "ja", "ko", "zh-CN", "zh-TW", "vi", "cs")

# ten Indonesian titles and their English translations, written by hand
PAIRS = [
    ("Kaos polos pria lengan pendek hitam", "Plain black short sleeve men's t-shirt"),
    ("Sepatu lari wanita ringan", "Lightweight women's running shoes"),
    ("Laptop gaming murah RAM 16GB", "Cheap gaming laptop with 16GB RAM"),
    ("Gitar akustik untuk pemula", "Acoustic guitar for beginners"),
    ("Kabel charger USB tipe C 1 meter", "USB type C charger cable 1 meter"),
    ("Tas ransel sekolah anak", "Children's school backpack"),
    ("Headphone bluetooth nirkabel peredam bising", "Wireless bluetooth noise cancelling headphones"),
    ("Jam tangan pintar tahan air", "Waterproof smart watch"),
    ("Speaker portabel bass kuat", "Portable speaker with strong bass"),
    ("Piano digital 88 tuts", "Digital piano with 88 keys"),
]


@pytest.fixture(scope="module")
def localized():
    """Real category names from Shopify's localization files: language -> {short id: name}."""
    from workbench.catalog.taxonomy_sources import _shopify_localized

    folder = taxonomy_home() / "shopify" / "localizations_categories"
    return {lang: _shopify_localized(folder, lang) for lang in SCRIPTS + ("fr",)}


def _letters(text: str) -> list[str]:
    return [ch for ch in unicodedata.normalize("NFC", text) if unicodedata.category(ch)[0] in "LM"]


@pytest.mark.parametrize("lang", SCRIPTS)
def test_cleaning_keeps_every_letter_of_real_names(localized, lang):
    names = list(localized[lang].values())[:400]
    assert len(names) == 400
    for name in names:
        assert _letters(clean_text(name)) == _letters(name), name


def test_cleaning_keeps_arabic_cyrillic_and_vietnamese_marks():
    assert clean_text("حذاء رياضي للرجال 🏃") == "حذاء رياضي للرجال"
    assert clean_text("Кроссовки мужские <b>Nike</b>") == "Кроссовки мужские Nike"
    # Vietnamese typed with combining marks is composed, not split
    decomposed = unicodedata.normalize("NFD", "Giày thể thao nam")
    assert clean_text(decomposed) == "Giày thể thao nam"
    assert clean_text("ＳＯＮＹ　ヘッドホン１２３！") == "SONY ヘッドホン123"


def test_word_tokens_on_five_scripts(localized):
    thai = localized["th"]["aa-1"]          # clothing, in Thai (vowel signs are combining marks)
    japanese = localized["ja"]["aa-1-1"]    # スポーツウェア
    korean = localized["ko"]["aa-1"]
    chinese = localized["zh-CN"]["aa-1-1"]
    vietnamese = localized["vi"]["aa-1-1"]
    # spaceless scripts become overlapping character bigrams that cover the whole name
    for name in (thai, japanese, chinese):
        tokens = word_tokens(name)
        assert len(tokens) >= 2 and all(1 <= len(t) <= 4 for t in tokens), (name, tokens)
        assert set("".join(tokens)) == set(name.replace(" ", "").lower())
    assert word_tokens(japanese)[:2] == ["スポ", "ポー"]
    # Thai vowel signs stay on their consonant, never a token of their own
    assert all(unicodedata.category(t[0])[0] != "M" for t in word_tokens(thai))
    # Korean and Vietnamese are written with spaces: whole words
    assert word_tokens(korean) == korean.lower().split()
    assert word_tokens(vietnamese) == vietnamese.lower().split()
    # ASCII text is tokenized exactly as before (the \w+ rule)
    assert word_tokens("Nike Men's T-shirt 32GB") == ["nike", "men", "s", "t", "shirt", "32gb"]
    assert segment_spaceless("男士运动鞋 Nike") == " 男士 士运 运动 动鞋  Nike"


def _script_catalog(localized, lang: str):
    """Shopify leaves named in ``lang`` as 'titles', labelled by their English vertical."""
    from workbench.catalog.taxonomy_sources import load_shopify

    english = load_shopify()
    vertical = {sid.rsplit("/", 1)[1]: node.split(" > ")[0] for node, sid in english.source_ids.items()}
    rows = [(name, vertical[sid]) for sid, name in localized[lang].items()
            if sid.count("-") >= 2 and sid in vertical]
    rng = np.random.default_rng(0)
    rows = [rows[i] for i in rng.permutation(len(rows))[:900]]
    return [r[0] for r in rows], np.array([r[1] for r in rows], dtype=object)


@pytest.mark.parametrize("lang", ["th", "ja", "zh-CN"])
def test_tokenizers_of_three_families_learn_spaceless_scripts(localized, lang, one_torch_thread):
    """tfidf, fasttext and cnn-lstm learn Shopify's verticals from names in Thai, Japanese and
    Chinese; the held-out accuracy is far above the majority class."""
    from workbench.models.base import model_class

    titles, labels = _script_catalog(localized, lang)
    train, test = slice(0, 700), slice(700, None)
    majority = max(np.mean(labels[test] == v) for v in set(labels))
    params = {"tfidf": {}, "fasttext": {"epoch": 30},
              "cnn-lstm": {"max_epochs": 15, "lr": 1e-2, "early_stopping_patience": None, "progress": False}}
    for kind, extra in params.items():
        model = model_class(kind)(leaves=sorted(set(labels)), **extra)
        model.fit(titles[train], labels[train])
        acc = float(np.mean(model.predict(titles[test]) == labels[test]))
        assert acc > majority + 0.1, (kind, lang, acc, majority)
    vocab = model.vocab_.words  # the cnn-lstm's words are bigrams of the script, not whole names
    assert max(len(w) for w in vocab[:50]) <= 4


def test_multilingual_encoder_pairs_translations():
    """Each Indonesian title is closer to its English translation than to the nine others;
    the English default model gets fewer of the same pairs right (5 of 10 when written)."""
    from workbench.embeddings.embed import embed_texts

    margins = {}
    for model in ("multilingual", "default"):
        ind = embed_texts([p[0] for p in PAIRS], model)
        eng = embed_texts([p[1] for p in PAIRS], model)
        sim = ind @ eng.T
        others = np.where(np.eye(len(PAIRS), dtype=bool), -np.inf, sim).max(axis=1)
        margins[model] = np.diag(sim) - others
    assert (margins["multilingual"] > 0).all(), margins["multilingual"]
    # (cosines of the two models live on different scales: count the pairs each one gets right)
    assert (margins["multilingual"] > 0).sum() > (margins["default"] > 0).sum()


def test_e5_prefix_is_part_of_the_cache_key(tmp_path):
    from workbench import Workspace
    from workbench.embeddings.embed import cache_hashes, embed_texts
    from workbench.embeddings.embed_cache import EmbeddingCache

    ws = Workspace(tmp_path / "ws")
    q = embed_texts(["Kaos polos"], "multilingual", workspace=ws)
    p = embed_texts(["Kaos polos"], "multilingual", workspace=ws, role="passage")
    assert 0.8 < float(q[0] @ p[0]) < 0.9999
    assert len(EmbeddingCache(ws.path, "multilingual-e5-small")) == 2
    assert cache_hashes(["x"], "default", "passage")[0] == cache_hashes(["x"], "default")[0]


@pytest.fixture(scope="module")
def tokopedia_ws(sample_workspace):
    return sample_workspace("tokopedia_ws", 300, dataset="tokopedia")


def test_embed_with_the_english_default_names_the_multilingual_encoder_for_indonesian_titles(
        tokopedia_ws, sample_workspace, capsys):
    """`workbench embed` without --model on Indonesian titles says which encoder fits them, in one
    line; on English titles it says nothing of the kind."""
    from workbench.cli.main import main

    assert main(["embed", "--no-progress", "--neighbours", "0", "--workspace", str(tokopedia_ws.path)]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "titles look not English" in notes[0], notes
    assert "`workbench embed --model multilingual`" in notes[0]
    fashion = sample_workspace("fashion_embed_note", 200)
    assert main(["embed", "--no-progress", "--neighbours", "0", "--workspace", str(fashion.path)]) == 0
    assert "note: titles look" not in capsys.readouterr().out


def test_tokopedia_ingests_trains_and_evaluates(tokopedia_ws):
    """The Indonesian catalog end to end from the command line: ingest, embed with the
    multilingual encoder, train tfidf, fasttext and xgboost on it, evaluate."""
    from workbench.cli.main import main

    ws = tokopedia_ws
    assert ws.scalar("SELECT count(*) FROM products") == 300
    assert ws.scalar("SELECT count(*) FROM categories WHERE is_leaf") == 8
    args = ["--workspace", str(ws.path)]
    assert main(["embed", "--model", "multilingual", "--no-progress", *args]) == 0
    assert ws.meta("category_neighbours_model") == "multilingual-e5-small"
    assert main(["train", "--models", "tfidf,fasttext,xgboost", "--split", "random",
                 "--embedding-model", "multilingual", "--param", "xgboost.n_estimators=60", *args]) == 0
    runs = ws.df("SELECT run_id, model, params, metrics FROM runs ORDER BY model")
    assert runs["model"].tolist() == ["fasttext", "tfidf", "xgboost"]
    params = json.loads(runs.loc[runs["model"] == "xgboost", "params"].iloc[0])
    assert params["embedding_model"] == "multilingual"
    for metrics in runs["metrics"]:
        assert json.loads(metrics)["accuracy"] > 0.3  # 8 balanced leaves: chance is 0.125
    assert main(["evaluate", "--all", *args]) == 0
    assert ws.scalar("SELECT count(DISTINCT run_id) FROM evaluations") == 3
