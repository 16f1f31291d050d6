"""Text cleaning for product titles and descriptions, and the title normalisation of the grouped split.

``clean_text`` keeps what a title means (words in any script, digits and units such as
``500 ml``, ``32GB``, ``5.5 inch``, ``1/2"``, ``2-in-1``) and drops what it does not (HTML tags,
entities, emojis and pictographs, control characters, other symbols, repeated whitespace).
``clean_series`` / ``normalise_series`` are the vectorised forms used at ingest.
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


class _CharFilter(dict):
    """``str.translate`` table for non-ASCII text, filled lazily from Unicode categories.

    Kept: letters, marks (so Devanagari vowel signs survive), numbers, kept punctuation.
    Removed without a space: control and format characters (zero-width joiners, soft hyphens),
    unassigned code points, variation selectors and emoji skin-tone modifiers. Anything else
    (whitespace, symbols, emojis, private-use glyphs, other punctuation) becomes a space.
    """

    def __missing__(self, code: int):
        ch = chr(code)
        if ch in _FOLD:
            out = _FOLD[ch]
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
    drop control and zero-width characters; turn emojis, pictographs and every other symbol or
    punctuation mark into a space; keep letters of any script (with their combining marks),
    digits and ``& % + ' " - / . ,``; collapse whitespace and strip. Digits and units are kept
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
        text = text.translate(_FILTER)
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
    text = clean_text(text).lower()
    if not text:
        return ""
    text = _drop_colours(text)
    text = _PUNCT.sub(" ", text.replace("'", ""))
    return _SPACE.sub(" ", text).strip()


def normalise_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`normalise_title` (computed once per distinct value; input not modified)."""
    s = pd.Series(values, copy=False)
    codes, uniques = pd.factorize(s)
    keys = np.array([normalise_title(u) for u in uniques] + [""], dtype=object)
    return pd.Series(keys[codes], index=s.index, dtype=object)
