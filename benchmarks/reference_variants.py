"""Variants of the text base tried against the plain reference of issue 32 (accuracy, not speed).

``--variant tokenizer``: the reference's features with three word tokenizers (scikit-learn's
``\\b\\w\\w+\\b``, the workbench's :func:`workbench.catalog.text.word_tokens`, and that one without
one-letter ASCII tokens) at ``min_df`` 1 and 2, each under ``LinearSVC(C=0.5)`` without class
weights. ``--variant fusion``: early fusion, one ``LinearSVC(C=0.5)`` over
``[reference TF-IDF | a * sentence vector | b * photo vector]`` for a few ``a`` and ``b``
(``--photos`` adds the photo vectors).

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


def main(argv: list[str] | None = None) -> int:
    """Print the rows of one variant grid as a Markdown table."""
    from models import prepare
    from workbench.store import Workspace

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", choices=["tokenizer", "fusion"], default="tokenizer")
    ap.add_argument("--catalog", default="fashion", help="built-in catalog ingested into an empty workspace")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--encoder", default="default", help="sentence encoder of the fusion grid")
    ap.add_argument("--photos", action="store_true", help="fusion: add the photo vectors")
    args = ap.parse_args(argv)
    ws = Workspace(args.workspace)
    prepare(ws, args.catalog)
    if args.variant == "tokenizer":
        print("| word tokenizer | min_df | valid acc. / macro-F1 | test acc. / macro-F1 | fit s |\n|---|---|---|---|---|")
        tokenizer_rows(ws)
    else:
        print("| a (sentence) | b (photo) | valid acc. / macro-F1 | test acc. / macro-F1 | fit s |\n|---|---|---|---|---|")
        fusion_rows(ws, args.encoder, args.photos)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
