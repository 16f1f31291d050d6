"""The HTTP API as a real server process (``workbench api``) on a real workspace: 1,500 real fashion
Apparel products with a tfidf run; real held-out titles are classified over HTTP."""

from __future__ import annotations

import http.client
import json
import time
import uuid

import numpy as np
import pytest

from tests._service_setup import apparel_products, copy_workspace, start_api, stop
from workbench import Workspace
from workbench.catalog.relabel import load_taxonomy
from workbench.service.files import ServiceFiles
from workbench.service.keys import add_key, remove_key
from workbench.service.log import read_log
from workbench.runs.predictor import Predictor
from workbench.service.snapshot import read_snapshot

MAX_BATCH = 50
MAX_BODY_MB = 0.05


@pytest.fixture(scope="module")
def site(apparel_ws, tmp_path_factory, output_dir):
    root = copy_workspace(apparel_ws.ws, tmp_path_factory.mktemp("api_ws"))
    files = ServiceFiles(root)
    keys = {role: add_key(files.keys, f"{role}-caller", role, "100000/min") for role in ("viewer", "classify", "admin")}
    keys["tiny"] = add_key(files.keys, "tiny-caller", "classify", "3/min")
    proc, api = start_api(root, output_dir / "api-server.log", "--max-batch", str(MAX_BATCH), "--max-body-mb",
                          str(MAX_BODY_MB), "--flush-seconds", "0.2", "--import-seconds", "0",  # this test imports itself
                          key=keys["viewer"])
    try:
        yield {"root": root, "files": files, "keys": keys, "api": api, "proc": proc,
               "test": apparel_products(apparel_ws.ws, "test"), "run": apparel_ws.full,
               "taxonomy": load_taxonomy(apparel_ws.ws)}
    finally:
        stop(proc)


