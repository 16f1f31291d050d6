"""Why this category? One explanation per prediction, through the one predictor.

:func:`explain` (``wb.explain``, ``workbench explain``, ``explain: true`` on ``/v1/classify``,
the Classify and Review pages) answers, for each product, the predictor's own answer plus

* ``terms``: for a linear text model (``tfidf``; ``hierarchical``: the head of the node where
  the chosen leaf and the runner-up part), the word and character n-grams pushing most towards
  the chosen leaf and towards the runner-up (model weight x TF-IDF value), each with its spans
  in the title as the seller wrote it (``title_raw``; through the cleaning, any script);
* ``words``: each word of the raw title with its summed push towards the chosen leaf, and
  ``html``: the raw title, escaped, its parts marked;
* ``level_probabilities``: the probability of the chosen path at every level of the taxonomy;
* ``min_risk``: under the ``min-risk`` rule, when it moved away from the most probable leaf,
  that leaf and the expected tree distance of both;
* ``neighbours``: the nearest labelled catalog products in the text embedding (title,
  category, similarity, whether they agree), through :class:`NeighbourIndex` over the
  workspace's stored embeddings (built once, then read from files: no scan per request);
* ``photo``: for a model that reads photos (``fusion``, ``image``, an ensemble with one) and a
  product with a photo, the chosen leaf's probability with and without the photo, what the
  text alone would choose, and the photo's and the text's share of the decision.

The model, its taxonomy, thresholds, cleaning and decision rule are the predictor's
(:mod:`workbench.runs.predictor`): the explanation is of exactly the answer every surface gives.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.embeddings.neighbour_index import NeighbourIndex
from workbench.errors import WorkbenchError
from workbench.evaluate.explain_terms import RawTitle, char_scores, highlight_html, linear_terms, present_features
from workbench.runs.explain_photo import has_photo, photo_index_model, photo_member, photo_share, reads_photos
from workbench.runs.predictor import Predictor, cleaned_text
from workbench.store import Workspace

#: the text the stored embeddings were made from (``workbench.embeddings.embed.DEFAULT_TEMPLATE``)
QUERY_TEMPLATE = "{title} | {brand}"


# the neighbour index over stored embeddings --------------------------------------------------

from workbench.runs.explain_index import load_neighbour_index, neighbour_index

#: why an explanation lists no nearest labelled products where the explainer has no index
#: (the command line builds one on first use, so there it means nothing is embedded)
NOT_EMBEDDED_NOTE = "no labelled product is embedded yet; run `workbench embed` to list the nearest ones"


def _class_row(head, classes: np.ndarray, col: int) -> np.ndarray | None:
    """The coefficient row of class column ``col`` of a linear head (two classes: +-row)."""
    coef = head.coef_
    coef = coef.toarray() if hasattr(coef, "toarray") else np.asarray(coef)
    where = np.flatnonzero(np.asarray(classes) == col)
    if not len(where):
        return None
    if coef.shape[0] == 1 and len(classes) == 2:
        return coef[0] if where[0] == 1 else -coef[0]
    return coef[where[0]]


def linear_parts(predictor: Predictor, chosen: int, runner: int):
    """``(feature union, weights towards chosen, weights towards runner-up, fields, note)`` of a
    linear text model, or ``None`` for another family (or hashed features, which name no terms)."""
    model = predictor.model
    kind = getattr(model, "kind", "")
    if kind == "tfidf":
        pipe = getattr(model, "pipeline_", None)
        if pipe is None or getattr(model, "classifier", "") == "sgd":
            return None
        head = pipe.named_steps["clf"]
        seen = np.asarray(head.classes_, dtype=np.int64)
        w_b, w_r = _class_row(head, seen, chosen), _class_row(head, seen, runner)
        if w_b is None:
            return None
        return pipe.named_steps["tfidf"], w_b, w_r, model.fields, "leaf"
    if kind == "hierarchical":
        tax = predictor.taxonomy
        a, b = predictor.classes[chosen], predictor.classes[runner]
        anc_a, anc_b = tax.ancestors(a), tax.ancestors(b)
        # ancestors() lists the top level first, the node itself last
        common = [n for n in anc_a if n in set(anc_b)]
        node = common[-1] if common else ""
        heads = getattr(model, "heads_", {})
        if node not in heads:
            return None
        head = heads[node]
        children = model.children_[node]
        child_a = next(n for n in anc_a if tax.parent(n) == (node or None))
        child_b = next(n for n in anc_b if tax.parent(n) == (node or None))
        cols = np.asarray(head.classes_, dtype=np.int64)
        w_b = _class_row(head, cols, children.index(child_a))
        w_r = _class_row(head, cols, children.index(child_b))
        if w_b is None:
            return None
        return model.features_, w_b, w_r, model.fields, tax.name(node) if node else "top level"
    return None


class _Texts:
    """The model's text of each row of a frame, per set of fields (built once per call)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self._made: dict[tuple, list[str]] = {}

    def get(self, i: int, fields: Sequence[str]) -> str:
        from workbench.models.base import product_texts

        key = tuple(fields)
        if key not in self._made:
            self._made[key] = product_texts(self.frame, list(fields))
        return self._made[key][i]


