"""The separator of category path values (``A > B``, ``A >> B``, ``A/B``, ``A|B``, ``["A >> B"]``),
found from the values themselves: ``inspect`` suggests it and ``ingest`` warns when the one given
does not split the paths while another would."""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd

from workbench.catalog.catalog_taxonomy import parse_paths

#: candidates, longest first (``>>`` before ``>``)
SEPARATORS = (">>", ">", "/", "|", "\\", "»", "::")


def separator_shares(values: pd.Series) -> dict[str, float]:
    """For each candidate separator, the share of distinct non-empty values that contain it
    (a ``>`` that is part of ``>>`` does not count for ``>``)."""
    uniques = pd.Series(pd.unique(values.dropna().astype(str)), dtype=object)
    uniques = uniques[uniques.str.strip().ne("")]
    if uniques.empty:
        return {}
    shares = {}
    for sep in SEPARATORS:
        text = uniques.str.replace(">>", "\x00", regex=False) if sep == ">" else uniques
        shares[sep] = float(text.str.contains(sep, regex=False).mean())
    return shares


def detect_separator(values: pd.Series, min_share: float = 0.5) -> str | None:
    """The separator most values contain (at least ``min_share`` of the distinct values), or
    ``None`` when the values are single names."""
    shares = separator_shares(values)
    best = max(shares.items(), key=lambda kv: kv[1], default=(None, 0.0))
    return best[0] if best[1] >= min_share else None


def depth_profile(values: pd.Series, sep: str) -> tuple[Counter, dict[int, int]]:
    """``(depth histogram of the rows, distinct paths at each depth)`` with ``sep``."""
    paths = parse_paths(values.dropna().astype(str), sep)
    depths = Counter(len(p) for p in paths)
    distinct = {d: len({p[:d] for p in paths if len(p) >= d}) for d in range(1, max(depths, default=0) + 1)}
    return depths, distinct


def separator_warning(values: pd.Series, sep: str, column: str) -> str | None:
    """A warning when ``sep`` leaves (almost) every path one level deep while another common
    separator occurs in most values; ``None`` otherwise."""
    sample = values.dropna()
    if sample.empty:
        return None
    sample = sample.sample(min(len(sample), 20_000), random_state=0) if len(sample) > 20_000 else sample
    depths, distinct = depth_profile(sample, sep)
    total = sum(depths.values())
    if not total or depths.get(1, 0) / total < 0.9:
        return None
    found = detect_separator(sample)
    if found is None or found == sep or (sep == ">" and found == ">>"):
        return None
    return (f"category column {column!r}: --sep {sep!r} leaves every path one level deep "
            f"({distinct.get(1, 0):,} top-level categories), but the values contain {found!r}; "
            f"if {found!r} separates the levels, ingest again with --sep {_quote(found)}")


def _quote(sep: str) -> str:
    return "'" + sep + "'" if any(c in sep for c in "|>\\ ") else sep


def spaced_separator(values: pd.Series, sep: str) -> str:
    """``" / "`` instead of ``"/"`` (and likewise for ``|`` and ``\\``) when the separator is
    written between spaces in (nearly) every value: then a name such as ``Shorts & 3/4ths``,
    whose own ``/`` has no spaces, stays one name. Any other separator is returned as given."""
    if sep not in ("/", "|", "\\"):
        return sep
    uniques = pd.Series(pd.unique(values.dropna().astype(str)), dtype=object)
    bare = int(uniques.str.count(re.escape(sep)).sum())
    spaced = int(uniques.str.count(re.escape(f" {sep} ")).sum())
    return f" {sep} " if bare and spaced >= 0.9 * bare else sep
