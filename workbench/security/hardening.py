"""The served app's routes, each one checked: only the login page and static files are public.

Bokeh and Panel add routes of their own. :func:`harden_routes` goes through every route of a
built server and replaces the handlers that would serve an anonymous visitor more than the
login page or a static file, and refuses to serve a route it does not know (a Panel upgrade
that adds one must be looked at before it is exposed):

* ``/components/<module>/...`` (Panel's component resources) imported any installed module for
  anyone; here it needs a login and serves only modules of Panel or Bokeh already loaded.
* ``/autoload.js`` (embedding an app in another site) built a whole session of the app for an
  anonymous request; here it needs a login.
* ``/ws`` caps the bytes of one Bokeh message (Tornado caps each websocket frame; a message is
  several frames), and lets the events of a message be handled before reading the next one, so
  an oversized upload is cut off while it arrives instead of queueing up in memory.
* the app's page is sent with ``frame-ancestors 'self'`` (no framing by another site, so no
  clickjacking of the Accept button).

:func:`websocket_origins` decides which browser origins may open the websocket.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from tornado.web import authenticated

from workbench.security.auth import LOCAL_ADDRESSES
from workbench.errors import WorkbenchError

log = logging.getLogger("workbench.app")
COMPONENT_PACKAGES = ("panel", "bokeh")
#: the largest websocket frame (Tornado) and Bokeh message (here) a browser may send
MAX_WS_MESSAGE_BYTES = 4 * 1024 * 1024
#: loop turns given to queued event callbacks after each websocket frame
YIELDS_PER_MESSAGE = 3
#: the largest HTTP request body (the login form is the only one the app receives)
MAX_HTTP_BODY_BYTES = 64 * 1024


def websocket_origins(address: str, port: int, allowed: list[str] | None) -> list[str]:
    """The ``host[:port]`` origins allowed to open the app's websocket.

    On this machine (127.0.0.1, localhost): this machine's names. On any other address the
    names the app is reached by must be given (``--allow-websocket-origin``): a browser on
    another site must not be able to drive a logged-in reviewer's session.
    """
    if allowed:
        if "*" in allowed:
            log.warning("websocket connections are accepted from any origin (--allow-websocket-origin '*')")
        return list(allowed)
    if address not in LOCAL_ADDRESSES:
        raise WorkbenchError(f"serving on {address} needs --allow-websocket-origin HOST[:PORT] (the name "
                             f"browsers use to reach this server, e.g. workbench.example.com:{port})")
    return [f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]


def _handlers():
    """The replacement handler classes (built on first use: they subclass Panel's)."""
    from panel.io.server import (AuthenticatedStaticFileHandler, AutoloadJsHandler, ComponentResourceHandler,
                                 DocHandler, WSHandler)
    from tornado.web import HTTPError

    class ProtectedComponents(AuthenticatedStaticFileHandler, ComponentResourceHandler):
        """Panel's component resources, for logged-in users, from already loaded Panel/Bokeh modules."""

        def parse_url_path(self, path: str) -> str:
            module = path.split("/", 1)[0]
            if module.split(".")[0] not in COMPONENT_PACKAGES or module not in sys.modules:
                raise HTTPError(404, "Not found")
            return super().parse_url_path(path)

    class ProtectedAutoload(AutoloadJsHandler):
        """``/autoload.js`` only for logged-in users."""

        @authenticated
        async def get(self, *args, **kwargs):
            return await super().get(*args, **kwargs)

    class LimitedWSHandler(WSHandler):
        """Bokeh's websocket, closed when one message (all its frames) passes the cap."""

        _message_bytes = 0

        async def on_message(self, fragment):
            receiver = getattr(self, "receiver", None)
            if receiver is not None and receiver._current_consumer == receiver._HEADER:
                self._message_bytes = 0  # a new message starts with its header
            self._message_bytes += len(fragment)
            if self._message_bytes > MAX_WS_MESSAGE_BYTES:
                log.warning("websocket message from %s above %d bytes: connection closed",
                            self.request.remote_ip, MAX_WS_MESSAGE_BYTES)
                self.close(1009, "message too big")
                return None
            await super().on_message(fragment)
            # Panel handles a message's events in callbacks queued on the event loop: let them run
            # before the next frame is read, so that a fast sender cannot get far ahead of them
            for _ in range(YIELDS_PER_MESSAGE):
                await asyncio.sleep(0)
            return None

    class FramedDocHandler(DocHandler):
        """The app's page, which only this site may frame."""

        def set_default_headers(self):
            super().set_default_headers()
            self.set_header("Content-Security-Policy", "frame-ancestors 'self'")
            self.set_header("X-Frame-Options", "SAMEORIGIN")

    return {ComponentResourceHandler: ProtectedComponents, AutoloadJsHandler: ProtectedAutoload,
            WSHandler: LimitedWSHandler, DocHandler: FramedDocHandler}


def _known_safe():
    """Handlers left as they are: static files, the icon, the login pages, authenticated views."""
    from bokeh.server.views.ico_handler import IcoHandler
    from bokeh.server.views.metadata_handler import MetadataHandler
    from bokeh.server.views.multi_root_static_handler import MultiRootStaticHandler
    from bokeh.server.views.static_handler import StaticHandler
    from panel.io.server import RootHandler

    return (IcoHandler, MetadataHandler, MultiRootStaticHandler, StaticHandler, RootHandler)


def harden_routes(server, login_handlers: tuple = ()) -> list[tuple[str, str]]:
    """Replace the risky handlers of a built (not yet started) Bokeh server; returns
    ``[(route, handler name)]``. A route whose handler is not known here is an error."""
    replace = _handlers()
    safe = _known_safe() + tuple(replace.values()) + tuple(login_handlers)
    routes = []
    for rule in server._tornado.wildcard_router.rules:
        target = replace.get(rule.target, rule.target)
        if not (isinstance(target, type) and issubclass(target, safe)):
            raise WorkbenchError(f"the server has a route {rule.matcher.regex.pattern} ({target}) that the "
                                 "workbench does not know; check workbench/security/hardening.py before serving it")
        rule.target = target
        routes.append((rule.matcher.regex.pattern, target.__name__))
    return routes


def start_server(apps: dict, options: dict, *, threaded: bool = False, start: bool = True):
    """``panel.serve`` with :func:`harden_routes` applied between building and starting the server.

    ``threaded=True`` returns a running thread (``.stop()`` ends it); ``start=False`` returns the
    built server; otherwise this blocks until the server stops.
    """
    from panel.io.server import get_server

    def build(loop=None, server_id=None, run=True):
        server = get_server(apps, loop=loop, start=False, server_id=server_id, **options)
        provider = server._tornado.auth_provider
        logins = tuple(h for h in (getattr(provider, "login_handler", None),
                                   getattr(provider, "logout_handler", None)) if isinstance(h, type))
        harden_routes(server, logins)
        if run:
            server.start()
            try:
                server.io_loop.start()
            except RuntimeError:  # the loop was stopped from another thread
                pass
        return server

    if not threaded:
        return build(run=start)
    import uuid

    from panel.io.state import state
    from panel.io.threads import StoppableThread
    from tornado.ioloop import IOLoop

    loop = IOLoop(make_current=False)
    server_id = uuid.uuid4().hex
    thread = StoppableThread(target=build, io_loop=loop, kwargs={"loop": loop, "server_id": server_id},
                             owns_loop=True, daemon=True)
    state._threads[server_id] = thread
    thread.start()
    return thread
