"""The gate every ``/v1`` request passes, as plain ASGI middleware (cheap, and before routing, so
that nothing under ``/v1`` answers without a key, not even a malformed request):

1. the key (``Authorization: Bearer <key>`` or ``X-API-Key``): missing or wrong ``401``, a
   role that does not include the endpoint's ``403``;
2. a query parameter the endpoint does not take: ``422`` naming it (as an unknown body field);
   then the key's rate limit: ``429`` with ``Retry-After``;
3. the body size, counted while it arrives: ``413``;
4. a POST body: ``Content-Type`` JSON or none and no ``Content-Encoding`` (else ``415``), valid
   UTF-8 JSON (else ``400 bad_json`` saying whether it is gzip, Latin-1 or UTF-16), nested
   at most :data:`MAX_DEPTH` deep (else ``400 too_deep``), parsed here once by orjson (C code,
   no recursion error) and handed to the endpoint as ``request.state.json``.

A ``HEAD`` is answered as a ``GET`` without the body, and ``/v1/health/`` as ``/v1/health`` (not a
redirect without a body). It also logs every request (``/docs`` included) with its status, key and latency, and hands
the predictions a request produced to the log with that latency.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import orjson

from workbench.security.roles import KEY_RIGHTS
from workbench.service.log import utc_now
from workbench.service.ratelimit import retry_after

#: the right of the one role table each endpoint needs (any other /v1 path needs ``api_read``)
ENDPOINT_RIGHTS = {"/v1/classify": "classify", "/v1/feedback": "feedback", "/v1/monitor": "monitor",
                   "/v1/admin/reload": "reload"}
#: the least key role each endpoint needs (from :data:`workbench.security.roles.KEY_RIGHTS`)
ENDPOINT_ROLES = {path: KEY_RIGHTS[right] for path, right in ENDPOINT_RIGHTS.items()}


#: the endpoints whose body is JSON (any other ignores its body)
JSON_BODIES = frozenset({"/v1/classify", "/v1/feedback"})
#: deepest nesting of arrays and objects a body may have (a product is 3 deep)
MAX_DEPTH = 16


def json_depth(value, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a parsed JSON value, counted up to ``limit + 1`` (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def check_json_body(scope: dict, body: bytes) -> tuple[Any, tuple | None]:
    """``(payload, None)`` or ``(None, refusal)`` for a POST body (see the module's point 4)."""
    kind = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
    if kind and kind != "application/json" and not kind.endswith("+json"):
        return None, (415, "unsupported_type", f"the body must be JSON: send 'Content-Type: application/json' "
                      f"(got {kind[:80]!r})", [])
    encoding = (_header(scope, b"content-encoding") or "identity").strip().lower()
    if encoding not in ("", "identity"):
        return None, (415, "unsupported_type", f"the body is compressed (Content-Encoding: {encoding[:40]!r}); "
                      "send it uncompressed, without a Content-Encoding header", [])
    if not body.strip():
        return None, (400, "bad_json", "the body is empty: send a JSON object", [])
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc).lower():
            return None, _too_deep()
        return None, (400, "bad_json", _not_json(body, exc), [])
    if json_depth(payload) > MAX_DEPTH:
        return None, _too_deep()
    return payload, None


def _not_json(body: bytes, exc: Exception) -> str:
    """Why a body is not JSON, in one line with the fix (orjson's message alone reads "surrogates
    not allowed" for a body that is not UTF-8 at all)."""
    if body[:2] == b"\x1f\x8b":
        return ("the body is gzip-compressed without a Content-Encoding header; send it uncompressed "
                "UTF-8 JSON")
    if body[:3] == b"\xef\xbb\xbf":
        return "the body starts with a UTF-8 byte order mark; send UTF-8 JSON without it"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as bad:
        return (f"the body is not UTF-8 (byte {bad.start}); JSON is UTF-8: encode the text as UTF-8 "
                "(not Latin-1, UTF-16 or a compressed stream)")
    return f"the body is not valid JSON ({str(exc)[:200]}); send a JSON object"


def _too_deep() -> tuple:
    return (400, "too_deep", f"the body is nested more than {MAX_DEPTH} levels deep; send a product or a batch "
            "as documented", [])


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


#: the query parameters each endpoint takes (any other is refused, as an unknown body field is)
QUERY_PARAMETERS = {"/v1/monitor": frozenset({"since"})}
#: where the options of an endpoint without query parameters go
QUERY_HINT = {"/v1/classify": "send top_k, decision_rule and explain in the JSON body",
              "/v1/monitor": "it takes since"}


def unknown_parameters(scope: dict) -> list[str]:
    """The query parameters a ``/v1`` request sent that its endpoint does not take."""
    query = scope.get("query_string", b"")
    if not query:
        return []
    from urllib.parse import parse_qsl

    allowed = QUERY_PARAMETERS.get(scope["path"].rstrip("/"), frozenset())
    names = [name for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)]
    return [name[:64] for name in dict.fromkeys(names) if name not in allowed]


