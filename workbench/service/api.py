"""The HTTP API (FastAPI): classify products, take feedback, describe the serving model.

``create_app(workspace)`` builds the application over a workspace's serving snapshot;
:func:`workbench.service.server.serve_api` runs it with uvicorn (``workbench api``). Every
``/v1`` endpoint needs an API key (:mod:`workbench.service.guard`); the OpenAPI docs at
``/docs`` describe them and hold no data.
"""

from __future__ import annotations

import difflib
import json
import logging
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer
import orjson
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from workbench import __version__
from workbench.security.roles import KEY_RIGHTS
from workbench.service.files import ServiceFiles
from workbench.service.guard import Guard
from workbench.service.log import utc_now
from workbench.service.schemas import (Batch, ClassifyResponse, ErrorBody, Feedback, FeedbackResponse,
                                       HealthResponse, ModelResponse, MonitorResponse, ReloadResponse,
                                       SingleProduct, TaxonomyResponse)
from workbench.service.state import ApiSettings, ServiceState

log = logging.getLogger("workbench.service")

DESCRIPTION = ("Classify products into the workspace's taxonomy with the serving run, send feedback on a "
               "prediction, and read the serving model's metrics and thresholds. Every /v1 endpoint needs "
               "an API key: `Authorization: Bearer <key>` (make one with `workbench keys add NAME --role "
               "classify`).")


#: what each refusal means; every one has the :class:`ErrorBody` shape
ERROR_TEXT = {
    400: "bad_json (not JSON, or empty) or too_deep (nested more than 16 levels)",
    401: "unauthorized: no API key, or an unknown one",
    403: "forbidden: the key's role does not include this endpoint",
    404: "not_found: no such prediction was made by this service",
    413: "too_large: the body is over the size limit; batch_too_large: the batch is over the batch limit",
    409: "conflict: accepted is true but the category sent differs from the prediction, or false but it is the prediction",
    415: "unsupported_type: the body is not sent as application/json, or it is compressed (Content-Encoding)",
    422: "validation: a field is missing, of the wrong type or out of range (field names it)",
    429: "rate_limited: the key's rate is used up; retry after Retry-After seconds",
    500: "server_error: the service's own fault (counted in the monitoring error share)",
}
#: why ``explain: true`` answers no nearest labelled products when the workspace has no index of them
NO_NEIGHBOURS = ("no nearest labelled products: the workspace has no neighbour index; build it with "
                 "`workbench embed` and `workbench explain --build-index`")
#: the key role that may give feedback on any key's prediction (else only the key that asked)
FEEDBACK_ON_ANY = KEY_RIGHTS["feedback_on_any"]
#: the date-times and durations ``/v1/monitor?since=`` takes (bounded: at most 99,999 units back)
#: (every real calendar day of the years 1000-2999, the 29th of February in leap years only, and a
#: time with seconds, fractions, ``Z`` or an offset: what the pattern admits, the server takes)
_LEAP_YEAR = r"[12][0-9](0[48]|[2468][048]|[13579][26])|(1[26]|2[048])00"
_DATE = (r"[12][0-9]{3}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
         r"|02-(0[1-9]|1[0-9]|2[0-8]))|(" + _LEAP_YEAR + r")-02-29")
_TIME = r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?"
SINCE_PATTERN = r"^(all|[0-9]{1,5}[smhd]|(" + _DATE + r")(" + _TIME + r")?)$"

PATTERN_MESSAGES = {"since": "give a duration (30m, 24h, 7d; at most 99999 units), an ISO date or time "
                             "(2026-01-05T10:00, 2026-01-31T10:00:00Z) or all",
                    "image_url": "give an http:// or https:// address without spaces or control characters",
                    "title": "the title is blank: give the product's name"}


#: every field name a request body may have (what a misspelt field is compared with)
KNOWN_FIELDS = sorted({*SingleProduct.model_fields, *Batch.model_fields, *Feedback.model_fields})


def documented(*codes: int) -> dict[int, dict]:
    """OpenAPI ``responses`` for the refusals an endpoint may answer."""
    return {c: {"model": ErrorBody, "description": ERROR_TEXT[c]} for c in sorted(set(codes))}


GET_ERRORS = (401, 403, 413, 429, 500)
POST_ERRORS = GET_ERRORS + (400, 415, 422)


