"""Why a linear text model chose a leaf, as pure functions over its fitted parts.

* :func:`linear_terms`: the word and character n-grams of one text with their contribution
  (model weight x feature value) towards a class, from a fitted ``FeatureUnion`` of
  ``TfidfVectorizer`` and a coefficient matrix;
* :func:`term_spans`: where a term is in the title *as the seller wrote it* (``title_raw``):
  the raw title is read through the same character mapping the cleaning and the tokenizer apply
  (HTML tags dropped, accents composed or not, full-width forms folded, punctuation and symbols
  as spaces, any script), and every position of that view remembers its raw character;
* :func:`char_scores` / :func:`highlight_html`: the raw title as escaped HTML with each span
  marked (hostile text stays text);
* :func:`aggregate_terms`: the terms most often behind a set of explanations (what misleads
  the model in a confusion cell);
* :func:`drop_words`: a title without some words (the faithfulness check).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from workbench.catalog.text import _FILTER, _TAG, _TOKEN_FILTER, SPACELESS_RANGES
from workbench.models.tfidf_small import tfidf_values

_SPACELESS = re.compile(f"[{SPACELESS_RANGES}]")


# contributions -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    """One feature of a text: ``kind`` (``word`` or ``char``), the n-gram ``text`` as the model
    reads it, its feature ``value`` and its ``contribution`` (weight x value) towards a class."""

    kind: str
    text: str
    value: float
    weight: float

    @property
    def contribution(self) -> float:
        """Weight x value: how far this feature moves the class's score."""
        return self.value * self.weight


_BLOCKS: dict[int, tuple[object, list | None]] = {}


def _blocks(union) -> list | None:
    """The fitted vectorizers' public state for the direct path of :func:`present_features`
    (``None`` where that path would not compute scikit-learn's numbers), read once per union."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    hit = _BLOCKS.get(id(union))
    if hit is not None and hit[0] is union:
        return hit[1]
    blocks: list | None = []
    offset = 0
    for name, vec in union.transformer_list:
        vocab = getattr(vec, "vocabulary_", None)
        if vocab is None:
            raise ValueError(f"the {name} features have no vocabulary (hashed features name no terms)")
        if (not isinstance(vec, TfidfVectorizer) or vec.binary or not vec.use_idf or vec.norm not in ("l1", "l2", None)
                or getattr(union, "transformer_weights", None) is not None):
            blocks = None
            break
        dtype = np.dtype(vec.dtype)
        blocks.append((name, vec.build_analyzer(), vocab, np.asarray(vec.idf_, dtype=dtype), bool(vec.sublinear_tf),
                       vec.norm, offset, dtype))
        offset += len(vocab)
    if len(_BLOCKS) > 64:
        _BLOCKS.clear()
    _BLOCKS[id(union)] = (union, blocks)
    return blocks


def present_features(union, text: str) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """``(column, value, (kind, n-gram))`` of the features of ``text`` in a fitted
    ``FeatureUnion`` of ``TfidfVectorizer`` (columns offset as the union stacks them, in column
    order). The TF-IDF values are computed from the vectorizers' fitted state directly (the
    numbers of ``union.transform``, without its per-call validation: about a millisecond less per
    product); other vectorizers go through ``union.transform``."""
    blocks = _blocks(union)
    if blocks is None:
        return _present_features_sklearn(union, text)
    cols, values, names = [], [], []
    for name, analyze, vocab, idf, sublinear, norm, offset, dtype in blocks:
        counts: dict[str, int] = {}
        for gram in analyze(text):
            if gram in vocab:
                counts[gram] = counts.get(gram, 0) + 1
        if not counts:
            continue
        grams = list(counts)
        idx = np.fromiter((vocab[g] for g in grams), dtype=np.int64, count=len(grams))
        v = tfidf_values(idx, counts.values(), idf, sublinear, norm, dtype)  # in the vectorizer's precision
        order = np.argsort(idx, kind="stable")
        cols.append(idx[order] + offset)
        values.append(v[order].astype(float))
        names.extend((name, grams[i]) for i in order)
    if not cols:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=float), []
    return np.concatenate(cols), np.concatenate(values), names


def _present_features_sklearn(union, text: str) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    row = union.transform([text]).tocsr()
    row.sort_indices()
    lookup: dict[int, tuple[str, str]] = {}
    offset = 0
    for name, vec in union.transformer_list:
        vocab = vec.vocabulary_
        for gram in set(vec.build_analyzer()(text)):
            col = vocab.get(gram)
            if col is not None:
                lookup[offset + col] = (name, gram)
        offset += len(vocab)
    cols = row.indices.astype(np.int64)
    keep = np.array([c in lookup for c in cols], dtype=bool)
    cols, values = cols[keep], row.data[keep].astype(float)
    return cols, values, [lookup[int(c)] for c in cols]


def linear_terms(cols: np.ndarray, values: np.ndarray, names: Sequence[tuple[str, str]],
                 weights: np.ndarray, k: int = 5) -> list[Term]:
    """The ``k`` features with the largest positive contribution (weight x value) for one
    class's coefficient row ``weights``, largest first (ties: the earlier feature)."""
    w = np.asarray(weights).reshape(-1)[cols].astype(float) if len(cols) else np.zeros(0)
    contrib = w * values
    order = [i for i in np.argsort(-contrib, kind="stable") if contrib[i] > 0][: max(0, int(k))]
    return [Term(names[i][0], names[i][1], float(values[i]), float(w[i])) for i in order]


