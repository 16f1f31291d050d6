"""From a catalog's category paths to a taxonomy and one leaf per product.

Paths are split on the catalog's separator, a trailing node naming the product itself is
stripped (Flipkart ends many paths with the product's title), cut at ``max_depth``, and
rare nodes are merged (``min_count``) so that every leaf has enough products to learn.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.catalog.taxonomy import SEP, Taxonomy, node_id

_WRAPPER = re.compile(r'^\s*\[\s*"?|"?\s*\]\s*$')


def parse_paths(values: pd.Series, sep: str) -> list[tuple[str, ...]]:
    """Split category path strings into tuples of names (``["A >> B"]`` wrappers removed)."""
    out = []
    for value in values.fillna("").astype(str):
        value = _WRAPPER.sub("", value)
        parts = tuple(p.strip() for p in value.split(sep))
        out.append(tuple(p for p in parts if p))
    return out


def _looks_like_name(node: str, title: str) -> bool:
    # runs of spaces count as one on both sides (Flipkart writes "Baby Boy's  Combo" in both)
    node_l, title_l = " ".join(node.lower().split()).rstrip(". "), " ".join(title.lower().split())
    if node.endswith("..."):
        return True
    return bool(node_l) and (title_l.startswith(node_l) or node_l.startswith(title_l[: max(len(node_l), 1)]))


def strip_name_nodes(paths: list[tuple[str, ...]], titles: Sequence[str]) -> list[tuple[str, ...]]:
    """Drop a trailing node that is the product's own name (or a name cut short with "...").

    A path made only of the product's name becomes empty: that product has no category.
    """
    out = []
    for path, title in zip(paths, titles):
        if path and _looks_like_name(path[-1], " ".join(str(title).split())):  # a title's line breaks are spaces
            path = path[:-1]
        out.append(path)
    return out


def unify_spellings(paths: list[tuple[str, ...]]) -> tuple[list[tuple[str, ...]], dict[str, str]]:
    """Names of one node written in several ways (``Clothing`` and ``clothing``, ``Women's  Wear``
    with two spaces) become the most frequent spelling among the rows, level by level, so that one
    category does not split into two leaves. Returns the paths and ``{other spelling: kept}``."""
    counts: Counter = Counter()
    for path in paths:
        for depth in range(1, len(path) + 1):
            counts[path[:depth]] += 1

    def key(name: str) -> str:
        return " ".join(name.split()).casefold()

    kept: dict[tuple, str] = {}  # (unified parent, key of the name) -> the spelling kept
    order = sorted(counts, key=lambda p: (len(p), -counts[p], p))  # parents first, the most frequent first
    unified: dict[tuple[str, ...], tuple[str, ...]] = {}
    changed: dict[str, str] = {}
    for prefix in order:
        parent = unified.get(prefix[:-1], prefix[:-1])
        spelling = kept.setdefault((parent, key(prefix[-1])), prefix[-1])
        unified[prefix] = parent + (spelling,)
        if spelling != prefix[-1]:
            changed.setdefault(prefix[-1], spelling)
    if not changed:
        return list(paths), {}
    return [unified[p] if p else p for p in paths], changed


def cut_depth(paths: list[tuple[str, ...]], max_depth: int | None) -> list[tuple[str, ...]]:
    """Keep at most ``max_depth`` levels of every path."""
    if not max_depth:
        return list(paths)
    return [p[:max_depth] for p in paths]


@dataclass
class CatalogTaxonomy:
    """The result: the tree, each product's leaf, and the merges that were made."""

    taxonomy: Taxonomy
    leaves: list[str]
    merges: dict[str, str]
    counts: dict[str, int]


#: where rare leaves go (``--merge``); ``family`` is the default of a user's file
MERGE_MODES = ("family", "parent", "other")