class AnswerJSON(JSONResponse):
    """A JSON answer encoded by orjson: a batch of 1,000 predictions in about a tenth of the standard
    library's time, and never the ``NaN`` that ``json.dumps`` writes and JSON does not allow."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def field_name(loc) -> str:
    """``("body", "products", 0, "title")`` -> ``"products[0].title"``."""
    out = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not out:
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def validation_answer(errors: list[dict]) -> JSONResponse:
    """A ``422`` naming the first offending field, with every error listed."""
    listed = [{"field": field_name(e.get("loc", ())), "message": str(e.get("msg", "")), "type": e.get("type")}
              for e in errors]
    for item in listed:  # a pattern is not a message a caller can act on
        name = item["field"].rsplit(".", 1)[-1]
        if item["type"] == "string_pattern_mismatch" and name in PATTERN_MESSAGES:
            item["message"] = PATTERN_MESSAGES[name]
        elif item["message"].startswith("Value error, "):  # pydantic's prefix to our own sentence
            item["message"] = item["message"][len("Value error, "):]
        elif item["type"] == "extra_forbidden":  # a typo ("titel") is told its right spelling
            close = difflib.get_close_matches(name, KNOWN_FIELDS, n=1, cutoff=0.6)
            item["message"] = (f"unknown field; did you mean {close[0]!r}?" if close else
                               "unknown field: remove it (the fields are listed in /openapi.json)")
    first = listed[0] if listed else {"field": "body", "message": "invalid request"}
    return JSONResponse(status_code=422, content={
        "error": "validation", "field": first["field"], "detail": f"{first['field']}: {first['message']}",
        "errors": listed})


def _refusal(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "detail": message}, headers=headers)


def _invalid(field: str, message: str, kind: str = "value_error") -> JSONResponse:
    return validation_answer([{"loc": ("body", field), "msg": message, "type": kind}])


def _parse_products(payload: Any, max_batch: int):
    """``(products, top_k, decision_rule)`` or a refusal: one product ``{title, ...}`` or ``{products: [...]}``
    (``payload``: the body as parsed and depth-checked by the guard)."""
    if not isinstance(payload, dict):
        return None, _invalid("body", "send a JSON object: one product {\"title\": ...} or a batch "
                                      "{\"products\": [...]}", "object_type")
    try:
        if "products" in payload:
            items = payload["products"]
            if isinstance(items, list) and len(items) > max_batch:
                return None, _refusal(413, "batch_too_large", f"a batch holds at most {max_batch:,} products; "
                                      f"this one has {len(items):,}: split it")
            batch = Batch.model_validate(payload)
            return (batch.products, batch.top_k, batch.decision_rule, batch.explain), None
        single = SingleProduct.model_validate(payload)
        return ([single], single.top_k, single.decision_rule, single.explain), None
    except ValidationError as exc:
        return None, validation_answer(exc.errors(include_url=False, include_context=False, include_input=False))


def _prediction_record(request_id: str, key: str, run_id: str, product, answer: dict, cleaned: dict,
                       now) -> dict[str, Any]:
    return {"prediction_id": answer["prediction_id"], "request_id": request_id, "time": now, "key_name": key,
            "run_id": run_id, "product_ref": product.id, "title_raw": product.title,
            "title": cleaned["title"], "description": cleaned["description"], "brand": cleaned["brand"],
            "price": product.price, "image_url": product.image_url, "department": product.department,
            "attributes": json.dumps(product.attributes) if product.attributes else None,
            "category": answer["category"], "confidence": answer["confidence"], "decision": answer["decision"],
            "threshold": answer["threshold"], "decision_rule": answer["decision_rule"],
            "top_k": [[c["category"], round(c["probability"], 6)] for c in answer["top_k"]]}  # JSON when written


def build_router(state: ServiceState) -> APIRouter:
    """The ``/v1`` endpoints over one process's state."""
    bearer = HTTPBearer(auto_error=False, description="an API key made with `workbench keys add`")
    header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the same key, in its own header")
    router = APIRouter(prefix="/v1", dependencies=[Depends(bearer), Depends(header)],
                       generate_unique_id_function=lambda route: route.name)  # a generated client's method names

    @router.post("/classify", response_model=ClassifyResponse, summary="Classify one product or a batch",
                 responses=documented(*POST_ERRORS),
                 openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                     "oneOf": [{"$ref": "#/components/schemas/SingleProduct"},
                               {"$ref": "#/components/schemas/Batch"}]}}}}})
    async def classify(request: Request):
        """One product (``{"title": ...}``) or a batch (``{"products": [...]}``); the answers come in
        the order sent, each with a prediction id to quote in ``/v1/feedback``."""
        parsed, refusal = _parse_products(request.state.json, state.settings.max_batch)
        if refusal is not None:
            return refusal
        products, top_k, rule, explain = parsed
        serving = state.serving
        raw = [p.model_dump(exclude={"id", "top_k", "decision_rule", "explain"}) for p in products]
        if explain:  # the same explanation as wb.explain (workbench.runs.explain), scored once
            from starlette.concurrency import run_in_threadpool

            from workbench.runs.explain import NOT_EMBEDDED_NOTE, explain_answers

            answers, cleaned = await run_in_threadpool(explain_answers, serving.predictor, state.files.workspace,
                                                       raw, top_k, rule)
            for answer in answers:  # a null without a reason reads as a fault: say why there are none
                why = answer.get("explanation") or {}  # (the API reads a built index only, never builds one)
                if why.get("neighbours") is None and why.get("neighbours_note") in (None, "", NOT_EMBEDDED_NOTE):
                    why["neighbours_note"] = NO_NEIGHBOURS
        else:
            answers, cleaned = await state.batcher.predict(serving.predictor, raw, top_k, rule)
        run_id = serving.predictor.run_id
        now, key = utc_now(), request.state.key.name
        records = []
        out = []
        for product, answer, clean in zip(products, answers, cleaned):
            answer = {"prediction_id": str(uuid.uuid4()), "run_id": run_id, **answer}
            out.append(answer)
            records.append(_prediction_record(request.state.request_id, key, run_id, product, answer, clean, now))
            state.remember(answer["prediction_id"], run_id, answer["category"],
                           [c["category"] for c in answer["top_k"]], key)
        request.state.predictions = records  # the guard adds the latency to them
        await state.acknowledge("predictions", records)  # fsynced before the ids leave
        return AnswerJSON({"run_id": run_id, "predictions": out})

    @router.post("/feedback", response_model=FeedbackResponse, summary="Say whether a prediction was right",
                 responses=documented(*POST_ERRORS, 404, 409))
    async def feedback(body: Feedback, request: Request):
        """``accepted: true`` (the category was right), or the ``category`` finally chosen. Feedback
        is kept with provenance ``feedback``; it is never trained on unless a reviewer confirms it."""
        if body.accepted is None and body.category is None:
            return _invalid("accepted", "give accepted (true or false) or the category finally chosen")
        found = await run_in_threadpool(state.recall, str(body.prediction_id))
        if found is None:
            return _refusal(404, "not_found", f"no prediction {body.prediction_id} was made by this service")
        run_id, predicted, top, owner = found
        key = request.state.key
        if owner and owner != key.name and not key.allows(FEEDBACK_ON_ANY):
            return _refusal(403, "forbidden", f"prediction {body.prediction_id} was made by another key; only "
                            f"that key or a key with the {FEEDBACK_ON_ANY!r} role may give feedback on it")
        if body.category is not None and body.category not in state.serving.leaves:
            return _invalid("category", f"{body.category!r} is not a leaf category of the taxonomy; "
                                        "see GET /v1/taxonomy for the leaf ids")
        if body.accepted is True and body.category not in (None, predicted):
            return _refusal(409, "conflict", f"accepted is true but the category differs from the prediction "
                                             f"{predicted!r}; send accepted false with the category chosen")
        if body.accepted is False and body.category == predicted:
            return _refusal(409, "conflict", f"accepted is false but the category sent is the prediction "
                                             f"{predicted!r}; send accepted true, or the category finally chosen")
        accepted = body.accepted if body.accepted is not None else body.category == predicted
        final = body.category if body.category is not None else (predicted if accepted else None)
        rank = top.index(final) + 1 if final in top else None
        pid = str(body.prediction_id)
        current = state.stored_feedback(pid, key.name)
        if current is not None and (current["accepted"], current["category"], current["by"]) == (
                bool(accepted), final, body.by):
            return {k: v for k, v in current.items() if k != "by"}  # a replay: the stored feedback
        version = 1 if current is None else current["version"] + 1
        feedback_id = str(uuid.uuid4())
        answer = {"feedback_id": feedback_id, "prediction_id": pid, "accepted": bool(accepted),
                  "category": final, "predicted": predicted, "rank": rank, "version": version,
                  "replaces": None if current is None else current["feedback_id"], "stored": True}
        state.keep_feedback(pid, key.name, {**answer, "by": body.by})
        await state.acknowledge("feedback", [{
            "feedback_id": feedback_id, "prediction_id": str(body.prediction_id), "time": utc_now(),
            "key_name": request.state.key.name, "by": body.by, "accepted": bool(accepted), "category": final,
            "predicted": predicted, "run_id": run_id, "rank": rank}])  # fsynced before "stored: true"
        return answer

    @router.get("/health", summary="Is the service up, and with which run", response_model=HealthResponse,
                responses=documented(*GET_ERRORS))
    async def health():
        """The serving and shadow runs, when the snapshot was written, uptime and the log's state."""
        serving = state.serving
        writer = state.writer
        return {"status": "ok", "run_id": serving.predictor.run_id,
                "shadow_run_id": None if serving.shadow is None else serving.shadow.run_id,
                "snapshot_written_at": serving.snapshot.get("written_at"),
                "uptime_s": round(time.time() - state.started, 1),
                "log": {"pending": writer.pending(), "written": dict(writer.written), "errors": writer.errors}}

    @router.get("/model", summary="The serving run, its metrics and thresholds", response_model=ModelResponse,
                responses=documented(*GET_ERRORS))
    async def model():
        """The serving run (kind, split, test and validation metrics), the shadow run, the published
        thresholds, the promotion bar and the live accuracy of the review sample."""
        snap = state.serving.snapshot
        return {"serving": {k: v for k, v in snap["serving"].items() if k != "model_dir"},
                "shadow": None if not snap.get("shadow") else
                {k: v for k, v in snap["shadow"].items() if k != "model_dir"},
                "thresholds": snap["thresholds"], "promotion_min_accuracy": snap.get("promotion_min_accuracy"),
                "live_accuracy": snap.get("live_accuracy"), "level_names": snap["taxonomy"]["level_names"]}

    @router.get("/taxonomy", summary="Every category: id, name, parent, level", response_model=TaxonomyResponse,
                responses=documented(*GET_ERRORS))
    async def taxonomy():
        """Every category node: its id (the full path), name, parent, level and level name."""
        tax = state.serving.taxonomy
        nodes = [{"id": n, "name": tax.name(n), "parent": tax.parent(n), "level": tax.level(n),
                  "level_name": tax.level_names[tax.level(n) - 1], "is_leaf": tax.is_leaf(n)} for n in tax.nodes]
        return {"level_names": tax.level_names, "n_leaves": len(tax.leaves), "nodes": nodes}

    @router.get("/monitor", summary="The monitoring statistics of served traffic (admin)",
                response_model=MonitorResponse, responses=documented(*GET_ERRORS, 422))
    async def monitor(since: str = Query("24h", max_length=40, pattern=SINCE_PATTERN, description=(
            "a duration (30m, 24h, 7d; at most 99999 units) or an ISO date or time (UTC), or all"))):
        """Every monitoring statistic of the traffic since ``since``, against its threshold (the
        embedding test is left out here: it needs the text encoder; ``workbench monitor`` has it)."""
        from workbench.service.monitoring import monitor_report, parse_since

        try:
            start = parse_since(since)
        except (ValueError, OverflowError) as exc:
            return validation_answer([{"loc": ("query", "since"), "msg": str(exc), "type": "value_error"}])
        state.writer.flush()
        report = await run_in_threadpool(monitor_report, state.files, since=start, embedding=False)
        return report.as_dict()

    @router.post("/admin/reload", summary="Re-read the serving snapshot and the keys now (admin)",
                 response_model=ReloadResponse, responses=documented(*GET_ERRORS))
    async def reload():
        """Re-read the serving snapshot and the keys file now."""
        changed = await run_in_threadpool(state.reload)
        state.keys.reload()
        return {"reloaded": changed, "run_id": state.serving.predictor.run_id}

    return router


