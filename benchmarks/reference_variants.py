"""Variants of the text base tried against the plain reference of issue 32 (accuracy, not speed).

``--variant tokenizer``: the reference's features with three word tokenizers (scikit-learn's
``\\b\\w\\w+\\b``, the workbench's :func:`workbench.catalog.text.word_tokens`, and that one without
one-letter ASCII tokens) at ``min_df`` 1 and 2, each under ``LinearSVC(C=0.5)`` without class
weights. ``--variant fusion``: early fusion, one ``LinearSVC(C=0.5)`` over
``[reference TF-IDF | a * sentence vector | b * photo vector]`` for a few ``a`` and ``b``
(``--photos`` adds the photo vectors). ``--variant oof``: the weight of ``auto``'s sentence head
(the geometric mean with tfidf) read on 5-fold out-of-fold predictions of the training part
(about five times as many products as validation) beside validation and test.

Every row is fitted on the training part of the workspace's grouped split and printed with its
validation and test accuracy / macro-F1, so that a choice made on validation can be read beside
what it did on test. Usage::

    python benchmarks/reference_variants.py --catalog flipkart --workspace /tmp/wb33/flipkart-full-ws
    python benchmarks/reference_variants.py --variant fusion --workspace /tmp/wb32/fashion-8000-ws --photos
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _parts(ws):
    from workbench.runs.training import load_training_frame

    frame = load_training_frame(ws, "grouped", ("catalog", "human"))
    return [frame[frame["part"] == p].reset_index(drop=True) for p in ("train", "valid", "test")]


def _score(pred, truth) -> str:
    from sklearn.metrics import f1_score

    return f"{np.mean(pred == truth):.4f} / {f1_score(truth, pred, average='macro'):.4f}"


def _without_one_letter(text) -> list[str]:
    from workbench.catalog.text import word_tokens

    return [t for t in word_tokens(text) if len(t) > 1 or not t.isascii()]


def tokenizer_rows(ws) -> list[str]:
    """The tokenizer x ``min_df`` grid (module doc)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union
    from sklearn.svm import LinearSVC

    from workbench.catalog.text import word_tokens
    from workbench.models.base import product_texts

    parts = _parts(ws)
    texts = [product_texts(p, ("title", "brand")) for p in parts]
    truth = [p["leaf"].astype(str).to_numpy() for p in parts]
    rows = []
    for label, tokenizer in (("scikit-learn", None), ("word_tokens", word_tokens),
                             ("word_tokens without one letter", _without_one_letter)):
        for min_df in (1, 2):
            common = dict(sublinear_tf=True, min_df=min_df, dtype=np.float32)
            words = (TfidfVectorizer(ngram_range=(1, 2), **common) if tokenizer is None else
                     TfidfVectorizer(ngram_range=(1, 2), tokenizer=tokenizer, token_pattern=None, **common))
            t0 = time.perf_counter()
            features = make_union(words, TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), **common))
            svm = LinearSVC(C=0.5).fit(features.fit_transform(texts[0]), truth[0])
            seconds = time.perf_counter() - t0
            rows.append(f"| {label} | {min_df} | {_score(svm.predict(features.transform(texts[1])), truth[1])} | "
                        f"{_score(svm.predict(features.transform(texts[2])), truth[2])} | {seconds:.1f} |")
            print(rows[-1], flush=True)
    return rows


def fusion_rows(ws, encoder: str, photos: bool) -> list[str]:
    """The early-fusion grid (module doc)."""
    import scipy.sparse as sp
    from sklearn.svm import LinearSVC

    from _reference import reference_pipeline
    from workbench.embeddings.embed import embed_texts
    from workbench.models.base import product_texts

    parts = _parts(ws)
    texts = [product_texts(p, ("title", "brand")) for p in parts]
    truth = [p["leaf"].astype(str).to_numpy() for p in parts]
    features = reference_pipeline().steps[0][1].fit(texts[0])
    tfidf = [features.transform(t) for t in texts]
    sentences = [np.asarray(embed_texts(product_texts(p), model=encoder, workspace=ws)) for p in parts]
    pictures = None
    if photos:
        from workbench.embeddings.image_embed import product_image_vectors

        pictures = []
        for p in parts:
            vectors, has = product_image_vectors(p, "default", workspace=str(ws.path))
            vectors = np.asarray(vectors, dtype=np.float32)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
            vectors[~has] = 0
            pictures.append(vectors)
    rows = []
    for a in (0.0, 0.5, 1.0, 2.0):
        for b in ((0.0, 0.5, 1.0) if photos else (0.0,)):
            def matrix(i):
                blocks = [tfidf[i]] + ([sp.csr_matrix(a * sentences[i])] if a else []) \
                    + ([sp.csr_matrix(b * pictures[i])] if b else [])
                return sp.hstack(blocks).tocsr()

            t0 = time.perf_counter()
            svm = LinearSVC(C=0.5).fit(matrix(0), truth[0])
            seconds = time.perf_counter() - t0
            rows.append(f"| {a} | {b} | {_score(svm.predict(matrix(1)), truth[1])} | "
                        f"{_score(svm.predict(matrix(2)), truth[2])} | {seconds:.1f} |")
            print(rows[-1], flush=True)
    return rows


