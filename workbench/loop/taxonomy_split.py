"""Split a leaf into new children by a rule: keywords, a notebook-supplied mapping, or a trained
run's predictions restricted to the children (:func:`_place_by_run`). Products the rule cannot
place wait in the review queue with the reason ``taxonomy split``."""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.catalog.taxonomy import SEP, Taxonomy, node_id, split_node_id
from workbench.errors import WorkbenchError
from workbench.loop.taxonomy_plan import TaxonomyChange, _apply, _check_name, _known, _Plan
from workbench.loop.taxonomy_rewrites import TAXONOMY_SPLIT, _level_names
from workbench.store import Workspace


def _word_rule(keywords: Mapping[str, Sequence[str]]) -> dict[str, re.Pattern]:
    out = {}
    for child, words in keywords.items():
        words = [str(w).strip() for w in words if str(w).strip()]
        if not words:
            raise WorkbenchError(f"the keyword rule gives no keyword for {child!r}; give at least one")
        out[child] = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)
    return out


def split(ws: Workspace, node: str, children: Sequence[str], *, by: str,
          keywords: Mapping[str, Sequence[str]] | None = None, mapping: Mapping[str, str] | None = None,
          run: str | None = None, min_confidence: float = 0.5) -> TaxonomyChange:
    """Split a leaf into new children. The rule that places its products is one of ``keywords``
    (``{child: [words]}``: a title or description holding a word of exactly one child goes
    there), ``mapping`` (``{product_id: child}``, from a notebook) or ``run`` (that run's
    predictions restricted to the children: the most probable child with at least
    ``min_confidence`` of the children's probability). Products the rule cannot place go to the
    review queue with the reason ``taxonomy split``; a threshold override of the leaf now
    covers its children (inherited) and is flagged."""
    rules = [r for r in (keywords, mapping, run) if r]
    if len(rules) != 1:
        raise WorkbenchError("a split takes one rule: keywords (--keywords CHILD=word,word), a mapping "
                             "(--mapping FILE.csv of product_id,child) or a run (--run RUN)")
    names = [_check_name(c) for c in children]
    if len(names) < 2 or len(set(names)) != len(names):
        raise WorkbenchError(f"a split needs at least two distinct children, got {names}")

    def build(cur, taxonomy: Taxonomy) -> _Plan:
        leaf = _known(taxonomy, node)
        if not taxonomy.is_leaf(leaf):
            raise WorkbenchError(f"{leaf!r} has children already; split one of its leaves, or add a child")
        paths = {n: node_id((*split_node_id(leaf), n)) for n in names}
        products = cur.execute("SELECT product_id, title, description FROM products WHERE leaf = ? "
                               "ORDER BY product_id", [leaf]).df()
        retrain = None
        if keywords:
            unknown = sorted(set(keywords) - set(names))
            if unknown:
                raise WorkbenchError(f"keywords for {unknown}, which are not among the children {names}")
            patterns = _word_rule(keywords)
            placed = {}
            for pid, title, desc in products.itertuples(index=False):
                text = f"{title or ''} {desc or ''}"
                hits = [c for c, p in patterns.items() if p.search(text)]
                placed[str(pid)] = paths[hits[0]] if len(hits) == 1 else None
            rule = "keywords"
        elif mapping:
            bad = sorted({str(c) for c in mapping.values()} - set(names))
            if bad:
                raise WorkbenchError(f"the mapping names {bad[:3]}, which are not among the children {names}")
            placed = {str(pid): paths.get(str(mapping.get(str(pid)))) if str(pid) in mapping else None
                      for pid in products["product_id"]}
            rule = "mapping"
        else:
            placed, retrain = _place_by_run(ws, cur, str(run), products, paths, min_confidence)
            rule = f"run {run}"
        level_names = _level_names(cur, taxonomy)
        nodes = [*taxonomy.nodes, *paths.values()]
        Taxonomy.from_node_ids(nodes, level_names)  # checks the new tree
        placed_n = sum(v is not None for v in placed.values())
        flags = [f"{placed_n:,} of {len(placed):,} products placed by the rule; the rest wait in "
                 f"the review queue ({TAXONOMY_SPLIT!r})"]
        arguments = {"node": leaf, "children": names, "rule": rule}
        if retrain:
            flags.append(retrain["message"])
            arguments["retrain"] = retrain["command"]
        return _Plan("split", arguments, {}, nodes,
                     review_nodes=[leaf], product_leaf=placed, moved_nodes=[leaf], queue_reason=TAXONOMY_SPLIT,
                     thresholds=_inherit(leaf), flags=flags,
                     queue_detail={"retrain": retrain["command"]} if retrain else {})
    return _apply(ws, build, by)


def _inherit(leaf: str):
    def apply(frame: pd.DataFrame, taxonomy: Taxonomy):
        has = ((frame["scope"] == "category") & (frame["node"] == leaf)).any()
        return frame.copy(), ([f"threshold override of {leaf!r} is inherited by its new children; review it"]
                              if has else [])
    return apply


def retrain_command(ws: Workspace, run_id: str) -> str:
    """The command that trains a run like ``run_id`` (same model kind and split) on the labels of now."""
    row = ws.rows("SELECT model, split FROM runs WHERE run_id = ?", [run_id])
    model, split_kind = (row[0] if row else ("tfidf", "grouped"))
    return f"workbench train --models {model} --split {split_kind} --workspace {ws.path}"


def _place_by_run(ws: Workspace, cur, run_id: str, products: pd.DataFrame, paths: Mapping[str, str],
                  min_confidence: float) -> tuple[dict[str, str | None], dict | None]:
    """Each product's most probable new child under a run (its classes named like the
    children, by full path or by last name), or ``None`` below ``min_confidence``. A run that
    does not know every child (trained before the split) places nothing: every product waits in
    the review queue and a retrain is proposed (the second value: its ``message`` and
    ``command``; ``None`` when the run placed the products)."""
    from workbench.runs.predictor import Predictor, run_model

    model = run_model(ws, run_id)
    classes = [str(c) for c in model.classes_]
    columns = {}
    for name, path in paths.items():
        match = [i for i, c in enumerate(classes) if c == path or c.split(SEP)[-1].strip().lower() == name.lower()]
        if match:
            columns[path] = match
    if len(columns) < len(paths):
        unknown = [n for n, p in paths.items() if p not in columns]
        command = retrain_command(ws, run_id)
        return ({str(pid): None for pid in products["product_id"]},
                {"command": command,
                 "message": f"run {run_id} was trained before this split and does not know "
                            f"{', '.join(map(repr, unknown))}: it placed no product; review the queued products, "
                            f"then retrain: {command}"})
    if products.empty:
        return {}, None
    full = cur.execute("SELECT product_id, title, description, brand, price, department, extra FROM products "
                       "WHERE product_id IN (SELECT unnest(?)) ORDER BY product_id",
                       [products["product_id"].tolist()]).df()
    predictor = Predictor(model, run_id, Taxonomy.from_node_ids(classes))
    proba = predictor.score(predictor.frame(full))
    targets = list(columns)
    scores = np.stack([proba[:, columns[t]].sum(axis=1) for t in targets], axis=1)
    share = scores / np.clip(scores.sum(axis=1, keepdims=True), 1e-12, None)
    best = share.argmax(axis=1)
    return {str(pid): (targets[b] if share[i, b] >= min_confidence else None)
            for i, (pid, b) in enumerate(zip(full["product_id"], best))}, None