def create_app(workspace, settings: ApiSettings | None = None, state: ServiceState | None = None) -> FastAPI:
    """The FastAPI application over ``workspace``'s serving snapshot."""
    state = state or ServiceState(ServiceFiles(workspace), settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.start()
        try:
            yield
        finally:
            state.stop()

    docs = state.settings.docs
    app = FastAPI(title="Product categorization workbench API", version=__version__, description=DESCRIPTION,
                  docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.service = state

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return validation_answer(list(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = getattr(exc, "headers", None)
        detail = _http_detail(exc.status_code, str(exc.detail), request, headers, state.settings.docs)
        return _refusal(exc.status_code, code, detail, headers)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception):  # the service's own fault: a 500, counted
        log.exception("request %s %s failed", request.method, request.url.path)
        return _refusal(500, "server_error", f"the service failed ({type(exc).__name__}); the request id "
                        "in X-Request-ID finds it in the log")

    if docs:
        @app.get("/openapi.json", include_in_schema=False)
        async def openapi_document(request: Request):
            """The schema for anyone; with a valid key, the taxonomy's leaves as feedback's category enum."""
            return JSONResponse(_openapi_for(app, state, request))

    if docs:  # Swagger UI from the installed fastapi-offline package's assets: /docs works offline
        import fastapi_offline
        from fastapi.openapi.docs import get_swagger_ui_html
        from fastapi.staticfiles import StaticFiles

        assets = Path(fastapi_offline.__file__).parent / "static"
        app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

        @app.get("/docs", include_in_schema=False)
        async def swagger():
            return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs",
                                       swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                       swagger_css_url="/docs-assets/swagger-ui.css",
                                       swagger_favicon_url="/docs-assets/favicon.png")

    app.include_router(build_router(state))
    app.add_middleware(Guard, state=state)
    app.openapi = lambda: _openapi(app, state)
    return app


#: the endpoints named in a 404 (what a caller who mistyped a path needs)
ENDPOINTS = ("POST /v1/classify, POST /v1/feedback, GET /v1/health, GET /v1/model, GET /v1/taxonomy, "
             "GET /v1/monitor, POST /v1/admin/reload")


def _http_detail(status: int, detail: str, request: Request, headers: dict | None, docs: bool = True) -> str:
    """One line with the cause and the fix for a routing refusal (Starlette says only "Not Found")."""
    path = request.url.path[:200]
    if status == 404:
        return f"no endpoint {path!r}; the API has {ENDPOINTS}" + (" (described at /openapi.json)" if docs else "")
    if status == 405:
        allowed = (headers or {}).get("Allow") or (headers or {}).get("allow") or "another method"
        return f"{path!r} does not take {getattr(request.state, 'method', request.method)}; send {allowed}"
    return detail


def _openapi_for(app: FastAPI, state: ServiceState, request: Request) -> dict:
    """The OpenAPI document as this caller may see it: a request with a valid key (any role may
    read ``/v1/taxonomy``) gets the serving taxonomy's leaves as the values of feedback's
    ``category``; without one, the document holds no workspace data."""
    from workbench.service.guard import presented_key

    schema = app.openapi()
    if state.keys.verify(presented_key(request.scope)) is None:
        return schema
    schema = json.loads(json.dumps(schema))
    schema["components"]["schemas"]["Feedback"]["properties"]["category"]["enum"] = sorted(state.serving.leaves)
    return schema


def _openapi(app: FastAPI, state: ServiceState) -> dict:
    """FastAPI's schema plus the two request shapes of ``/v1/classify`` (its body is parsed by
    the endpoint, so FastAPI does not list them itself). It holds no data: the taxonomy's leaves,
    which a feedback's ``category`` takes, are for a key at ``GET /v1/taxonomy``, not for anyone
    who can reach ``/openapi.json``."""
    from fastapi.openapi.utils import get_openapi

    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (SingleProduct, Batch):
            js = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in js.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = js
        products = components["Batch"]["properties"]["products"]  # a limit, not maxItems: above it is a 413
        products["x-max-items"] = state.settings.max_batch         # (a payload too large), not a 422
        products["description"] = (f"at most {state.settings.max_batch:,} products (the server's --max-batch); "
                                   "a larger batch is refused with 413 batch_too_large")
        app.openapi_schema = schema
    return app.openapi_schema
