"""The HTTP API as a client from another team sees it: only the README's "Serving and monitoring"
section and the served ``/openapi.json``, against a real ``workbench api`` on 127.0.0.1 over 1,500
real fashion Apparel products with a tfidf run. The README's curl examples run verbatim, every
answer is checked against the schema the OpenAPI document declares for its status, and what a
client meets at the edges (HEAD, a trailing slash, a query parameter, a compressed or Latin-1
body, the 29th-31st of a month) answers in the documented shape with the cause and the fix."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tests._service_setup import copy_workspace, start_api, stop
from workbench.service.files import ServiceFiles
from workbench.service.keys import add_key

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def site(apparel_ws, tmp_path_factory, output_dir):
    root = copy_workspace(apparel_ws.ws, tmp_path_factory.mktemp("outside_ws"))
    files = ServiceFiles(root)
    keys = {role: add_key(files.keys, f"{role}-o", role, "100000/min") for role in ("viewer", "classify", "admin")}
    keys["limited"] = add_key(files.keys, "limited-o", "classify", "2/s")
    proc, api = start_api(root, output_dir / "outside-server.log", "--flush-seconds", "0.2", key=keys["viewer"])
    try:
        schema = api.get("/openapi.json")[1]
        yield {"root": root, "keys": keys, "api": api, "schema": schema}
    finally:
        stop(proc)


def conforms(site, method: str, path: str, status: int, answer) -> None:
    """Assert ``answer`` is what ``/openapi.json`` declares for ``method path`` and ``status``."""
    schema = site["schema"]
    op = schema["paths"][path.split("?")[0]][method.lower()]
    assert str(status) in op["responses"], f"{method} {path} answered {status}, which the OpenAPI does not list"
    declared = op["responses"][str(status)]["content"]["application/json"]["schema"]
    assert declared, f"{method} {path} {status}: the OpenAPI declares no schema for the answer"
    registry = Registry().with_resource("urn:api", Resource.from_contents(
        {**schema, "$schema": "https://json-schema.org/draft/2020-12/schema"}))
    declared = json.loads(json.dumps(declared).replace('"#/components', '"urn:api#/components'))
    errors = [e.message for e in Draft202012Validator(declared, registry=registry).iter_errors(answer)]
    assert not errors, (method, path, status, errors[:3])


def call(site, method: str, path: str, role: str | None, body=None, **kw):
    """A request that must answer what the OpenAPI declares; ``(status, answer, headers)``."""
    status, answer, headers = site["api"].request(method, path, body, site["keys"].get(role), **kw)
    conforms(site, method, path, status, answer)
    return status, answer, headers


def is_refusal(answer: dict, code: str) -> bool:
    """The one error shape: a code and a one-line detail, leaking no path, trace or SQL."""
    detail = answer.get("detail", "")
    return (answer.get("error") == code and isinstance(detail, str) and detail and "\n" not in detail
            and "Traceback" not in detail and "/work/" not in detail and "SELECT" not in detail)


def readme_section() -> str:
    text = README.read_text()
    start = text.index("## Serving and monitoring")
    return text[start:text.index("\n## ", start + 10)]


def test_the_readme_curl_examples_answer_as_the_readme_shows(site):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    section = readme_section()
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    commands = [c for block in blocks for c in re.split(r"\n(?=curl )", block.replace("\\\n", " "))
                if c.startswith("curl ")]
    assert len(commands) == 5, commands
    shown = json.loads(re.search(r"```json\n(.*?)```", section, flags=re.S).group(1))
    answers = []
    for command in commands:
        command = command.strip().replace("http://127.0.0.1:8000", f"http://127.0.0.1:{site['api'].port}")
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "KEY": site["keys"]["classify"]})
        answers.append(json.loads(done.stdout))
    single, batch, min_risk, accepted, chosen = answers
    assert set(single) == set(shown) and single["run_id"] == single["predictions"][0]["run_id"]
    got, example = single["predictions"][0], shown["predictions"][0]
    assert set(got) == set(example) and set(got["top_k"][0]) == set(example["top_k"][0])
    assert got["category"] == "Apparel > Topwear > Tshirts" and set(got["levels"]) == set(example["levels"])
    assert [p["category"].rsplit(" > ", 1)[-1] for p in batch["predictions"]] == ["Jeans", "Track Pants"]
    assert all(len(p["top_k"]) == 3 for p in batch["predictions"])
    assert min_risk["predictions"][0]["decision_rule"] == "min-risk"
    # the README's feedback examples quote a made-up id and a placeholder: refused in the documented shape
    assert is_refusal(accepted, "not_found") and "e09b86d3-56dd-4219-9d87-72fcfa6163b4" in accepted["detail"]
    assert is_refusal(chosen, "validation") and chosen["field"] == "prediction_id"


def test_every_answer_is_what_the_openapi_document_declares(site):
    for path in ("/v1/health", "/v1/model", "/v1/taxonomy"):
        for role in ("viewer", None):
            call(site, "GET", path, role)
    status, report, _ = call(site, "GET", "/v1/monitor?since=all", "admin")
    assert status == 200 and report["statistics"]
    assert call(site, "GET", "/v1/monitor", "viewer")[0] == 403
    assert call(site, "POST", "/v1/admin/reload", "admin")[1]["reloaded"] in (False, True)
    status, answer, _ = call(site, "POST", "/v1/classify", "classify",
                             {"title": "Nike Men Blue Running T-shirt", "explain": True})
    why = answer["predictions"][0]["explanation"]
    assert status == 200 and why["level_probabilities"] and why["neighbours"] is None  # nothing embedded here
    assert why["neighbours_note"].startswith("no nearest labelled products: the workspace has no neighbour index")
    pid = answer["predictions"][0]["prediction_id"]
    assert call(site, "POST", "/v1/feedback", "classify", {"prediction_id": pid, "accepted": True, "by": "o"})[0] == 200
    assert call(site, "POST", "/v1/feedback", "classify", {
        "prediction_id": pid, "accepted": True, "category": "Apparel > Topwear > Shirts", "by": "o"})[0] == 409
    assert call(site, "POST", "/v1/feedback", "classify", {
        "prediction_id": "00000000-0000-4000-8000-000000000000", "accepted": True, "by": "o"})[0] == 404
    assert call(site, "POST", "/v1/classify", "classify", None, raw=b"{")[0] == 400
    assert call(site, "POST", "/v1/classify", "classify", {"products": [{"title": "x"}] * 1001})[0] == 413
    assert call(site, "POST", "/v1/classify", "classify", {"title": ""})[0] == 422
    schema = site["schema"]
    title = schema["components"]["schemas"]["Product"]["properties"]["title"]
    assert re.search(title["pattern"], "\x1f \u3000") is None and call(  # what the schema calls blank, the server too
        site, "POST", "/v1/classify", "classify", {"title": "\x1f \u3000"})[0] == 422
    products = schema["components"]["schemas"]["Batch"]["properties"]["products"]
    assert products["x-max-items"] == 1000 and "at most 1,000 products" in products["description"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schema["components"]["securitySchemes"])
    ids = sorted(op["operationId"] for methods in schema["paths"].values() for op in methods.values())
    assert ids == ["classify", "feedback", "health", "model", "monitor", "reload", "taxonomy"]
    codes = schema["components"]["schemas"]["ErrorBody"]["properties"]["error"]["enum"]
    assert {"batch_too_large", "method_not_allowed", "conflict"} <= set(codes)


def test_batches_titles_and_limits_at_and_beyond_the_edge(site):
    titles = ["เสื้อยืดผู้ชายสีน้ำเงิน", "قميص رجالي أزرق", "👕 Nike Men Blue T-shirt 🔥",
              "<img src=x onerror=alert(1)>", '=HYPERLINK("http://evil.example","click")']
    status, answer, headers = call(site, "POST", "/v1/classify", "classify",
                                   {"products": [{"title": t, "id": t} for t in titles] * 200})
    assert status == 200 and len(answer["predictions"]) == 1000 and headers["content-type"] == "application/json"
    assert answer["predictions"][2]["category"] == "Apparel > Topwear > Tshirts"
    status, answer, _ = call(site, "POST", "/v1/classify", "classify", {"title": "Blue shirt " * 10_000})
    assert status == 422 and answer["field"] == "title" and "at most 1000 characters" in answer["detail"]
    status, answer, _ = call(site, "POST", "/v1/classify", "classify", {"title": "shirt", "top_k": 10})
    assert status == 200 and len(answer["predictions"][0]["top_k"]) == 10
    for top_k in (0, 11, "5", 5.5):
        status, answer, _ = call(site, "POST", "/v1/classify", "classify", {"title": "shirt", "top_k": top_k})
        assert status == 422 and answer["field"] == "top_k", top_k


def test_retry_after_is_long_enough_and_no_longer(site):
    api, key = site["api"], site["keys"]["limited"]
    answers = [api.post("/v1/classify", {"title": "Puma Women Track Pants"}, key) for _ in range(3)]
    assert [a[0] for a in answers][:2] == [200, 200] and answers[2][0] == 429
    assert is_refusal(answers[2][1], "rate_limited") and answers[2][2]["retry-after"] == "1"
    time.sleep(int(answers[2][2]["retry-after"]))
    assert api.post("/v1/classify", {"title": "Puma Women Track Pants"}, key)[0] == 200


@pytest.mark.parametrize("since", ["2026-11-30", "2026-12-31", "2024-02-29", "2026-12-07T04:00:00Z",
                                   "2026-12-07T09:30:00.250+05:30", "2026-10-31T23:59"])
def test_since_takes_every_calendar_day_and_utc_offsets(site, since):
    status, answer, _ = call(site, "GET", f"/v1/monitor?since={since.replace('+', '%2B')}", "admin")
    assert status == 200, answer


@pytest.mark.parametrize("since", ["2026-11-31", "2026-02-29", "2100-02-29"])
def test_since_refuses_days_that_do_not_exist(site, since):
    status, answer, _ = call(site, "GET", f"/v1/monitor?since={since}", "admin")
    assert status == 422 and is_refusal(answer, "validation") and answer["field"] == "since"
    assert "2026-01-31T10:00:00Z" in answer["detail"]


def test_head_answers_like_get_without_a_body(site):
    port, key = site["api"].port, site["keys"]["viewer"]

    def head(path, key=None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("HEAD", path, headers={"Authorization": f"Bearer {key}"} if key else {})
            resp = conn.getresponse()
            return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()

    status, body, headers = head("/v1/taxonomy", key)
    _, _, got = site["api"].get("/v1/taxonomy", key)
    assert "server" not in got and "server" not in headers  # no software name and version for a scanner
    assert status == 200 and body == b"" and headers["content-length"] == got["content-length"]
    assert head("/v1/health")[0] == 401
    status, _, headers = head("/v1/classify", site["keys"]["classify"])
    assert status == 405 and headers["allow"] == "POST"


def test_routing_refusals_say_what_to_send(site):
    status, answer, _ = site["api"].get("/v1/classfy", site["keys"]["viewer"])
    assert status == 404 and is_refusal(answer, "not_found")
    assert "no endpoint '/v1/classfy'" in answer["detail"] and "POST /v1/classify" in answer["detail"]
    status, answer, headers = site["api"].get("/v1/classify", site["keys"]["classify"])
    assert status == 405 and is_refusal(answer, "method_not_allowed") and headers["allow"] == "POST"
    assert answer["detail"] == "'/v1/classify' does not take GET; send POST"
    status, answer, _ = site["api"].get("/v1/health/", site["keys"]["viewer"])  # not a redirect without a body
    assert status == 200 and answer["status"] == "ok"
    status, answer, _ = call(site, "POST", "/v1/classify", "classify", {"title": "Levis Men Jeans"})
    assert status == 200


def test_query_parameters_an_endpoint_does_not_take_are_refused(site):
    status, answer, _ = call(site, "POST", "/v1/classify?top_k=3", "classify", {"title": "Levis Men Jeans"})
    assert status == 422 and is_refusal(answer, "validation") and answer["field"] == "top_k"
    assert answer["detail"] == ("top_k: /v1/classify takes no query parameter 'top_k'; send top_k, decision_rule "
                                "and explain in the JSON body")
    status, answer, _ = call(site, "GET", "/v1/monitor?since=1h&bucket=day", "admin")
    assert status == 422 and answer["field"] == "bucket"
    assert call(site, "GET", "/v1/monitor?since=1h", "admin")[0] == 200


def test_compressed_and_non_utf8_bodies_are_named(site):
    product = json.dumps({"title": "Chemise bleue été"}, ensure_ascii=False)
    packed = gzip.compress(product.encode())
    status, answer, _ = call(site, "POST", "/v1/classify", "classify", None, raw=packed,
                             headers={"Content-Encoding": "gzip"})
    assert status == 415 and is_refusal(answer, "unsupported_type")
    assert answer["detail"] == ("the body is compressed (Content-Encoding: 'gzip'); send it uncompressed, "
                                "without a Content-Encoding header")
    status, answer, _ = call(site, "POST", "/v1/classify", "classify", None, raw=packed)
    assert status == 400 and "gzip-compressed" in answer["detail"]
    status, answer, _ = call(site, "POST", "/v1/classify", "classify", None, raw=product.encode("latin-1"),
                             headers={"Content-Type": "application/json; charset=latin-1"})
    assert status == 400 and is_refusal(answer, "bad_json")
    assert answer["detail"].startswith("the body is not UTF-8 (byte 25); JSON is UTF-8")
    status, answer, _ = call(site, "POST", "/v1/feedback", "classify", None, raw=product.encode("utf-16"))
    assert status == 400 and "not UTF-8" in answer["detail"]


def test_validation_messages_say_what_to_send(site):
    status, answer, _ = call(site, "POST", "/v1/classify", "classify",
                             {"products": [{"title": "shirt"}, {"title": "  ", "image_url": "javascript:alert(1)"}]})
    assert status == 422 and answer["detail"] == "products[1].title: the title is blank: give the product's name"
    messages = {e["field"]: e["message"] for e in answer["errors"]}
    assert messages["products[1].image_url"] == ("give an http:// or https:// address without spaces or control "
                                                 "characters")


def test_feedback_that_contradicts_itself_is_a_conflict(site):
    status, answer, _ = call(site, "POST", "/v1/classify", "classify", {"title": "Levis Men Slim Fit Jeans"})
    pid, predicted = answer["predictions"][0]["prediction_id"], answer["predictions"][0]["category"]
    status, answer, _ = call(site, "POST", "/v1/feedback", "classify",
                             {"prediction_id": pid, "accepted": False, "category": predicted, "by": "o"})
    assert status == 409 and is_refusal(answer, "conflict")
    assert answer["detail"] == (f"accepted is false but the category sent is the prediction {predicted!r}; send "
                                "accepted true, or the category finally chosen")
    status, answer, _ = call(site, "POST", "/v1/feedback", "classify",
                             {"prediction_id": pid, "category": predicted, "by": "o"})
    assert status == 200 and answer["accepted"] is True and answer["rank"] == 1


def test_a_misspelt_field_is_told_its_spelling(site):
    status, answer, _ = call(site, "POST", "/v1/classify", "classify", {"titel": "Levis Men Jeans"})
    assert status == 422 and answer["field"] == "title"  # the required field is named first
    assert {e["field"]: e["message"] for e in answer["errors"]}["titel"] == "unknown field; did you mean 'title'?"
    status, answer, _ = call(site, "POST", "/v1/classify", "classify",
                             {"products": [{"title": "Levis Men Jeans", "colour": "blue"}], "topk": 3})
    messages = {e["field"]: e["message"] for e in answer["errors"]}
    assert status == 422 and messages["topk"] == "unknown field; did you mean 'top_k'?"
    assert messages["products[0].colour"] == "unknown field: remove it (the fields are listed in /openapi.json)"
    status, answer, _ = call(site, "POST", "/v1/feedback", "classify", {
        "prediction_id": "00000000-0000-4000-8000-000000000000", "accepted": True, "by": "o", "categroy": "x"})
    assert status == 422 and answer["detail"] == "categroy: unknown field; did you mean 'category'?"


def test_the_public_openapi_document_holds_no_workspace_data(site):
    """``/docs`` and ``/openapi.json`` answer without a key; the taxonomy is for keys only."""
    status, page, _ = site["api"].get("/openapi.json")
    text = json.dumps(page)
    assert status == 200 and site["api"].get("/v1/taxonomy")[0] == 401
    _, taxonomy, _ = site["api"].get("/v1/taxonomy", site["keys"]["viewer"])
    leaked = [n["id"] for n in taxonomy["nodes"] if n["is_leaf"] and f'"{n["id"]}"' in text]
    assert taxonomy["n_leaves"] > 20 and not leaked, leaked[:5]
    _, keyed, _ = site["api"].get("/openapi.json", site["keys"]["viewer"])  # a key may read the taxonomy anyway
    leaves = sorted(n["id"] for n in taxonomy["nodes"] if n["is_leaf"])
    assert keyed["components"]["schemas"]["Feedback"]["properties"]["category"]["enum"] == leaves
