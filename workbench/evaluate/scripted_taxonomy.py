"""A scripted set of changes to a real taxonomy (renames, moves, merges, splits, additions,
retirements), written without the matcher's knowledge: the truth that ``taxonomy diff`` /
``taxonomy import`` proposals are scored against (``benchmarks/taxonomy_import.py`` and
``tests/test_taxonomy_import.py``), and the precision and recall of proposals against it."""

from __future__ import annotations

import random
import re

from workbench.catalog.taxonomy import SEP, Taxonomy, node_id, split_node_id

RENAMES = ("{} Supplies", "All {}", "{} Range", "{} Collection")


def _words(name: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", name.lower()) if len(w) > 2}


class _Sites:
    """Nodes already touched: a new change may not sit inside, or above, one of them."""

    def __init__(self):
        self.touched: list[str] = []

    def free(self, *nodes: str) -> bool:
        for x in nodes:
            for t in self.touched:
                if x == t or x.startswith(t + SEP) or t.startswith(x + SEP):
                    return False
        return True

    def take(self, *nodes: str) -> None:
        self.touched += list(nodes)


def scripted_changes(tree: Taxonomy, n_each: int = 10, seed: int = 0) -> tuple[list[str], set[tuple]]:
    """``(the changed tree's node paths, the truth)``; the truth holds one key per change, as
    :meth:`workbench.loop.taxonomy_import.Proposal.key` writes it."""
    rng = random.Random(seed)
    sites = _Sites()
    truth: set[tuple] = set()
    nodes = set(tree.nodes)
    leaves = [n for n in tree.leaves if tree.level(n) >= 3]
    internal = [n for n in tree.internal_nodes() if tree.level(n) >= 2]
    rng.shuffle(leaves)
    rng.shuffle(internal)

    def replace(old: str, new: str) -> None:
        for n in [n for n in nodes if n == old or n.startswith(old + SEP)]:
            nodes.discard(n)
            nodes.add(new + n[len(old):])

    def count(kind):
        return sum(1 for t in truth if t[0] == kind)

    # renames: internal nodes and leaves, half each
    for node in internal[: n_each * 4] + leaves[: n_each * 4]:
        if count("rename") >= n_each:
            break
        if not sites.free(node):
            continue
        name = rng.choice(RENAMES).format(tree.name(node))
        new = node_id((*split_node_id(node)[:-1], name))
        if new in nodes:
            continue
        sites.take(node)
        truth.add(("rename", node, name))
        replace(node, new)
    # moves: a leaf to a cousin parent (same grandparent)
    for leaf in leaves:
        if count("move") >= n_each:
            break
        parent = tree.parent(leaf)
        grand = tree.parent(parent)
        if grand is None:
            continue
        cousins = [c for c in tree.children(grand) if c != parent and not tree.is_leaf(c)]
        rng.shuffle(cousins)
        for target in cousins:
            new = node_id((*split_node_id(target), tree.name(leaf)))
            if new in nodes or not sites.free(leaf, target) or len(tree.children(parent)) < 3:
                continue
            sites.take(leaf, target)
            truth.add(("move", leaf, target))
            replace(leaf, new)
            break
    # merges: two sibling leaves that share a word, the first into the second
    for leaf in leaves:
        if count("merge") >= n_each:
            break
        mine = _words(tree.name(leaf))
        partners = sorted((len(_words(tree.name(s)) & mine) / len(_words(tree.name(s)) | mine), s)
                          for s in tree.siblings(leaf) if tree.is_leaf(s) and _words(tree.name(s)) & mine)
        if not partners or len(tree.siblings(leaf)) < 2:
            continue
        into = partners[-1][1]  # the most alike sibling: the one shoppers confuse it with
        if not sites.free(leaf, into):
            continue
        sites.take(leaf, into)
        truth.add(("merge", leaf, into))
        nodes.discard(leaf)
    # splits: a leaf into two children
    for leaf in leaves:
        if count("split") >= n_each:
            break
        if not sites.free(leaf):
            continue
        name = tree.name(leaf)
        children = [f"Basic {name}", f"Premium {name}"]
        sites.take(leaf)
        truth.add(("split", leaf, tuple(sorted(children))))
        nodes.update(node_id((*split_node_id(leaf), c)) for c in children)
    # additions: a new leaf under an internal node
    fresh = ["Smart", "Eco", "Travel", "Vintage", "Modular", "Outdoor", "Compact", "Refurbished", "Kids", "Pro"]
    for i, parent in enumerate(internal):
        if count("add") >= n_each:
            break
        if not sites.free(parent):
            continue
        new = node_id((*split_node_id(parent), f"{fresh[count('add') % len(fresh)]} {tree.name(parent)} Kits"))
        if new in nodes:
            continue
        sites.take(parent)
        truth.add(("add", new, None))
        nodes.add(new)
    # retirements: a leaf with siblings, none of which shares a word with it
    for leaf in leaves:
        if count("retire") >= n_each:
            break
        siblings = tree.siblings(leaf)
        if len(siblings) < 2 or any(_words(tree.name(s)) & _words(tree.name(leaf)) for s in siblings):
            continue
        if not sites.free(leaf, tree.parent(leaf)):
            continue
        sites.take(leaf)
        truth.add(("retire", leaf, None))
        nodes.discard(leaf)
    return sorted(nodes), truth


def precision_recall(proposed: set[tuple], truth: set[tuple]) -> dict[str, dict[str, float]]:
    """Precision and recall of proposals per kind (and over all kinds)."""
    out = {}
    kinds = sorted({k[0] for k in truth | proposed})
    for kind in [*kinds, "all"]:
        p = {k for k in proposed if kind == "all" or k[0] == kind}
        t = {k for k in truth if kind == "all" or k[0] == kind}
        hit = len(p & t)
        out[kind] = {"truth": len(t), "proposed": len(p), "correct": hit,
                     "precision": hit / len(p) if p else float("nan"), "recall": hit / len(t) if t else float("nan")}
    return out