def wait_for(condition, timeout: float = 30.0, every: float = 0.2):
    """Poll until ``condition()`` gives something other than ``None`` or ``False``; returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value is not None and value is not False:
            return value
        time.sleep(every)
    raise AssertionError(f"not met within {timeout} s")


def classify(site, body, key="classify"):
    status, answer, _ = site["api"].post("/v1/classify", body, site["keys"][key])
    assert status == 200, answer
    return answer["predictions"]


def test_classify_one_product(site):
    status, answer, headers = site["api"].post("/v1/classify", {"title": "Nike Men Blue Running T-shirt",
                                                               "brand": "Nike"}, site["keys"]["classify"])
    assert status == 200, answer
    assert answer["run_id"] == site["run"] and "x-request-id" in headers
    [p] = answer["predictions"]
    uuid.UUID(p["prediction_id"])
    assert p["category"] == "Apparel > Topwear > Tshirts" and p["run_id"] == site["run"]
    assert [c["category"] for c in p["top_k"]][0] == p["category"] and len(p["top_k"]) == 5
    probs = [c["probability"] for c in p["top_k"]]
    assert probs == sorted(probs, reverse=True) and probs[0] == pytest.approx(p["confidence"])
    assert sum(probs) <= 1 + 1e-9 and all(c["category"] in site["taxonomy"].leaves for c in p["top_k"])
    assert p["top_k"][0]["path"] == ["Apparel", "Topwear", "Tshirts"]
    assert p["levels"] == {"masterCategory": "Apparel", "subCategory": "Topwear", "articleType": "Tshirts"}
    # nothing published yet: everything goes to review, and the answer says there is no threshold
    assert p["decision"] == "review" and p["threshold"] is None


def test_classify_a_batch_of_real_titles_as_the_model_does_in_process(site):
    rows = site["test"].head(40)
    body = {"products": [{"title": t, "brand": b} for t, b in zip(rows["title"], rows["brand"].fillna(""))],
            "top_k": 3}
    preds = classify(site, body)
    assert len(preds) == 40 and len({p["prediction_id"] for p in preds}) == 40
    assert all(len(p["top_k"]) == 3 for p in preds)
    accuracy = np.mean([p["category"] == leaf for p, leaf in zip(preds, rows["leaf"])])
    assert accuracy > 0.75, accuracy  # real held-out products of the grouped split
    serving = read_snapshot(site["files"])["serving"]
    local = Predictor.load(serving["model_dir"], serving["run_id"], site["taxonomy"], None)
    expected = local.predict(body["products"], 3)
    assert [p["category"] for p in preds] == [e["category"] for e in expected]
    assert np.allclose([p["confidence"] for p in preds], [e["confidence"] for e in expected], atol=1e-9)


def test_the_min_risk_rule_answers_as_the_review_loop_chooses(site):
    rows = site["test"].head(MAX_BATCH)
    products = [{"title": t, "brand": b} for t, b in zip(rows["title"], rows["brand"].fillna(""))]
    preds = classify(site, {"products": products, "top_k": 2, "decision_rule": "min-risk"})
    serving = read_snapshot(site["files"])["serving"]
    local = Predictor.load(serving["model_dir"], serving["run_id"], site["taxonomy"], None)
    expected = local.predict(products, 2, decision="min-risk")
    assert [p["category"] for p in preds] == [e["category"] for e in expected]
    assert {p["decision_rule"] for p in preds} == {"min-risk"}
    assert classify(site, {"title": products[0]["title"]})[0]["decision_rule"] == "argmax"  # the default
    ids = {p["prediction_id"] for p in preds}
    logged = wait_for(lambda: (lambda r: r if ids <= set(r["prediction_id"]) else None)(
        read_log(site["files"], "predictions")))
    assert set(logged.loc[logged["prediction_id"].isin(ids), "decision_rule"]) == {"min-risk"}


def test_published_thresholds_reach_the_running_api(site):
    """Thresholds published in the workspace (here by this process, which may open the database:
    the API holds none) reach the API through the snapshot, and the decisions follow them."""
    from workbench.loop.thresholds import publish_thresholds
    from workbench.service.sync import sync_workspace

    ws = Workspace(site["root"])
    try:
        publish_thresholds(ws, 0.6, {"Apparel > Bottomwear": 0.999}, by="ana")
        summary = sync_workspace(ws)
    finally:
        ws.close()
    assert summary.snapshot_changed
    status, answer, _ = site["api"].get("/v1/model", site["keys"]["viewer"])
    wait_for(lambda: site["api"].get("/v1/model", site["keys"]["viewer"])[1]["thresholds"]["global"] == 0.6)
    [shirt, jeans] = classify(site, {"products": [{"title": "Nike Men Blue Running T-shirt"},
                                                  {"title": "Levis Men Blue Slim Fit Jeans"}]})
    assert shirt["threshold"] == 0.6 and shirt["decision"] == ("shelved" if shirt["confidence"] >= 0.6 else "review")
    assert jeans["category"].startswith("Apparel > Bottomwear") and jeans["threshold"] == 0.999


def test_feedback_is_stored_counted_and_enters_the_label_history(site):
    api, key = site["api"], site["keys"]["classify"]
    first, second = classify(site, {"products": [{"title": "Puma Women Black Track Pants", "id": "sku-1"},
                                                 {"title": "Wrangler Men Checked Shirt"}]})
    status, ok, _ = api.post("/v1/feedback", {"prediction_id": first["prediction_id"], "accepted": True,
                                              "by": "seller-17"}, key)
    assert status == 200 and ok["accepted"] and ok["category"] == first["category"] and ok["rank"] == 1
    other = second["top_k"][1]["category"]
    status, chosen, _ = api.post("/v1/feedback", {"prediction_id": second["prediction_id"], "category": other,
                                                  "by": "seller-17"}, key)
    assert status == 200 and chosen["accepted"] is False and chosen["rank"] == 2 and chosen["stored"]
    # refused: an unknown prediction, a category that is not a leaf, neither accepted nor a category
    status, answer, _ = api.post("/v1/feedback", {"prediction_id": str(uuid.uuid4()), "accepted": True, "by": "x"}, key)
    assert status == 404 and "no prediction" in answer["detail"]
    status, answer, _ = api.post("/v1/feedback", {"prediction_id": first["prediction_id"], "category": "Apparel",
                                                  "by": "x"}, key)
    assert status == 422 and answer["field"] == "category"
    status, answer, _ = api.post("/v1/feedback", {"prediction_id": first["prediction_id"], "by": "x"}, key)
    assert status == 422 and answer["field"] == "accepted"
    # counted: the monitoring report of the API says 2 feedback, 1 accepted
    status, report, _ = api.get("/v1/monitor?since=1h", site["keys"]["admin"])
    assert status == 200 and report["feedback"]["n"] == 2 and report["feedback"]["accepted"] == 1
    acceptance = next(s for s in report["statistics"] if s["key"] == "feedback_acceptance")
    assert acceptance["value"] == 0.5 and acceptance["status"] == "too few"  # 2 < 20 needed to judge
    stored = read_log(site["files"], "feedback")
    assert set(stored["prediction_id"]) == {first["prediction_id"], second["prediction_id"]}
    # into the workspace's label history, by the database's holder (here: this process)
    from workbench.loop.feedback import confirm_feedback, feedback_to_confirm
    from workbench.loop.labels import label_counts, label_history
    from workbench.service.sync import sync_workspace

    ws = Workspace(site["root"])
    try:
        assert sync_workspace(ws).feedback_imported == 2
        assert sync_workspace(ws).feedback_imported == 0  # idempotent
        history = label_history(ws)
        fb = history[history["source"] == "feedback"]
        assert sorted(fb["leaf"]) == sorted([first["category"], other]) and set(fb["actor"]) == {"seller-17"}
        # the products live apart from the catalog until a reviewer confirms: never embedded, split,
        # trained on or in an evaluation's truth
        assert ws.scalar("SELECT count(*) FROM products WHERE product_id LIKE 'api:%'") == 0
        apart = ws.df("SELECT product_id, title_raw, source FROM feedback_products")
        assert "api:classify-caller:sku-1" in set(apart["product_id"]) and len(apart) == 2
        assert ws.scalar("SELECT count(*) FROM splits WHERE product_id LIKE 'api:%'") == 0
        assert "feedback" not in label_counts(ws)
        stored = ws.df("SELECT channel, chosen_proba, category FROM feedback ORDER BY rank")
        assert set(stored["channel"]) == {"api"}
        assert stored["chosen_proba"].round(4).tolist() == [round(first["confidence"], 4),
                                                             round(second["top_k"][1]["probability"], 4)]
        pending = feedback_to_confirm(ws)
        assert len(pending) == 2 and set(pending["channel"]) == {"api"}
        confirm_feedback(ws, ["api:classify-caller:sku-1"], reviewer="ana")  # a reviewer confirms one
        row = ws.df("SELECT leaf, label_source FROM products WHERE product_id = 'api:classify-caller:sku-1'")
        assert row["label_source"].iloc[0] == "human" and row["leaf"].iloc[0] == first["category"]
        assert ws.scalar("SELECT count(*) FROM feedback_products WHERE product_id = 'api:classify-caller:sku-1'") == 0
        assert ws.scalar("SELECT confirmed_by FROM feedback WHERE product_id = 'api:classify-caller:sku-1'") == "ana"
        assert len(feedback_to_confirm(ws)) == 1
    finally:
        ws.close()


@pytest.mark.parametrize("path,method", [("/v1/classify", "POST"), ("/v1/feedback", "POST"), ("/v1/health", "GET"),
                                         ("/v1/model", "GET"), ("/v1/taxonomy", "GET"), ("/v1/monitor", "GET")])
def test_no_endpoint_answers_without_a_valid_key(site, path, method):
    api = site["api"]
    body = {"title": "x"} if method == "POST" else None
    real = site["keys"]["admin"]
    wrong_secret = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    for key in (None, "not-a-key", wrong_secret):
        status, answer, headers = api.request(method, path, body, key)
        assert status == 401 and answer["error"] == "unauthorized", (key, answer)
        assert headers.get("www-authenticate") == "Bearer"
    # a malformed body without a key is still a 401, not a validation answer
    assert api.request(method, path, None, None, raw=b"{not json")[0] == 401


def test_a_viewer_key_is_refused_what_its_role_does_not_allow(site):
    api, viewer, classify_key = site["api"], site["keys"]["viewer"], site["keys"]["classify"]
    for path in ("/v1/classify", "/v1/feedback"):
        status, answer, _ = api.post(path, {"title": "x"}, viewer)
        assert status == 403 and "'classify' role" in answer["detail"]
    assert api.get("/v1/monitor", classify_key)[0] == 403
    status, tax, _ = api.get("/v1/taxonomy", viewer)
    assert status == 200 and tax["n_leaves"] == len(site["taxonomy"].leaves)
    assert {n["id"] for n in tax["nodes"] if n["is_leaf"]} == set(site["taxonomy"].leaves)


def test_a_revoked_key_is_refused_within_seconds(site):
    files, api = site["files"], site["api"]
    key = add_key(files.keys, "temporary", "classify")
    wait_for(lambda: api.get("/v1/health", key)[0] == 200, timeout=10)
    remove_key(files.keys, "temporary")
    wait_for(lambda: api.get("/v1/health", key)[0] == 401, timeout=10)


def test_rate_limit_answers_429_with_retry_after(site):
    api, key = site["api"], site["keys"]["tiny"]
    statuses = [api.post("/v1/classify", {"title": "Nike Men Shorts"}, key)[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    status, answer, headers = api.post("/v1/classify", {"title": "Nike Men Shorts"}, key)
    assert status == 429 and answer["error"] == "rate_limited"
    assert 1 <= int(headers["retry-after"]) <= 20  # 3 per minute: a token every 20 s
    assert api.get("/v1/health", site["keys"]["viewer"])[0] == 200  # other keys are not limited by it


def test_oversized_batch_and_body_answer_413(site):
    api, key = site["api"], site["keys"]["classify"]
    status, answer, _ = api.post("/v1/classify", {"products": [{"title": f"shirt {i}"} for i in range(MAX_BATCH + 1)]}, key)
    assert status == 413 and answer["error"] == "batch_too_large" and f"{MAX_BATCH}" in answer["detail"]
    big = {"products": [{"title": "shirt", "description": "cotton " * 400} for _ in range(30)]}  # about 85 KB
    status, answer, _ = api.post("/v1/classify", big, key)
    assert status == 413 and answer["error"] == "too_large"
    # a chunked body (no Content-Length) is counted while it arrives
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=60)
    payload = json.dumps(big).encode()
    conn.request("POST", "/v1/classify", body=iter([payload[i:i + 8192] for i in range(0, len(payload), 8192)]),
                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                 encode_chunked=True)
    assert conn.getresponse().status == 413
    conn.close()


@pytest.mark.parametrize("body,field", [
    ({"products": [{"title": "a"}, {"brand": "b"}]}, "products[1].title"),
    ({"title": "shirt", "price": -3}, "price"),
    ({"title": "shirt", "colour": "red"}, "colour"),
    ({"title": "shirt", "top_k": 50}, "top_k"),
    ({"products": [{"title": "a"}], "decision_rule": "cheapest"}, "decision_rule"),
    ({"title": "   "}, "title"),
    ({"products": [{"title": "a", "image_url": "javascript:alert(1)"}]}, "products[0].image_url"),
    ([{"title": "a"}], "body"),
])
def test_malformed_requests_answer_422_naming_the_field(site, body, field):
    status, answer, _ = site["api"].post("/v1/classify", body, site["keys"]["classify"])
    assert status == 422 and answer["field"] == field, answer
    assert answer["detail"].startswith(field + ":")


def test_broken_json_answers_400_on_every_endpoint(site):
    status, answer, _ = site["api"].post("/v1/classify", None, site["keys"]["classify"], raw=b'{"title": "shirt",')
    assert status == 400 and answer["error"] == "bad_json" and "not valid JSON" in answer["detail"]
    status, answer, _ = site["api"].post("/v1/feedback", None, site["keys"]["classify"], raw=b"{oops")
    assert status == 400 and answer["error"] == "bad_json"


def test_every_request_is_logged_with_its_predictions(site):
    api, files, keys = site["api"], site["files"], site["keys"]
    hostile = "<img src=x onerror=alert(1)> =HYPERLINK(\"http://evil\")"
    made = [api.post("/v1/classify", {"products": [{"title": hostile, "price": 999.0, "brand": "Acme"},
                                                   {"title": "Lee Men Blue Jeans"}]}, keys["classify"]),
            api.get("/v1/health", keys["viewer"]), api.get("/v1/taxonomy", None),
            api.post("/v1/classify", {"title": ""}, keys["classify"]), api.get("/docs")]
    statuses = [m[0] for m in made]
    assert statuses == [200, 200, 401, 422, 200]
    request_ids = [m[2]["x-request-id"] for m in made]

    def logged():
        rows = read_log(files, "requests")
        rows = rows[rows["request_id"].isin(request_ids)]
        return rows if len(rows) == len(made) else None

    mine = wait_for(logged).set_index("request_id").loc[request_ids]
    assert mine["status"].tolist() == statuses
    assert mine["key_name"].tolist()[:2] == ["classify-caller", "viewer-caller"] and mine["key_name"].isna().iloc[2]
    assert mine["n_products"].tolist()[0] == 2 and (mine["latency_ms"] > 0).all()
    assert mine["path"].tolist() == ["/v1/classify", "/v1/health", "/v1/taxonomy", "/v1/classify", "/docs"]
    ids = {p["prediction_id"] for p in made[0][1]["predictions"]}
    preds = wait_for(lambda: (lambda r: r if ids <= set(r["prediction_id"]) else None)(read_log(files, "predictions")))
    row = preds[preds["title_raw"] == hostile].iloc[0]
    assert row["price"] == 999.0 and row["brand"] == "Acme" and row["run_id"] == site["run"]
    assert row["key_name"] == "classify-caller" and row["latency_ms"] > 0 and row["confidence"] > 0
    assert row["request_id"] == request_ids[0]
    assert [c for c, _ in json.loads(row["top_k"])][0] == row["category"]


def test_answers_are_json_that_no_browser_sniffs_as_a_page(site):
    """A hostile title in an accepted, a refused and a malformed request: every answer is JSON
    with ``nosniff``, and an echoed value stays a JSON string."""
    api, key = site["api"], site["keys"]["classify"]
    hostile = "<img src=x onerror=alert(1)>"
    for body, who in (({"title": hostile}, key), ({"title": hostile}, None),
                      ({"products": [{"title": "a", "image_url": hostile}]}, key)):
        status, answer, headers = api.post("/v1/classify", body, who)
        assert status in (200, 401, 422), answer
        assert headers["content-type"].startswith("application/json"), headers
        assert headers["x-content-type-options"] == "nosniff"
    assert "text/html" not in api.get("/v1/taxonomy", site["keys"]["viewer"])[2]["content-type"]


def test_openapi_docs_describe_the_endpoints(site):
    status, page, _ = site["api"].get("/docs")
    assert status == 200 and "swagger" in page["text"].lower()
    status, schema, _ = site["api"].get("/openapi.json")
    assert status == 200
    assert {"/v1/classify", "/v1/feedback", "/v1/health", "/v1/model", "/v1/taxonomy"} <= set(schema["paths"])
    body = schema["paths"]["/v1/classify"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {ref["$ref"].rsplit("/", 1)[-1] for ref in body["oneOf"]} == {"SingleProduct", "Batch"}
    assert {"SingleProduct", "Batch", "Product", "Feedback"} <= set(schema["components"]["schemas"])
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
