"""Why this category? An explanation as the pages show it (the Classify page, each review item).

:func:`explanation_html` is pure: the raw title with its parts marked (towards the chosen
category / towards the runner-up), the terms of each side, the probability at every level, the
min-risk reason and the nearest labelled products with their photos and whether they agree.
Every text from a seller or a catalog is escaped. :func:`product_why_html` computes one stored
product's explanation on demand (the item shown, never the whole selection).
"""

from __future__ import annotations

from typing import Any, Mapping

from workbench.security.safe_text import escape_html
from workbench.app.style import STYLESHEET
from workbench.errors import WorkbenchError

#: the stylesheet of the reasons boxes (the app's one stylesheet)
WHY_STYLE = STYLESHEET


def _terms(items) -> str:
    seen, shown = set(), []
    for t in items or []:
        text = t["term"].strip()
        if text in seen:
            continue
        seen.add(text)
        shown.append(f"<code>{escape_html(text)}</code> {t['contribution']:+.2f}")
    return ", ".join(shown) or "none"


def explanation_html(exp: Mapping[str, Any], photos: Mapping[str, str] | None = None) -> str:
    """One explanation (an answer of :func:`workbench.runs.explain.explain`) as escaped HTML."""
    parts = [f"<div class='wb-why'><div class='wb-why-title'>{exp.get('html') or escape_html(exp.get('title'))}</div>"]
    runner = exp.get("runner_up") or {}
    parts.append(f"<div><b>{escape_html(exp.get('category'))}</b> ({exp.get('confidence', 0):.0%}); runner-up "
                 f"{escape_html(runner.get('category'))} ({runner.get('probability', 0):.0%})</div>")
    terms = exp.get("terms")
    if terms:
        parts.append("<div class='wb-why-terms'>Words for it: " + _terms(terms.get("chosen"))
                     + "<br>Words for the runner-up: " + _terms(terms.get("runner_up")) + "</div>")
    else:
        parts.append("<div class='wb-why-terms'>This model family names no words; see the products like it.</div>")
    levels = exp.get("level_probabilities") or []
    if levels:
        parts.append("<div class='wb-why-levels'>" + " › ".join(
            f"{escape_html(lvl['category'])} {lvl['probability']:.0%}" for lvl in levels) + "</div>")
    if exp.get("min_risk"):
        parts.append(f"<div class='wb-why-minrisk'>{escape_html(exp['min_risk']['why'])}</div>")
    photo = exp.get("photo")
    if photo:
        parts.append(f"<div class='wb-why-photo-share' data-photo-share='{photo['photo_share']:.4f}'>"
                     f"Photo {photo['photo_share']:.0%} · title {photo['text_share']:.0%} of the decision: "
                     f"{escape_html(photo['why'])}</div>")
        near_photo = photo.get("neighbours")
        if near_photo:
            agree = sum(1 for n in near_photo if n["agrees"])
            pic = lambda n: (f"<img class='wb-why-photo' src='{escape_html((photos or {})[n['product_id']])}' alt=''>"  # noqa: E731
                             if (photos or {}).get(n["product_id"]) else "")
            items = "".join(f"<li>{pic(n)}{escape_html(n['title'])} — {escape_html(n['category'])} ({n['similarity']:.2f}) "
                            + ("<span class='wb-agrees'>✓ agrees</span>" if n["agrees"] else
                               "<span class='wb-differs'>✗ differs</span>") + "</li>" for n in near_photo)
            parts.append(f"<div class='wb-why-photo-neighbours'>Products whose photos look like this were labelled "
                         f"({agree} of {len(near_photo)} agree):<ul>{items}</ul></div>")
    near = exp.get("neighbours")
    if near:
        agree = sum(1 for n in near if n["agrees"])
        items = []
        for n in near:
            uri = (photos or {}).get(n["product_id"])
            img = f"<img class='wb-why-photo' src='{escape_html(uri)}' alt=''>" if uri else ""
            mark = "<span class='wb-agrees'>✓ agrees</span>" if n["agrees"] else "<span class='wb-differs'>✗ differs</span>"
            items.append(f"<li>{img}{escape_html(n['title'])} — {escape_html(n['category'])} "
                         f"({n['similarity']:.2f}) {mark}</li>")
        parts.append(f"<div class='wb-why-neighbours'>Products like this were labelled ({agree} of {len(near)} "
                     f"agree):<ul>{''.join(items)}</ul></div>")
    elif exp.get("neighbours_note"):
        parts.append(f"<div class='wb-why-neighbours wb-muted'>No products like it: "
                     f"{escape_html(exp['neighbours_note'])}</div>")
    parts.append("</div>")
    return "".join(parts)


def neighbour_photos(ws, exp: Mapping[str, Any]) -> dict[str, str]:
    """Small photos of an explanation's neighbours (the allowed image folders only)."""
    from workbench.app.thumbnails import image_roots, thumbnail_uri

    roots = image_roots(ws)
    out = {}
    for n in (exp.get("neighbours") or []) + ((exp.get("photo") or {}).get("neighbours") or []):
        uri = thumbnail_uri(n.get("image"), roots) if n.get("image") else None
        if uri:
            out[n["product_id"]] = uri
    return out


def product_why_html(ws, product_id: str | None, run_id: str | None = None) -> str:
    """The explanation of one stored product by a run (``None``: the default run), or one line
    saying why there is none."""
    from workbench.runs.explain import explain, stored_products

    if not product_id:
        return ""
    try:
        [exp] = explain(ws, run_id, stored_products(ws, [product_id]), 5)
    except WorkbenchError as exc:
        return f"<div class='wb-why'>No explanation: {escape_html(exc)}</div>"
    return explanation_html(exp, neighbour_photos(ws, exp))


