"""The API's contract under hostile input (issue 28), against a real ``workbench api`` process:
no 500 for bad input, one error shape, strict types, the same Content-Type handling on every
POST, Swagger UI from local assets, and a schemathesis run with zero failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from tests._service_setup import copy_workspace, start_api, stop
from workbench.service.files import ServiceFiles
from workbench.service.keys import add_key
from workbench.service.log import read_log


@pytest.fixture(scope="module")
def site(apparel_ws, tmp_path_factory, output_dir):
    root = copy_workspace(apparel_ws.ws, tmp_path_factory.mktemp("contract_ws"))
    files = ServiceFiles(root)
    keys = {role: add_key(files.keys, f"{role}-c", role, "100000/min") for role in ("viewer", "classify", "admin")}
    keys["fuzz"] = add_key(files.keys, "fuzz", "admin", "10000000/min")
    keys["other"] = add_key(files.keys, "other-c", "classify", "100000/min")
    proc, api = start_api(root, output_dir / "contract-server.log", "--flush-seconds", "0.2", key=keys["viewer"])
    try:
        yield {"root": root, "files": files, "keys": keys, "api": api, "proc": proc}
    finally:
        stop(proc)


def is_error_body(answer: dict, code: str) -> bool:
    return answer.get("error") == code and isinstance(answer.get("detail"), str) and "\n" not in answer["detail"]


def test_a_deeply_nested_body_is_a_400_on_every_post(site):
    api, key = site["api"], site["keys"]["admin"]
    deep = b"[" * 100_000 + b"]" * 100_000
    for path in ("/v1/classify", "/v1/feedback"):
        status, answer, _ = api.post(path, None, key, raw=deep)
        assert status == 400 and is_error_body(answer, "too_deep"), (path, answer)
        assert answer["detail"] == ("the body is nested more than 16 levels deep; send a product or a batch as "
                                    "documented")


def test_parameters_out_of_bounds_are_422_not_500(site):
    api, key = site["api"], site["keys"]["admin"]
    for since in ("99999999999d", "1e308h", "2026-02-30", "héllo", "x" * 100):
        status, answer, _ = api.get(f"/v1/monitor?since={quote(since)}", key)
        assert status == 422 and is_error_body(answer, "validation") and answer["field"] == "since", (since, answer)
    status, answer, _ = api.get("/v1/monitor?since=99999d", key)
    assert status == 200, answer


@pytest.mark.parametrize("body,field", [
    ({"title": "shirt", "price": False}, "price"),
    ({"title": "shirt", "top_k": True}, "top_k"),
    ({"title": "shirt", "top_k": "3"}, "top_k"),
    ({"title": "shirt", "attributes": {"": "x"}}, "attributes"),
])
def test_types_are_strict(site, body, field):
    status, answer, _ = site["api"].post("/v1/classify", body, site["keys"]["classify"])
    assert status == 422 and answer["field"].startswith(field), answer


def test_feedback_with_only_the_prediction_and_who_is_a_422_that_says_what_to_add(site):
    status, answer, _ = site["api"].post("/v1/feedback", {"prediction_id": str(uuid.uuid4()), "by": "ana"},
                                         site["keys"]["classify"])
    assert status == 422 and answer["detail"] == ("accepted: give accepted (true or false) or the category "
                                                  "finally chosen")
    status, answer, _ = site["api"].post("/v1/feedback", {"prediction_id": str(uuid.uuid4()), "by": "ana",
                                                          "accepted": "yes"}, site["keys"]["classify"])
    assert status == 422 and answer["field"] == "accepted"


def test_content_type_is_handled_the_same_on_every_post(site):
    api, key = site["api"], site["keys"]["admin"]
    product = json.dumps({"title": "Nike Men Blue T-shirt"}).encode()
    for path in ("/v1/classify", "/v1/feedback"):
        status, answer, _ = api.post(path, None, key, raw=product,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 415 and is_error_body(answer, "unsupported_type"), answer
        assert answer["detail"].startswith("the body must be JSON: send 'Content-Type: application/json'")
    status, answer, _ = api.post("/v1/classify", None, key, raw=product,
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    assert status == 200, answer


def test_unknown_paths_and_methods_answer_the_one_error_shape(site):
    api, key = site["api"], site["keys"]["admin"]
    status, answer, _ = api.get("/v1/nothing-here", key)
    assert status == 404 and is_error_body(answer, "not_found")
    status, answer, _ = api.request("DELETE", "/v1/classify", None, key)
    assert status == 405 and is_error_body(answer, "method_not_allowed")


def test_refusals_do_not_count_as_server_errors(site):
    api, key = site["api"], site["keys"]["admin"]
    for _ in range(3):
        api.post("/v1/classify", None, key, raw=b"[" * 5000)
        api.get("/v1/monitor?since=99999999999d", key)
    status, report, _ = api.get("/v1/monitor?since=1h", key)
    assert status == 200
    logged = read_log(site["files"], "requests")
    assert (logged["status"] >= 500).sum() == 0 and (logged["status"] == 400).sum() >= 3
    share = next(s for s in report["statistics"] if s["key"] == "error_share")
    assert share["value"] == 0.0


def test_swagger_ui_is_served_from_local_assets(site):
    api = site["api"]
    status, page, _ = api.get("/docs")
    html = page.get("text", "")
    assert status == 200 and "/docs-assets/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        status, _, headers = api.get(f"/docs-assets/{asset}")
        assert status == 200
    status, schema, _ = api.get("/openapi.json")
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            assert {"401", "403", "429", "500"} <= set(op["responses"]), (path, method)
            for code, response in op["responses"].items():
                if code.startswith(("4", "5")):
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


def test_schemathesis_finds_no_failure(site, output_dir):
    """The OpenAPI fuzzer, every check, a fixed seed and a bounded number of examples, against the
    real server with a key exempt from the rate limit: the schema is what the service does."""
    port = site["api"].port
    report = output_dir / "schemathesis.txt"
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", f"http://127.0.0.1:{port}/openapi.json",
           "--checks", "all", "--seed", "28", "--max-examples", "25", "--workers", "1",
           "--header", f"Authorization: Bearer {site['keys']['fuzz']}", "--no-color",
           "--phases", "examples,coverage,fuzzing"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    report.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]


def test_feedback_belongs_to_the_predictions_key_and_is_idempotent(site):
    api, keys = site["api"], site["keys"]
    status, answer, _ = api.post("/v1/classify", {"title": "Nike Men Blue Running T-shirt"}, keys["classify"])
    pid = answer["predictions"][0]["prediction_id"]
    body = {"prediction_id": pid, "accepted": True, "by": "seller-1"}
    status, refused, _ = api.post("/v1/feedback", body, keys["other"])
    assert status == 403 and refused["detail"] == (f"prediction {pid} was made by another key; only that key or a "
                                                   "key with the 'admin' role may give feedback on it")
    status, first, _ = api.post("/v1/feedback", body, keys["classify"])
    assert status == 200 and first["version"] == 1 and first["replaces"] is None
    status, again, _ = api.post("/v1/feedback", body, keys["classify"])
    assert status == 200 and again == first  # a replay answers the stored feedback
    status, changed, _ = api.post("/v1/feedback", {**body, "accepted": False}, keys["classify"])
    assert status == 200 and changed["version"] == 2 and changed["replaces"] == first["feedback_id"]
    status, by_admin, _ = api.post("/v1/feedback", body, keys["admin"])
    assert status == 200 and by_admin["version"] == 1  # an admin key may, as its own feedback
    deadline = time.monotonic() + 30
    while True:  # the Parquet log is written every 0.2 s
        stored = read_log(site["files"], "feedback")
        mine = stored[stored["prediction_id"] == pid]
        if len(mine) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(mine["key_name"]) == ["admin-c", "classify-c", "classify-c"]  # the replay stored nothing


def test_the_api_imports_feedback_into_the_workspace_within_seconds(site):
    """The API never waits for the database; its importer visits the workspace every 2 s."""
    from workbench import Workspace
    from workbench.loop.labels import label_history
    from workbench.store import DatabaseInUse

    api, key = site["api"], site["keys"]["classify"]
    status, answer, _ = api.post("/v1/classify", {"title": "Lee Men Blue Slim Jeans", "id": "sku-import"}, key)
    pid = answer["predictions"][0]["prediction_id"]
    status, _, _ = api.post("/v1/feedback", {"prediction_id": pid, "accepted": True, "by": "seller-import"}, key)
    assert status == 200
    deadline = time.monotonic() + 60
    while True:
        try:
            ws = Workspace(site["root"])
        except DatabaseInUse:  # the API's importer is in: a short visit
            time.sleep(0.1)
            continue
        try:
            history = label_history(ws)
        finally:
            ws.close()
        if (history["actor"] == "seller-import").any():
            break
        assert time.monotonic() < deadline, "the API did not import the feedback within 60 s"
        time.sleep(0.5)
