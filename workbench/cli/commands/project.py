"""``workbench project``: a 2-D UMAP of the product embeddings for the embedding map."""

from __future__ import annotations

import argparse

from workbench.cli.cluster_options import add_cluster_options, cluster_client
from workbench.errors import WorkbenchError
from workbench.store import Workspace


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the ``project`` subcommand."""
    p = subparsers.add_parser(
        "project", parents=[common], help="2-D UMAP projection of the product embeddings",
        description="Fit UMAP on a sample of the embedded products, place the rest with it, and store "
                    "x, y per product (table projection) for the embedding map. Run `workbench embed` first.")
    p.add_argument("--model", default="default", help="embedding model (default: all-MiniLM-L6-v2)")
    p.add_argument("--images", action="store_true",
                   help="project the image vectors (workbench embed --images) instead of the text vectors; "
                        "--model then names the image model (default efficientnet-lite0-80)")
    p.add_argument("--sample", type=int, default=50_000,
                   help="products UMAP is fitted on; the rest are transformed (default 50000)")
    p.add_argument("--neighbors", type=int, default=15, help="UMAP n_neighbors (default 15)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_cluster_options(p)
    p.set_defaults(func=run_project)


def run_project(args: argparse.Namespace) -> int:
    """Project the workspace's embeddings and store them."""
    from workbench.embeddings.projection import project

    if args.sample < 3:
        raise WorkbenchError(f"--sample must be at least 3, got {args.sample}")
    ws = Workspace(args.workspace)
    model = args.model
    if args.images:
        from workbench.embeddings.image_encoder import image_model_id

        model = image_model_id(args.model)
    with cluster_client(args) as client:
        if client is not None:
            from workbench.scale.projection import project_on_cluster

            done = project_on_cluster(ws, client, model=model, sample=args.sample, seed=args.seed,
                                      n_neighbors=args.neighbors, shared=args.shared_dir, echo=print,
                                      progress=None if not args.no_progress else False)
            print(f"projected {done['products']:,} products to 2-D on the cluster (UMAP fitted on "
                  f"{done['sample']:,}, the rest placed by their nearest fitted neighbours)")
            return 0
    frame = project(ws, model=model, sample=args.sample, seed=args.seed,
                    n_neighbors=args.neighbors, progress=not args.no_progress)
    print(f"projected {len(frame):,} products to 2-D (UMAP fitted on {min(args.sample, len(frame)):,})")
    return 0