# the explainer --------------------------------------------------------------------------------

def _answers(predictor: Predictor, records, frame: pd.DataFrame, proba: np.ndarray, top_k: int,
             decision: str) -> list[dict[str, Any]]:
    """The predictor's own answers (:meth:`Predictor.predict`) for probabilities already scored:
    a shallow copy of the predictor whose ``score`` returns them (the model runs once)."""
    scored = copy.copy(predictor)
    scored.score = lambda _frame: proba
    return scored.predict(records, top_k=top_k, frame=frame, decision=decision)


class Explainer:
    """A predictor and, when there is one, the neighbour index: products in, explanations out
    (the same answer for the notebook call, the CLI, the API and the pages)."""

    def __init__(self, predictor: Predictor, index: NeighbourIndex | None = None, model: str = "default",
                 note: str | None = None, photo_index: NeighbourIndex | None = None):
        self.predictor = predictor
        self.index = index
        #: the labelled products' photo vectors (a photo-reading model's photo neighbours), or None
        self.photo_index = photo_index
        self.model = model
        #: why there are no neighbours although they were asked for (a stale index), or None
        self.note = note
        p = predictor
        # the node of each class column at each level (for the per-level probabilities)
        self._level_nodes = [[" > ".join(path[: lvl + 1]) if len(path) > lvl else None for path in p.paths]
                             for lvl in range(max((len(x) for x in p.paths), default=0))]

    def embed(self, frame: pd.DataFrame) -> np.ndarray:
        """Query vectors of model inputs, as the stored embeddings were made."""
        from workbench.embeddings.embed import embed_texts, render_texts

        return embed_texts(render_texts(frame, QUERY_TEMPLATE), self.model)

    def explain(self, products: Sequence[Mapping[str, Any]] | pd.DataFrame, k: int = 5, *,
                neighbours: int = 5, decision: str = "argmax", top_k: int = 5,
                vectors: np.ndarray | None = None) -> list[dict[str, Any]]:
        """One explanation per product (see the module docstring); ``k`` terms per side,
        ``neighbours`` nearest labelled products (0: none); ``vectors``: the products' stored
        embeddings when they have them (else their text is encoded)."""
        records = products.to_dict("records") if isinstance(products, pd.DataFrame) else [dict(x) for x in products]
        frame = self.predictor.frame(records)
        return self.explain_frame(records, frame, k, neighbours=neighbours, decision=decision, top_k=top_k,
                                  vectors=vectors)

    def explain_frame(self, records: list[dict[str, Any]], frame: pd.DataFrame, k: int = 5, *,
                      neighbours: int = 5, decision: str = "argmax", top_k: int = 5,
                      vectors: np.ndarray | None = None) -> list[dict[str, Any]]:
        """:meth:`explain` of ``records`` already cleaned into the predictor's ``frame``
        (:meth:`Predictor.frame`): the model scores them once."""
        p = self.predictor
        if frame.empty:
            return []
        proba = p.score(frame)
        answers = _answers(p, records, frame, proba, top_k, decision)
        decided = p.decide(proba, decision)
        photos = [has_photo(v) for v in frame["image"]] if "image" in frame and reads_photos(p.model) else []
        text_only = p.score(frame.assign(image=None)) if any(photos) else None
        photo_found = self._photo_neighbours(frame, records, int(neighbours)) if text_only is not None else None
        found, note = None, self.note if neighbours else None
        if neighbours and note is None and (self.index is None or not len(self.index)):
            note = NOT_EMBEDDED_NOTE
        if neighbours and self.index is not None and len(self.index):
            ids = [r.get("product_id") for r in records]
            try:
                found = self.index.search(self.embed(frame) if vectors is None else vectors, int(neighbours),
                                          exclude=ids)
            except WorkbenchError as exc:  # built from other embeddings: the rest of the explanation stands
                note = str(exc)
        out = []
        texts = _Texts(frame)
        for i, answer in enumerate(answers):
            chosen = int(decided.index[i])
            row = proba[i].copy()
            row[chosen] = -np.inf
            runner = int(np.argmax(row)) if len(row) > 1 else chosen
            raw = records[i].get("title_raw") or records[i].get("title") or ""
            exp = {"product_id": records[i].get("product_id"), "title": str(raw), **answer,
                   "runner_up": {"category": p.classes[runner], "probability": float(proba[i, runner])}}
            exp.update(self._terms(lambda fields, i=i: texts.get(i, fields), str(raw), chosen, runner, k))
            exp["level_probabilities"] = self._levels(proba[i], chosen)
            exp["min_risk"] = self._min_risk(proba[i], chosen) if decision == "min-risk" else None
            exp["neighbours"] = None if found is None else self._neighbours(found[i], answer["category"])
            exp["neighbours_note"] = note
            exp["photo"] = (photo_share(proba[i], text_only[i], chosen, p.classes)
                            if text_only is not None and photos[i] else None)
            if exp["photo"] is not None and photo_found is not None:
                exp["photo"]["neighbours"] = (self._neighbours(photo_found[i], answer["category"], self.photo_index)
                                              if photo_found[i] is not None else None)
            out.append(exp)
        return out

    # parts ------------------------------------------------------------------------------------
    def _terms(self, text_of, raw: str, chosen: int, runner: int, k: int) -> dict[str, Any]:
        parts = linear_parts(self.predictor, chosen, runner) if runner != chosen else None
        if parts is None:
            return {"terms": None, "words": [], "spans": [], "html": highlight_html(raw, [])}
        union, w_b, w_r, fields, at = parts
        cols, values, names = present_features(union, text_of(fields))
        title = RawTitle(raw)
        spans_of = {name: title.spans(name[1], name[0]) for name in set(names)}

        def listed(weights) -> list[dict]:
            if weights is None:
                return []
            return [{"term": t.text, "kind": t.kind, "value": round(t.value, 6), "weight": round(t.weight, 6),
                     "contribution": round(t.contribution, 6),
                     "spans": [list(s) for s in spans_of[(t.kind, t.text)]]}
                    for t in linear_terms(cols, values, names, weights, k)]

        terms = {"at": at, "chosen": listed(w_b), "runner_up": listed(w_r)}
        marks = [(s, e, t["contribution"]) for t in terms["chosen"] for s, e in t["spans"]]
        marks += [(s, e, -t["contribution"]) for t in terms["runner_up"] for s, e in t["spans"]]
        # every word of the raw title: the summed push of all its features towards the chosen leaf
        contrib = np.asarray(w_b)[cols] * values if len(cols) else np.zeros(0)
        pushes = []
        for name, c in zip(names, contrib):
            for s, e in spans_of[name]:
                pushes.append((s, e, float(c) / max(1, e - s)))
        per_char = char_scores(len(raw), pushes)
        words = [{"word": raw[a:b], "start": a, "end": b, "score": round(float(per_char[a:b].sum()), 6)}
                 for a, b in title.word_spans()]
        return {"terms": terms, "words": words, "spans": [[s, e, round(v, 6)] for s, e, v in marks],
                "html": highlight_html(raw, marks)}

    def _levels(self, row: np.ndarray, chosen: int) -> list[dict[str, Any]]:
        p = self.predictor
        out = []
        for lvl, nodes in enumerate(self._level_nodes):
            node = nodes[chosen]
            if node is None:
                break
            mass = float(sum(row[j] for j, n in enumerate(nodes) if n == node))
            name = p.level_names[lvl] if lvl < len(p.level_names) else f"level {lvl + 1}"
            out.append({"level": name, "category": p.paths[chosen][lvl], "probability": mass})
        return out

    def _min_risk(self, row: np.ndarray, chosen: int) -> dict[str, Any] | None:
        from workbench.evaluate.decision import expected_tree_distance

        p = self.predictor
        top = int(np.argmax(row))
        if top == chosen:
            return None
        risk = expected_tree_distance(row[None, :], classes=p.classes, taxonomy=p.taxonomy)[0]
        return {"argmax": p.classes[top], "argmax_probability": float(row[top]),
                "argmax_expected_distance": float(risk[top]), "chosen_expected_distance": float(risk[chosen]),
                "why": (f"the most probable leaf {p.classes[top]} ({row[top]:.2f}) is on average "
                        f"{risk[top]:.2f} steps from the truth in the tree; {p.classes[chosen]} only "
                        f"{risk[chosen]:.2f}: its neighbours share the probability")}

    def _photo_neighbours(self, frame: pd.DataFrame, records, k: int) -> list | None:
        """Per product, the nearest labelled products by photo (``None`` for a product whose
        photo cannot be read), or ``None`` when there is no photo index or none were asked for."""
        if not k or self.photo_index is None or not len(self.photo_index):
            return None
        from workbench.embeddings.image_embed import product_image_vectors

        member = photo_member(self.predictor.model)
        try:
            vectors, has = product_image_vectors(frame, getattr(member, "image_model", "default"),
                                                 workspace=getattr(member, "workspace", None),
                                                 images_dir=getattr(member, "images_dir", None))
            hits = self.photo_index.search(vectors, k, exclude=[r.get("product_id") for r in records])
        except WorkbenchError:
            return None
        return [h if ok else None for h, ok in zip(hits, has)]

    def _neighbours(self, hits: list[tuple[int, float]], category: str,
                    index: NeighbourIndex | None = None) -> list[dict[str, Any]]:
        rows = (index or self.index).products
        out = []
        for r, sim in hits:
            item = rows.iloc[r]
            image = item.get("image") if "image" in rows else None
            out.append({"product_id": str(item["product_id"]), "title": str(item["title"]),
                        "category": str(item["leaf"]), "similarity": round(float(sim), 6),
                        "agrees": str(item["leaf"]) == str(category),
                        "image": None if image is None or pd.isna(image) else str(image)})
        return out


