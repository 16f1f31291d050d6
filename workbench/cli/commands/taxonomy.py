"""``workbench taxonomy ...``: change the taxonomy without losing work (rename, move, merge,
split, add, retire, undo), its versions and history, and proposals from a new taxonomy file
(``diff``, ``import``)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.store import Workspace


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the ``taxonomy`` command group."""
    p = subparsers.add_parser(
        "taxonomy", parents=[common], help="change the taxonomy (rename, move, merge, split, add, retire, undo)",
        description="Every change is a new taxonomy version, recorded with who and when, and reversible "
                    "(`undo`). Products, labels, reviews, the review queue, thresholds and standard-taxonomy "
                    "mappings follow; runs trained before answer with the current paths. Paths as "
                    "`workbench info` shows them (\"Apparel > Topwear > Tshirts\"). Needs the admin role when "
                    "the workspace has users.")
    sub = p.add_subparsers(dest="taxonomy_command", metavar="ACTION")
    who = argparse.ArgumentParser(add_help=False)
    who.add_argument("--by", required=True, help="who makes the change (an admin when the workspace has users)")

    s = sub.add_parser("show", parents=[common], help="the current tree with products per node and its version")
    s.add_argument("--under", default=None, help="only this node's subtree")
    s.set_defaults(func=run_show)
    h = sub.add_parser("history", parents=[common], help="every version: operation, who, when, what it moved")
    h.add_argument("--json", action="store_true", help="print JSON instead of a table")
    h.set_defaults(func=run_history)

    r = sub.add_parser("rename", parents=[common, who], help="give a category a new name (its subtree follows)")
    r.add_argument("node", help="full path of the category")
    r.add_argument("name", help="the new last name (not a path)")
    r.set_defaults(func=run_change, op="rename")
    m = sub.add_parser("move", parents=[common, who], help="move a category with its subtree under another parent")
    m.add_argument("node")
    m.add_argument("--to", required=True, dest="parent", help="the new parent's path ('' for the top level)")
    m.set_defaults(func=run_change, op="move")
    g = sub.add_parser("merge", parents=[common, who], help="merge categories into one (threshold: the stricter)")
    g.add_argument("nodes", nargs="+", help="the categories to merge")
    g.add_argument("--into", required=True, help="the category they become (one of them, or a new sibling path)")
    g.set_defaults(func=run_change, op="merge")
    sp = sub.add_parser("split", parents=[common, who],
                        help="split a leaf into new children; unplaced products go to review ('taxonomy split')")
    sp.add_argument("node", help="the leaf to split")
    sp.add_argument("--children", required=True, help="the new children's names, comma-separated")
    sp.add_argument("--keywords", action="append", metavar="CHILD=WORD,WORD",
                    help="keyword rule for one child (repeat per child); a product matching one child goes there")
    sp.add_argument("--mapping", metavar="CSV", help="a CSV of product_id,child")
    sp.add_argument("--run", "--by-run", dest="run", default=None,
                    help="place products by this run's predictions among the children (a run trained before the "
                         "split places none: all wait in the review queue and the retrain command is printed)")
    sp.add_argument("--min-confidence", type=float, default=0.5,
                    help="with --run: the share of the children's probability the best child needs (default 0.5)")
    sp.set_defaults(func=run_change, op="split")
    a = sub.add_parser("add", parents=[common, who], help="add an empty category (full path)")
    a.add_argument("node")
    a.set_defaults(func=run_change, op="add")
    t = sub.add_parser("retire", parents=[common, who],
                       help="retire a leaf: products to its parent, or to review ('category retired')")
    t.add_argument("node")
    t.set_defaults(func=run_change, op="retire")
    u = sub.add_parser("undo", parents=[common, who], help="undo the newest change in force (a new version)")
    u.add_argument("version", nargs="?", type=int, help="the version to undo (must be the newest in force)")
    u.set_defaults(func=run_change, op="undo")

    d = sub.add_parser("diff", parents=[common], help="the operations that turn taxonomy file OLD into NEW")
    d.add_argument("old")
    d.add_argument("new")
    d.add_argument("--json", action="store_true", help="print JSON instead of a list")
    d.add_argument("--no-embeddings", action="store_true", help="match by names and paths only")
    d.set_defaults(func=run_diff)
    i = sub.add_parser("import", parents=[common],
                       help="propose the operations that turn the workspace taxonomy into FILE's; accept one by one")
    i.add_argument("file")
    i.add_argument("--accept", default=None, metavar="N,N|all",
                   help="apply these proposals (numbers as listed) in order, as new versions (needs --by)")
    i.add_argument("--by", default=None, help="who accepts (an admin when the workspace has users)")
    i.add_argument("--no-embeddings", action="store_true", help="match by names and paths only")
    i.set_defaults(func=run_import)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def check_admin(ws: Workspace, by: str) -> str:
    """``by``, when it may change the taxonomy: with users in the workspace, an admin of the role
    table (:mod:`workbench.security.roles`); without users, anyone naming themselves."""
    from workbench.security.auth import credentials_path, has_users, role_of
    from workbench.security.roles import person_can

    by = str(by or "").strip()
    if not by:
        raise WorkbenchError("say who changes the taxonomy (--by NAME)")
    path = credentials_path(ws.path)
    if has_users(path):
        role = role_of(path, by)
        if not person_can(role, "change_taxonomy"):
            raise WorkbenchError(f"{by} ({role or 'no user of this workspace'}) may not change the taxonomy: it needs "
                                 "the admin role (`workbench users add NAME --role admin`)")
    return by