def oof_rows(ws, encoder: str) -> list[str]:
    """The head-weight grid scored out of fold, on validation and on test (module doc)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from workbench.embeddings.embed import embed_texts
    from workbench.models.base import product_texts
    from workbench.models.head_mixing import accuracy_of, geometric_join
    from workbench.models.tfidf import TfidfClassifier

    parts = _parts(ws)
    leaves = sorted(set().union(*(p["leaf"].astype(str) for p in parts)))
    index = {leaf: i for i, leaf in enumerate(leaves)}
    ys = [p["leaf"].astype(str).map(index).to_numpy() for p in parts]
    vectors = [np.asarray(embed_texts(product_texts(p), model=encoder, workspace=ws)) for p in parts]
    names = np.array(leaves, dtype=object)

    def tfidf(rows, y):
        return TfidfClassifier(leaves=leaves, C=0.5, class_weight=None).fit(rows, names[y])

    def head(E, y, Ex):
        lr = LogisticRegression(C=10, max_iter=300).fit(E, y)
        out = np.zeros((len(Ex), len(leaves)))
        out[:, lr.classes_] = lr.predict_proba(Ex)
        return out

    train, y = parts[0], ys[0]
    oof_text, oof_head = np.zeros((len(train), len(leaves))), np.zeros((len(train), len(leaves)))
    strata = np.where(np.bincount(y, minlength=len(leaves))[y] >= 5, y, -1)
    for fit, held in StratifiedKFold(5, shuffle=True, random_state=0).split(train, strata):
        oof_text[held] = tfidf(train.iloc[fit], y[fit]).predict_proba(train.iloc[held])
        oof_head[held] = head(vectors[0][fit], y[fit], vectors[0][held])
    model = tfidf(train, y)
    text = [model.predict_proba(parts[i]) for i in (1, 2)]
    heads = [head(vectors[0], y, vectors[i]) for i in (1, 2)]
    rows = []
    for w in (0.0, 0.1, 0.2, 0.35, 0.5, 0.65):
        test = geometric_join(text[1], heads[1], w)
        rows.append(f"| {w} | {accuracy_of(geometric_join(oof_text, oof_head, w), y):.4f} | "
                    f"{accuracy_of(geometric_join(text[0], heads[0], w), ys[1]):.4f} | "
                    f"{_score(test.argmax(axis=1), ys[2])} |")
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the rows of one variant grid as a Markdown table."""
    from models import prepare
    from workbench.store import Workspace

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", choices=["tokenizer", "fusion", "oof"], default="tokenizer")
    ap.add_argument("--catalog", default="fashion", help="built-in catalog ingested into an empty workspace")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--encoder", default="default", help="sentence encoder of the fusion and oof grids")
    ap.add_argument("--photos", action="store_true", help="fusion: add the photo vectors")
    args = ap.parse_args(argv)
    ws = Workspace(args.workspace)
    prepare(ws, args.catalog)
    if args.variant == "tokenizer":
        print("| word tokenizer | min_df | valid acc. / macro-F1 | test acc. / macro-F1 | fit s |\n|---|---|---|---|---|")
        tokenizer_rows(ws)
    elif args.variant == "oof":
        print("| head weight | out-of-fold acc. | valid acc. | test acc. / macro-F1 |\n|---|---|---|---|")
        oof_rows(ws, args.encoder)
    else:
        print("| a (sentence) | b (photo) | valid acc. / macro-F1 | test acc. / macro-F1 | fit s |\n|---|---|---|---|---|")
        fusion_rows(ws, args.encoder, args.photos)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
