"""Acknowledged means durable (issue 28): ``kill -9`` of a real ``workbench api`` during a burst of
1,000 predictions and 1,000 feedbacks; after a restart every acknowledged prediction and feedback
is in the log, none twice, and a prediction answered just before the kill takes feedback."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import duckdb

from tests._service_setup import copy_workspace, start_api, stop
from workbench.service.files import ServiceFiles
from workbench.service.keys import add_key
from workbench.service.log import read_log


def test_kill_9_during_a_burst_loses_no_acknowledged_answer(apparel_ws, tmp_path_factory, output_dir):
    root = copy_workspace(apparel_ws.ws, tmp_path_factory.mktemp("durable_ws"))
    files = ServiceFiles(root)
    key = add_key(files.keys, "burst", "classify", "10000000/min")
    # a long flush interval: without the journal, everything answered in the burst would be lost
    proc, api = start_api(root, output_dir / "durable-1.log", "--flush-seconds", "30", key=key)
    try:
        targets = []
        for _ in range(4):
            status, answer, _ = api.post("/v1/classify", {"products": [{"title": f"Nike Men Blue T-shirt {i}"}
                                                                       for i in range(50)]}, key)
            assert status == 200
            targets += [(p["prediction_id"], p["category"]) for p in answer["predictions"]]
        acknowledged = {"predictions": [], "feedback": []}
        lock, kill_at = threading.Lock(), 1_200  # acknowledged answers before the kill

        def predict(i: int):
            try:
                status, answer, _ = api.post("/v1/classify", {"title": f"Puma Women Track Pants {i}"}, key)
            except Exception:
                return
            if status == 200:
                with lock:
                    acknowledged["predictions"].append(answer["predictions"][0]["prediction_id"])

        def feedback(i: int):
            pid, category = targets[i % len(targets)]
            try:
                status, answer, _ = api.post("/v1/feedback", {"prediction_id": pid, "accepted": True,
                                                              "by": f"seller-{i}"}, key)
            except Exception:
                return
            if status == 200:
                assert answer["stored"] is True
                with lock:
                    acknowledged["feedback"].append(answer["feedback_id"])

        def killer():
            while True:
                with lock:
                    if len(acknowledged["predictions"]) + len(acknowledged["feedback"]) >= kill_at:
                        break
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)

        watcher = threading.Thread(target=killer, daemon=True)
        watcher.start()
        with ThreadPoolExecutor(8) as pool:
            jobs = [pool.submit(predict if i % 2 else feedback, i // 2) for i in range(2_000)]
            for job in jobs:
                job.result()
        watcher.join(timeout=60)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        n_pred, n_fb = len(acknowledged["predictions"]), len(acknowledged["feedback"])
        assert n_pred + n_fb >= kill_at and n_pred + n_fb < 2_000, (n_pred, n_fb)  # killed mid-burst
    finally:
        stop(proc)

    proc, api = start_api(root, output_dir / "durable-2.log", "--flush-seconds", "0.2", key=key)
    try:
        last = acknowledged["predictions"][-1]
        status, answer, _ = api.post("/v1/feedback", {"prediction_id": last, "accepted": True, "by": "after"}, key)
        assert status == 200, answer  # known after the restart
        for stream, ids in acknowledged.items():
            column = "prediction_id" if stream == "predictions" else "feedback_id"
            logged = read_log(files, stream)
            missing = set(ids) - set(logged[column])
            assert not missing, f"{len(missing)} of {len(ids)} acknowledged {stream} lost"
            segments = [str(s) for s in files.segments(stream)]
            con = duckdb.connect()
            twice = con.execute(f"SELECT count(*) FROM (SELECT {column} FROM read_parquet(?, union_by_name=true) "
                                f"GROUP BY 1 HAVING count(*) > 1)", [segments]).fetchone()[0]
            con.close()
            assert twice == 0, f"{twice} {stream} written twice"
        print(f"kill -9 after {len(acknowledged['predictions'])} predictions and {len(acknowledged['feedback'])} "
              "feedbacks acknowledged: all kept after the restart, none twice")
    finally:
        stop(proc)
