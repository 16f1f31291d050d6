"""The glossary every page shares: one plain definition per metric name, shown on hover where
the name appears (HTML ``title``), and the README's glossary table.

:func:`define` marks up known terms in text the pages compose themselves (never in catalog
text); :func:`term` marks up one name (a table header, a label).
"""

from __future__ import annotations

import re

from workbench.security.safe_text import escape_html

#: term -> definition, in the words a merchandiser uses
GLOSSARY: dict[str, str] = {
    "test part": "The products held out of training (the grouped split's test part): every figure on these "
                 "pages is measured on them, never on products the model learnt from.",
    "accuracy": "Share of products whose predicted leaf category is the true one.",
    "coverage": "Share of products shelved automatically (their confidence reaches the threshold); the rest go "
                "to review.",
    "coverage @ 95%": "Share of products that can be shelved automatically while 95% of those shelved are right "
                      "(the threshold is chosen for that accuracy). Same for @ 90% and @ 98%.",
    "threshold": "The confidence a prediction needs to be shelved automatically; below it the product goes to "
                 "review.",
    "confidence": "The model's probability for its top category (0 to 100%).",
    "ECE": "Expected calibration error: how far the model's confidence is from its real accuracy, on average "
           "(0% = a confidence of 80% is right 80% of the time).",
    "tree distance": "Steps through the category tree from the predicted to the true category: 0 is right, 2 "
                     "a sibling (near miss), larger values cross families or departments.",
    "hierarchical F1": "F1 over every node on the category path: a prediction in the right family but the "
                       "wrong type earns part of the credit.",
    "macro-F1": "F1 (the balance of precision and recall) averaged over categories, each counting the same "
                "however many products it has.",
    "precision": "Of the products predicted in a category, the share that belong there.",
    "recall": "Of the products that belong to a category, the share the model put there.",
    "support": "How many test-part products truly belong to the category.",
    "min-risk": "A decision rule that picks the category with the smallest expected tree distance instead of "
                "the most probable one.",
    "PSI": "Population stability index: how much a distribution moved against the training reference "
           "(below 0.1 stable, above 0.25 a real shift).",
}

#: the jargon: marked wherever the pages' own text uses it (:func:`define`), and checked in the
#: browser test; the plain words above are defined where they head a table column
JARGON = ("test part", "coverage @ 95%", "ECE", "tree distance", "hierarchical F1", "macro-F1", "PSI", "min-risk")
_ALIASES = {"coverage @ 90%": "coverage @ 95%", "coverage @ 98%": "coverage @ 95%", "macro F1": "macro-F1",
            "test split": "test part", "calibration error": "ECE"}
#: every spelling of the jargon, longest first (so that "coverage @ 95%" wins over a shorter name)
JARGON_SPELLINGS = tuple(sorted([*JARGON, *(a for a, t in _ALIASES.items() if t in JARGON)], key=len, reverse=True))
_PATTERN = re.compile(r"(?<![\w/-])(" + "|".join(re.escape(t) for t in JARGON_SPELLINGS) + r")(?![\w-])",
                      re.IGNORECASE)


#: column names shortened in table headers so that wide tables fit 1280 px; the full name and its
#: definition show on hover
SHORT_HEADERS = {"coverage @ 90%": "cov. @ 90%", "coverage @ 95%": "cov. @ 95%", "coverage @ 98%": "cov. @ 98%",
                 "hierarchical F1": "hier. F1", "mean tree distance": "mean tree dist.",
                 "training sample": "trained on"}


def header(name: str) -> str:
    """A table header: a short name where :data:`SHORT_HEADERS` has one (the full name and its
    definition on hover), else :func:`term`."""
    short = SHORT_HEADERS.get(name)
    if short is None:
        return term(name)
    text = definition(name)
    hover = f"{name}: {text}" if text else name
    return f"<span class='wb-term' title='{escape_html(hover)}'>{escape_html(short)}</span>"


def definition(name: str) -> str | None:
    """The definition of ``name`` (any case; ``coverage @ 90%`` reads as ``coverage @ 95%``), or ``None``."""
    lower = {k.lower(): k for k in [*GLOSSARY, *_ALIASES]}
    key = lower.get(name.strip().lower())
    if key is None:
        return None
    return GLOSSARY.get(_ALIASES.get(key, key))


def term(name: str) -> str:
    """``name`` as escaped HTML, with its definition on hover when it is a glossary term."""
    text = definition(name)
    if text is None:  # a longer name holding a term ("mean tree distance"): the term gets its definition
        return define(escape_html(name))
    return f"<span class='wb-term' title='{escape_html(text)}'>{escape_html(name)}</span>"


def define(html: str) -> str:
    """Wrap every glossary term in ``html`` (the pages' own text, outside tags) in :func:`term`."""
    parts = re.split(r"(<[^>]*>)", html)
    inside_term = False
    for i, part in enumerate(parts):
        if part.startswith("<"):
            inside_term = "wb-term" in part or (inside_term and not part.startswith("</span"))
            continue
        if not inside_term and i % 2 == 0:
            parts[i] = _PATTERN.sub(lambda m: term(m.group(1)), part)
    return "".join(parts)


def glossary_markdown() -> str:
    """The glossary as a Markdown table (the README's ``Glossary`` section)."""
    rows = "\n".join(f"| {name} | {text} |" for name, text in GLOSSARY.items())
    return "| term | meaning |\n|---|---|\n" + rows
