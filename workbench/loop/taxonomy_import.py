"""Import a new version of a taxonomy: propose the operations that turn one tree into another
(``workbench taxonomy diff OLD NEW``, ``workbench taxonomy import FILE``), for a person to accept
one by one (each accepted proposal is a change of :mod:`workbench.loop.taxonomy_changes`).

Matching, top-down, with every ancestor's proposal applied first:

* a node whose (mapped) path exists in the new tree is kept;
* a lost node and a new node with the same name under another parent: **move**;
* a lost node and a new node under the same parent whose names are close: **rename**. Close
  means the better of two signals passes its bar: the share of words the names have in common
  (:data:`WORD_RENAME_SIMILARITY`) and the cosine of the names' embeddings with the offline
  default encoder (:data:`RENAME_SIMILARITY`; off with ``--no-embeddings``); for an internal
  node, half of the children's names in common also counts;
* a kept leaf that has new children: **split** into them;
* a lost leaf with a close sibling that is kept: **merge** into it; else **retire**;
* a new node nobody matched: **add**.

A file is Shopify's ``categories.txt`` format (``gid : A > B``; the ids are not used, so a
renamed copy is matched by its names), or one full path per line (``A > B > C``; ``#`` starts a
comment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from workbench.catalog.taxonomy import SEP, Taxonomy, node_id, split_node_id
from workbench.errors import WorkbenchError

#: cosine similarity of two names' embeddings above which a rename or a merge is proposed
RENAME_SIMILARITY = 0.55
MERGE_SIMILARITY = 0.72
#: the same with shared words (``--no-embeddings``): the share of words two names have in common
WORD_RENAME_SIMILARITY = 0.5
WORD_MERGE_SIMILARITY = 0.25
KINDS = ("rename", "move", "merge", "split", "add", "retire")


@dataclass
class Proposal:
    """One proposed operation: ``kind``, the node(s) it acts on in the tree being changed, its
    argument (new name, new parent, merge target, children) and a ``score`` (for a rename or a merge: how close the names are, as a multiple of the bar
    for proposing it)."""

    kind: str
    node: str
    argument: str | list[str] | None = None
    score: float = 1.0
    sources: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.kind == "rename":
            return f"rename {self.node!r} to {self.argument!r} (closeness {self.score:.2f})"
        if self.kind == "move":
            return f"move {self.node!r} under {self.argument or '(top level)'!r}"
        if self.kind == "merge":
            return f"merge {self.node!r} into {self.argument!r} (closeness {self.score:.2f})"
        if self.kind == "split":
            return f"split {self.node!r} into {', '.join(map(repr, self.argument or []))}"
        return f"{self.kind} {self.node!r}"

    def key(self) -> tuple:
        """What the proposal does, comparable with a scripted change (precision and recall)."""
        arg = tuple(sorted(self.argument)) if isinstance(self.argument, list) else self.argument
        return (self.kind, self.node, arg)

    def to_json(self) -> dict:
        """A JSON-able form."""
        return {"kind": self.kind, "node": self.node, "argument": self.argument, "score": round(self.score, 4)}


# reading a taxonomy file --------------------------------------------------------------------------

_GID = re.compile(r"^\S*TaxonomyCategory/\S+\s+:\s+")


def read_taxonomy_file(path: str | Path) -> Taxonomy:
    """The tree of a file: Shopify's ``categories.txt`` format or one ``A > B > C`` path per line."""
    p = Path(path)
    if not p.exists():
        raise WorkbenchError(f"taxonomy file {path} does not exist; give a categories.txt or a file of paths")
    try:
        lines = p.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise WorkbenchError(f"{path} is not UTF-8 text; save it as UTF-8 with one path per line") from None
    paths = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = _GID.sub("", line)
        parts = tuple(s.strip() for s in line.split(SEP.strip()))
        if any(not s for s in parts):
            raise WorkbenchError(f"{path}: empty category name in {line[:80]!r}; write paths as 'A > B > C'")
        paths.append(parts)
    if not paths:
        raise WorkbenchError(f"{path} holds no category paths; write one 'A > B > C' per line")
    return Taxonomy(paths)


# similarity of names --------------------------------------------------------------------------------

