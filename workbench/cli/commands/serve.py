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
    p.add_argument("--allow-websocket-origin", action="append", dest="origins", metavar="HOST[:PORT]",
                   help="a name browsers reach the server by (repeatable); required with an --address "
                        "other than this machine's, e.g. workbench.example.com:5006")
    p.add_argument("--use-xheaders", action="store_true",
                   help="behind a reverse proxy that sets X-Forwarded-For/-Proto: use them for the client's "
                        "address (login throttling) and HTTPS (Secure cookies); never without such a proxy")
    p.add_argument("--login-max-failures", type=int, default=5,
                   help="failed logins of one user name before it is locked (default 5)")
    p.add_argument("--login-max-address-failures", type=int, default=20,
                   help="failed logins from one client address before it is locked (default 20)")
    p.add_argument("--login-window-s", type=float, default=900,
                   help="seconds within which failures are counted (default 900)")
    p.add_argument("--login-lockout-s", type=float, default=900, help="seconds a lockout lasts (default 900)")
    p.set_defaults(func=run_serve, show=False)


def serve_arguments(workspace: str, argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments of ``workbench serve ARGV`` for ``workspace``: every option at its own
    default unless ``argv`` gives it (``workbench demo`` serves through this, so a new option of
    ``serve`` has its default there too)."""
    parser = argparse.ArgumentParser(prog="workbench", add_help=False)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", default=None)
    register(parser.add_subparsers(), common)
    return parser.parse_args(["serve", "--workspace", str(workspace), *(argv or [])])


def run_serve(args: argparse.Namespace) -> int:
    """Handler of ``workbench serve``: blocks until interrupted."""
    from workbench.app.serve import check_workspace, serve_app

    from workbench.security.login import login_options
    from workbench.security.hardening import websocket_origins
    from workbench.security.throttle import ThrottleSettings

    path = check_workspace(args.workspace)
    websocket_origins(args.address, args.port, args.origins)  # before anything is set up
    throttle = ThrottleSettings(max_failures=args.login_max_failures,
                                max_address_failures=args.login_max_address_failures,
                                window_s=args.login_window_s, lockout_s=args.login_lockout_s)
    auth, roles, note = login_options(path, args.credentials, oauth_provider=args.oauth_provider,
                                      no_login=args.no_login, address=args.address, throttle=throttle)
    print(f"serving the dashboards of {path} at http://{args.address}:{args.port}/ (Ctrl+C stops); {note}",
          flush=True)
    serve_app(path, port=args.port, address=args.address, upload_limit_mb=args.upload_limit_mb,
              max_upload_rows=args.max_upload_rows, part=args.part, show=args.show,
              allow_origins=args.origins, auth=auth, roles=roles, use_xheaders=args.use_xheaders)
    return 0
