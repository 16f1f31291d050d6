"""Monitoring of served traffic on a real server process: the department drift test (a model of
fashion Apparel serves its own test split, then real Footwear products), ``workbench monitor``'s
exit code, promotion while the API runs, and the shadow run's agreement."""

from __future__ import annotations

import json
import subprocess
import time

import pandas as pd
import pytest

from tests._dashboard_setup import workbench_cli
from tests._service_setup import apparel_products, copy_workspace, department_rows, start_api, stop
from workbench.service.files import ServiceFiles
from workbench.service.keys import add_key
from workbench.cli.commands.service import report_text
from workbench.service.log import read_log, utc_now
from workbench.service.monitoring import monitor_report

#: the test isolates drift: on a shared machine, latency says more about the neighbours
QUIET = {"latency_p99_ms": 600000}
QUIET_LOAD = ["--threshold", "latency_p99_ms=600000"]


@pytest.fixture(scope="module")
def served(apparel_ws, tmp_path_factory, output_dir):
    root = copy_workspace(apparel_ws.ws, tmp_path_factory.mktemp("monitor_ws"))
    files = ServiceFiles(root)
    keys = {"classify": add_key(files.keys, "shop", "classify", "100000/min"),
            "admin": add_key(files.keys, "ops", "admin", "100000/min")}
    proc, api = start_api(root, output_dir / "api-monitor.log", "--flush-seconds", "0.2", key=keys["admin"])
    known = set(apparel_ws.ws.df("SELECT product_id FROM products")["product_id"])
    try:
        yield {"root": root, "files": files, "keys": keys, "api": api, "weak": apparel_ws.weak, "full": apparel_ws.full,
               "test": apparel_products(apparel_ws.ws, "test"),
               "footwear": department_rows("Footwear", 300, seed=3, exclude=known)}
    finally:
        stop(proc)


def serve(site, titles, brands=None, batch=50) -> list[dict]:
    """Classify real titles through the API in batches; returns every prediction."""
    out = []
    brands = list(brands) if brands is not None else [None] * len(titles)
    for i in range(0, len(titles), batch):
        products = [{"title": t, **({"brand": b} if isinstance(b, str) and b else {})}
                    for t, b in zip(titles[i:i + batch], brands[i:i + batch])]
        status, answer, _ = site["api"].post("/v1/classify", {"products": products}, site["keys"]["classify"])
        assert status == 200, answer
        out += answer["predictions"]
    return out


def logged(site, ids: set[str]) -> None:
    deadline = time.monotonic() + 30
    while not ids <= set(read_log(site["files"], "predictions")["prediction_id"]):
        assert time.monotonic() < deadline, "predictions were not logged in time"
        time.sleep(0.2)


def monitor(site, *args: str) -> tuple[int, dict | str]:
    out = subprocess.run([*workbench_cli(), "monitor", "--workspace", str(site["root"]), *QUIET_LOAD, *args],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout) if "--json" in args else out.stdout


def by_key(report: dict) -> dict[str, dict]:
    return {s["key"]: s for s in report["statistics"]}


DRIFT = ("category_mix_psi:subCategory", "category_mix_psi:articleType", "unknown_token_gap", "embedding_auc")


