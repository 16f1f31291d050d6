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
    parts.append("</div>")
    return "".join(parts)


def neighbour_photos(ws, exp: Mapping[str, Any]) -> dict[str, str]:
    """Small photos of an explanation's neighbours (the allowed image folders only)."""
    from workbench.app.thumbnails import image_roots, thumbnail_uri

    roots = image_roots(ws)
    out = {}
    for n in exp.get("neighbours") or []:
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
