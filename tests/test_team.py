"""One workspace, a whole team at once: processes take short turns on the database file.

Real processes on one workspace: a holder and its waiters (who is named, how long they wait, in
which order they are served), a training run killed in the middle of its writes, a workspace
written by the previous version, two reviewers deciding the same product.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from workbench import Workspace
from workbench.errors import WorkbenchError
from workbench.store.schema import SCHEMA_VERSION

HERE = Path(__file__).resolve().parent
OLD_WORKSPACE = HERE / "data" / "workspace_before_team.tar.xz"  # made by 297bcec with a 300-product sample


def cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``workbench ARGS`` in a process of its own."""
    return subprocess.run([sys.executable, "-m", "workbench.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def python(code: str, **kw) -> subprocess.Popen:
    """A Python process running ``code`` (stdout piped, line-buffered)."""
    return subprocess.Popen([sys.executable, "-u", "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def hold_for(path: Path, seconds: float) -> subprocess.Popen:
    """A process that takes the workspace and keeps it for ``seconds``; returns once it holds it."""
    proc = python(f"""
        import time
        from workbench.store import Workspace
        ws = Workspace({str(path)!r})
        with ws.hold():
            print("held", flush=True)
            time.sleep({seconds})
        """)
    assert proc.stdout.readline().strip() == "held", proc.stderr.read()
    return proc


@pytest.fixture()
def small_ws(tmp_path) -> Workspace:
    from workbench import ingest_dataset

    ws = Workspace(tmp_path / "ws")
    ingest_dataset(ws, "fashion", sample=300, seed=3)
    return ws


def test_a_waiter_names_the_holder_and_gives_up_after_the_wait_limit(small_ws):
    holder = hold_for(small_ws.path, 60)
    try:
        refused = cli("info", "--workspace", str(small_ws.path), env={"WORKBENCH_WAIT": "1"})
        assert refused.returncode != 0
        line = refused.stderr.strip().splitlines()[-1]
        assert f"pid {holder.pid}" in line and "held by" in line and "WORKBENCH_WAIT" in line, line
        assert "Traceback" not in refused.stderr
    finally:
        holder.kill()
        holder.wait()
    waiter = subprocess.Popen(
        [sys.executable, "-u", "-c", textwrap.dedent(f"""
            import sys
            from workbench.store import Workspace
            print("ready", flush=True)
            sys.stdin.readline()
            print(Workspace({str(small_ws.path)!r}).scalar("SELECT count(*) FROM products"), flush=True)
            """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert waiter.stdout.readline().strip() == "ready"
    holder = hold_for(small_ws.path, 4)
    waiter.stdin.write("go\n")
    waiter.stdin.flush()
    out, err = waiter.communicate(timeout=60)
    holder.wait(timeout=30)
    assert out.strip() == "300"  # the default limit (120 s) outlasts the holder
    assert "waiting for the workspace database: held by" in err
    assert f"(pid {holder.pid})" in err and "WORKBENCH_WAIT" in err


def test_waiters_are_served_in_the_order_they_arrived(small_ws):
    holder = subprocess.Popen([sys.executable, "-u", "-c", textwrap.dedent(f"""
        import sys
        from workbench.store import Workspace
        ws = Workspace({str(small_ws.path)!r})
        with ws.hold():
            print("held", flush=True)
            sys.stdin.readline()  # until every waiter is in the queue
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    queue = small_ws.path / ".lock" / "queue"
    waiters = []
    for i in range(3):
        before = len(os.listdir(queue))
        waiters.append(python(f"""
            import time
            from workbench.store import Workspace
            ws = Workspace({str(small_ws.path)!r})
            with ws.hold():
                print(time.time(), flush=True)
                time.sleep(0.2)
            """))
        deadline = time.monotonic() + 60
        while len(os.listdir(queue)) <= before:  # this waiter's ticket is in before the next starts
            assert time.monotonic() < deadline, waiters[-1].stderr.read()
            time.sleep(0.02)
    holder.communicate("go\n", timeout=30)
    served = [float(w.communicate(timeout=60)[0].split()[0]) for w in waiters]
    assert served == sorted(served)
    assert not os.listdir(queue)  # every ticket removed


def test_a_killed_holder_frees_the_workspace_at_once(small_ws):
    holder = hold_for(small_ws.path, 60)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    t0 = time.monotonic()
    assert small_ws.scalar("SELECT count(*) FROM products") == 300
    assert time.monotonic() - t0 < 2


def test_training_killed_in_the_middle_of_its_writes_leaves_a_consistent_workspace(tmp_path):
    from workbench import ingest_dataset
    from workbench.runs.records import list_runs

    ws = Workspace(tmp_path / "ws")
    ingest_dataset(ws, "fashion", sample=1500, seed=5)
    train = subprocess.Popen([sys.executable, "-m", "workbench.cli.main", "train", "--models", "tfidf",
                              "--workspace", str(ws.path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not ws.scalar("SELECT count(*) FROM runs WHERE NOT complete"):  # its row is written, not complete
        assert train.poll() is None, train.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    train.send_signal(signal.SIGKILL)
    train.wait(timeout=30)
    assert list_runs(ws).empty  # an incomplete run is never shown
    assert len(list_runs(ws, include_incomplete=True)) == 1
    for args in (["info", "--json"], ["runs"], ["compare"]):
        done = cli(*args, "--workspace", str(ws.path))
        assert done.returncode in (0, 1), done.stderr
        assert "Traceback" not in done.stderr
    assert json.loads(cli("info", "--json", "--workspace", str(ws.path)).stdout)["products"] == 1500
    again = cli("train", "--models", "tfidf", "--workspace", str(ws.path))  # the next run completes
    assert again.returncode == 0, again.stderr
    assert len(list_runs(ws)) == 1


def test_a_workspace_written_before_this_change_opens_and_migrates(tmp_path):
    from workbench.loop.reviews import list_reviews
    from workbench.runs.records import list_runs

    folder = tmp_path / "old"
    with tarfile.open(OLD_WORKSPACE) as tar:
        tar.extractall(folder, filter="data")
    raw = duckdb.connect(str(folder / "workbench.duckdb"))
    assert raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "1"
    assert "complete" not in {r[0] for r in raw.execute("DESCRIBE runs").fetchall()}
    raw.close()
    ws = Workspace(folder)
    assert ws.meta("schema_version") == str(SCHEMA_VERSION)
    runs = list_runs(ws)
    assert len(runs) == 1 and bool(runs["complete"].iloc[0])
    assert len(list_reviews(ws)) == 2
    assert ws.scalar("SELECT count(*) FROM products") == 320
    info = cli("info", "--json", "--workspace", str(folder))
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["products"] == 320
    # and the migrated workspace takes the new kinds of writes
    with ws.transaction() as cur:
        cur.execute("INSERT INTO labels (product_id, leaf, source, actor, created_at) "
                    "SELECT product_id, leaf, 'feedback', 'api', now()::TIMESTAMP FROM products LIMIT 1")


def test_older_shapes_are_recognised_by_the_first_migration(tmp_path):
    """Tables made on demand by older versions: a ``labels`` CHECK without feedback labels, a
    ``labels_v2`` left by an interrupted rebuild, columns added later."""
    from workbench.store.schema import CORE_DDL

    folder = tmp_path / "older"
    folder.mkdir()
    raw = duckdb.connect(str(folder / "workbench.duckdb"))
    raw.execute(CORE_DDL)
    raw.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    raw.execute("CREATE SEQUENCE labels_seq")
    raw.execute("CREATE TABLE labels_v2 (label_id BIGINT, product_id VARCHAR)")
    raw.execute("CREATE TABLE labels (label_id BIGINT DEFAULT nextval('labels_seq'), product_id VARCHAR, "
                "leaf VARCHAR, source VARCHAR CHECK (source IN ('catalog', 'human', 'model')), actor VARCHAR, "
                "created_at TIMESTAMP, reason VARCHAR, run_id VARCHAR, review_id BIGINT, "
                "retracted BOOLEAN DEFAULT FALSE)")
    raw.execute("INSERT INTO labels (product_id, leaf, source) VALUES ('p1', 'A > B', 'human')")
    raw.execute("CREATE TABLE thresholds (scope VARCHAR, node VARCHAR, threshold DOUBLE, published_by VARCHAR, "
                "published_at TIMESTAMP)")
    raw.close()
    ws = Workspace(folder)
    assert not ws.has_table("labels_v2")
    assert ws.scalar("SELECT leaf FROM labels WHERE product_id = 'p1'") == "A > B"
    with ws.transaction() as cur:
        cur.execute("INSERT INTO labels (product_id, leaf, source) VALUES ('p2', 'A > C', 'feedback')")
        cur.execute("INSERT INTO thresholds (scope, node, threshold, run_id) VALUES ('global', NULL, 0.5, 'r')")
    assert ws.scalar("SELECT count(*) FROM labels") == 2


def test_a_newer_workspace_is_refused_with_both_versions(small_ws):
    small_ws.set_meta("schema_version", str(SCHEMA_VERSION + 5))
    from workbench.store import _HOLDINGS

    _HOLDINGS.pop(small_ws.db_path).migrated = False  # as a new process would open it
    with pytest.raises(WorkbenchError) as err:
        Workspace(small_ws.path)
    assert f"schema version {SCHEMA_VERSION + 5}" in str(err.value)
    assert f"up to {SCHEMA_VERSION}" in str(err.value)


def test_a_second_reviewer_is_told_and_both_decisions_are_in_the_history(small_ws):
    from workbench.catalog.relabel import load_taxonomy
    from workbench.loop.labels import label_history
    from workbench.loop.reviews import LabelConflict, label_version, submit_review

    product = small_ws.scalar("SELECT product_id FROM products ORDER BY product_id LIMIT 1")
    leaves = list(load_taxonomy(small_ws).leaves)
    seen = label_version(small_ws, product)  # both reviewers open the product at this version
    submit_review(small_ws, product, reviewer="ana", final_leaf=leaves[0], expected_version=seen)
    with pytest.raises(LabelConflict) as told:
        submit_review(small_ws, product, reviewer="ben", final_leaf=leaves[1], expected_version=seen)
    assert told.value.by == "ana" and told.value.current_leaf == leaves[0]
    assert "ana (human) labelled this product" in str(told.value)
    assert small_ws.scalar("SELECT leaf FROM products WHERE product_id = ?", [product]) == leaves[0]
    history = label_history(small_ws, product)
    assert {"ana", "ben"} <= set(history["actor"])
    ben = history[history["actor"] == "ben"].iloc[0]
    assert bool(ben["retracted"]) and ben["leaf"] == leaves[1] and "not applied" in ben["reason"]
    # saving again with the version now seen replaces ana's decision, on purpose
    submit_review(small_ws, product, reviewer="ben", final_leaf=leaves[1], expected_version=told.value.version)
    assert small_ws.scalar("SELECT leaf FROM products WHERE product_id = ?", [product]) == leaves[1]


def test_reads_and_writes_of_threads_and_processes_interleave(small_ws):
    """A process with busy threads does not starve another process: its writes land while the
    first keeps reading."""
    import threading

    stop = threading.Event()

    def reader():
        while not stop.is_set():
            small_ws.scalar("SELECT count(*) FROM products")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        writer = python(f"""
            import time
            from workbench.store import Workspace
            ws = Workspace({str(small_ws.path)!r})
            waits = []
            for i in range(20):
                t = time.monotonic()
                with ws.transaction() as cur:
                    cur.execute("INSERT INTO meta VALUES (?, '1') ON CONFLICT DO NOTHING", [f"w{{i}}"])
                waits.append(time.monotonic() - t)
            print(max(waits))
            """)
        out, err = writer.communicate(timeout=120)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert writer.returncode == 0, err
    assert float(out) < 5
    assert small_ws.scalar("SELECT count(*) FROM meta WHERE key LIKE 'w%'") == 20


def test_users_added_while_the_server_runs_take_effect_within_seconds(small_ws, tmp_path):
    """A server started on this machine before anyone was added lets visitors in; the first
    ``workbench users add`` switches its login on without a restart, and an open tab's writes
    are refused with the reason."""
    import http.client

    from tests._dashboard_setup import free_port, start_server, stop, wait_http, workbench_cli
    from workbench.security.auth import RolesFile
    from workbench.app.context import AppContext, AppSettings

    port = free_port()
    server = start_server([*workbench_cli(), "serve", "--workspace", str(small_ws.path), "--port", str(port),
                           "--no-show"], tmp_path / "serve.log")

    def status_of(path: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            return resp.status, resp.getheader("Location") or ""
        finally:
            conn.close()

    try:
        wait_http(f"http://127.0.0.1:{port}/", server)
        assert status_of("/")[0] == 200  # nobody added yet: no login on this machine
        added = subprocess.run([*workbench_cli(), "users", "add", "ana", "--role", "reviewer", "--password-stdin",
                                "--workspace", str(small_ws.path)], input="ana-password-1\n", text=True,
                               capture_output=True, timeout=120)
        assert added.returncode == 0, added.stderr
        t0 = time.monotonic()
        while status_of("/")[0] == 200:
            assert time.monotonic() - t0 < 5, "the running server still lets anonymous visitors in"
            time.sleep(0.2)
        status, location = status_of("/")
        assert status == 302 and "login" in location
    finally:
        stop(server)
    # a tab opened before the login was switched on may not write any more
    from workbench.security.auth import PermissionDenied

    class LocalTab(AppContext):
        @property
        def user(self):
            return "local"

    roles = RolesFile(small_ws.path / "credentials.json", open_while_empty=True)
    with pytest.raises(PermissionDenied, match="now asks for a login"):
        LocalTab(small_ws, AppSettings(roles=roles)).require("review")
