"""``workbench serve``: the Panel dashboards of a workspace, in a browser."""

from __future__ import annotations

import argparse

from workbench.app.serve import DEFAULT_ADDRESS, DEFAULT_PORT


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the ``serve`` subcommand."""
    p = subparsers.add_parser(
        "serve", parents=[common], help="serve the dashboards in a browser",
        description="Serve the dashboards (model comparison, thresholds, confusion, severity, "
                    "embedding map, classify) of a workspace. They read what the pipeline stored; "
                    "run `workbench train` and `workbench evaluate --all` first.")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--address", default=DEFAULT_ADDRESS,
                   help=f"address to listen on (default {DEFAULT_ADDRESS}; 0.0.0.0 for every interface)")
    p.add_argument("--upload-limit-mb", type=float, default=10.0,
                   help="largest CSV accepted on the classify page, in MB (default 10)")
    p.add_argument("--max-upload-rows", type=int, default=100_000,
                   help="most rows classified from one upload (default 100000)")
    p.add_argument("--part", choices=["test", "valid"], default="test",
                   help="which predictions the pages show (default test)")
    show = p.add_mutually_exclusive_group()
    show.add_argument("--show", dest="show", action="store_true", help="open a browser tab")
    show.add_argument("--no-show", dest="show", action="store_false", help="do not open a browser (default)")
    p.add_argument("--credentials", help="users file (default: $WORKBENCH_CREDENTIALS or "
                   "<workspace>/credentials.json); with users in it the app asks for a login")
    p.add_argument("--oauth-provider", help="log in with Panel's OAuth (e.g. github, google); key and "
                   "secret from PANEL_OAUTH_KEY / PANEL_OAUTH_SECRET")
    p.add_argument("--no-login", action="store_true", help="serve without a login")
    p.set_defaults(func=run_serve, show=False)


def run_serve(args: argparse.Namespace) -> int:
    """Handler of ``workbench serve``: blocks until interrupted."""
    from workbench.app.serve import check_workspace, serve_app

    path = check_workspace(args.workspace)
    allow = ["*"] if args.address in ("0.0.0.0", "::") else None
    from workbench.app.auth import login_options

    auth, roles, note = login_options(path, args.credentials, oauth_provider=args.oauth_provider,
                                      no_login=args.no_login, address=args.address)
    print(f"serving the dashboards of {path} at http://{args.address}:{args.port}/ (Ctrl+C stops); {note}",
          flush=True)
    serve_app(path, port=args.port, address=args.address, upload_limit_mb=args.upload_limit_mb,
              max_upload_rows=args.max_upload_rows, part=args.part, show=args.show,
              allow_origins=allow, auth=auth, roles=roles)
    return 0
