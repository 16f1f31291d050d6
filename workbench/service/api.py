"""The HTTP API (FastAPI): classify products, take feedback, describe the serving model.

``create_app(workspace)`` builds the application over a workspace's serving snapshot;
:func:`workbench.service.server.serve_api` runs it with uvicorn (``workbench api``). Every
``/v1`` endpoint needs an API key (:mod:`workbench.service.guard`); the OpenAPI docs at
``/docs`` describe them and hold no data.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
import orjson
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from workbench import __version__
from workbench.service.files import ServiceFiles
from workbench.service.guard import Guard
from workbench.service.log import utc_now
from workbench.service.schemas import (Batch, ClassifyResponse, Feedback, FeedbackResponse, SingleProduct)
from workbench.service.state import ApiSettings, ServiceState

DESCRIPTION = ("Classify products into the workspace's taxonomy with the serving run, send feedback on a "
               "prediction, and read the serving model's metrics and thresholds. Every /v1 endpoint needs "
               "an API key: `Authorization: Bearer <key>` (make one with `workbench keys add NAME --role "
               "classify`).")


class AnswerJSON(JSONResponse):
    """A JSON answer encoded by orjson: a batch of 1,000 predictions in about a tenth of the standard
    library's time, and never the ``NaN`` that ``json.dumps`` writes and JSON does not allow."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def field_name(loc) -> str:
    """``("body", "products", 0, "title")`` -> ``"products[0].title"``."""
    out = ""
    for part in loc:
        if part == "body" and not out:
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def validation_answer(errors: list[dict]) -> JSONResponse:
    """A ``422`` naming the first offending field, with every error listed."""
    listed = [{"field": field_name(e.get("loc", ())), "message": str(e.get("msg", "")), "type": e.get("type")}
              for e in errors]
    first = listed[0] if listed else {"field": "body", "message": "invalid request"}
    return JSONResponse(status_code=422, content={
        "error": "validation", "field": first["field"], "detail": f"{first['field']}: {first['message']}",
        "errors": listed})


def _refusal(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "detail": message})


def _invalid(field: str, message: str, kind: str = "value_error") -> JSONResponse:
    return validation_answer([{"loc": ("body", field), "msg": message, "type": kind}])


