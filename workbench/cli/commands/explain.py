"""``workbench explain``: why a title (or a stored product) gets its category, and what misleads
the model in a confusion cell."""

from __future__ import annotations

import json

from workbench.errors import WorkbenchError
from workbench.store import Workspace


def register(sub, common) -> None:
    """Add the ``explain`` subcommand."""
    e = sub.add_parser("explain", parents=[common], help="why a product gets its category",
                       description="The words of the title pushing towards the chosen category and the "
                                   "runner-up, the probability at each level, and the nearest labelled "
                                   "products (`workbench embed` first). With --true: the terms most often "
                                   "behind a category's (or a confusion cell's) wrong test predictions.")
    e.add_argument("title", nargs="?", help="a product title as the seller wrote it")
    e.add_argument("--product", action="append", metavar="ID", help="a stored product's id (repeatable)")
    e.add_argument("--brand", help="the brand of TITLE")
    e.add_argument("--run", help="run id (default: the promoted serving run, else the best run with a saved model)")
    e.add_argument("-k", type=int, default=5, help="terms per side (default 5)")
    e.add_argument("--neighbours", type=int, default=5, help="nearest labelled products (default 5; 0: none)")
    e.add_argument("--decision", choices=["argmax", "min-risk"], default="argmax")
    e.add_argument("--true", dest="true_leaf", metavar="LEAF",
                   help="what misleads the model: the wrong test predictions of this true category")
    e.add_argument("--predicted", metavar="LEAF", help="with --true: only those predicted as this category")
    e.add_argument("--build-index", action="store_true", help="(re)build the neighbour index and say how long it took")
    e.add_argument("--json", action="store_true", help="print JSON")
    e.set_defaults(func=run_explain)


def _plain(exp: dict) -> str:
    lines = [f"{exp['title']}", f"  -> {exp['category']} ({exp['confidence']:.2f}, {exp['decision']}); "
                                f"runner-up {exp['runner_up']['category']} ({exp['runner_up']['probability']:.2f})"]
    for lvl in exp.get("level_probabilities") or []:
        lines.append(f"     {lvl['level']}: {lvl['category']} {lvl['probability']:.2f}")
    terms = exp.get("terms")
    if terms is None:
        lines.append("  (this model family names no terms; see the neighbours)" if exp.get("neighbours")
                     else "  (this model family names no terms)")
    else:
        for side, label in (("chosen", "towards the chosen category"), ("runner_up", "towards the runner-up")):
            seen: dict[str, float] = {}
            for t in terms[side]:  # an n-gram read at a word's edge and inside it: shown once
                seen.setdefault(t["term"].strip(), t["contribution"])
            shown = ", ".join(f"{term!r} {c:+.3f}" for term, c in seen.items()) or "none"
            lines.append(f"  {label}: {shown}")
        words = sorted(exp.get("words") or [], key=lambda w: -w["score"])[:3]
        if words:
            lines.append("  strongest words: " + ", ".join(f"{w['word']!r} {w['score']:+.3f}" for w in words))
    if exp.get("min_risk"):
        lines.append(f"  min-risk: {exp['min_risk']['why']}")
    if exp.get("photo"):
        ph = exp["photo"]
        lines.append(f"  photo {ph['photo_share']:.0%}, title {ph['text_share']:.0%} of the decision: {ph['why']}")
    if exp.get("neighbours_note"):
        lines.append(f"  no products like it: {exp['neighbours_note']}")
    for n in exp.get("neighbours") or []:
        mark = "agrees" if n["agrees"] else "differs"
        lines.append(f"  like {n['title']!r} ({n['similarity']:.2f}): {n['category']} [{mark}]")
    return "\n".join(lines)


def run_explain(args) -> int:
    """Handler of ``workbench explain``."""
    from workbench.runs.explain import explain, misleading_terms, stored_products
    from workbench.runs.explain_index import build_neighbour_index

    ws = Workspace(args.workspace)
    if args.build_index:
        index = build_neighbour_index(ws)
        print(f"neighbour index: {len(index):,} labelled products, {len(index.centroids):,} lists, "
              f"built in {index.build_seconds:.1f} s")
        if not args.title and not args.product and not args.true_leaf:
            return 0
    if args.true_leaf:
        found = misleading_terms(ws, args.run, args.true_leaf, args.predicted, args.k)
        if args.json:
            print(json.dumps(found, ensure_ascii=False, indent=2))
            return 0
        cell = f"{found['true']} -> {found['predicted'] or 'any other category'}"
        print(f"{found['products']:,} wrong test predictions of {cell} (run {found['run_id']})")
        for t in found["terms"]:
            print(f"  {t['term']!r}: behind {t['products']} ({t['share']:.0%})")
        return 0
    if args.title and args.product:
        raise WorkbenchError("give a TITLE or --product ID, not both")
    if args.product:
        products = stored_products(ws, args.product)
    elif args.title:
        if not args.title.strip():
            raise WorkbenchError("the title is blank; pass the product's title in quotes")
        products = [{"title": args.title, "brand": args.brand}]
    else:
        raise WorkbenchError('nothing to explain; pass a title (`workbench explain "Nike Men Running Shoes"`) '
                             "or --product ID")
    answers = explain(ws, args.run, products, args.k, neighbours=args.neighbours, decision=args.decision)
    if args.json:
        for a in answers:
            for key in ("leaf", "extra"):
                a.pop(key, None)
        print(json.dumps(answers, ensure_ascii=False, indent=2, default=str))
    else:
        print("\n\n".join(_plain(a) for a in answers))
    return 0
