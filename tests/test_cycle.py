"""The loop on its own (``workbench cycle``) on real fashion products and a real API server: a
serving run trained on a small sample, apparel then footwear traffic with falling acceptance,
reviewer-confirmed labels; successive calls retrain, evaluate, gate, shadow on the next requests
and promote the better run; a deliberately worse candidate is refused at the gate and recorded;
a shadow that disagrees too often is not promoted; a failing step exits 2 and can be abandoned;
``--dry-run`` changes nothing; the Monitoring page's history and its admin-only start button.

The command line runs through its ``main`` in this process (``cli``), so that some thirty calls
do not each pay a Python start-up; what a terminal shows of a refused setting and of a failing
step's exit code is checked on a real ``workbench`` process."""

from __future__ import annotations

import json
import subprocess
import time

import pandas as pd
import pytest

from tests._browser import browser  # noqa: F401 (the fixture)
from tests._dashboard_setup import workbench_cli
from tests._service_setup import department_rows, start_api, stop
from workbench import Workspace
from workbench.service.files import ServiceFiles
from workbench.service.keys import add_key
from workbench.service.log import read_log

SERVING_SAMPLE = 300
#: the cycle monitors the traffic with latency left out: on a shared machine it says more about the neighbours
QUIET = {"latency_p99_ms": 600000}


def cli(root, *args: str, ok=(0,), process: bool = False) -> subprocess.CompletedProcess:
    """``workbench ARGS --workspace ROOT``: its exit code checked against ``ok``, its output. Run
    through the command line's ``main`` in this process (the same parsing, handlers, output and
    exit code, without a Python start-up per call), or as a ``workbench`` process (``process``)."""
    command = [*args, "--workspace", str(root)]
    if process:
        out = subprocess.run([*workbench_cli(), *command], capture_output=True, text=True, timeout=600)
    else:
        out = run_main(command)
    assert out.returncode in ok, (args, out.returncode, out.stdout[-3000:], out.stderr[-3000:])
    return out


def run_main(argv: list[str]) -> subprocess.CompletedProcess:
    """``workbench.cli.main.main(argv)`` with its standard output and error captured."""
    import contextlib
    import io

    from workbench.cli.main import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse refusing an argument
            code = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(["workbench", *argv], code, stdout.getvalue(), stderr.getvalue())


def cycle(root, *args: str, ok=(0,)) -> dict:
    """One ``workbench cycle --json`` call; its answer, with the exit code checked against ``ok``."""
    out = cli(root, "cycle", "--json", *args, ok=ok)
    answer = json.loads(out.stdout)
    assert answer["exit_code"] == out.returncode
    return answer


def step(root, **kw) -> dict:
    """One step through the notebook API (``wb.run_cycle``), as the JSON of the command line."""
    import workbench as wb

    return wb.run_cycle(Workspace(root), by=kw.pop("by", "cron"), **kw).as_dict()


def store_dump(root) -> dict:
    """What a cycle could change in the store, as plain values."""
    ws = Workspace(root)
    with ws.hold():
        dump = {t: ws.df(f"SELECT * FROM {t}").astype(str).to_dict("records")  # fixed table names
                for t in ("cycles", "cycle_events", "runs", "serving_events", "labels", "feedback", "splits",
                          "reviews", "training_sets")}
        dump["products"] = int(ws.scalar("SELECT count(*) FROM products"))
        dump["meta"] = ws.df("SELECT * FROM meta ORDER BY key").to_dict("records")
    return dump


@pytest.fixture(scope="module")
def loop(tmp_path_factory, output_dir):
    """800 real Apparel products and 12 Footwear ones (a handful of shoes in the catalog), a tfidf
    serving run trained on a 300-product sample, keys, and the API on 127.0.0.1."""
    from workbench.catalog.ingest import IngestOptions, ingest_file
    from workbench.catalog.mapping import recipe
    from workbench.runs.registry import promote
    from workbench.runs.training import train_models

    root = tmp_path_factory.mktemp("cycle_ws")
    apparel, shoes = department_rows("Apparel", 800, seed=0), department_rows("Footwear", 12, seed=0)
    csv = root.parent / "cycle-catalog.csv"
    pd.concat([apparel, shoes]).to_csv(csv, index=False)
    rec = recipe("fashion")
    ws = Workspace(root)
    ingest_file(ws, csv, rec.mapping, options=IngestOptions(level_names=rec.level_names, department="gender"))
    serving = train_models(ws, ["tfidf"], "grouped", sample=SERVING_SAMPLE, seed=0)[0]
    promote(ws, serving, by="ana", force=True, note="the first model, trained on a sample")
    files = ServiceFiles(root)
    keys = {"classify": add_key(files.keys, "shop", "classify", "100000/min"),
            "admin": add_key(files.keys, "ops", "admin", "100000/min")}
    (files.root / "monitoring.json").write_text(json.dumps(QUIET))
    known = set(pd.concat([apparel, shoes])["id"].astype(str))
    proc, api = start_api(root, output_dir / "api-cycle.log", "--flush-seconds", "0.2", key=keys["admin"])
    try:
        leaves = {n["id"] for n in api.get("/v1/taxonomy", keys["admin"])[1]["nodes"] if n["is_leaf"]}
        yield {"root": root, "ws": ws, "files": files, "keys": keys, "api": api, "serving": serving,
               "known": known, "leaves": leaves}
    finally:
        stop(proc)


