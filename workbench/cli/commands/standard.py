"""``workbench map-taxonomy`` (the catalog's categories onto a standard tree) and
``workbench cold-start`` (a catalog with no labels, classified zero-shot into a standard tree)."""

from __future__ import annotations

import argparse

from workbench.errors import WorkbenchError
from workbench.store import Workspace

KINDS = ("shopify", "google", "bestbuy")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``map-taxonomy`` and ``cold-start``."""
    m = subparsers.add_parser(
        "map-taxonomy", parents=[common], help="map the catalog's categories onto Shopify, Google or Best Buy",
        description="Propose, for each category of the catalog, the best node of a standard tree (path "
                    "embeddings blended with the category's products, a child under its parent's target), "
                    "with a score and the top 3 alternatives; stored in table taxonomy_mappings for review "
                    "on the dashboard's Taxonomy mapping page. Reviewed rows are kept on a re-run.")
    m.add_argument("--to", required=True, choices=KINDS, help="the standard tree")
    m.add_argument("--model", default="multilingual-e5-small",
                   help="sentence encoder (default multilingual-e5-small, for category names in any "
                        "language; 'default' is the English all-MiniLM-L6-v2)")
    m.add_argument("--method", choices=["embedding", "lexical"], default="embedding",
                   help="embedding (default) or the plain TF-IDF baseline over path names")
    m.add_argument("--no-products", action="store_true", help="match category names only, not their products")
    m.add_argument("--flat", action="store_true", help="no parent consistency (each category on its own)")
    m.add_argument("--under", default=None, metavar="PATH[;PATH]",
                   help="map only onto these parts of the standard tree, e.g. 'Electronics' "
                        "(full paths, separated by ';')")
    m.add_argument("--export", metavar="OUT.csv",
                   help="also write every labelled product with its standard path (a CSV for people)")
    m.add_argument("--show", type=int, default=10, metavar="N", help="print the first N proposals (default 10)")
    m.set_defaults(func=run_map_taxonomy)

    c = subparsers.add_parser(
        "cold-start", parents=[common], help="classify a catalog without labels zero-shot into a standard tree",
        description="Make (a subtree of) a standard tree the workspace taxonomy, record a zero-shot run "
                    "(text-to-category-name similarity) and classify every unlabelled product with it; "
                    "after a review day, run it again to measure it on the reviewed products.")
    c.add_argument("--to", default="shopify", choices=KINDS, help="the standard tree (default shopify)")
    c.add_argument("--under", default=None, metavar="PATH",
                   help="only the part of the tree under this node, e.g. 'Electronics'")
    c.add_argument("--model", default="multilingual-e5-small", help="sentence encoder (default multilingual-e5-small)")
    c.add_argument("--threshold", type=float, default=None,
                   help="shelve above this confidence (default: the published thresholds; none = all to review)")
    c.set_defaults(func=run_cold_start)


def run_map_taxonomy(args: argparse.Namespace) -> int:
    """Map, store, print the head of the proposals and optionally export products' paths."""
    from workbench.catalog.people_csv import write_people_csv
    from workbench.catalog.standard_mapping import standard_paths
    from workbench.embeddings.taxonomy_mapping import map_catalog

    if args.show < 0:
        raise WorkbenchError(f"--show must be 0 or more, got {args.show}")
    ws = Workspace(args.workspace)
    frame = map_catalog(ws, args.to, model=args.model, use_products=not args.no_products,
                        consistent=not args.flat, method=args.method,
                        under=[u.strip() for u in args.under.split(";") if u.strip()] if args.under else None)
    reviewed = int(frame["status"].isin(["accepted", "edited"]).sum())
    print(f"mapped {len(frame):,} catalog categories onto {args.to} ({reviewed:,} kept as reviewed); "
          f"median score {frame['score'].median():.3f}")
    for row in frame.head(args.show).itertuples(index=False):
        print(f"  {row.catalog_node}  ->  {row.target_node}  ({row.score:.3f}, {row.status})")
    if args.export:
        products = standard_paths(ws, args.to)
        write_people_csv(products, args.export)
        print(f"wrote {len(products):,} products with their {args.to} path to {args.export}")
    return 0


def run_cold_start(args: argparse.Namespace) -> int:
    """Pin the tree, record the zero-shot run, classify."""
    from workbench.loop.cold_start import cold_start

    print(cold_start(Workspace(args.workspace), args.to, under=args.under, model=args.model,
                     threshold=args.threshold))
    return 0