def test_department_drift_crosses_on_footwear_not_on_apparel(served):
    start = utc_now()
    apparel = serve(served, served["test"]["title"].tolist(), served["test"]["brand"].tolist())
    logged(served, {p["prediction_id"] for p in apparel})
    code, first = monitor(served, "--since", start.isoformat(), "--json")
    stats = by_key(first)
    assert stats["volume"]["value"] == len(apparel)
    for key in DRIFT + ("category_mix_psi:masterCategory", "confidence_psi"):
        assert stats[key]["status"] == "ok", (key, stats[key])  # judged (enough traffic) and below the threshold
    assert code == 0 and first["crossed"] == []

    switch = utc_now()
    shoes = serve(served, served["footwear"]["productDisplayName"].tolist())
    logged(served, {p["prediction_id"] for p in shoes})
    code, second = monitor(served, "--since", switch.isoformat(), "--json")
    stats = by_key(second)
    assert stats["volume"]["value"] == len(shoes)
    for key in DRIFT:
        assert stats[key]["status"] == "crossed", (key, stats[key])
    # the model knows only Apparel: its top level cannot move, its lower levels and the inputs do
    assert stats["category_mix_psi:masterCategory"]["status"] == "ok"
    assert stats["embedding_auc"]["value"] > 0.9 and by_key(first)["embedding_auc"]["value"] < 0.75
    assert code == 1 and set(DRIFT) <= set(second["crossed"])
    # the people's view of the same report names what crossed
    text = report_text(monitor_report(served["files"], since=switch, embedding=False, thresholds=QUIET))
    assert "CROSSED" in text and "category mix at articleType" in text
    assert "threshold(s) crossed" in text.splitlines()[-1]


def test_promote_while_the_api_runs_and_the_shadow_agreement_is_shown(served):
    api, admin = served["api"], served["keys"]["admin"]
    cli = lambda *a: subprocess.run([*workbench_cli(), *a, "--workspace", str(served["root"])],  # noqa: E731
                                    capture_output=True, text=True, timeout=600)
    refused = cli("promote", served["weak"], "--by", "ana")
    assert refused.returncode == 2 and "below the serving run" in refused.stderr
    shadow = cli("shadow", served["weak"], "--by", "ana")
    assert shadow.returncode == 0, shadow.stderr

    def health():
        return api.get("/v1/health", admin)[1]

    deadline = time.monotonic() + 30
    while health()["shadow_run_id"] != served["weak"]:
        assert time.monotonic() < deadline, "the API did not pick up the shadow run"
        time.sleep(0.3)
    assert health()["run_id"] == served["full"]
    start = utc_now()
    rows = served["test"].head(80)
    preds = serve(served, rows["title"].tolist(), rows["brand"].tolist(), batch=40)
    for p, leaf in zip(preds[:30], rows["leaf"].head(30)):  # feedback with the catalog's category
        body = {"prediction_id": p["prediction_id"], "by": "tester"}
        body.update({"accepted": True} if p["category"] == leaf else {"accepted": False, "category": leaf})
        assert api.post("/v1/feedback", body, served["keys"]["classify"])[0] == 200
    deadline = time.monotonic() + 30
    while read_log(served["files"], "predictions").dropna(subset=["shadow_category"]).shape[0] < len(preds):
        assert time.monotonic() < deadline, "the shadow run did not score the requests"
        time.sleep(0.3)
    deadline = time.monotonic() + 30  # the journal is fsynced at once, the Parquet log a moment later
    while len(read_log(served["files"], "feedback", since=start)) < 30:
        assert time.monotonic() < deadline, "the feedback did not reach the log"
        time.sleep(0.3)
    result = monitor_report(served["files"], since=start, embedding=False, thresholds=QUIET)
    report = result.as_dict()
    agreement = by_key(report)["shadow_agreement"]
    assert agreement["n"] == len(preds) and 0 < agreement["value"] <= 1 and agreement["status"] in ("ok", "crossed")
    shadow = report["shadow"]
    assert shadow["run_id"] == served["weak"] and shadow["n_labelled"] == 30
    assert shadow["serving_accuracy"] >= shadow["shadow_accuracy"]  # the full run beats the 150-product one
    assert "shadow run agrees with the serving run" in report_text(result)
    # promotion of the weak run by force, recorded; the running API switches to it
    forced = cli("promote", served["weak"], "--force", "--note", "testing the switch", "--by", "ana")
    assert forced.returncode == 0 and "promoted anyway" in forced.stdout
    deadline = time.monotonic() + 30
    while health()["run_id"] != served["weak"]:
        assert time.monotonic() < deadline, "the API did not switch to the promoted run"
        time.sleep(0.3)
    assert health()["shadow_run_id"] is None  # a run cannot shadow itself
    back = cli("promote", served["full"], "--by", "ana")
    assert back.returncode == 0 and "passes the promotion gate" in back.stdout


