"""Map a catalog's categories onto a standard tree (Shopify, Google, Best Buy).

For each category of the catalog, :func:`propose_mapping` scores every node of the standard
tree by cosine similarity of embeddings: the category's own path (leaf first: ``"Kaos, Pakaian
Pria, Fashion"``) against each standard node's path, blended with the mean embedding of a
sample of the category's products (their titles say what the category holds even when its name
is terse or in another language). With ``consistent=True`` (the default) the tree is mapped top
down and a child's candidates are its parent's target and that target's descendants: a child
maps under its parent's target, so a subtree never scatters across the standard tree; and a
node's choice weighs its children's best scores inside each candidate, so a parent goes where
its children can follow. Each proposal has a score and the top-3 alternatives.

:func:`lexical_vectors` is the plain baseline: TF-IDF over the path names (words of any script),
cosine, the same matching rule; ``benchmarks/languages.py`` measures both against Shopify's own
Shopify-to-Google mapping. :func:`map_catalog` maps a workspace's taxonomy and stores the result
(:mod:`workbench.catalog.standard_mapping`) for review on the dashboard.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.catalog.standard_mapping import check_kind, load_mapping, REVIEWED, store_proposals
from workbench.catalog.taxonomy import SEP, Taxonomy
from workbench.catalog.taxonomy_sources import SourceTaxonomy, load_source
from workbench.embeddings.embed import embed_texts
from workbench.embeddings.encoder import model_id
from workbench.errors import WorkbenchError
from workbench.store import Workspace

TOP_K = 3
PRODUCTS_PER_NODE = 64
PRODUCT_WEIGHT = 0.5


def path_text(taxonomy: Taxonomy, node: str) -> str:
    """The text a category is matched by: its path leaf first (``"Activewear, Clothing, Apparel"``)."""
    return ", ".join(reversed(taxonomy.path(node)))


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def embedding_vectors(source: Taxonomy, source_nodes: Sequence[str], target: Taxonomy,
                      target_nodes: Sequence[str], *, model: str = "default",
                      workspace: Workspace | None = None,
                      products: Mapping[str, Sequence[str]] | None = None,
                      product_weight: float = PRODUCT_WEIGHT) -> tuple[np.ndarray, np.ndarray]:
    """``(source vectors, target vectors)``, L2-normalised rows: path embeddings (sources as
    E5 queries, targets as passages), a source blended with its products' mean embedding."""
    src = embed_texts([path_text(source, n) for n in source_nodes], model, workspace=workspace)
    tgt = embed_texts([path_text(target, n) for n in target_nodes], model, workspace=workspace, role="passage")
    if products and product_weight > 0:
        src = src.astype(np.float64)
        for i, node in enumerate(source_nodes):
            texts = list(products.get(node, ()))
            if texts:
                centroid = _normalise(embed_texts(texts, model, workspace=workspace).mean(axis=0, keepdims=True))[0]
                src[i] = (1 - product_weight) * src[i] + product_weight * centroid
        src = _normalise(src).astype(np.float32)
    return src, tgt