def leaf_of(row) -> str:
    return f"{row['masterCategory']} > {row['subCategory']} > {row['articleType']}"


def serve(site, rows: pd.DataFrame, feedback: int = 0, batch: int = 50) -> list[dict]:
    """Classify real products through the API; the first ``feedback`` get their catalog category
    as feedback (accepted, or the category chosen) when it is a category of the taxonomy."""
    out = []
    for i in range(0, len(rows), batch):
        part = rows.iloc[i:i + batch]
        products = [{"title": t, "id": str(pid)} for t, pid in zip(part["productDisplayName"], part["id"])]
        status, answer, _ = site["api"].post("/v1/classify", {"products": products}, site["keys"]["classify"])
        assert status == 200, answer
        out += answer["predictions"]
    sent = 0
    for p, (_, row) in zip(out, rows.iterrows()):
        if sent >= feedback:
            break
        leaf = leaf_of(row)
        if leaf not in site["leaves"]:
            continue
        body = {"prediction_id": p["prediction_id"], "by": "seller-1"}
        body.update({"accepted": True} if p["category"] == leaf else {"accepted": False, "category": leaf})
        status, answer, _ = site["api"].post("/v1/feedback", body, site["keys"]["classify"])
        assert status == 200, answer
        sent += 1
    return out