def explainer_for_run(ws: Workspace, run_id: str | None = None, *, neighbours: bool = True,
                      model: str = "default") -> Explainer:
    """The explainer of a workspace's run (the default run when none is named)."""
    from workbench.runs.selection import default_run

    run_id = run_id or default_run(ws)
    predictor = Predictor.for_run(ws, run_id)
    index, note, photos = None, None, None
    if neighbours:
        try:
            index = neighbour_index(ws, model)
        except WorkbenchError as exc:  # a large stale index: explained without neighbours, and said why
            note = str(exc)
        image_model = photo_index_model(predictor.model)
        if image_model is not None:
            try:
                photos = neighbour_index(ws, image_model)
            except WorkbenchError:  # photos not embedded (`workbench embed --images`), or a stale large index
                photos = None
    return Explainer(predictor, index, model, note, photos)


def explain(ws: Workspace, run_id: str | None, products: Sequence[Mapping[str, Any]] | pd.DataFrame,
            k: int = 5, *, neighbours: int = 5, decision: str = "argmax") -> list[dict[str, Any]]:
    """Why each product gets its category from a run (``None``: the default run): its answer,
    the terms towards the chosen leaf and the runner-up with their spans in the raw title, the
    probability per level, the min-risk reason and the nearest labelled products."""
    explainer = explainer_for_run(ws, run_id, neighbours=bool(neighbours))
    vectors = stored_vectors(ws, products, explainer.model) if neighbours and explainer.index is not None else None
    return explainer.explain(products, k, neighbours=neighbours, decision=decision, vectors=vectors)