def lexical_vectors(source: Taxonomy, source_nodes: Sequence[str], target: Taxonomy,
                    target_nodes: Sequence[str]):
    """``(source, target)`` TF-IDF vectors of the path names (word 1-2-grams of any script,
    fitted on both trees), L2-normalised sparse rows: the lexical baseline."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from workbench.catalog.text import word_tokens

    src_texts = [path_text(source, n) for n in source_nodes]
    tgt_texts = [path_text(target, n) for n in target_nodes]
    vectorizer = TfidfVectorizer(tokenizer=word_tokens, token_pattern=None, ngram_range=(1, 2),
                                 sublinear_tf=True, dtype=np.float32)
    vectorizer.fit(src_texts + tgt_texts)
    return vectorizer.transform(src_texts), vectorizer.transform(tgt_texts)


def _score_matrix(source_vectors, target_vectors, block: int = 1024) -> np.ndarray:
    """Cosine scores ``(n_source, n_target)`` as float32, computed in row blocks."""
    n = source_vectors.shape[0]
    out = np.empty((n, target_vectors.shape[0]), dtype=np.float32)
    for start in range(0, n, block):
        part = source_vectors[start: start + block] @ target_vectors.T
        out[start: start + block] = part.toarray() if hasattr(part, "toarray") else np.asarray(part)
    return out


class _Targets:
    """Row lookups on the target tree: subtrees and ancestors as row indices (cached)."""

    def __init__(self, target: Taxonomy, nodes: Sequence[str]):
        self.target, self.nodes = target, list(nodes)
        self.index = {n: i for i, n in enumerate(self.nodes)}
        self._subtree: dict[int, np.ndarray] = {}

    def subtree(self, row: int) -> np.ndarray:
        if row not in self._subtree:
            anchor = self.nodes[row]
            self._subtree[row] = np.flatnonzero([t == anchor or t.startswith(anchor + SEP) for t in self.nodes])
        return self._subtree[row]

    def ancestors(self, row: int) -> list[int]:
        return [self.index[a] for a in self.target.ancestors(self.nodes[row]) if a in self.index]


def match_nodes(source: Taxonomy, source_nodes: Sequence[str], source_vectors, target: Taxonomy,
                target_nodes: Sequence[str], target_vectors, *, k: int = TOP_K, consistent: bool = True,
                fixed: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The best ``k`` target nodes of every source node: ``catalog_node, target_node, score,
    alternatives`` (``[{"node", "score"}, ...]``, best first, the target included; ``score`` is
    the cosine of the node with the target).

    ``consistent``: top down, a node's candidates are its parent's target and that target's
    descendants, and a node's choice also weighs its children: a candidate's value is the node's
    own score plus the mean, over its children, of their best score inside the candidate's
    subtree (so "Film Musik" goes where its drums and DJ controllers can follow, not to the
    nearest name). ``fixed``: source node -> target already chosen by a person; it is kept and
    constrains its children.
    """
    rows_of = _Targets(target, target_nodes)
    scores = _score_matrix(source_vectors, target_vectors)
    position = {n: i for i, n in enumerate(source_nodes)}
    kids = {i: [position[c] for c in source.children(n) if c in position] for i, n in enumerate(source_nodes)}
    fixed = {position[n]: rows_of.index[t] for n, t in (fixed or {}).items() if n in position and t in rows_of.index}
    order = sorted(range(len(source_nodes)), key=lambda i: (source.level(source_nodes[i]), source_nodes[i]))
    chosen: dict[int, int] = {}
    records = []
    for i in order:
        node = source_nodes[i]
        parent = position.get(source.parent(node)) if source.parent(node) is not None else None
        allowed = rows_of.subtree(chosen[parent]) if consistent and parent in chosen else None
        own = scores[i] if allowed is None else scores[i][allowed]
        top = np.argsort(-own, kind="stable")[: max(k, 5)]
        candidates = list(top if allowed is None else allowed[top])
        if consistent and kids[i]:
            permitted = None if allowed is None else set(allowed.tolist())
            for c in kids[i]:
                child = scores[c] if allowed is None else scores[c][allowed]
                for r in np.argsort(-child, kind="stable")[:3]:
                    row = int(r if allowed is None else allowed[r])
                    candidates += [a for a in rows_of.ancestors(row) if permitted is None or a in permitted]
            candidates = list(dict.fromkeys(int(c) for c in candidates))
            value = [float(scores[i, r]) + float(np.mean([scores[c][rows_of.subtree(r)].max() for c in kids[i]]))
                     for r in candidates]
        else:
            value = [float(scores[i, r]) for r in candidates]
        ranked = [candidates[j] for j in np.argsort(-np.asarray(value), kind="stable")[:k]]
        best = fixed.get(i, ranked[0])
        chosen[i] = best
        alternatives = [{"node": rows_of.nodes[r], "score": round(float(scores[i, r]), 4)} for r in ranked]
        records.append((node, rows_of.nodes[best], round(float(scores[i, best]), 4), alternatives))
    frame = pd.DataFrame(records, columns=["catalog_node", "target_node", "score", "alternatives"])
    return frame.sort_values("catalog_node", kind="stable").reset_index(drop=True)