def _parse_products(body: bytes, max_batch: int):
    """``(products, top_k, decision_rule)`` or a refusal: one product ``{title, ...}`` or ``{products: [...]}``."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, _invalid("body", f"the body is not valid JSON ({exc})", "json_invalid")
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
    router = APIRouter(prefix="/v1", dependencies=[Depends(bearer)])

    @router.post("/classify", response_model=ClassifyResponse, summary="Classify one product or a batch",
                 openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                     "oneOf": [{"$ref": "#/components/schemas/SingleProduct"},
                               {"$ref": "#/components/schemas/Batch"}]}}}}})
    async def classify(request: Request):
        """One product (``{"title": ...}``) or a batch (``{"products": [...]}``); the answers come in
        the order sent, each with a prediction id to quote in ``/v1/feedback``."""
        parsed, refusal = _parse_products(await request.body(), state.settings.max_batch)
        if refusal is not None:
            return refusal
        products, top_k, rule, explain = parsed
        serving = state.serving
        raw = [p.model_dump(exclude={"id", "top_k", "decision_rule", "explain"}) for p in products]
        answers, cleaned = await state.batcher.predict(serving.predictor, raw, top_k, rule)
        if explain:  # the same explanation as wb.explain (workbench.runs.explain)
            from starlette.concurrency import run_in_threadpool

            from workbench.runs.explain import explain_answers

            answers = await run_in_threadpool(explain_answers, serving.predictor, state.files.workspace,
                                              raw, answers, top_k, rule)
        run_id = serving.predictor.run_id
        now, key = utc_now(), request.state.key.name
        records = []
        out = []
        for product, answer, clean in zip(products, answers, cleaned):
            answer = {"prediction_id": str(uuid.uuid4()), "run_id": run_id, **answer}
            out.append(answer)
            records.append(_prediction_record(request.state.request_id, key, run_id, product, answer, clean, now))
            state.remember(answer["prediction_id"], run_id, answer["category"],
                           [c["category"] for c in answer["top_k"]])
        request.state.predictions = records
        return AnswerJSON({"run_id": run_id, "predictions": out})

    @router.post("/feedback", response_model=FeedbackResponse, summary="Say whether a prediction was right")
    async def feedback(body: Feedback, request: Request):
        """``accepted: true`` (the category was right), or the ``category`` finally chosen. Feedback
        is kept with provenance ``feedback``; it is never trained on unless a reviewer confirms it."""
        if body.accepted is None and body.category is None:
            return _invalid("accepted", "give accepted (true or false) or the category finally chosen")
        found = await run_in_threadpool(state.recall, str(body.prediction_id))
        if found is None:
            return _refusal(404, "not_found", f"no prediction {body.prediction_id} was made by this service")
        run_id, predicted, top = found
        if body.category is not None and body.category not in state.serving.leaves:
            return _invalid("category", f"{body.category!r} is not a leaf category of the taxonomy; "
                                        "see GET /v1/taxonomy for the leaf ids")
        if body.accepted is True and body.category not in (None, predicted):
            return _invalid("category", f"accepted is true but the category differs from the prediction "
                                        f"{predicted!r}; send accepted false with the category chosen")
        accepted = body.accepted if body.accepted is not None else body.category == predicted
        final = body.category if body.category is not None else (predicted if accepted else None)
        rank = top.index(final) + 1 if final in top else None
        feedback_id = str(uuid.uuid4())
        state.writer.add("feedback", {
            "feedback_id": feedback_id, "prediction_id": str(body.prediction_id), "time": utc_now(),
            "key_name": request.state.key.name, "by": body.by, "accepted": bool(accepted), "category": final,
            "predicted": predicted, "run_id": run_id, "rank": rank})
        return {"feedback_id": feedback_id, "prediction_id": str(body.prediction_id), "accepted": bool(accepted),
                "category": final, "predicted": predicted, "rank": rank, "stored": True}

    @router.get("/health", summary="Is the service up, and with which run")
    async def health():
        """The serving and shadow runs, when the snapshot was written, uptime and the log's state."""
        serving = state.serving
        writer = state.writer
        return {"status": "ok", "run_id": serving.predictor.run_id,
                "shadow_run_id": None if serving.shadow is None else serving.shadow.run_id,
                "snapshot_written_at": serving.snapshot.get("written_at"),
                "uptime_s": round(time.time() - state.started, 1),
                "log": {"pending": writer.pending(), "written": dict(writer.written), "errors": writer.errors}}

    @router.get("/model", summary="The serving run, its metrics and thresholds")
    async def model():
        """The serving run (kind, split, test and validation metrics), the shadow run, the published
        thresholds, the promotion bar and the live accuracy of the review sample."""
        snap = state.serving.snapshot
        return {"serving": {k: v for k, v in snap["serving"].items() if k != "model_dir"},
                "shadow": None if not snap.get("shadow") else
                {k: v for k, v in snap["shadow"].items() if k != "model_dir"},
                "thresholds": snap["thresholds"], "promotion_min_accuracy": snap.get("promotion_min_accuracy"),
                "live_accuracy": snap.get("live_accuracy"), "level_names": snap["taxonomy"]["level_names"]}

    @router.get("/taxonomy", summary="Every category: id, name, parent, level")
    async def taxonomy():
        """Every category node: its id (the full path), name, parent, level and level name."""
        tax = state.serving.taxonomy
        nodes = [{"id": n, "name": tax.name(n), "parent": tax.parent(n), "level": tax.level(n),
                  "level_name": tax.level_names[tax.level(n) - 1], "is_leaf": tax.is_leaf(n)} for n in tax.nodes]
        return {"level_names": tax.level_names, "n_leaves": len(tax.leaves), "nodes": nodes}

    @router.get("/monitor", summary="The monitoring statistics of served traffic (admin)")
    async def monitor(since: str = Query("24h", description="a duration (30m, 24h, 7d) or an ISO time (UTC)")):
        """Every monitoring statistic of the traffic since ``since``, against its threshold (the
        embedding test is left out here: it needs the text encoder; ``workbench monitor`` has it)."""
        from workbench.service.monitoring import monitor_report, parse_since

        try:
            start = parse_since(since)
        except ValueError as exc:
            return _invalid("since", str(exc))
        state.writer.flush()
        report = await run_in_threadpool(monitor_report, state.files, since=start, embedding=False)
        return report.as_dict()

    @router.post("/admin/reload", summary="Re-read the serving snapshot and the keys now (admin)")
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
                  docs_url="/docs" if docs else None, redoc_url=None, openapi_url="/openapi.json" if docs else None,
                  lifespan=lifespan)
    app.state.service = state

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return validation_answer(list(exc.errors()))

    app.include_router(build_router(state))
    app.add_middleware(Guard, state=state)
    app.openapi = lambda: _openapi(app)
    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's schema plus the two request shapes of ``/v1/classify`` (its body is parsed by
    the endpoint, so FastAPI does not list them itself)."""
    from fastapi.openapi.utils import get_openapi

    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (SingleProduct, Batch):
            js = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in js.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = js
        app.openapi_schema = schema
    return app.openapi_schema