def neighbour_labels(exp: Mapping[str, Any]) -> list[tuple[str, int]]:
    """``[(category, how many of the neighbours), ...]`` of an explanation's labelled products,
    most first (ties: the nearest first)."""
    counts: dict[str, int] = {}
    for n in exp.get("neighbours") or []:
        counts[n["category"]] = counts.get(n["category"], 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


def short_why_html(exp: Mapping[str, Any] | None, names=None) -> str:
    """The reasons of one grid card in two lines (escaped): the strongest words for the
    category, and "products like this were labelled ..." with how many of the neighbours agree
    (``data-agree``/``data-of``; a card whose neighbours mostly differ is marked
    ``wb-why-differs``). ``names``: a leaf's display name."""
    if not exp:
        return "<div class='wb-why-short wb-muted'>No reasons for this product.</div>"
    if exp.get("error"):
        return f"<div class='wb-why-short wb-muted'>No reasons: {escape_html(exp['error'])}</div>"
    note = (f"<div class='wb-muted'>No products like it: {escape_html(exp['neighbours_note'])}</div>"
            if exp.get("neighbours_note") else "")
    name = names or str

    def short(leaf: str) -> str:  # the last level on the card, the whole path on hover
        full = name(leaf)
        return f"<span title='{escape_html(full)}'>{escape_html(full.split(' > ')[-1])}</span>"

    seen, words = set(), []
    for t in ((exp.get("terms") or {}).get("chosen") or []):
        text = t["term"].strip()
        if text not in seen and len(words) < 3:
            seen.add(text)
            words.append(f"<code>{escape_html(text)}</code>")
    line = f"<div>Why: {', '.join(words)}</div>" if words else ""
    near = exp.get("neighbours") or []
    agree = sum(1 for n in near if n["agrees"])
    css = "wb-why-short" + (" wb-why-differs" if near and agree * 2 < len(near) else "")
    if near:
        labels = ", ".join(f"{short(leaf)} ×{n}" for leaf, n in neighbour_labels(exp))
        line += (f"<div class='wb-why-like'>Products like this were labelled {labels} "
                 f"<span class='wb-muted'>({agree} of {len(near)} agree)</span></div>")
    return (f"<div class='{css}' data-agree='{agree}' data-of='{len(near)}'>"
            f"{line or 'No reasons for this product.'}{note}</div>")


def grid_reasons(ws, items) -> dict[str, dict]:
    """The explanations of a grid's stored products (``product_id`` and ``run_id`` each), one
    batch per run (the model runs once per run); a run that cannot explain gives each of its
    products ``{"error": why}``."""
    from workbench.runs.explain import explain, stored_products

    by_run: dict[Any, list[str]] = {}
    for item in items:
        by_run.setdefault(item.get("run_id"), []).append(str(item["product_id"]))
    out: dict[str, dict] = {}
    for run_id, ids in by_run.items():
        try:
            for exp in explain(ws, run_id, stored_products(ws, ids), 3):
                out[str(exp["product_id"])] = exp
        except WorkbenchError as exc:
            out.update({pid: {"error": str(exc)} for pid in ids})
    return out


def misleading_html(found: Mapping[str, Any] | None, wrong: int = 0) -> str:
    """What misleads the model in a selection (an answer of
    :func:`workbench.runs.explain.misleading_terms_of`), as escaped HTML: each term with how many
    of the wrong predictions it is behind, and the pairs of categories they mix up."""
    if found is None:
        return ""
    n = found.get("products", 0)
    if not n:
        return "<div class='wb-misleading wb-muted' data-products='0'>No wrong prediction among these products.</div>"
    more = f" (the first {n:,} of {wrong:,})" if wrong > n else ""
    terms = found.get("terms") or []
    if not terms:
        body = "<p>This model family names no words; open a row's ▸ to see the products like it.</p>"
    else:
        rows = "".join(f"<tr><td><code>{escape_html(t['term'])}</code></td><td>{escape_html(t['kind'])}</td>"
                       f"<td class='wb-num'>{t['products']:,}</td><td class='wb-num'>{t['share']:.0%}</td></tr>"
                       for t in terms)
        body = ("<table class='wb-misleading-terms'><thead><tr><th>term</th><th>kind</th>"
                "<th>wrong predictions</th><th>share</th></tr></thead><tbody>" + rows + "</tbody></table>")
    pairs = found.get("pairs") or []
    leaf = lambda path: escape_html(str(path).split(" > ")[-1])  # noqa: E731
    example = ""
    if len(pairs) == 1 and terms:
        example = (f"<p class='wb-misleading-example'><code>{escape_html(terms[0]['term'])}</code> in titles of "
                   f"{leaf(pairs[0]['true'])} sends them to {leaf(pairs[0]['predicted'])}.</p>")
    elif pairs:
        example = ("<p class='wb-misleading-example'>Most common mix-ups: " + ", ".join(
            f"{leaf(p['true'])} → {leaf(p['predicted'])} ({p['products']:,})" for p in pairs[:3]) + ".</p>")
    what = "the wrong prediction" if n == 1 else f"the {n:,} wrong predictions"
    return (f"<div class='wb-misleading' data-products='{n}'><p>Terms most often behind {what}{more}: "
            "the words that pushed the model towards the wrong category.</p>"
            f"{body}{example}</div>")
