"""The served app's login page, sessions and logout (Tornado handlers behind a Panel auth provider).

* The password check (bcrypt, about a quarter of a second by design) runs in a worker thread,
  never on the server's event loop, so a client posting passwords does not stall everyone else.
  Checks wait in a bounded queue ranked by record (:mod:`workbench.security.verify_queue`): a
  browser that logged in as the name before first, then the attempts whose name, address and
  network have the fewest recent attempts and failures; a flood waits behind real users, and only its worst
  ranked attempts are told "busy" (429). An address (or a trusted device) gets one check at a
  time, and a name one check at a time from untrusted clients.
* Failed logins are throttled per user name and per client address with a temporary lockout
  (:mod:`workbench.security.throttle`); unknown names cost the same bcrypt time as known ones.
  A successful login leaves a signed device cookie (``wb_device``, 30 days, per name): from that
  browser the name's and the address's lockouts do not apply (the device has its own), so a
  flood aimed at a user's name cannot lock that user out of the browser they always use.
* A login opens a server-side session (a random id in a signed cookie beside Panel's ``user``
  cookie); ``/logout`` closes it, so a copied cookie stops working at once. Cookies are
  ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` when the request came over HTTPS.
* The page is the workbench's own: no CDN (Panel's default pulls its logo from one), fixed
  messages (nothing from the URL is echoed), and the page asked for (``next``) survives a
  failed attempt.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

from tornado.web import RequestHandler, decode_signed_value
from tornado.websocket import WebSocketHandler

from workbench.security.auth import (LOCAL_ADDRESSES, LOCAL_USER, RolesFile, credentials_path, has_users, list_users,
                                role_of, verify_password, warm_dummy_hash)
from workbench.security.safe_text import escape_html
from workbench.errors import WorkbenchError
from workbench.security.throttle import LoginThrottle, ThrottleSettings
from workbench.security.verify_queue import Busy, VerificationQueue

SESSION_COOKIE = "wb_session"
DEVICE_COOKIE = "wb_device"  # signed "name\nrandom id": this browser logged in as name before
DEVICE_DAYS = 30
LOGIN_WORKERS = 1  # bcrypt checks at once: one core stays free for everyone else on a small server
MAX_PENDING = 8  # checks waiting in the ranked queue; worse ranked attempts beyond it are told to retry
MAX_NAME = 256
MESSAGES = {
    "invalid": "Invalid username or password.",
    "locked": "Too many failed logins for this account or from this address; try again in {minutes} min.",
    "busy": "The server is busy checking other logins; try again in a moment.",
}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


class SessionRegistry:
    """Live login sessions: random id -> (user, expiry). In memory: a restart logs everyone out."""

    def __init__(self, ttl_s: float = 86400.0):
        self.ttl_s = ttl_s
        self._sessions: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def open(self, user: str) -> str:
        """A new session id for ``user`` (a fresh one at every login: no session fixation)."""
        sid = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
            self._sessions[sid] = (user, now + self.ttl_s)
        return sid

    def user_of(self, sid: str | None) -> str | None:
        """The user of a live session, ``None`` when it was closed, expired or never existed."""
        with self._lock:
            entry = self._sessions.get(sid or "")
        return entry[0] if entry and entry[1] > time.monotonic() else None

    def close(self, sid: str | None) -> None:
        """End a session (logout)."""
        with self._lock:
            self._sessions.pop(sid or "", None)


def safe_next(value: str | None) -> str:
    """A same-site path to go to after login; anything else (another host, a scheme, a control
    character, over 2,000 characters) becomes ``/``."""
    value = str(value or "/")
    if len(value) > 2_000 or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        return "/"
    parsed = urlparse(value)
    if parsed.scheme or parsed.netloc or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def page_html(title: str, body: str) -> str:
    """A small self-contained page (served locally: no CDN, no web fonts)."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape_html(title)}</title><link rel="icon" href="./favicon.ico">
<style>
body {{font-family: system-ui, sans-serif; background: #f4f6f8; margin: 0; height: 100vh;
       display: flex; align-items: center; justify-content: center}}