# spans on the raw title ------------------------------------------------------------------------

def _view(raw: str, mapping, *, collapse: bool = True) -> tuple[str, list[int]]:
    """``raw`` read through a character mapping (``str.translate`` table), lower-cased and
    decomposed (NFD); ``origin[j]`` is the raw index of view character ``j``. HTML tags are
    dropped as the cleaning drops them; whitespace runs collapse to one space."""
    masked = np.zeros(len(raw), dtype=bool)
    for m in _TAG.finditer(raw):
        masked[m.start(): m.end()] = True
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(raw):
        out = " " if masked[i] else mapping[ord(ch)]
        for piece in out:
            for c in unicodedata.normalize("NFD", piece.lower()):
                c = " " if c.isspace() else c
                if collapse and c == " " and (not chars or chars[-1] == " "):
                    continue
                chars.append(c)
                origin.append(i)
    return "".join(chars), origin


class _WordMap(dict):
    """The tokenizer's view: letters, marks, digits and ``_`` kept, anything else a space."""

    def __missing__(self, code: int) -> str:
        return _TOKEN_FILTER[code]


class _CharMap(dict):
    """The cleaning's view: kept characters and punctuation, anything else a space."""

    def __missing__(self, code: int) -> str:
        return _FILTER[code]


_WORD_MAP, _CHAR_MAP = _WordMap(), _CharMap()


class RawTitle:
    """A raw title with its two views (the word tokenizer's and the character n-grams'),
    built once for all the terms of one explanation."""

    def __init__(self, raw: str | None):
        self.raw = "" if raw is None else str(raw)
        self.words, self.word_origin = _view(self.raw, _WORD_MAP)
        self.chars, self.char_origin = _view(self.raw, _CHAR_MAP)

    def word_spans(self) -> list[tuple[int, int]]:
        """``(start, end)`` of each word of the raw title as the cleaning reads it (runs of kept
        characters: ``Men's`` and ``T-Shirt`` are one word; HTML tags are not words)."""
        out = []
        for m in re.finditer(r"[^ ]+", self.chars):
            start, end = self.char_origin[m.start()], self.char_origin[m.end() - 1] + 1
            while end < len(self.raw) and unicodedata.category(self.raw[end])[0] == "M":
                end += 1
            if any(ch.isalnum() for ch in self.raw[start:end]):  # a lone dash is no word
                out.append((start, end))
        return out

    def spans(self, term: str, kind: str = "word") -> list[tuple[int, int]]:
        """Every ``(start, end)`` of the raw title where ``term`` (a word n-gram of the
        tokenizer, or a ``char_wb`` n-gram, space-padded at word edges) was read; ``[]`` when it
        is not in the title (a brand or description term)."""
        text = unicodedata.normalize("NFD", str(term).lower())
        if kind == "word":
            view, origin = self.words, self.word_origin
            lead = trail = None  # whole tokens, except inside scripts written without spaces
            core = text
        else:
            view, origin = self.chars, self.char_origin
            lead, trail = text.startswith(" "), text.endswith(" ")
            core = text.strip(" ")
        if not core:
            return []
        out: list[tuple[int, int]] = []
        start = view.find(core)
        while start >= 0:
            end = start + len(core)
            before = view[start - 1] if start else " "
            after = view[end] if end < len(view) else " "
            if kind == "word":
                ok = ((before == " " or _SPACELESS.match(core[0]) is not None)
                      and (after == " " or _SPACELESS.match(core[-1]) is not None))
            else:
                ok = (not lead or before == " ") and (not trail or after == " ")
            if ok:
                span = (origin[start], origin[end - 1] + 1)
                # a raw character read as several view characters (a decomposed accent) stays whole
                while span[1] < len(self.raw) and unicodedata.category(self.raw[span[1]])[0] == "M":
                    span = (span[0], span[1] + 1)
                out.append(span)
            start = view.find(core, start + 1)
        return out


