"""Text cleaning for product titles and descriptions, and the title normalisation of the grouped split.

``clean_text`` keeps what a title means (words in any script, digits and units such as
``500 ml``, ``32GB``, ``5.5 inch``, ``1/2"``, ``2-in-1``) and drops what it does not (HTML tags,
entities, emojis and pictographs, control characters, other symbols, repeated whitespace).
``clean_series`` / ``normalise_series`` are the vectorised forms used at ingest.

``word_tokens`` is the one tokenizer of the model families (``tfidf`` words, ``cnn-lstm``;
``fasttext`` reads ``segment_spaceless`` text): words are runs of letters, combining marks
and digits in any script (Thai vowel signs, Devanagari matras and decomposed Vietnamese
accents stay inside their word), and scripts written without spaces between words (Thai, Lao,
Khmer, Myanmar, Japanese kana, Chinese characters) are read as overlapping character bigrams.
"""

from __future__ import annotations

import html
import re
import unicodedata

import numpy as np
import pandas as pd

#: Punctuation kept by :func:`clean_text` (it carries meaning in product titles).
KEPT_PUNCTUATION = "&%+'\"-/.,"

# Characters mapped to a kept ASCII form before filtering (typographic quotes, dashes, primes, ...).
_FOLD = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-", "\u2044": "/", "\u2215": "/", "\u00d7": "x", "\uff05": "%", "\uff06": "&",
    "\uff0b": "+", "\uff0c": ",", "\uff0e": ".", "\uff0f": "/",
}

_TAG = re.compile(r"</?[A-Za-z!][^<>]*>")
_SPACE = re.compile(r"\s+")
# ASCII: anything that is not a letter, digit, kept punctuation or a space/tab/newline.
_ASCII_DROP_TO_SPACE = re.compile(r"[^A-Za-z0-9&%+'\"\-/.,\s]|[\x1c-\x1f\x0b\x0c]")
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")
# A string that is already clean: ASCII words of kept characters separated by single spaces.
_CLEAN_ASCII = re.compile(r"[A-Za-z0-9&%+'\"\-/.,]+(?: [A-Za-z0-9&%+'\"\-/.,]+)*")
_HAS_MARKUP = re.compile(r"[<&]")


def _fold_width(ch: str) -> str | None:
    """Full-width Latin letters, digits and signs, half-width katakana: their ordinary forms
    (``ＡＢ１`` -> ``AB1``, ``ｶ`` -> ``カ``); ``None`` for any other character."""
    if 0xFF01 <= ord(ch) <= 0xFFEE:
        folded = unicodedata.normalize("NFKC", ch)
        return folded if folded != ch else None
    return None


class _CharFilter(dict):
    """``str.translate`` table for non-ASCII text, filled lazily from Unicode categories.

    Kept: letters, marks (so Devanagari vowel signs survive), numbers, kept punctuation.
    Removed without a space: control and format characters (zero-width joiners, soft hyphens),
    unassigned code points, variation selectors and emoji skin-tone modifiers. Anything else
    (whitespace, symbols, emojis, private-use glyphs, other punctuation) becomes a space.
    """

    def __missing__(self, code: int):
        ch = chr(code)
        wide = None if ch in _FOLD else _fold_width(ch)
        if ch in _FOLD:
            out = _FOLD[ch]
        elif wide is not None:
            out = "".join(self[ord(c)] for c in wide)
        elif ch in KEPT_PUNCTUATION or ch in "\t\n\r ":
            out = ch
        else:
            cat = unicodedata.category(ch)
            if 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF or 0x1F3FB <= code <= 0x1F3FF:
                out = ""                      # variation selectors, skin-tone modifiers
            elif cat in ("Cc", "Cf", "Cs", "Cn"):
                out = " " if cat == "Cc" and ch.isspace() else ""
            elif cat[0] in "LN" or cat in ("Mn", "Mc"):
                out = ch
            else:                             # Z*, S* (emojis, symbols), Me, other P*
                out = " "
        self[code] = out
        return out


_FILTER = _CharFilter()


def _is_missing(text) -> bool:
    if text is None:
        return True
    try:
        return bool(pd.isna(text))
    except (TypeError, ValueError):
        return False


