"""The ``cnn-lstm`` vocabulary: words seen in training plus hashed character n-grams.

Like fastText, every word ``w`` is also read as the character n-grams of ``"<w>"`` (3- to
5-grams by default), each hashed (FNV-1a, stable across runs and machines) into one of
``n_buckets`` buckets. A misspelt or unseen word has no word vector of its own but shares
most of its n-gram buckets with the word it resembles, so it still lands near it.
Ids: word 0 = padding, 1 = unknown; bucket 0 = padding, buckets 1..n_buckets.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np
import torch

from workbench.catalog.text import word_tokens
from workbench.errors import WorkbenchError

PAD, UNK = 0, 1
_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of any script (:func:`workbench.catalog.text.word_tokens`:
    letters, marks and digits; punctuation splits words; Thai, Japanese and Chinese runs become
    character bigrams)."""
    return word_tokens(text)


def fnv1a(text: str) -> int:
    """The 32-bit FNV-1a hash of a string's UTF-8 bytes."""
    h = _FNV_OFFSET
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def char_ngrams(word: str, ngram_range: Sequence[int] = (3, 5)) -> list[str]:
    """The character n-grams of ``"<word>"`` for n in ``ngram_range`` (inclusive)."""
    marked = f"<{word}>"
    lo, hi = int(ngram_range[0]), int(ngram_range[1])
    return [marked[i:i + n] for n in range(lo, hi + 1) for i in range(len(marked) - n + 1)]


class SubwordVocabulary:
    """Word ids and hashed n-gram bucket ids for texts; JSON-serialisable."""

    def __init__(self, words: Sequence[str], n_buckets: int, ngram_range: Sequence[int] = (3, 5)):
        if n_buckets < 1:
            raise WorkbenchError(f"n_buckets must be >= 1, got {n_buckets}")
        if not 1 <= int(ngram_range[0]) <= int(ngram_range[1]):
            raise WorkbenchError(f"ngram_range must be (min, max) with 1 <= min <= max, got {tuple(ngram_range)}")
        self.words = list(words)
        self.n_buckets = int(n_buckets)
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.index = {w: i + 2 for i, w in enumerate(self.words)}
        self._cache: dict[str, tuple[int, list[int]]] = {}

    @classmethod
    def build(cls, texts: Iterable[str], n_buckets: int, ngram_range: Sequence[int] = (3, 5),
              min_count: int = 1, max_words: int | None = None) -> "SubwordVocabulary":
        """Words seen at least ``min_count`` times, the most frequent ``max_words`` first."""
        counts = Counter(tok for text in texts for tok in tokenize(text))
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(ranked[:max_words] if max_words else ranked, n_buckets, ngram_range)

    @property
    def n_words(self) -> int:
        """Rows of the word embedding (padding and unknown included)."""
        return len(self.words) + 2

    def ngram_ids(self, word: str) -> list[int]:
        """Bucket ids (1-based) of the word's character n-grams."""
        return [fnv1a(g) % self.n_buckets + 1 for g in char_ngrams(word, self.ngram_range)]

    def lookup(self, word: str) -> tuple[int, list[int]]:
        """``(word id, n-gram bucket ids)``; unknown words get id 1 and keep their n-grams."""
        hit = self._cache.get(word)
        if hit is None:
            hit = (self.index.get(word, UNK), self.ngram_ids(word))
            if len(self._cache) < 500_000:
                self._cache[word] = hit
        return hit

    def batch(self, docs: Sequence[Sequence[str]]) -> dict[str, torch.Tensor]:
        """Padded tensors for tokenised docs: ``words (B, L)``, ``ngrams (B, L, G)``, ``lengths (B,)``.

        An empty doc becomes one unknown token so every row has a length of at least 1.
        """
        docs = [list(d) if len(d) else [""] for d in docs]
        looked = [[self.lookup(w) if w else (UNK, []) for w in d] for d in docs]
        width = max(len(d) for d in looked)
        depth = max(1, max(len(g) for d in looked for _, g in d))
        words = np.zeros((len(docs), width), dtype=np.int64)
        ngrams = np.zeros((len(docs), width, depth), dtype=np.int64)
        for r, d in enumerate(looked):
            for c, (wid, grams) in enumerate(d):
                words[r, c] = wid
                ngrams[r, c, :len(grams)] = grams
        lengths = np.array([len(d) for d in looked], dtype=np.int64)
        return {"words": torch.from_numpy(words), "ngrams": torch.from_numpy(ngrams),
                "lengths": torch.from_numpy(lengths)}

    def to_json(self) -> dict:
        """The vocabulary as JSON-able data."""
        return {"words": self.words, "n_buckets": self.n_buckets, "ngram_range": list(self.ngram_range),
                "hash": "fnv1a-32",
                "tokenizer": "word_tokens: lower letters+marks+digits, spaceless scripts as char bigrams"}

    @classmethod
    def from_json(cls, data: dict) -> "SubwordVocabulary":
        """Rebuild from :meth:`to_json`."""
        return cls(data["words"], data["n_buckets"], data["ngram_range"])