def test_live_accuracy_of_the_review_sample_is_judged_against_the_test_accuracy(apparel_ws, tmp_path):
    """Real held-out Apparel products arrive, a random sample is reviewed (the catalog's own
    category as the reviewer's answer), and the monitoring compares that live accuracy with the
    serving run's test accuracy."""
    from workbench import Workspace
    from workbench.loop.live_accuracy import live_accuracy_overall
    from workbench.loop.review_queue import build_queue
    from workbench.loop.shelving import classify_file
    from workbench.loop.simulation import held_out_arrivals, simulate_reviews
    from workbench.service.snapshot import write_snapshot

    ws = Workspace(copy_workspace(apparel_ws.ws, tmp_path / "live_ws"))
    try:
        arrivals, truth = held_out_arrivals(ws, tmp_path / "arrivals.csv", "fashion", n=150, seed=11)
        classify_file(ws, arrivals, dataset="fashion", run_id=apparel_ws.full)
        build_queue(ws, n_random=40, n_uncertain=0, n_disagree=0)
        assert len(simulate_reviews(ws, truth)) == 40
        snapshot, _ = write_snapshot(ws)
        live = live_accuracy_overall(ws)
    finally:
        ws.close()
    assert snapshot["live_accuracy"]["n"] == live["n"] == 40
    files = ServiceFiles(tmp_path / "live_ws")
    stat = by_key(monitor_report(files, embedding=False).as_dict())["live_accuracy_gap"]
    test_accuracy = snapshot["serving"]["metrics"]["test_accuracy"]
    assert stat["n"] == 40 and stat["status"] in ("ok", "crossed")  # judged: 40 reviews >= 20
    assert stat["value"] == pytest.approx(test_accuracy - live["accuracy"])
    strict = by_key(monitor_report(files, embedding=False, thresholds={"live_accuracy_gap": stat["value"] - 0.01})
                    .as_dict())["live_accuracy_gap"]
    assert strict["status"] == "crossed"


def test_the_seller_pages_answers_count_in_the_feedback_acceptance(apparel_ws, tmp_path):
    """Sellers answer on the seller's page (into the workspace, not through the API's log): 30
    real Apparel products, the model's first suggestion accepted for 12; the statistic counts
    them, says how many came from the seller's page, and a period after them counts none."""
    from workbench import Workspace
    from workbench.loop.feedback import record_seller_feedback
    from workbench.service.snapshot import write_snapshot

    ws = Workspace(copy_workspace(apparel_ws.ws, tmp_path / "seller_ws"))
    try:
        write_snapshot(ws)
        rows = ws.df("SELECT title, leaf FROM products WHERE leaf IS NOT NULL ORDER BY product_id LIMIT 30")
        other = ws.scalar("SELECT max(leaf) FROM products")
        chosen = [leaf if i < 12 else (other if leaf != other else None) for i, leaf in enumerate(rows["leaf"])]
        items = pd.DataFrame({"title": rows["title"], "predicted": rows["leaf"], "category": chosen,
                              "chosen_proba": 0.5})
        record_seller_feedback(ws, items, seller="sam", run_id=apparel_ws.full)
    finally:
        ws.close()
    files = ServiceFiles(tmp_path / "seller_ws")
    stat = by_key(monitor_report(files, embedding=False).as_dict())["feedback_acceptance"]
    assert stat["n"] == 30 and stat["value"] == pytest.approx(12 / 30)
    assert "12 of 30 accepted (12 of 30 on the seller's page)" in stat["detail"]
    assert stat["status"] == "crossed"  # 40% < 70%: sellers reject the suggestions
    later = by_key(monitor_report(files, since=utc_now(), embedding=False).as_dict())["feedback_acceptance"]
    assert later["n"] == 0