.box {{background: #fff; border: 1px solid #dde; border-radius: 6px; padding: 2em; width: 340px; text-align: center}}
.box img {{width: 120px; height: 96px}}
input {{display: block; width: 100%; box-sizing: border-box; padding: 10px; margin: 0 0 1em 0;
        border: 1px solid #ccd; border-radius: 4px}}
button, .button {{background: #1f5f8b; color: #fff; border: 0; padding: 10px; width: 100%; border-radius: 4px;
                  display: inline-block; text-decoration: none; box-sizing: border-box}}
.errormessage {{color: #b00020; font-weight: 600; min-height: 1.4em}}
</style></head>
<body><div class="box"><img id="logo" alt="Panel" src="./static/extensions/panel/images/logo_stacked.png">
<h3>Product categorization workbench</h3>{body}</div></body></html>"""


def login_form(endpoint: str, next_url: str, error: str = "") -> str:
    """The login form; ``error`` is one of the fixed messages, never text from the request."""
    return page_html("Log in", f"""
<p class="errormessage">{escape_html(error)}</p>
<form action=".{escape_html(endpoint)}" method="post">
<input type="hidden" name="next" value="{escape_html(next_url)}">
<input name="username" type="text" autocapitalize="off" autocorrect="off" autocomplete="username"
       placeholder="username" required autofocus>
<input name="password" type="password" autocomplete="current-password" placeholder="password" required>
<button type="submit">Log in</button></form>""")


def cookie_options(handler: RequestHandler) -> dict:
    """``HttpOnly``, ``SameSite=Lax``, ``Secure`` over HTTPS, on Panel's cookie path."""
    from panel.config import config

    return {"httponly": True, "samesite": "Lax", "secure": handler.request.protocol == "https",
            "path": config.cookie_path}


def _provider_class():
    from panel.auth import BasicAuthProvider
    from panel.config import config

    class LoginHandler(RequestHandler):
        """``GET`` shows the form, ``POST`` checks the password off the event loop."""

        provider = None  # set on the subclass each provider makes

        def set_default_headers(self):
            for name, value in PAGE_HEADERS.items():
                self.set_header(name, value)

        def _page(self, next_url: str, error: str = "", status: int = 200, retry: float = 0) -> None:
            self.set_status(status)
            if retry:
                self.set_header("Retry-After", str(max(1, int(retry + 0.999))))
            self.write(login_form(self.provider.login_url, next_url, error))

        def get(self):
            self._page(safe_next(self.get_argument("next", "/")))

        async def post(self):
            provider = self.provider
            user = self.get_body_argument("username", "").strip()[:MAX_NAME]
            password = self.get_body_argument("password", "")[:1024]
            next_url = safe_next(self.get_body_argument("next", "/"))
            address = self.request.remote_ip or "unknown"
            device = self.device_for(user)
            provider.throttle.attempt(address)
            wait = provider.throttle.locked_for(user, address, device)
            if wait:  # refused unchecked, and not counted: the real user retrying is not punished
                minutes = max(1, round(wait / 60))
                return self._page(next_url, MESSAGES["locked"].format(minutes=minutes), 429, wait)
            try:
                ok = await provider.check_password(user, password, address, device)
            except Busy:
                return self._page(next_url, MESSAGES["busy"], 429, 1)
            if not ok:
                provider.throttle.failure(user, address, device)
                return self._page(next_url, MESSAGES["invalid"], 401)
            provider.throttle.success(user, address, device)
            self.set_current_user(user)
            if device is None:
                self.set_secure_cookie(DEVICE_COOKIE, f"{user}\n{secrets.token_urlsafe(18)}",
                                       **{**cookie_options(self), "expires_days": DEVICE_DAYS})
            self.redirect(next_url)

        def device_for(self, user: str) -> str | None:
            """The id of this browser's device cookie when it was issued at a login as ``user``."""
            raw = self.get_secure_cookie(DEVICE_COOKIE, max_age_days=DEVICE_DAYS)
            name, _, device = (raw or b"").decode("utf-8", "replace").partition("\n")
            return device if device and name == user else None

        def set_current_user(self, user: str) -> None:
            """Panel's ``user`` and ``id_token`` cookies plus a fresh server-side session."""
            from panel.auth import base64url_encode, state

            options = {"expires_days": config.oauth_expiry, **cookie_options(self)}
            self.clear_cookie("is_guest", path=config.cookie_path)
            self.set_secure_cookie("user", user, **options)
            id_token = base64url_encode(json.dumps({"user": user}))
            if state.encryption:
                id_token = state.encryption.encrypt(id_token.encode("utf-8"))
            self.set_secure_cookie("id_token", id_token, **options)
            self.set_secure_cookie(SESSION_COOKIE, self.provider.sessions.open(user), **options)

    class LogoutHandler(RequestHandler):
        """Closes the server-side session and clears the cookies."""

        provider = None

        def set_default_headers(self):
            for name, value in PAGE_HEADERS.items():
                self.set_header(name, value)

        def get(self):
            sid = self.get_secure_cookie(SESSION_COOKIE, max_age_days=config.oauth_expiry)
            self.provider.sessions.close(sid.decode("utf-8") if sid else None)
            for name in ("user", "id_token", SESSION_COOKIE, "is_guest"):
                self.clear_cookie(name, path=config.cookie_path)
            self.write(page_html("Logged out", f'<p>You are logged out.</p>'
                                 f'<a class="button" href=".{escape_html(self.provider.login_url)}">Log in again</a>'))

    class CredentialsAuthProvider(BasicAuthProvider):
        """Panel's auth provider over a credentials file of bcrypt hashes: a throttled login, live
        sessions, and a user removed from the file loses access at the next request."""

        def __init__(self, credentials: str | Path, throttle: LoginThrottle | None = None, *,
                     open_while_empty: bool = False, **kwargs):
            self.credentials = Path(credentials)
            self.open_while_empty = open_while_empty
            self.throttle = throttle or LoginThrottle()
            self.sessions = SessionRegistry(ttl_s=float(config.oauth_expiry) * 86400)
            self.queue = VerificationQueue(workers=LOGIN_WORKERS, max_waiting=MAX_PENDING)
            self.pending: Counter[tuple[str, str]] = Counter()  # checks in flight per client and name (event loop only)
            warm_dummy_hash(self.credentials)  # the first unknown name costs what the others cost
            self._login = type("WorkbenchLoginHandler", (LoginHandler,), {"provider": self})
            self._logout = type("WorkbenchLogoutHandler", (LogoutHandler,), {"provider": self})
            super().__init__(**kwargs)

        async def check_password(self, user: str, password: str, address: str, device: str | None = None) -> bool:
            """The bcrypt check in the ranked queue; the event loop goes on serving meanwhile.
            Raises :class:`Busy` when this client (the device, else the address) or, from an
            untrusted client, this name has a check in flight already, or better ranked checks
            fill the queue."""
            keys = [("device", device)] if device else [("address", address), ("name", user)]
            if any(self.pending[k] for k in keys):
                raise Busy("one check at a time per client and name")
            for k in keys:
                self.pending[k] += 1
            try:
                rank = lambda: self.throttle.standing(user, address, device)  # noqa: E731 (asked again at each pick)
                return await asyncio.wrap_future(
                    self.queue.submit(rank, verify_password, self.credentials, user, password))
            finally:
                for k in keys:
                    self.pending[k] -= 1
                    if self.pending[k] <= 0:
                        del self.pending[k]

        def session_user(self, cookie: str | bytes | None) -> str | None:
            """The user of a signed session cookie value, if that session is still open."""
            if not cookie or not config.cookie_secret:
                return None
            sid = decode_signed_value(config.cookie_secret, SESSION_COOKIE, cookie,
                                      max_age_days=config.oauth_expiry)
            return self.sessions.user_of(sid.decode("utf-8")) if sid else None

        def is_open(self) -> bool:
            """Whether visitors come in without a login: a server on this machine started before
            anyone was added to the credentials file, while it still has nobody (re-read each time,
            so the first ``workbench users add`` switches the login on in the running server)."""
            return self.open_while_empty and not has_users(self.credentials)

        def session_alive(self) -> bool:
            """Whether the current Panel session's login is still open (not logged out)."""
            import panel as pn

            if self.is_open():
                return True
            user = pn.state.user
            return bool(user) and self.session_user(pn.state.cookies.get(SESSION_COOKIE)) == user

        @property
        def get_user(self):
            """The user of a request: signed cookies, an open session, and still in the credentials file."""
            base = super().get_user

            def get_user(handler):
                if self.is_open():
                    return LOCAL_USER
                user = handler.get_secure_cookie("user", max_age_days=config.oauth_expiry)
                sid = handler.get_secure_cookie(SESSION_COOKIE, max_age_days=config.oauth_expiry)
                if not user or not sid:
                    return None
                user = user.decode("utf-8")
                if self.sessions.user_of(sid.decode("utf-8")) != user or not role_of(self.credentials, user):
                    return None
                return base(handler) if isinstance(handler, WebSocketHandler) else user  # Panel counts sockets
            return get_user

        @property
        def login_handler(self):
            """The login page's handler (one class per provider)."""
            return self._login

        @property
        def logout_handler(self):
            """The logout page's handler."""
            return self._logout

    return CredentialsAuthProvider


def credentials_provider(credentials: str | Path, throttle: ThrottleSettings | None = None, **kwargs):
    """The Panel/Bokeh auth provider of a credentials file (pass it as ``auth_provider=``)."""
    return _provider_class()(credentials, LoginThrottle(throttle), **kwargs)


def auth_provider(credentials: str | os.PathLike, throttle=None, open_while_empty: bool = False, **kwargs):
    """A Panel/Bokeh auth provider checking the credentials file (pass it as ``auth_provider=``);
    ``throttle``: :class:`workbench.security.throttle.ThrottleSettings` for failed logins;
    ``open_while_empty``: no login while the file names nobody (a server on this machine)."""
    path = Path(credentials)
    if open_while_empty:
        kwargs["open_while_empty"] = True
    elif not list_users(path):
        raise WorkbenchError(f"no users in {path}; add one with `workbench users add NAME --role reviewer`")
    return credentials_provider(path, throttle, **kwargs)


def serve_options(credentials: str | os.PathLike | None = None, *, oauth_provider: str | None = None,
                  oauth_key: str | None = None, oauth_secret: str | None = None,
                  cookie_secret: str | None = None, throttle=None, open_while_empty: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``panel.serve`` that make the app ask for a login.

    With ``oauth_provider`` (or ``$PANEL_OAUTH_PROVIDER``), Panel's OAuth is used and its key
    and secret come from the arguments or Panel's environment variables; otherwise the
    credentials file's hashes are checked, failed logins throttled by ``throttle``
    (:class:`workbench.security.throttle.ThrottleSettings`). The cookie secret is random per server
    unless given (``$WORKBENCH_COOKIE_SECRET``); sessions live in the server's memory, so
    restarting the server asks everyone to log in again either way.
    """
    secret = cookie_secret or os.environ.get("WORKBENCH_COOKIE_SECRET") or secrets.token_urlsafe(32)
    provider = oauth_provider or os.environ.get("PANEL_OAUTH_PROVIDER")
    if provider:
        opts: dict[str, Any] = {"oauth_provider": provider, "cookie_secret": secret,
                                "oauth_encryption_key": os.environ.get("PANEL_OAUTH_ENCRYPTION")}
        if oauth_key:
            opts["oauth_key"] = oauth_key
        if oauth_secret:
            opts["oauth_secret"] = oauth_secret
        return {k: v for k, v in opts.items() if v is not None}
    if credentials is None:
        raise WorkbenchError("a login needs a credentials file (--credentials PATH) or an OAuth provider")
    return {"auth_provider": auth_provider(credentials, throttle, open_while_empty=open_while_empty),
            "cookie_secret": secret}




def login_options(workspace: str | os.PathLike, credentials: str | os.PathLike | None = None, *,
                  oauth_provider: str | None = None, no_login: bool = False,
                  address: str = "127.0.0.1", throttle=None) -> tuple[dict[str, Any] | None, Mapping | None, str]:
    """``(auth, roles, note)`` for :func:`workbench.app.serve.serve_app`.

    A login is asked for with OAuth (``oauth_provider``) or when the credentials file has users.
    Without either, the app is served without login only on this machine (everyone is a
    reviewer); serving on another address then needs users or an explicit ``no_login``.
    """
    path = credentials_path(workspace, credentials)
    if no_login:
        return None, None, "no login: every visitor may review and publish"
    if oauth_provider or os.environ.get("PANEL_OAUTH_PROVIDER"):
        return (serve_options(path, oauth_provider=oauth_provider), RolesFile(path, oauth_default="viewer"),
                f"login with OAuth; roles from {path} (others are viewers)")
    if list_users(path):
        return (serve_options(path, throttle=throttle), RolesFile(path),
                f"login required; users and roles in {path}")
    if credentials is not None:
        raise WorkbenchError(f"no users in {path}; add one with `workbench users add NAME --role reviewer`")
    if address not in LOCAL_ADDRESSES:
        raise WorkbenchError(f"serving on {address} needs a login: add users with `workbench users add NAME "
                             "--role reviewer` (or pass --no-login to serve without one)")
    return (serve_options(path, throttle=throttle, open_while_empty=True), RolesFile(path, open_while_empty=True),
            f"no users in {path}: serving without login on this machine only, until users are added with "
            "`workbench users add` (the running server asks for a login from then on)")