def clean_text(text) -> str:
    """Clean one title or description; ``None`` / NaN give ``""``.

    Steps: decode HTML entities (twice, for ``&amp;amp;``) and drop HTML tags; fold typographic
    quotes, dashes and primes to ASCII (``’``->``'``, ``–``->``-``, ``″``->``"``, ``×``->``x``);
    fold full-width forms (``ＡＢ１`` -> ``AB1``, half-width katakana to full width); drop control
    and zero-width characters; turn emojis, pictographs and every other symbol or punctuation
    mark into a space; keep letters of any script (with their combining marks), digits and
    ``& % + ' " - / . ,``; compose accents (Unicode NFC, so a Vietnamese ``ế`` typed as ``e`` plus
    two marks is one letter); collapse whitespace and strip. Digits and units are kept
    exactly: ``"500 ml"``, ``"32GB"``, ``"5.5 inch"``, ``"1.5L"``, ``'1/2"'``, ``"2-in-1"``.
    """
    if _is_missing(text):
        return ""
    text = str(text)
    if text.isascii() and _CLEAN_ASCII.fullmatch(text):
        return text
    if _HAS_MARKUP.search(text):
        text = _TAG.sub(" ", html.unescape(html.unescape(text)))
    if text.isascii():
        text = _ASCII_CONTROL.sub("", text)
        text = _ASCII_DROP_TO_SPACE.sub(" ", text)
    else:
        text = unicodedata.normalize("NFC", text.translate(_FILTER))
    return _SPACE.sub(" ", text).strip()


