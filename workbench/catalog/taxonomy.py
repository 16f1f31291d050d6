"""A category tree: named levels, parent / children / siblings, ancestors, LCA, tree distance.

A node is identified by its full path joined with ``" > "`` (``"Apparel > Topwear > Tshirts"``),
so two nodes with the same name under different parents stay distinct. The root is implicit
(``None``) and sits at depth 0; top-level categories have level 1.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import pandas as pd

from workbench.errors import WorkbenchError

SEP = " > "


def node_id(path: Sequence[str]) -> str:
    """The node id of a path of names."""
    return SEP.join(path)


def split_node_id(node: str) -> tuple[str, ...]:
    """The path of names of a node id."""
    return tuple(node.split(SEP)) if node else ()


@dataclass
class _Node:
    name: str
    parent: str | None
    level: int
    children: list[str] = field(default_factory=list)


class Taxonomy:
    """An immutable category tree built from paths of names."""

    def __init__(self, paths: Iterable[Sequence[str]], level_names: Sequence[str] | None = None):
        self._nodes: dict[str, _Node] = {}
        self._roots: list[str] = []
        for path in paths:
            path = tuple(str(p).strip() for p in path)
            if not path or any(not p for p in path):
                raise WorkbenchError(f"empty category name in path {path!r}; remove empty levels first")
            if any(SEP in p for p in path):
                raise WorkbenchError(f"a category name in {path!r} contains the separator {SEP!r}; "
                                     "replace it in the name (e.g. with ' / ')")
            parent = None
            for depth in range(1, len(path) + 1):
                nid = node_id(path[:depth])
                if nid not in self._nodes:
                    self._nodes[nid] = _Node(path[depth - 1], parent, depth)
                    if parent is None:
                        self._roots.append(nid)
                    else:
                        self._nodes[parent].children.append(nid)
                parent = nid
        if not self._nodes:
            raise WorkbenchError("a taxonomy needs at least one category path")
        for node in self._nodes.values():
            node.children.sort()
        self._roots.sort()
        self.depth = max(n.level for n in self._nodes.values())
        names = list(level_names) if level_names else [f"level_{i}" for i in range(1, self.depth + 1)]
        if len(names) < self.depth:
            names += [f"level_{i}" for i in range(len(names) + 1, self.depth + 1)]
        self.level_names: list[str] = names[: self.depth]
        self.leaves: list[str] = sorted(n for n, v in self._nodes.items() if not v.children)
        self._leaf_index = {leaf: i for i, leaf in enumerate(self.leaves)}

    # construction -----------------------------------------------------------------------
    @classmethod
    def from_node_ids(cls, nodes: Iterable[str], level_names: Sequence[str] | None = None) -> "Taxonomy":
        """Build from node ids such as ``"A > B > C"``."""
        return cls((split_node_id(n) for n in nodes), level_names)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "Taxonomy":
        """Rebuild from the workspace's ``categories`` table (``node_id``, ``level``, ``level_name``)."""
        names = (frame.drop_duplicates("level").sort_values("level")["level_name"].tolist()
                 if "level_name" in frame else None)
        return cls.from_node_ids(frame["node_id"], names)

    def to_frame(self, counts: dict[str, int] | None = None) -> pd.DataFrame:
        """One row per node: ``node_id, name, parent_id, level, level_name, is_leaf, n_products``.

        ``counts`` gives products per leaf; internal nodes get the sum over their subtree.
        """
        counts = counts or {}
        subtree = Counter()
        for leaf, n in counts.items():
            for anc in self.ancestors(leaf):
                subtree[anc] += n
        rows = [
            (nid, n.name, n.parent, n.level, self.level_names[n.level - 1], not n.children,
             int(subtree.get(nid, 0)))
            for nid, n in self._nodes.items()
        ]
        return pd.DataFrame(rows, columns=["node_id", "name", "parent_id", "level", "level_name",
                                           "is_leaf", "n_products"])

    def with_level_names(self, level_names: Sequence[str]) -> "Taxonomy":
        """The same tree with other level names (e.g. Product Category > Product Family > Product Type)."""
        return Taxonomy((self.path(n) for n in self.leaves), level_names)

    # lookups ----------------------------------------------------------------------------
    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __repr__(self) -> str:
        return (f"Taxonomy({len(self._nodes)} nodes, {len(self.leaves)} leaves, "
                f"levels={' > '.join(self.level_names)})")

    @property
    def nodes(self) -> list[str]:
        """All node ids, top-down then alphabetical."""
        return sorted(self._nodes, key=lambda n: (self._nodes[n].level, n))

    @property
    def roots(self) -> list[str]:
        """The top-level categories."""
        return list(self._roots)

    def _get(self, node: str) -> _Node:
        try:
            return self._nodes[node]
        except KeyError:
            raise WorkbenchError(
                f"unknown category {node!r}; use a full path such as {self.leaves[0]!r}") from None

    def name(self, node: str) -> str:
        """The last name of a node's path."""
        return self._get(node).name

    def level(self, node: str) -> int:
        """The level of a node (1 for top-level categories)."""
        return self._get(node).level

    def path(self, node: str) -> tuple[str, ...]:
        """The names from the top level down to the node."""
        self._get(node)
        return split_node_id(node)

    def parent(self, node: str) -> str | None:
        """The parent node id, or ``None`` for a top-level category."""
        return self._get(node).parent

    def children(self, node: str | None) -> list[str]:
        """Child node ids (of the root when ``node`` is ``None``)."""
        return list(self._roots) if node is None else list(self._get(node).children)

    def siblings(self, node: str) -> list[str]:
        """The other children of the node's parent."""
        return [c for c in self.children(self.parent(node)) if c != node]

    def ancestors(self, node: str, include_self: bool = True) -> list[str]:
        """Node ids from the top level down to the node (the node itself last when included)."""
        path = self.path(node)
        stop = len(path) if include_self else len(path) - 1
        return [node_id(path[:i]) for i in range(1, stop + 1)]

    def ancestor_at(self, node: str, level: int) -> str | None:
        """The node's ancestor at a level (1-based), or ``None`` when the node is shallower."""
        path = self.path(node)
        return node_id(path[:level]) if 1 <= level <= len(path) else None

    def is_leaf(self, node: str) -> bool:
        """Whether the node has no children."""
        return not self._get(node).children

    def leaves_under(self, node: str) -> list[str]:
        """The leaves of the node's subtree (the node itself when it is a leaf)."""
        self._get(node)
        prefix = node + SEP
        return [leaf for leaf in self.leaves if leaf == node or leaf.startswith(prefix)]

    def nodes_at_level(self, level: int) -> list[str]:
        """All nodes at a level, alphabetical."""
        return sorted(n for n, v in self._nodes.items() if v.level == level)

    def internal_nodes(self) -> list[str]:
        """Nodes that have children."""
        return [n for n in self.nodes if self._nodes[n].children]

    def leaf_index(self, leaf: str) -> int:
        """The column of a leaf in every probability matrix."""
        try:
            return self._leaf_index[leaf]
        except KeyError:
            raise WorkbenchError(f"{leaf!r} is not a leaf of this taxonomy") from None

    def lca(self, a: str, b: str) -> str | None:
        """The lowest common ancestor of two nodes (``None``: only the root is shared)."""
        pa, pb = self.path(a), self.path(b)
        k = 0
        while k < min(len(pa), len(pb)) and pa[k] == pb[k]:
            k += 1
        return node_id(pa[:k]) if k else None

    def distance(self, a: str, b: str) -> int:
        """Edges on the tree path between two nodes (0 same, 2 siblings, through the root at most)."""
        pa, pb = self.path(a), self.path(b)
        k = 0
        while k < min(len(pa), len(pb)) and pa[k] == pb[k]:
            k += 1
        return len(pa) + len(pb) - 2 * k

    def max_distance(self) -> int:
        """The largest possible distance between two leaves."""
        return 2 * self.depth
