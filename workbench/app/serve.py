"""Serving the dashboards: ``serve_app`` (used by ``workbench serve`` and ``workbench demo``) and
``app_from_argv`` (used by ``dashboards/app.py`` under ``panel serve``).

Everything is served from this machine: Bokeh and Panel resources come from the server's own
static routes (``BOKEH_RESOURCES=server``), never from a CDN, so the app works offline. Every
route is checked before the server starts (:mod:`workbench.security.hardening`): anonymous visitors
reach the login page and static files only.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Mapping

from workbench.errors import WorkbenchError
from workbench.paths import workspace_dir

DEFAULT_PORT = 5006
DEFAULT_ADDRESS = "127.0.0.1"


def use_local_resources() -> None:
    """Serve Bokeh/Panel JavaScript and CSS from the server itself (no CDN)."""
    os.environ["BOKEH_RESOURCES"] = "server"
    from bokeh.settings import settings

    settings.resources = "server"


def check_workspace(workspace: str | Path | None) -> Path:
    """The workspace directory; it must hold a database already (the app never creates one)."""
    path = workspace_dir(workspace)
    if not (path / "workbench.duckdb").exists():
        raise WorkbenchError(f"no workspace database in {path}; build one first with `workbench ingest` "
                             "(or `workbench demo`), or pass --workspace DIR")
    return path


def make_settings(upload_limit_mb: float = 10.0, max_upload_rows: int = 100_000, part: str = "test",
                  roles: Mapping[str, str] | None = None, session_check=None):
    """The shared :class:`workbench.app.AppSettings`."""
    from workbench.app.context import AppSettings

    return AppSettings(upload_limit_mb=upload_limit_mb, max_upload_rows=max_upload_rows, part=part,
                       roles=roles, session_check=session_check)


def app_factory(workspace: str | Path, settings=None, visited: threading.Event | None = None):
    """A function building one session's app (a new state for every browser session); the first
    session stops the warm-up that ``visited`` belongs to (:func:`start_warming`)."""
    from workbench.app.context import AppContext
    from workbench.app.data import open_workspace
    from workbench.app.template import build_app, visitor_arrives

    path = str(check_workspace(workspace))
    settings = settings or make_settings()

    def create():
        if visited is not None and not visited.is_set():
            visitor_arrives(visited)
        return build_app(AppContext(open_workspace(path), settings))

    return create


def start_warming(path: Path, part: str = "test", settings=None,
                  visited: threading.Event | None = None) -> threading.Thread:
    """Fill the shared caches in the background while the server starts (first pages open fast);
    the page rendering stops once ``visited`` is set (the first visitor renders from then on)."""
    from workbench.app.context import AppContext
    from workbench.app.data import open_workspace, warm
    from workbench.app.template import warm_pages

    def run():
        t0 = time.perf_counter()
        try:
            warm(str(path), part)
            from workbench.app.data import default_run_id
            from workbench.app.top1 import sorted_predictions

            best = default_run_id(open_workspace(str(path)), part)
            if best is not None:
                sorted_predictions(open_workspace(str(path)), best, part)
            warm_pages(AppContext(open_workspace(str(path)), settings or make_settings(part=part),
                                  user_override="warm-up"), visited)
        except Exception:  # a page will report the problem when it is opened
            logging.getLogger("workbench.app").exception("warming the caches failed")
            return
        print(f"dashboards ready: shared caches filled in {time.perf_counter() - t0:.1f} s", flush=True)

    thread = threading.Thread(target=run, name="workbench-warm", daemon=True)
    thread.start()
    return thread


def serve_app(workspace: str | Path | None = None, port: int = DEFAULT_PORT, address: str = DEFAULT_ADDRESS,
              *, upload_limit_mb: float = 10.0, max_upload_rows: int = 100_000, part: str = "test",
              show: bool = False, auth: Mapping[str, Any] | None = None,
              roles: Mapping[str, str] | None = None, threaded: bool = False, start: bool = True,
              allow_origins: list[str] | None = None, use_xheaders: bool = False):
    """Serve the dashboards of ``workspace`` at ``http://address:port/``.

    ``auth``: extra keyword arguments for ``panel.serve`` that switch on login (e.g.
    ``cookie_secret=...``, ``auth_provider=...``); the session's user is then ``pn.state.user``
    and ``roles`` maps users to ``reviewer``/``viewer``. ``allow_origins``: the ``host[:port]``
    names browsers reach the server by (required on an address other than this machine's).
    ``use_xheaders``: behind a reverse proxy, take the client's address and the scheme (HTTPS
    for ``Secure`` cookies) from its ``X-Forwarded-*`` headers. ``threaded=True`` returns a
    running server thread (``.stop()`` ends it); otherwise this blocks until stopped.
    """
    use_local_resources()
    from workbench.security.hardening import MAX_HTTP_BODY_BYTES, MAX_WS_MESSAGE_BYTES, start_server, websocket_origins

    if not 0 < int(port) < 65536:
        raise WorkbenchError(f"port {port} must be between 1 and 65535, e.g. 5006")
    origins = websocket_origins(address, int(port), allow_origins)
    provider = (auth or {}).get("auth_provider")
    settings = make_settings(upload_limit_mb, max_upload_rows, part, roles,
                             session_check=getattr(provider, "session_alive", None))
    visited = threading.Event()
    create = app_factory(workspace, settings, visited)
    start_warming(check_workspace(workspace), part, settings, visited)
    # uploads arrive in 1 MB chunks, counted as they arrive (LimitedFileDropper); no message is larger
    options: dict[str, Any] = dict(port=int(port), address=address, show=show, websocket_origin=origins,
                                   title=settings.title, verbose=True, websocket_max_message_size=MAX_WS_MESSAGE_BYTES,
                                   http_server_kwargs={"max_body_size": MAX_HTTP_BODY_BYTES,
                                                       "xheaders": bool(use_xheaders)})
    options.update(dict(auth or {}))
    return start_server({"/": create}, options, threaded=threaded, start=start)


def parse_app_args(argv: list[str]) -> argparse.Namespace:
    """The options ``dashboards/app.py`` accepts after ``panel serve ... --args``."""
    parser = argparse.ArgumentParser(prog="dashboards/app.py")
    parser.add_argument("--workspace", default=None, help="workspace directory")
    parser.add_argument("--upload-limit-mb", type=float, default=10.0, help="largest CSV upload (MB)")
    parser.add_argument("--max-upload-rows", type=int, default=100_000, help="most rows per upload")
    parser.add_argument("--part", choices=["test", "valid"], default="test")
    args, _ = parser.parse_known_args(argv)
    return args


def app_from_argv(argv: list[str]):
    """Build this session's app from ``--workspace DIR`` etc. (``panel serve dashboards/app.py --args ...``)."""
    use_local_resources()
    args = parse_app_args(argv)
    settings = make_settings(args.upload_limit_mb, args.max_upload_rows, args.part)
    return app_factory(args.workspace, settings)()