def clean_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`clean_text`: same index, a new Series (the input is not modified).

    Already-clean ASCII strings are recognised with one vectorised regex match and kept as they
    are; the rest is cleaned once per distinct value.
    """
    s = pd.Series(values, copy=False)
    missing = s.isna().to_numpy()
    text = s.astype(object).where(~missing, "").astype(str)
    clean = (text.str.fullmatch(_CLEAN_ASCII.pattern).to_numpy(dtype=bool)
             & text.map(str.isascii).to_numpy(dtype=bool))
    result = text.copy()
    dirty = ~clean & ~missing & (text != "").to_numpy()
    if dirty.any():
        todo = text[dirty]
        mapping = {u: clean_text(u) for u in pd.unique(todo.to_numpy())}
        result[dirty] = todo.map(mapping)
    return result.astype(object)


# --------------------------------------------------------------------------------------------
# tokens for the model families

#: Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, kana (with the
#: prolonged sound mark), CJK ideographs and their extensions, half-width katakana.
SPACELESS_RANGES = ("\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff"
                    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f")
_SPACELESS_RUN = re.compile(f"[{SPACELESS_RANGES}]+")
_ASCII_WORD = re.compile(r"[a-z0-9_]+")


class _TokenFilter(dict):
    """``str.translate`` table: letters, marks, digits and ``_`` kept (full-width forms folded),
    everything else a space."""

    def __missing__(self, code: int):
        ch = chr(code)
        wide = _fold_width(ch)
        if wide is not None:
            out = "".join(self[ord(c)] for c in wide)
        else:
            out = ch if ch == "_" or unicodedata.category(ch)[0] in "LMN" else " "
        self[code] = out
        return out


_TOKEN_FILTER = _TokenFilter()


def _graphemes(run: str) -> list[str]:
    """Characters with their combining marks attached (a Thai consonant and its vowel sign)."""
    units: list[str] = []
    for ch in run:
        if units and unicodedata.category(ch)[0] == "M":
            units[-1] += ch
        else:
            units.append(ch)
    return units


def spaceless_ngrams(run: str, n: int = 2) -> list[str]:
    """Overlapping character ``n``-grams of a run of a script without spaces (the run itself
    when it is shorter): ``"运动鞋"`` -> ``["运动", "动鞋"]``."""
    units = _graphemes(run)
    if len(units) <= n:
        return ["".join(units)]
    return ["".join(units[i: i + n]) for i in range(len(units) - n + 1)]


def segment_spaceless(text: str) -> str:
    """``text`` with each run of a spaceless script replaced by its character bigrams separated
    by spaces (for tokenizers that split on whitespace, such as fastText's); other text as is."""
    if text.isascii():
        return text
    return _SPACELESS_RUN.sub(lambda m: " " + " ".join(spaceless_ngrams(m.group())) + " ",
                              unicodedata.normalize("NFC", text))


def word_tokens(text) -> list[str]:
    """Lower-cased word tokens of any script: runs of letters, marks, digits (and ``_``);
    runs of spaceless scripts become character bigrams. On ASCII text this is exactly the
    ``\\w+`` tokenizer: ``"Nike Men's T-shirt"`` -> ``["nike", "men", "s", "t", "shirt"]``."""
    if _is_missing(text):
        return []
    text = str(text).lower()
    if text.isascii():
        return _ASCII_WORD.findall(text)
    text = unicodedata.normalize("NFC", text.translate(_TOKEN_FILTER)).lower()
    out: list[str] = []
    for token in text.split():
        pos = 0
        for m in _SPACELESS_RUN.finditer(token):
            if m.start() > pos:
                out.append(token[pos: m.start()])
            out.extend(spaceless_ngrams(m.group()))
            pos = m.end()
        if pos < len(token):
            out.append(token[pos:])
    return out


# --------------------------------------------------------------------------------------------
# normalisation for the grouped split

#: Colour names removed by :func:`normalise_title` (single words; lowercase).
COLOUR_WORDS = (
    "black", "white", "blue", "navy", "red", "green", "yellow", "orange", "pink", "purple",
    "violet", "brown", "grey", "gray", "beige", "cream", "maroon", "olive", "teal", "turquoise",
    "gold", "golden", "silver", "khaki", "tan", "magenta", "lavender", "peach", "coral", "mustard",
    "charcoal", "rust", "burgundy", "fuchsia", "mauve", "taupe", "copper", "bronze", "nude",
    "multi", "multicolor", "multicolour", "multicoloured", "multicolored", "indigo", "aqua",
    "cyan", "lilac", "wine", "ivory", "off-white", "offwhite",
)
#: Multi-word colour names removed as a whole before the single words (their other word is
#: not a colour on its own: "off", "sea", "lime", ...).
COLOUR_PHRASES = (
    "off white", "navy blue", "sky blue", "royal blue", "sea green", "lime green",
    "bottle green", "olive green", "coffee brown", "mushroom brown", "fluorescent green",
    "grey melange", "turquoise blue", "rose gold", "steel grey",
)
_MODIFIERS = ("light", "dark", "pale", "deep", "bright", "neon", "fluorescent", "pastel")

_COLOURS = frozenset(COLOUR_WORDS)
_PHRASES = {tuple(p.split()) for p in COLOUR_PHRASES if " " in p}
_MODIFIER_SET = frozenset(_MODIFIERS)
# a colour is a whole run of word characters and hyphens ("off-white" yes, "redtape" no)
_RUNS = re.compile(r"([\w-]+)")
_BLANK = re.compile(r"\s+")
# after clean_text only letters, marks, digits, spaces and KEPT_PUNCTUATION remain:
# punctuation becomes a space, except a "." or "," between two digits; apostrophes vanish.
_PUNCT = re.compile(r"(?:[&%+\"\-/_]|(?<!\d)[.,]|[.,](?!\d))+")


def _drop_colours(text: str) -> str:
    """Remove colour phrases, modifier + colour pairs and colour words (whole runs only)."""
    parts = _RUNS.split(text)  # separators at even positions, runs at odd positions
    i, n = 1, len(parts)
    while i < n:
        run = parts[i]
        nxt = parts[i + 2] if i + 2 < n and _BLANK.fullmatch(parts[i + 1]) else None
        if nxt is not None and ((run, nxt) in _PHRASES or (run in _MODIFIER_SET and nxt in _COLOURS)):
            parts[i] = parts[i + 2] = " "
            i += 4
            continue
        if run in _COLOURS:
            parts[i] = " "
        i += 2
    return "".join(parts)


def normalise_title(text) -> str:
    """The title key of the grouped split, so colour variants of one product land on one side.

    Rule: ``clean_text``, lowercase, remove colour names (the words in ``COLOUR_WORDS``, the
    phrases in ``COLOUR_PHRASES`` such as "navy blue" and "off white", and a colour preceded by
    light/dark/pale/deep/bright/neon/fluorescent/pastel), replace all punctuation by a space
    except a ``.`` or ``,`` between two digits (so "5.5" stays "5.5") and an apostrophe, which
    is deleted ("men's" -> "mens"), collapse whitespace.
    Digits are kept: sizes and capacities distinguish products ("32gb" and "64gb" stay apart).
    Example: "Nike Men Blue T-shirt" and "Nike Men Red T-shirt" both give "nike men t shirt".
    """
    return _normalise_clean(clean_text(text))


def _normalise_clean(text: str) -> str:
    """:func:`normalise_title` of a text that :func:`clean_text` already returned."""
    text = text.lower()
    if not text:
        return ""
    text = _drop_colours(text)
    text = _PUNCT.sub(" ", text.replace("'", ""))
    return _SPACE.sub(" ", text).strip()


def normalise_series(values: pd.Series, *, cleaned: bool = False) -> pd.Series:
    """Vectorised :func:`normalise_title` (computed once per distinct value; input not modified).

    ``cleaned=True`` says the values are already :func:`clean_text` output (ingest has them), which
    skips cleaning them a second time; the keys are the same."""
    s = pd.Series(values, copy=False)
    codes, uniques = pd.factorize(s)
    one = _normalise_clean if cleaned else normalise_title
    # a plain object array: iterating an Arrow-backed array costs a Python object per step
    keys = np.array([one(u) for u in np.asarray(uniques, dtype=object)] + [""], dtype=object)
    return pd.Series(keys[codes], index=s.index, dtype=object)