def term_spans(raw: str | None, term: str, kind: str = "word") -> list[tuple[int, int]]:
    """:meth:`RawTitle.spans` of one term (build a :class:`RawTitle` for many)."""
    return RawTitle(raw).spans(term, kind)


def char_scores(length: int, spans: Iterable[tuple[int, int, float]]) -> np.ndarray:
    """Per raw character, the sum of the signed scores of the spans covering it."""
    score = np.zeros(int(length))
    for start, end, value in spans:
        score[int(start): int(end)] += float(value)
    return score


def segments(raw: str, spans: Iterable[tuple[int, int, float]]) -> list[tuple[str, float]]:
    """The raw title cut where the covering score changes: ``[(text, score), ...]`` (score
    0: no term; > 0: towards the chosen leaf; < 0: towards the runner-up)."""
    raw = raw or ""
    score = char_scores(len(raw), spans)
    out: list[tuple[str, float]] = []
    start = 0
    for i in range(1, len(raw) + 1):
        if i == len(raw) or np.sign(score[i]) != np.sign(score[start]):
            part = raw[start:i]
            vals = score[start:i]
            out.append((part, float(vals[np.argmax(np.abs(vals))]) if len(vals) else 0.0))
            start = i
    return out


def highlight_html(raw: str, spans: Iterable[tuple[int, int, float]]) -> str:
    """The raw title as escaped HTML, each part that pushes towards the chosen leaf in
    ``<mark class="wb-why-for">`` and each part that pushes towards the runner-up in
    ``<mark class="wb-why-against">`` (every character of the title is escaped: a hostile title
    stays text)."""
    parts = []
    for text, score in segments(raw, spans):
        safe = html.escape(text, quote=True)
        if score > 0:
            parts.append(f'<mark class="wb-why-for" title="towards the chosen category">{safe}</mark>')
        elif score < 0:
            parts.append(f'<mark class="wb-why-against" title="towards the runner-up">{safe}</mark>')
        else:
            parts.append(safe)
    return "".join(parts)


# what misleads the model -----------------------------------------------------------------------

def aggregate_terms(explanations: Iterable[Mapping], k: int = 10, side: str = "chosen") -> list[dict]:
    """The terms most often among the explanations' top terms towards their leaf (``side``:
    ``chosen`` or ``runner_up``): ``term``, ``kind``, ``products`` (how many explanations have
    it), ``share`` and ``total`` (summed contribution), most frequent first. Character n-grams
    inside a word that is also listed are folded into that word."""
    count: dict[tuple[str, str], int] = defaultdict(int)
    total: dict[tuple[str, str], float] = defaultdict(float)
    n = 0
    for exp in explanations:
        n += 1
        seen = set()
        for t in (exp.get("terms") or {}).get(side) or []:
            key = (t["kind"], t["term"])
            total[key] += float(t["contribution"])
            if key not in seen:
                count[key] += 1
                seen.add(key)
    words = {term for kind, term in count if kind == "word"}
    rows = []
    for (kind, term), c in count.items():
        if kind == "char" and any(term.strip() in w for w in words):
            continue
        rows.append({"term": term.strip() if kind == "char" else term, "kind": kind, "products": c,
                     "share": c / n if n else 0.0, "total": total[(kind, term)]})
    rows.sort(key=lambda r: (-r["products"], -r["total"], r["term"]))
    return rows[: max(0, int(k))]


def drop_words(title: str, words: Iterable[str]) -> str:
    """``title`` without the whole words (case-insensitive) in ``words``."""
    gone = {w.lower() for w in words}
    return " ".join(w for w in str(title).split() if re.sub(r"\W+", "", w.lower()) not in gone
                    and w.lower() not in gone)