def propose_mapping(source: Taxonomy, target: Taxonomy, *, model: str = "default", method: str = "embedding",
                    workspace: Workspace | None = None, products: Mapping[str, Sequence[str]] | None = None,
                    product_weight: float = PRODUCT_WEIGHT, consistent: bool = True, k: int = TOP_K,
                    source_nodes: Sequence[str] | None = None, target_nodes: Sequence[str] | None = None,
                    fixed: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Propose a target node for every node of ``source`` (see the module docstring).

    ``method``: ``"embedding"`` (``model``'s path embeddings, blended with ``products``, the
    texts of each source node's products) or ``"lexical"`` (TF-IDF over path names).
    """
    source_nodes = list(source_nodes) if source_nodes is not None else source.nodes
    target_nodes = list(target_nodes) if target_nodes is not None else target.nodes
    if not source_nodes or not target_nodes:
        raise WorkbenchError("nothing to map: the source or the target tree has no categories")
    if method == "lexical":
        src, tgt = lexical_vectors(source, source_nodes, target, target_nodes)
    elif method == "embedding":
        src, tgt = embedding_vectors(source, source_nodes, target, target_nodes, model=model,
                                     workspace=workspace, products=products, product_weight=product_weight)
    else:
        raise WorkbenchError(f"unknown mapping method {method!r}; use 'embedding' or 'lexical'")
    return match_nodes(source, source_nodes, src, target, target_nodes, tgt, k=k,
                       consistent=consistent, fixed=fixed)


def node_products(ws: Workspace, taxonomy: Taxonomy, per_node: int = PRODUCTS_PER_NODE,
                  seed: int = 0) -> dict[str, list[str]]:
    """A seeded sample of up to ``per_node`` product titles under every node (its subtree)."""
    frame = ws.df("SELECT title, leaf FROM products WHERE leaf IS NOT NULL AND label_source IN "
                  "('catalog', 'human') ORDER BY product_id")
    if frame.empty:
        return {}
    rng = np.random.default_rng(seed)
    frame = frame.iloc[rng.permutation(len(frame))]
    out: dict[str, list[str]] = {}
    for leaf, titles in frame.groupby("leaf", sort=True)["title"]:
        if leaf not in taxonomy:
            continue
        for node in taxonomy.ancestors(leaf):
            bucket = out.setdefault(node, [])
            if len(bucket) < per_node:
                bucket.extend(titles.iloc[: per_node - len(bucket)].tolist())
    return out


def map_catalog(ws: Workspace, to: str, *, model: str = "default", use_products: bool = True,
                consistent: bool = True, method: str = "embedding",
                standard: SourceTaxonomy | None = None, under: Sequence[str] | None = None) -> pd.DataFrame:
    """Map the workspace taxonomy onto the standard tree ``to`` and store the proposals
    (people's accepted or edited rows are kept and constrain their children). ``under``: map
    only onto these parts of the standard tree (full paths such as ``"Electronics"``). Returns
    the stored mapping."""
    from workbench.catalog.relabel import load_taxonomy

    kind = check_kind(to)
    standard = standard or load_source(kind)
    catalog = load_taxonomy(ws)
    reviewed = load_mapping(ws, kind)
    reviewed = reviewed[reviewed["status"].isin(REVIEWED)]
    products = node_products(ws, catalog) if use_products and method == "embedding" else None
    targets = None
    if under:
        missing = [u for u in under if u not in standard.taxonomy]
        if missing:
            raise WorkbenchError(f"{missing[0]!r} is not a node of the {kind} taxonomy; pass full paths "
                                 f"such as {standard.taxonomy.roots[0]!r}")
        targets = [n for n in standard.taxonomy.nodes if any(n == u or n.startswith(u + SEP) for u in under)]
    frame = propose_mapping(catalog, standard.taxonomy, model=model, method=method, workspace=ws,
                            products=products, consistent=consistent, target_nodes=targets,
                            fixed=dict(zip(reviewed["catalog_node"], reviewed["target_node"])))
    frame["target_id"] = [standard.source_ids.get(t) for t in frame["target_node"]]
    label = f"{method}:{model_id(model)}" if method == "embedding" else method
    store_proposals(ws, kind, frame, method=label + ("+products" if products else ""))
    return load_mapping(ws, kind)
