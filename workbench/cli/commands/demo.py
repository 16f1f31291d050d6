"""``workbench demo``: the whole path on the default catalog, then the dashboards."""

from __future__ import annotations

import argparse

from workbench.runs.pipeline import CPU_TRANSFORMER_SAMPLE, MODELS, run_pipeline
from workbench.app.serve import DEFAULT_ADDRESS, DEFAULT_PORT
from workbench.store import Workspace


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser(
        "demo", parents=[common], help="run the whole pipeline on a catalog and serve the dashboards",
        description="Ingest, embed, project, train the four model families, evaluate, then serve "
                    "the dashboards. Steps already done are skipped through fingerprints and caches.")
    p.add_argument("--dataset", default="fashion", help="built-in catalog (default fashion)")
    p.add_argument("--sample", type=int, default=None, help="ingest a seeded sample of the catalog")
    p.add_argument("--models", default=",".join(MODELS), help="model kinds to train")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--transformer-sample", type=int, default=None,
                   help=f"training products for the transformer (default: all on a GPU, "
                        f"{CPU_TRANSFORMER_SAMPLE} on a CPU)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--address", default=DEFAULT_ADDRESS)
    p.add_argument("--allow-websocket-origin", action="append", dest="origins", metavar="HOST[:PORT]",
                   help="a name browsers reach the server by; required with an --address other than 127.0.0.1")
    p.add_argument("--no-serve", action="store_true", help="stop after the pipeline")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Handler of ``workbench demo``."""
    ws = Workspace(args.workspace)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    report = run_pipeline(ws, args.dataset, models=models, sample=args.sample, device=args.device,
                          transformer_sample=args.transformer_sample)
    print(report, flush=True)
    if args.no_serve:
        return 0
    from workbench.cli.commands.serve import run_serve, serve_arguments

    ws.close()  # the server opens the workspace itself
    argv = ["--port", str(args.port), "--address", args.address]
    for origin in args.origins or []:
        argv += ["--allow-websocket-origin", origin]
    return run_serve(serve_arguments(str(ws.path), argv))