def presented_key(scope: dict) -> str | None:
    """The key a request carries, if any."""
    auth = _header(scope, b"authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return _header(scope, b"x-api-key")


class Guard:
    """ASGI middleware: authentication, rate limit, body limit and the request log."""

    def __init__(self, app, state):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        request_id = uuid.uuid4().hex
        record: dict[str, Any] = {"request_id": request_id, "time": utc_now(), "method": scope["method"],
                                  "path": scope["path"][:200], "key_name": None, "role": None,
                                  "status": 500, "n_products": 0, "bytes_in": 0, "error": None}
        scope.setdefault("state", {})
        scope["state"]["request_id"] = request_id
        status_box = [500]

        async def logged_send(message):
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                # JSON only: a title or a value echoed in an answer is never sniffed as a page
                message["headers"] = list(message.get("headers", [])) + [(b"x-request-id", request_id.encode()),
                                                                         (b"x-content-type-options", b"nosniff")]
            await send(message)

        scope["state"]["method"] = scope["method"]  # as sent (a HEAD is routed as a GET)
        if scope["path"].startswith("/v1/") and scope["path"].endswith("/"):  # /v1/health/ is /v1/health,
            scope = {**scope, "path": scope["path"].rstrip("/") or "/"}      # not a redirect without a body
        if scope["method"] == "HEAD":  # HEAD is GET without the body (RFC 9110): health checks, `curl -I`
            scope = {**scope, "method": "GET"}
            answer = logged_send

            async def logged_send(message):
                if message["type"] == "http.response.body":
                    message = {**message, "body": b""}
                await answer(message)

        try:
            if scope["path"].startswith("/v1"):
                refusal = self._check(scope, record)
                if refusal is None:
                    body, refusal = await self._read_body(scope, receive, record)
                if refusal is None and scope["method"] == "POST" and scope["path"].rstrip("/") in JSON_BODIES:
                    scope["state"]["json"], refusal = check_json_body(scope, body)
                if refusal is not None:
                    record["error"] = record["error"] or refusal[1]
                    await self._refuse(logged_send, *refusal)
                    return
                receive = _replay(body, receive)
            await self.app(scope, receive, logged_send)
        finally:
            latency = (time.perf_counter() - t0) * 1000
            record.update(status=status_box[0], latency_ms=latency)
            predictions = scope["state"].get("predictions") or []
            record["n_products"] = len(predictions)
            writer = self.state.writer
            writer.add("requests", record)
            for row in predictions:  # queued (and journaled) by the endpoint before it answered
                row["latency_ms"] = latency

    def _check(self, scope: dict, record: dict) -> tuple | None:
        """``None`` when the key may make this request, else ``(status, code, message, headers)``."""
        key = self.state.keys.verify(presented_key(scope))
        if key is None:
            record["error"] = "unauthorized"
            return (401, "unauthorized", "a valid API key is required: send 'Authorization: Bearer <key>' "
                    "(make one with `workbench keys add NAME --role classify`)", [(b"www-authenticate", b"Bearer")])
        record.update(key_name=key.name, role=key.role)
        scope["state"]["key"] = key
        needed = ENDPOINT_ROLES.get(scope["path"].rstrip("/"), KEY_RIGHTS["api_read"])
        if not key.allows(needed):
            record["error"] = "forbidden"
            return (403, "forbidden", f"key {key.name!r} has role {key.role!r}; {scope['path']} needs the "
                    f"{needed!r} role", [])
        unknown = unknown_parameters(scope)
        if unknown:
            record["error"] = "validation"
            message = (f"{scope['path']} takes no query parameter {unknown[0]!r}"
                       f"{'; ' + QUERY_HINT[scope['path']] if scope['path'] in QUERY_HINT else ''}")
            return (422, "validation", f"{unknown[0]}: {message}", [], {
                "field": unknown[0], "errors": [{"field": name, "message": message, "type": "extra_forbidden"}
                                                for name in unknown]})
        wait = self.state.limiter.take(key.name, key.rate)
        if wait > 0:
            record["error"] = "rate_limited"
            return (429, "rate_limited", f"key {key.name!r} is limited to {key.rate}; retry in {retry_after(wait)} s",
                    [(b"retry-after", retry_after(wait).encode())])
        return None

    async def _read_body(self, scope: dict, receive, record: dict) -> tuple[bytes, tuple | None]:
        """The whole body, refused with ``413`` as soon as it passes the limit."""
        limit = self.state.settings.max_body_bytes
        declared = _header(scope, b"content-length")
        too_big = (413, "too_large", f"the request body is larger than the limit of {limit:,} bytes; "
                   "send fewer products per request", [])
        if declared is not None and declared.isdigit() and int(declared) > limit:
            record.update(error="too_large", bytes_in=int(declared))
            return b"", too_big
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                record.update(error="too_large", bytes_in=size)
                return b"", too_big
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        record["bytes_in"] = size
        return b"".join(chunks), None

    @staticmethod
    async def _refuse(send, status: int, code: str, message: str, headers: list, extra: dict | None = None) -> None:
        body = json.dumps({"error": code, "detail": message, **(extra or {})}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), *headers]})
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive):
    """A ``receive`` that hands the already-read body to the application, then waits on the
    connection as the original would (for the disconnect)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