def stored_vectors(ws: Workspace, products, model: str = "default") -> np.ndarray | None:
    """The stored embeddings of stored products (a review item, ``--product``), or ``None``
    when any of them has none (their text is then encoded)."""
    from workbench.embeddings.embed import load_product_embeddings

    records = products.to_dict("records") if isinstance(products, pd.DataFrame) else list(products)
    ids = [r.get("product_id") for r in records]
    if not ids or any(i is None for i in ids):
        return None
    try:
        return load_product_embeddings(ws, model, product_ids=[str(i) for i in ids])[1]
    except WorkbenchError:
        return None


def stored_products(ws: Workspace, product_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Stored products as explain inputs (raw title kept), in the order asked; an unknown id is
    one clear error."""
    ids = [str(i) for i in product_ids]
    rows = ws.df("SELECT product_id, title, title_raw, description, brand, price, department, extra, image, leaf "
                 "FROM products WHERE product_id IN (SELECT unnest(?))", [ids])
    missing = sorted(set(ids) - set(rows["product_id"].astype(str)))
    if missing:
        rejected = ws.rows("SELECT source, row_number, reason FROM rejects WHERE product_id = ? "
                           "ORDER BY source, row_number LIMIT 1", [missing[0]])
        if rejected:
            source, row, reason = rejected[0]
            raise WorkbenchError(f"no product {missing[0]!r} in the workspace: row {row} of {source} was rejected "
                                 f"at ingest ({reason}; see `workbench info`); fix the row and ingest again, or "
                                 "explain its title: workbench explain 'TITLE'")
        raise WorkbenchError(f"no product {missing[0]!r} in the workspace; pass the id of a stored product (as "
                             "`workbench label-issues` or `workbench queue show` list them), or explain a title: "
                             "workbench explain 'TITLE'")
    rows = rows.set_index("product_id").loc[ids].reset_index()
    return rows.to_dict("records")


def misleading_terms(ws: Workspace, run_id: str | None, true_leaf: str, predicted_leaf: str | None = None,
                     k: int = 10, *, part: str = "test", limit: int = 300) -> dict[str, Any]:
    """What misleads the model in a confusion cell (``predicted_leaf`` given) or for a category
    (every wrong prediction of its products): the terms most often among the top terms of its
    wrong predictions, with how many products they are behind."""
    from workbench.runs.records import load_predictions
    from workbench.runs.selection import default_run

    run_id = run_id or default_run(ws)
    preds = load_predictions(ws, run_id, part)
    predicted = preds.classes[np.argmax(preds.proba, axis=1)] if len(preds.proba) else np.array([], dtype=object)
    wrong = (preds.y_true == true_leaf) & (predicted != true_leaf)
    if predicted_leaf is not None:
        wrong &= predicted == predicted_leaf
    found = misleading_terms_of(ws, run_id, [str(i) for i in preds.product_ids[wrong]], k, limit=limit)
    return {**found, "true": true_leaf, "predicted": predicted_leaf}


def misleading_terms_of(ws: Workspace, run_id: str | None, product_ids: Sequence[str], k: int = 10, *,
                        limit: int = 300) -> dict[str, Any]:
    """The terms most often behind a run's predictions of ``product_ids`` (the wrong ones of a
    confusion cell or a category; the first ``limit``): ``run_id``, ``products`` (how many were
    explained), ``terms`` (``term, kind, products, share, total``, most frequent first) and
    ``pairs`` (``true -> predicted`` category of each explained product, most frequent first)."""
    from collections import Counter

    from workbench.evaluate.explain_terms import aggregate_terms
    from workbench.runs.selection import default_run

    run_id = run_id or default_run(ws)
    ids = [str(i) for i in product_ids][: max(0, int(limit))]
    products = stored_products(ws, ids) if ids else []
    explanations = explain(ws, run_id, products, k, neighbours=0) if ids else []
    pairs = Counter((str(p.get("leaf")), e["category"]) for p, e in zip(products, explanations))
    return {"run_id": run_id, "products": len(ids), "terms": aggregate_terms(explanations, k),
            "pairs": [{"true": t, "predicted": c, "products": n} for (t, c), n in pairs.most_common()]}


#: the parts of an explanation beside the predictor's answer (the API's ``explanation``)
EXPLANATION_KEYS = ("runner_up", "terms", "words", "spans", "html", "level_probabilities", "min_risk", "neighbours",
                    "neighbours_note", "photo")


#: the keys of :meth:`Explainer.explain`'s items that are not the predictor's answer
_NOT_ANSWER = frozenset(EXPLANATION_KEYS) | {"product_id", "title"}


def explanation_of(exp: Mapping[str, Any]) -> dict[str, Any]:
    """The explanation part of :func:`explain`'s answer (what the API adds as ``explanation``)."""
    return {key: exp.get(key) for key in EXPLANATION_KEYS}


def explain_answers(predictor: Predictor, root: str | Path, products: Sequence[Mapping[str, Any]],
                    top_k: int = 5, decision: str = "argmax", k: int = 5,
                    neighbours: int = 5) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The API's answers with their ``explanation`` (the same as :func:`explain` of the same
    run), and the cleaned text of each product; the model scores each product once. The
    neighbour index is read from the workspace folder's files, never its database."""
    image_model = photo_index_model(predictor.model)
    photos = load_neighbour_index(root, image_model) if image_model is not None and neighbours else None
    explainer = Explainer(predictor, load_neighbour_index(root), photo_index=photos)
    records = [dict(x) for x in products]
    frame = predictor.frame(records)
    exps = explainer.explain_frame(records, frame, k, neighbours=neighbours, decision=decision, top_k=top_k)
    answers = [{**{key: value for key, value in exp.items() if key not in _NOT_ANSWER},
                "explanation": explanation_of(exp)} for exp in exps]
    return answers, cleaned_text(frame)