def merge_rare(paths: list[tuple[str, ...]], min_count: int, into: str = "family",
               weights: Sequence[int] | None = None) -> tuple[list[tuple[str, ...]], dict[str, str]]:
    """Merge nodes with fewer than ``min_count`` products, deepest level first.

    Under each parent, rare children (and products whose path stops at the parent while
    it has children) are pooled. When no child of the parent is frequent, the whole family
    collapses into the parent, which becomes a leaf (``into="other"``: the pool becomes
    ``"Other <parent>"`` even then); otherwise the pool becomes the leaf ``"Other <parent>"``
    beside the frequent children. A pool itself smaller than ``min_count`` moves up into the
    grandparent's pool. What happens at the top differs:

    - ``"family"`` (the default): a product never leaves its top-level category. A rare
      top-level category stays a leaf of its own, and a small pool under a top-level category
      stays in it as ``"Other <category>"``; those leaves may hold fewer than ``min_count``
      products (there is nowhere within the family to go), and no top-level ``"Other"``
      mixes unrelated products.
    - ``"parent"`` and ``"other"`` (the built-in Flipkart recipes use ``"parent"``): rare
      top-level categories and small pools from a top-level category go to the top-level
      ``"Other"``, so no leaf has fewer than ``min_count`` products except that ``"Other"``.

    Returns the new paths and ``{original node: merged node}``. ``weights`` gives each path's
    number of products (default 1 each), so unique paths can be passed with their counts.
    """
    if into not in MERGE_MODES:
        raise WorkbenchError(f"merge must be one of {', '.join(MERGE_MODES)}, not {into!r}")
    if min_count <= 1 or not paths:
        return list(paths), {}
    counts: Counter = Counter()
    for p, w in zip(paths, weights if weights is not None else [1] * len(paths)):
        counts[p] += w
    current = {p: p for p in counts}  # original unique path -> its path now
    for depth in range(max(len(p) for p in counts), 0, -1):
        weight: Counter = Counter()
        for orig, now in current.items():
            weight[now] += counts[orig]
        subtree: Counter = Counter()
        by_parent: dict[tuple, set] = defaultdict(set)
        for now, n in weight.items():
            if len(now) >= depth:
                subtree[now[:depth]] += n
            if len(now) >= depth - 1:
                by_parent[now[: depth - 1]].add(now)
        targets: dict[tuple, tuple] = {}
        for parent, members in by_parent.items():
            children = {m[:depth] for m in members if len(m) >= depth}
            if not children:
                continue
            frequent = {c for c in children if subtree[c] >= min_count}
            pooled = [m for m in members if len(m) < depth or m[:depth] not in frequent]
            if not pooled:
                continue
            pool_size = sum(weight[m] for m in pooled)
            if not parent:
                if into == "family":
                    continue  # rare top-level categories stay as they are
                target = ("Other",)
            elif not frequent and into != "other":
                target = parent
            elif pool_size < min_count:
                # too small for a bucket of its own: pooled again one level up (within the
                # top-level category for "family", where build_catalog_taxonomy names it "Other <category>")
                target = parent[:-1] if len(parent) >= 2 else (parent if into == "family" else ("Other",))
            else:
                target = parent + (f"Other {parent[-1]}",)
            for m in pooled:
                targets[m] = target
        if targets:
            current = {orig: targets.get(now, now) for orig, now in current.items()}
    merges = {node_id(orig): node_id(now) for orig, now in current.items() if orig != now}
    return [current[p] for p in paths], merges


def build_catalog_taxonomy(paths: list[tuple[str, ...]], *, min_count: int = 1,
                           merge: str = "family", level_names: Sequence[str] | None = None,
                           weights: Sequence[int] | None = None) -> CatalogTaxonomy:
    """The taxonomy of a catalog's (already cut) paths, with rare nodes merged.

    ``weights`` gives each path's number of products, so a large catalog can pass its
    distinct paths with their counts; ``leaves`` and ``counts`` then refer to those paths.
    """
    weights = list(weights) if weights is not None else [1] * len(paths)
    labelled = [(p, w) for p, w in zip(paths, weights) if p]
    if not labelled:
        raise WorkbenchError("no product has a category; map a category column (category=... or levels=...)")
    merged, merges = merge_rare([p for p, _ in labelled], min_count, merge, [w for _, w in labelled])
    new_of = dict(zip((p for p, _ in labelled), merged))
    # a product whose path ends on an internal node is pooled into "Other <node>"
    prefixes = {p[:i] for p in new_of.values() for i in range(1, len(p))}
    for orig, now in list(new_of.items()):
        if now in prefixes:
            new_of[orig] = now + (f"Other {now[-1]}",)
            merges[node_id(orig)] = node_id(new_of[orig])
    taxonomy = Taxonomy(set(new_of.values()), level_names)
    leaves = [node_id(new_of[p]) if p else "" for p in paths]
    counts: Counter = Counter()
    for leaf, w in zip(leaves, weights):
        if leaf:
            counts[leaf] += w
    return CatalogTaxonomy(taxonomy, leaves, merges, dict(counts))


__all__ = ["MERGE_MODES", "SEP", "CatalogTaxonomy", "build_catalog_taxonomy", "cut_depth", "merge_rare",
           "parse_paths", "strip_name_nodes"]