def _keywords(values: list[str] | None) -> dict[str, list[str]] | None:
    if not values:
        return None
    out = {}
    for value in values:
        child, sep, words = value.partition("=")
        if not sep or not child.strip():
            raise WorkbenchError(f"--keywords {value!r}: write CHILD=word,word (e.g. --keywords 'Polo=polo')")
        out[child.strip()] = [w.strip() for w in words.split(",") if w.strip()]
    return out


def _mapping(path: str | None) -> dict[str, str] | None:
    if not path:
        return None
    file = Path(path)
    if not file.exists():
        raise WorkbenchError(f"mapping file {path} does not exist; give a CSV of product_id,child")
    with file.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"product_id", "child"} <= set(rows[0]):
        raise WorkbenchError(f"{path} needs the columns product_id,child")
    return {str(r["product_id"]).strip(): str(r["child"]).strip() for r in rows}


def run_change(args: argparse.Namespace) -> int:
    """Handler of the changing actions."""
    from workbench.loop import taxonomy_changes as tc
    from workbench.loop.taxonomy_split import split
    from workbench.loop.taxonomy_undo import undo

    ws = Workspace(args.workspace)
    by = check_admin(ws, args.by)
    if args.op == "rename":
        change = tc.rename(ws, args.node, args.name, by=by)
    elif args.op == "move":
        change = tc.move(ws, args.node, args.parent or None, by=by)
    elif args.op == "merge":
        change = tc.merge(ws, args.nodes, args.into, by=by)
    elif args.op == "split":
        change = split(ws, args.node, [c.strip() for c in args.children.split(",")], by=by,
                          keywords=_keywords(args.keywords), mapping=_mapping(args.mapping), run=args.run,
                          min_confidence=args.min_confidence)
    elif args.op == "add":
        change = tc.add(ws, args.node, by=by)
    elif args.op == "retire":
        change = tc.retire(ws, args.node, by=by)
    else:
        change = undo(ws, args.version, by=by)
    print(change)
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Handler of ``workbench taxonomy show``."""
    from workbench.catalog.relabel import load_taxonomy
    from workbench.catalog.taxonomy_versions import current_version

    ws = Workspace(args.workspace)
    taxonomy = load_taxonomy(ws)
    counts = dict(ws.rows("SELECT node_id, n_products FROM categories"))
    print(f"taxonomy version {current_version(ws)}: {len(taxonomy.leaves):,} leaves, {len(taxonomy):,} nodes")
    nodes = taxonomy.nodes if not args.under else [n for n in taxonomy.nodes
                                                   if n == args.under or n.startswith(args.under + " > ")]
    for node in sorted(nodes):
        print(f"{'  ' * (taxonomy.level(node) - 1)}{taxonomy.name(node)}  ({int(counts.get(node) or 0):,})")
    return 0


def run_history(args: argparse.Namespace) -> int:
    """Handler of ``workbench taxonomy history``."""
    from workbench.loop.taxonomy_changes import taxonomy_history

    history = taxonomy_history(Workspace(args.workspace))
    if args.json:
        print(history.to_json(orient="records", date_format="iso"))
        return 0
    if history.empty:
        print("taxonomy version 0: no change recorded")
        return 0
    for row in history.itertuples(index=False):
        undone = f"  [undone by version {row.undone_by}]" if row.undone_by is not None else ""
        print(f"v{row.version}  {str(row.at)[:19]}  {row.by}  {row.op} {row.what}  ({row.counts}){undone}")
        if row.flags:
            print(f"      check: {row.flags}")
    return 0


def _print_proposals(proposals) -> None:
    if not proposals:
        print("no differences: the taxonomies have the same categories")
    for i, p in enumerate(proposals, start=1):
        print(f"{i:>4}. {p}")


def run_diff(args: argparse.Namespace) -> int:
    """Handler of ``workbench taxonomy diff OLD NEW``."""
    from workbench.loop.taxonomy_import import diff_files

    proposals = diff_files(args.old, args.new, embeddings=not args.no_embeddings)
    if args.json:
        print(json.dumps([p.to_json() for p in proposals], indent=1))
    else:
        _print_proposals(proposals)
    return 0


def run_import(args: argparse.Namespace) -> int:
    """Handler of ``workbench taxonomy import FILE``."""
    from workbench.loop.taxonomy_import import accept, propose_import

    ws = Workspace(args.workspace)
    proposals = propose_import(ws, args.file, embeddings=not args.no_embeddings)
    if not args.accept:
        _print_proposals(proposals)
        if proposals:
            print("accept proposals one by one: workbench taxonomy import FILE --accept N --by NAME")
        return 0
    by = check_admin(ws, args.by)
    chosen = range(1, len(proposals) + 1) if args.accept.strip() == "all" else \
        [int(x) for x in args.accept.split(",") if x.strip()]
    for n in chosen:
        if not 1 <= n <= len(proposals):
            raise WorkbenchError(f"no proposal {n}; the file gives {len(proposals)} (see the list without --accept)")
        print(accept(ws, proposals[n - 1], by=by))
    return 0