def _words(name: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", name.lower()) if w not in {"and", "the", "of", "for", "other"}}


def word_similarity(a: str, b: str) -> float:
    """Jaccard overlap of two names' words (the fallback without embeddings)."""
    wa, wb = _words(a), _words(b)
    return len(wa & wb) / len(wa | wb) if wa | wb else float(a.lower() == b.lower())


def embedding_similarity(names: Sequence[str]) -> Callable[[str, str], float]:
    """Cosine similarity of names' embeddings (the offline default encoder), each name embedded once."""
    from workbench.embeddings.embed import embed_texts

    unique = list(dict.fromkeys(names))
    if not unique:
        return word_similarity
    vectors = embed_texts(unique, "default")
    index = {n: i for i, n in enumerate(unique)}

    def similarity(a: str, b: str) -> float:
        if a in index and b in index:
            return float(np.dot(vectors[index[a]], vectors[index[b]]))
        return word_similarity(a, b)
    return similarity


# the diff ---------------------------------------------------------------------------------------

def propose(old: Taxonomy, new: Taxonomy, *, embeddings: bool = True) -> list[Proposal]:
    """The operations that turn ``old`` into ``new``, in an order they can be applied (each
    proposal's paths name nodes as they are once the proposals before it are applied)."""
    new_nodes, old_nodes = set(new.nodes), set(old.nodes)
    lost = [n for n in old.nodes if n not in new_nodes]
    gained = [n for n in new.nodes if n not in old_nodes]
    gained_set = set(gained)
    names = [old.name(n) for n in lost] + [new.name(n) for n in gained]
    for n in lost:  # a lost leaf's kept siblings are its merge candidates
        parent = old.parent(n)
        names += [old.name(s) for s in old.children(parent)]
    embedded = embedding_similarity(names) if embeddings and (lost or gained) else None

    def close(a: str, b: str, *, merge: bool = False) -> float:
        """How close two names are, as a multiple of the bar for a proposal (>= 1: propose):
        the better of the shared words and the embeddings' cosine, each against its own bar."""
        words = word_similarity(a, b) / (WORD_MERGE_SIMILARITY if merge else WORD_RENAME_SIMILARITY)
        if embedded is None:
            return words
        return max(words, embedded(a, b) / (MERGE_SIMILARITY if merge else RENAME_SIMILARITY))

    mapping: dict[str, str] = {}          # old node -> its node in the new tree
    claimed: set[str] = set()             # new nodes matched
    proposals: list[Proposal] = []
    unmatched: list[str] = []
    gained_by_name: dict[str, list[str]] = {}
    gained_under: dict[str | None, list[str]] = {}
    for g in gained:
        gained_by_name.setdefault(new.name(g), []).append(g)
        gained_under.setdefault(new.parent(g), []).append(g)

    gone: set[str] = set()                # old nodes under a node that has no match
    for level in range(1, old.depth + 1):
        pending = []
        for node in old.nodes_at_level(level):  # first every node whose (mapped) path is kept
            parent = old.parent(node)
            if parent is not None and parent not in mapping:
                gone.add(node)
                continue
            mapped_parent = mapping[parent] if parent else None
            expected = node_id((*(split_node_id(mapped_parent) if mapped_parent else ()), old.name(node)))
            if expected in new_nodes and expected not in claimed:
                mapping[node] = expected
                claimed.add(expected)
            else:
                pending.append((node, mapped_parent))
        for node, mapped_parent in pending:
            current = _current(node, mapping)
            # a move: the same name under another (kept or added) parent, nobody claimed it
            moved = [g for g in gained_by_name.get(old.name(node), []) if g not in claimed
                     and new.parent(g) != mapped_parent]
            if moved:
                target = min(moved, key=lambda g: (-_common_prefix(g, current), len(g)))
                proposals.append(Proposal("move", current, new.parent(target)))
                mapping[node] = target
                claimed.add(target)
                continue
            # a rename: a new node under the same (mapped) parent with a close name
            siblings = [g for g in gained_under.get(mapped_parent, []) if g not in claimed]
            if siblings:
                score, best = max((max(close(old.name(node), new.name(g)),
                                        _children_overlap(old, new, node, g) / 0.5), g) for g in siblings)
                if score >= 1.0 and _children_agree(old, new, node, best):
                    proposals.append(Proposal("rename", current, new.name(best), score))
                    mapping[node] = best
                    claimed.add(best)
                    continue
            unmatched.append(node)
    unmatched += sorted(gone)

    # splits: a kept leaf that has children now
    for node, target in list(mapping.items()):
        if old.is_leaf(node) and target in new_nodes and not new.is_leaf(target):
            children = [c for c in new.children(target) if c not in claimed]
            if len(children) >= 2 and all(new.is_leaf(c) for c in children):
                proposals.append(Proposal("split", target, [new.name(c) for c in children]))
                claimed |= set(children)

    # lost nodes: merged into a close kept sibling, else retired (the deepest first)
    retired: list[Proposal] = []
    merged: list[Proposal] = []
    for node in sorted(unmatched, key=lambda n: (-old.level(n), n)):
        if old.is_leaf(node) and node not in gone:
            kept = [s for s in old.siblings(node) if s in mapping and new.is_leaf(mapping[s])]
            if kept:
                score, best = max((close(old.name(node), old.name(s), merge=True), s) for s in kept)
                if score >= 1.0:
                    merged.append(Proposal("merge", _current(node, mapping), mapping[best], score))
                    continue
        retired.append(Proposal("retire", _current(node, mapping)))
    proposals += merged + retired

    # additions: new nodes nobody matched, top-down
    for node in new.nodes:
        if node not in claimed and node in gained_set:
            proposals.append(Proposal("add", node))
            claimed.add(node)
    return proposals


def _common_prefix(a: str, b: str) -> int:
    """How many leading names two paths share."""
    n = 0
    for x, y in zip(split_node_id(a), split_node_id(b)):
        if x != y:
            break
        n += 1
    return n


def _current(node: str, mapping: Mapping[str, str]) -> str:
    """``node``'s path once its nearest mapped ancestor's proposal is applied."""
    parts = split_node_id(node)
    for depth in range(len(parts) - 1, 0, -1):
        anc = node_id(parts[:depth])
        if anc in mapping:
            return node_id((*split_node_id(mapping[anc]), *parts[depth:]))
    return node


def _children_overlap(old: Taxonomy, new: Taxonomy, a: str, b: str) -> float:
    """The share of children's names two internal nodes have in common (0 for leaves)."""
    ca = {old.name(c) for c in old.children(a)}
    cb = {new.name(c) for c in new.children(b)}
    return len(ca & cb) / len(ca | cb) if ca and cb else 0.0


def _children_agree(old: Taxonomy, new: Taxonomy, a: str, b: str) -> bool:
    """A renamed internal node keeps some of its children's names (a leaf always agrees)."""
    ca = {old.name(c) for c in old.children(a)}
    cb = {new.name(c) for c in new.children(b)}
    return not ca or not cb or bool(ca & cb)


def diff_files(old: str | Path, new: str | Path, *, embeddings: bool = True) -> list[Proposal]:
    """``workbench taxonomy diff OLD NEW``: the proposals between two taxonomy files."""
    return propose(read_taxonomy_file(old), read_taxonomy_file(new), embeddings=embeddings)


def propose_import(ws, path: str | Path, *, embeddings: bool = True) -> list[Proposal]:
    """``workbench taxonomy import FILE``: the proposals that turn the workspace's taxonomy into FILE's."""
    from workbench.catalog.relabel import load_taxonomy

    return propose(load_taxonomy(ws), read_taxonomy_file(path), embeddings=embeddings)


def accept(ws, proposal: Proposal, *, by: str, keywords: Mapping[str, Sequence[str]] | None = None,
           mapping: Mapping[str, str] | None = None, run: str | None = None):
    """Apply one proposal as a change (a split needs its rule: ``keywords`` by default, each
    child's own name as its keyword)."""
    from workbench.loop import taxonomy_changes as tc
    from workbench.loop.taxonomy_split import split

    if proposal.kind == "rename":
        return tc.rename(ws, proposal.node, str(proposal.argument), by=by)
    if proposal.kind == "move":
        return tc.move(ws, proposal.node, proposal.argument, by=by)
    if proposal.kind == "merge":
        return tc.merge(ws, [proposal.node], into=str(proposal.argument), by=by)
    if proposal.kind == "split":
        children = list(proposal.argument or [])
        if not (keywords or mapping or run):
            keywords = {c: [c] for c in children}
        return split(ws, proposal.node, children, by=by, keywords=keywords, mapping=mapping, run=run)
    if proposal.kind == "add":
        return tc.add(ws, proposal.node, by=by)
    if proposal.kind == "retire":
        return tc.retire(ws, proposal.node, by=by)
    raise WorkbenchError(f"unknown proposal kind {proposal.kind!r}")