def wait_for(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def imported(site, n: int) -> bool:
    return Workspace(site["root"]).scalar("SELECT count(*) FROM feedback") >= n


@pytest.fixture(scope="module")
def promoted(loop, output_dir) -> dict:
    """The whole loop once, with its checks on the way: apparel traffic (nothing to do), then
    footwear with falling acceptance and reviewer-confirmed labels; the calls retrain, evaluate,
    gate, shadow and promote. Any test that needs this history (a promoted cycle by cron) asks
    for it, so each test runs on its own as well as in file order."""
    root, api, admin = loop["root"], loop["api"], loop["keys"]["admin"]
    cli(root, "cycle", "--set", "shadow_requests=120", "--set", "new_labels=100", "--set", "min_feedback=10")

    # apparel traffic like the catalog's: nothing to do
    apparel = department_rows("Apparel", 400, seed=7, exclude=loop["known"])
    serve(loop, apparel.head(150), feedback=30)
    wait_for(lambda: imported(loop, 30), "the apparel feedback did not reach the workspace")
    first = cycle(root, "--by", "cron")
    assert first["state"] == "idle" and first["step"] == "check", first
    assert first["message"].startswith("nothing to do")

    # then footwear, which the serving run barely knows: sellers correct it
    shoes = department_rows("Footwear", 400, seed=7, exclude=loop["known"])
    shoes = shoes[shoes.apply(leaf_of, axis=1).isin(loop["leaves"])].head(200)
    served = serve(loop, shoes, feedback=len(shoes))
    wrong = sum(p["category"] != leaf_of(r) for p, (_, r) in zip(served, shoes.iterrows()))
    assert wrong > 0.3 * len(shoes)  # the sample model gets many shoes wrong: acceptance falls
    wait_for(lambda: imported(loop, 30 + len(shoes)), "the footwear feedback did not reach the workspace")

    # a reviewer confirms what the sellers chose (only confirmed feedback is trained on)
    listed = [json.loads(line) for line in cli(root, "feedback", "list", "--json").stdout.splitlines()]
    to_confirm = [r["product_id"] for r in listed if r["category"].startswith("Footwear")]
    assert len(to_confirm) >= 100
    cli(root, "feedback", "confirm", *to_confirm, "--reviewer", "ana")

    # --dry-run says what it would do and changes nothing
    before = store_dump(root)
    dry = cycle(root, "--dry-run")
    assert dry["dry_run"] and dry["message"].startswith("would open a cycle"), dry
    assert store_dump(root) == before

    opened = cycle(root, "--by", "cron")
    assert opened["state"] == "retrain" and opened["cycle_id"] is not None
    kinds = " | ".join(opened["trigger"])
    assert "drift: category_mix_psi" in kinds and "acceptance: feedback_acceptance" in kinds, kinds
    assert f"new labels: {len(to_confirm)} human labels" in kinds

    trained = step(root)
    assert trained["state"] == "evaluate", trained
    candidate = trained["figures"]["candidates"][0]
    assert trained["figures"]["train_products"][candidate] > SERVING_SAMPLE  # the larger labelled set
    assert trained["figures"]["labels"]["human"] >= len(to_confirm)

    evaluated = step(root)
    assert evaluated["state"] == "gate" and evaluated["candidate_run_id"] == candidate
    figures = evaluated["figures"]["runs"][candidate]
    assert figures["valid"]["candidate"] > figures["valid"]["serving"]  # same products, same labels
    assert figures["test"]["candidate"] > figures["test"]["serving"]

    gated = cycle(root, "--by", "cron")
    assert gated["state"] == "shadowing" and "passed the promotion gate" in gated["message"], gated
    assert gated["figures"]["gate"]["passed"]
    wait_for(lambda: api.get("/v1/health", admin)[1]["shadow_run_id"] == candidate,
             "the API did not take up the shadow run")
    waiting = step(root)
    assert waiting["state"] == "shadowing" and waiting["message"].startswith("shadowing: 0 of 120 requests")

    # the next requests: the shadow scores them beside the serving run
    nxt = apparel.iloc[150:270]
    serve(loop, nxt, feedback=40)
    def shadowed() -> int:
        preds = read_log(loop["files"], "predictions")
        return int((preds["shadow_category"].notna() & (preds["shadow_run_id"] == candidate)).sum())

    wait_for(lambda: shadowed() >= 120, "the shadow did not score the requests")
    wait_for(lambda: imported(loop, 30 + len(shoes) + 40), "the feedback did not reach the workspace")
    before = store_dump(root)
    assert cycle(root, "--dry-run")["message"].startswith("would promote"), "the dry run judges the shadow"
    assert store_dump(root) == before

    promoted = cycle(root, "--by", "cron")
    assert promoted["state"] == "promoted", promoted
    shadow = promoted["figures"]["shadow"]
    assert shadow["n"] >= 120 and shadow["agreement"] >= 0.90
    assert shadow["n_labelled"] >= 10 and shadow["shadow_accuracy"] >= shadow["serving_accuracy"]
    assert cli(root, "registry", "--json").stdout.count(candidate) >= 1
    wait_for(lambda: api.get("/v1/health", admin)[1]["run_id"] == candidate, "the API did not switch runs")
    assert api.get("/v1/health", admin)[1]["shadow_run_id"] is None

    after = cycle(root, "--by", "cron")
    assert after["state"] == "idle", after  # the promoted run serves; the judged traffic does not retrigger

    history = cli(root, "cycle", "--history").stdout
    (output_dir / "cycle-history.txt").write_text(history)
    return {"first": first, "opened": opened, "promoted": promoted, "after": after, "history": history,
            "candidate": candidate}


def test_the_loop_retrains_gates_shadows_and_promotes_the_better_run(promoted):
    assert promoted["first"]["message"].startswith("nothing to do")
    assert promoted["promoted"]["state"] == "promoted" and promoted["after"]["state"] == "idle"
    for words in ("check", "start", "retrain", "evaluate", "gate", "shadow", "promote", "by cron"):
        assert words in promoted["history"]


@pytest.fixture(scope="module")
def refused(loop) -> dict:
    """A deliberately worse candidate (40 products) asked for by ana, taken to the gate: the
    gate's answer, and the run that served before."""
    from workbench.runs.registry import serving_run

    root = loop["root"]
    serving = serving_run(Workspace(root)).run_id
    cli(root, "cycle", "--set", 'candidates=[{"kind": "tfidf", "sample": 40}]')
    try:
        opened = cycle(root, "--retrain", "--by", "ana")
        assert opened["state"] == "retrain" and opened["trigger"] == ["asked by ana"]
        assert "tfidf (sample 40)" in opened["message"]
        assert step(root, by="ana")["state"] == "evaluate"
        assert step(root, by="ana")["state"] == "gate"
        answer = cycle(root, "--by", "ana", ok=(1,))
    finally:
        cli(root, "cycle", "--set", "candidates=serving")
    return {"answer": answer, "serving": serving}


def test_a_worse_candidate_is_refused_at_the_gate_and_recorded(loop, refused):
    from workbench.runs.registry import serving_run

    root, serving, refused = loop["root"], refused["serving"], refused["answer"]
    assert refused["state"] == "refused_at_gate" and refused["exit_code"] == 1
    assert "below the serving run" in refused["message"] and "paired bootstrap interval" in refused["message"]
    assert serving_run(Workspace(root)).run_id == serving  # nothing changed in what serves
    from workbench.service.cycle_records import cycle_history, cycles

    ws = Workspace(root)
    last = cycles(ws).iloc[0]
    assert last["outcome"] == "refused_at_gate" and "below the serving run" in last["reason"]
    assert last["trigger"] == ["asked by ana"] and last["started_by"] == "ana"
    event = cycle_history(ws).iloc[0]
    assert event["outcome"] == "refused" and event["figures"]["gate"]["reasons"]
    # the serving history holds the cycle's refusal too, beside people's refused promotions
    from workbench.runs.registry import serving_history

    served = serving_history(ws)
    refusal = served[(served["event"] == "refuse") & (served["run_id"] == refused["candidate_run_id"])]
    assert len(refusal) == 1 and refusal.iloc[0]["actor"] == f"cycle {refused['cycle_id']} (ana)"
    assert "below the serving run" in " ".join(refusal.iloc[0]["reasons"])
    assert cycle(root)["state"] == "idle"  # a refused cycle is closed: the next call starts afresh


def test_bad_settings_are_one_line_naming_the_fix(loop):
    root = loop["root"]
    out = cli(root, "cycle", "--set", "shadow_requests=lots", ok=(2,), process=True)  # what a person's terminal shows
    assert out.stderr.strip().count("\n") == 0 and "must be a number" in out.stderr
    out = cli(root, "cycle", "--set", "shadow_reqests=5", ok=(2,))
    assert "unknown cycle setting 'shadow_reqests'" in out.stderr and "shadow_requests" in out.stderr
    out = cli(root, "cycle", "--set", "min_agreement=1.5", ok=(2,))
    assert "between 0 and 1" in out.stderr


def test_the_monitoring_page_shows_the_history_and_only_admins_start_a_step(loop, promoted, refused):
    from workbench.app.context import AppContext, AppSettings
    from workbench.app.pages._monitoring_cycle import cycle_section, start_cycle
    from workbench.app.widgets import frame_html
    import workbench as wb

    root = loop["root"]
    ws = Workspace(root)
    hostile = "<img src=x onerror=alert(1)>"
    assert wb.run_cycle(ws, by=hostile).state == "idle"  # recorded with who started it, as given
    roles = {"vic": "viewer", "rita": "reviewer", "ada": "admin"}
    n_before = len(wb.cycle_history(ws))
    for user in ("vic", "rita"):
        section = cycle_section(AppContext(ws, AppSettings(roles=roles), user_override=user))
        button = section.objects[2].objects[0]
        assert button.disabled  # greyed for people without the right ...
        start_cycle(AppContext(ws, AppSettings(roles=roles), user_override=user), section.state)
        assert section.state.message_kind == "danger"  # ... and refused on the server anyway
        assert "may not start a retraining cycle" in section.state.message, section.state.message
    assert len(wb.cycle_history(ws)) == n_before

    admin = AppContext(ws, AppSettings(roles=roles), user_override="ada")
    section = cycle_section(admin)
    assert not section.objects[2].objects[0].disabled
    table = frame_html(section.state.history(), [], [])
    assert hostile not in table and "&lt;img src=x onerror=alert(1)&gt;" in table
    assert "refused at the gate" in table and "promoted" in table and "nothing to do" in table
    start_cycle(admin, section.state)
    assert section.state.message_kind == "success" and "as process" in section.state.message
    wait_for(lambda: len(wb.cycle_history(ws)) > n_before, "the cycle started from the page recorded nothing",
             timeout=120)
    newest = wb.cycle_history(ws).iloc[0]
    assert newest["actor"] == "ada (Monitoring page)" and newest["state"] == "idle"


def test_a_person_sees_the_cycle_history_and_starts_a_step_in_the_browser(loop, promoted, refused, browser,
                                                                          output_dir):
    from tests._browser import Watched, require_chromium
    from tests._dashboard_setup import free_port, start_server, wait_http

    require_chromium()
    root, port = loop["root"], free_port()
    server = start_server([*workbench_cli(), "serve", "--workspace", str(root), "--port", str(port), "--no-show"],
                          output_dir / "serve-cycle.log")
    watched = None
    try:
        wait_http(f"http://127.0.0.1:{port}/", server)
        watched = Watched(browser, {"width": 1440, "height": 900})
        page = watched.open(f"http://127.0.0.1:{port}/?page=monitoring", marker=".wb-monitoring")
        history = page.locator(".wb-cycle-history table")
        history.wait_for(timeout=120_000)
        text = history.inner_text()
        assert "refused at the gate" in text and "promoted" in text and "nothing to do" in text
        assert "cron" in text and "ana" in text  # who started each call
        assert page.locator("img[src=x]").count() == 0  # the hostile actor is text
        n_rows = history.locator("tr").count()
        page.get_by_role("button", name="Run one cycle step now").click()
        page.get_by_text("Started workbench cycle as process", exact=False).wait_for(timeout=60_000)
        deadline = time.monotonic() + 120
        while True:  # the step runs in its own process; Refresh reads what it recorded
            page.locator(".wb-cycle-refresh button").click()
            time.sleep(2)
            if history.locator("tr").count() > n_rows or time.monotonic() > deadline:
                break
        assert "(Monitoring page)" in page.locator(".wb-cycle-history table").inner_text()
        page.set_viewport_size({"width": 1440, "height": 2400})  # the whole table painted at once
        time.sleep(1)
        page.locator(".wb-cycle").scroll_into_view_if_needed()
        page.locator(".wb-cycle").screenshot(path=output_dir / "cycle_history.png")
        watched.check_clean()
    finally:
        if watched is not None:
            watched.close()
        stop(server)


def test_a_failing_step_is_recorded_exits_2_and_can_be_abandoned(loop):
    root = loop["root"]
    out = cli(root, "cycle", "--set", "candidates=tfidff", ok=(2,), process=True)
    assert "tfidff" in out.stderr and "tfidf" in out.stderr.split("tfidff", 1)[1]  # names the known kinds
    cli(root, "cycle", "--set", 'candidates=[{"kind": "tfidf", "params": {"bogus": 1}}]')
    try:
        assert cycle(root, "--retrain", "--by", "ana")["state"] == "retrain"
        failed = cycle(root, "--by", "cron", ok=(2,))
        assert failed["state"] == "error" and "bogus" in failed["message"] and "--abandon" in failed["message"]
        assert cycle(root, "--dry-run")["state"] == "retrain"  # the cycle waits at the step that failed
        gave_up = cycle(root, "--abandon", "--by", "ana")
        assert gave_up["state"] == "abandoned" and "given up by ana" in gave_up["message"]
    finally:
        cli(root, "cycle", "--set", "candidates=serving")
    history = cli(root, "cycle", "--history").stdout.splitlines()
    assert "-> abandoned" in history[0] and "-> error" in history[1] and "bogus" in history[1]


def test_a_shadow_that_disagrees_too_often_is_not_promoted(loop, promoted):
    """The run the whole loop promoted serves (``promoted``)."""
    from workbench.runs.registry import serving_run, shadow_run

    root, api, admin = loop["root"], loop["api"], loop["keys"]["admin"]
    serving = serving_run(Workspace(root)).run_id
    # another classifier on the same labels: it passes the gate (not clearly worse) but answers differently
    settings = {"candidates": [{"kind": "tfidf", "params": {"classifier": "logreg"}}], "shadow_requests": 60,
                "min_agreement": 0.97, "min_feedback": 10}
    assert step(root, by="ana", retrain_now=True, config=settings)["state"] == "retrain"
    assert step(root, config=settings)["state"] == "evaluate"
    assert step(root, config=settings)["state"] == "gate"
    gated = step(root, config=settings)
    assert gated["state"] == "shadowing", gated
    candidate = gated["candidate_run_id"]
    wait_for(lambda: api.get("/v1/health", admin)[1]["shadow_run_id"] == candidate,
             "the API did not take up the shadow run")
    rows = department_rows("Apparel", 60, seed=11, exclude=loop["known"])
    serve(loop, rows)

    def shadowed() -> int:
        preds = read_log(loop["files"], "predictions")
        return int((preds["shadow_category"].notna() & (preds["shadow_run_id"] == candidate)).sum())

    wait_for(lambda: shadowed() >= 60, "the shadow did not score the requests")
    kept = step(root, config=settings)
    assert kept["state"] == "refused_in_shadow" and kept["exit_code"] == 1, kept
    assert f"kept the serving run {serving}" in kept["message"] and "(at least 0.97 needed)" in kept["message"]
    assert "accuracy not compared" in " ".join(kept["figures"]["notes"])  # no feedback on these requests
    ws = Workspace(root)
    assert serving_run(ws).run_id == serving and shadow_run(ws) is None
